"""`mlplatform drift run`: the drift job as the CronJob runs it, configured from its environment.

    MLPLATFORM_PREDICTION_LOG_BUCKET   the artifact bucket holding predictions/<model>/
    MLPLATFORM_LEDGER, MLPLATFORM_LEDGER_KEY   the evidence ledger (s3://bucket/prefix) and its signing key
    MLPLATFORM_PUSHGATEWAY             where the scores go (optional: without it nothing is pushed)
    PGSERVICEFILE, PGSERVICE   the `monitoring` role's connection (libpq reads the service file the CronJob
                               mounts; PGHOST, PGUSER, PGPASSWORD... work as well)

Without `--digest` every model version with a prediction log in the window is compared.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import SpecError
from . import drift


def _need(env: Mapping[str, str], key: str) -> str:
    value = env.get(key)
    if not value:
        raise SpecError(
            key, "not set", "the drift CronJob sets it; run `mlplatform drift run` with it in the environment"
        )
    return value


def digests_with_logs(s3: Any, bucket: str, model: str) -> list[str]:
    """The model versions (sha256:<hex>) that have a prediction-log folder."""
    out = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"predictions/{model}/", Delimiter="/")
    for page in pages:
        for p in page.get("CommonPrefixes", []):
            algo, _, hexpart = p["Prefix"].rstrip("/").rsplit("/", 1)[-1].partition("-")
            out.append(f"{algo}:{hexpart}")
    return out


def run_from_env(
    model: str, digest: str | None, window_days: int, threshold: float, environ: Mapping[str, str] | None = None
) -> list[drift.DriftResult]:
    import boto3
    import psycopg

    from ..evidence import records as R
    from ..evidence.ledger import Ledger

    env = os.environ if environ is None else environ
    bucket = _need(env, "MLPLATFORM_PREDICTION_LOG_BUCKET")
    ledger = Ledger(_need(env, "MLPLATFORM_LEDGER"), key_id=_need(env, "MLPLATFORM_LEDGER_KEY"))
    s3 = boto3.client("s3")
    records = ledger.read(model)
    results = []
    with psycopg.connect("") as conn:  # libpq reads PG* from the environment
        for d in [digest] if digest else digests_with_logs(s3, bucket, model):

            def record(result: drift.DriftResult, d: str = d) -> str:
                predicate = R.build_predicate("drift", d, {}, result.predicate())
                return ledger.append("drift", model, [d], predicate).key

            try:
                result, _, _ = drift.run(
                    s3=s3,
                    bucket=bucket,
                    model=model,
                    digest=d,
                    ledger_records=records,
                    threshold=threshold,
                    window_days_=window_days,
                    conn=conn,
                    gateway=env.get("MLPLATFORM_PUSHGATEWAY") or None,
                    record=record,
                    today=datetime.now(UTC).date(),
                )
            except drift.DriftError as e:
                if digest or e.key != "window":
                    raise
                continue  # an older version without logs in this window
            results.append(result)
    return results

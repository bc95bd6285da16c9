"""The drift job of one served model: its logged inputs and predictions against its training data.

    window   = the prediction log of the last `window_days` days (components/serving/prediction_log.py):
               s3://<bucket>/predictions/<model>/<digest>/dt=<day>/*.jsonl
    reference = the data the model's provenance record names (a `data` dependency: s3://...?versionId=V),
               read at that object version (.csv, .jsonl/.ndjson, .parquet)
    drift    = Evidently's DataDriftPreset over the columns both have (each input feature, and the
               prediction when the reference has a `prediction` column): each column's drift test (the
               method Evidently picks by type and size) and the share of drifted columns = the score

The result goes to the `monitoring` schema (stacks/monitoring/store.py), to the Pushgateway as the
gauges of components/drift.DRIFT_METRICS (ModelDrift fires when score >= threshold) and, through the
`record` callback, to the evidence ledger as a `drift` record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlparse

from mlplatform.components.drift import DRIFT_JOB, DRIFT_METRICS
from mlplatform.components.serving.prediction_log import log_prefix

from ..errors import MlplatformError

PREDICTION = "prediction"


class DriftError(MlplatformError):
    """The drift job cannot run: no logs in the window, no reference named, unreadable data (exit 1)."""


# -- reading the prediction log ----------------------------------------------------------------------
def feature_rows(request: Any) -> list[dict[str, Any]]:
    """The input rows of a logged request, in the formats of MLflow's scoring server."""
    if isinstance(request, dict):
        if "dataframe_split" in request:
            split = request["dataframe_split"]
            return [dict(zip(split["columns"], row, strict=False)) for row in split["data"]]
        if "dataframe_records" in request:
            return list(request["dataframe_records"])
        if "instances" in request:
            return [r if isinstance(r, dict) else {f"f{i}": v for i, v in enumerate(r)} for r in request["instances"]]
        if "inputs" in request:
            inputs = request["inputs"]
            if isinstance(inputs, dict):  # column -> values
                n = len(next(iter(inputs.values()), []))
                return [{k: v[i] for k, v in inputs.items()} for i in range(n)]
            return feature_rows({"instances": inputs})
    raise ValueError("request: not an MLflow scoring request (dataframe_split, dataframe_records, instances, inputs)")


def predictions_of(response: Any) -> list[Any]:
    if isinstance(response, dict):
        response = response.get("predictions", response.get("outputs"))
    if isinstance(response, list):
        return [p[0] if isinstance(p, list) and len(p) == 1 else p for p in response]
    raise ValueError("response: no predictions (a list, or {'predictions': [...]})")


def window_days(end: date, days: int) -> list[str]:
    return [(end - timedelta(days=i)).isoformat() for i in range(days)][::-1]


def _log_lines(s3: Any, bucket: str, model: str, digest: str, days: list[str]) -> Iterator[bytes]:
    for day in days:
        prefix = log_prefix(model, digest, day)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                yield from body.splitlines()


def read_window(s3: Any, bucket: str, model: str, digest: str, end: date, days: int) -> Any:
    """The window's rows (features + `prediction`) as a pandas DataFrame."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for line in _log_lines(s3, bucket, model, digest, window_days(end, days)):
        if not line.strip():
            continue
        record = json.loads(line)
        inputs, preds = feature_rows(record["request"]), predictions_of(record["response"])
        for i, row in enumerate(inputs):
            rows.append({**row, PREDICTION: preds[i] if i < len(preds) else None})
    return pd.DataFrame.from_records(rows)


# -- the reference named by the provenance record ------------------------------------------------------
def reference_of(records: Iterable[Any], digest: str) -> tuple[str, str | None]:
    """(s3 URI, version id) of the training data named by the latest provenance record of `digest`.

    `records` are ledger records (`kind`, `subjects`, `predicate`)."""
    provenance = [r for r in records if r.kind == "provenance" and digest in r.subjects]
    if not provenance:
        raise DriftError("reference", f"no provenance record names {digest}", "record the model's provenance first")
    deps = provenance[-1].predicate.get("buildDefinition", {}).get("resolvedDependencies", [])
    data = [d for d in deps if d.get("annotations", {}).get("mlplatform.dev/role") == "data"]
    s3_data = [d for d in data if str(d.get("uri", "")).startswith("s3://")]
    if not s3_data:
        raise DriftError(
            "reference",
            f"the provenance record of {digest} names no S3 data version",
            "record it with --field data=s3://BUCKET/KEY?versionId=V",
        )
    d = s3_data[0]
    return d["uri"], d.get("annotations", {}).get("s3VersionId")


def read_reference(s3: Any, uri: str, version_id: str | None) -> Any:
    import io

    import pandas as pd

    parsed = urlparse(uri)
    kw = {"VersionId": version_id} if version_id else {}
    body = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), **kw)["Body"].read()
    path = parsed.path.lower()
    if path.endswith(".csv"):
        return pd.read_csv(io.BytesIO(body))
    if path.endswith((".jsonl", ".ndjson")):
        return pd.read_json(io.BytesIO(body), lines=True)
    if path.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(body))
    raise DriftError("reference", f"{uri}: unknown format", "store the reference as .csv, .jsonl or .parquet")


# -- the comparison ------------------------------------------------------------------------------------
@dataclass
class ColumnDrift:
    feature: str
    method: str
    score: float
    drifted: bool


@dataclass
class DriftResult:
    model: str
    digest: str
    window_start: datetime
    window_end: datetime
    reference_uri: str
    rows_current: int
    rows_reference: int
    score: float
    threshold: float
    columns: list[ColumnDrift] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return self.score >= self.threshold

    @property
    def drifted_features(self) -> int:
        return sum(c.drifted for c in self.columns)

    def predicate(self) -> dict[str, Any]:
        """The `drift` ledger record's predicate."""
        return {
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            "reference": {"uri": self.reference_uri},
            "rows": {"current": self.rows_current, "reference": self.rows_reference},
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "method": "evidently DataDriftPreset (share of drifted columns)",
            "columns": {c.feature: {"method": c.method, "score": c.score, "drifted": c.drifted} for c in self.columns},
        }


def compare(reference: Any, current: Any, threshold: float) -> tuple[float, list[ColumnDrift]]:
    """Evidently's data-drift preset over the shared columns: (share of drifted columns, per column)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in reference.columns if c in current.columns]
    if not columns:
        raise DriftError("reference", "shares no column with the logged requests", "log the model's input features")
    numeric = [c for c in columns if reference[c].dtype.kind in "iuf"]
    categorical = [c for c in columns if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    ref = Dataset.from_pandas(reference[columns], data_definition=definition)
    cur = Dataset.from_pandas(current[columns], data_definition=definition)
    snapshot = Report([DataDriftPreset(drift_share=threshold)]).run(cur, ref)
    return _scores(snapshot.dict(), columns)


def _scores(result: dict[str, Any], columns: list[str]) -> tuple[float, list[ColumnDrift]]:
    share: float | None = None
    out: list[ColumnDrift] = []
    for metric in result["metrics"]:
        config = metric.get("config", {})
        kind = str(config.get("type", metric.get("metric_id", "")))
        if "DriftedColumnsCount" in kind:
            share = float(metric["value"]["share"])
        elif "ValueDrift" in kind and config.get("column") in columns:
            method = str(config.get("method") or "")
            threshold = float(config.get("threshold"))
            value = float(metric["value"])
            # p-value tests drift below their threshold, distance tests above it
            drifted = (
                value < threshold if "p_value" in method or method in ("ks", "chisquare", "z") else value >= threshold
            )
            out.append(ColumnDrift(config["column"], method, value, drifted))
    if share is None:
        raise DriftError("evidently", "the report has no DriftedColumnsCount", "check the pinned Evidently version")
    return share, out


# -- publishing ----------------------------------------------------------------------------------------
def push(gateway: str, result: DriftResult, now: datetime | None = None) -> None:
    """The drift gauges to the Pushgateway (grouping key: job, model)."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    values = {
        "mlplatform_model_drift_score": result.score,
        "mlplatform_model_drift_threshold": result.threshold,
        "mlplatform_model_drifted_features": result.drifted_features,
        "mlplatform_model_drift_rows": result.rows_current,
        "mlplatform_model_drift_last_run_timestamp_seconds": (now or datetime.now(UTC)).timestamp(),
    }
    for name, (_, labels) in DRIFT_METRICS.items():
        Gauge(name, name.replace("_", " "), [x for x in labels if x != "job"], registry=registry).labels(
            model=result.model, digest=result.digest
        ).set(values[name])
    push_to_gateway(gateway, job=DRIFT_JOB, grouping_key={"model": result.model}, registry=registry)


def run(
    *,
    s3: Any,
    bucket: str,
    model: str,
    digest: str,
    ledger_records: Iterable[Any],
    threshold: float,
    window_days_: int,
    conn: Any,
    gateway: str | None,
    record: Callable[[DriftResult], str] | None,
    today: date | None = None,
) -> tuple[DriftResult, int, str | None]:
    """One drift run: (result, its monitoring.drift_runs id, the ledger record's key)."""
    from . import store

    end = today or datetime.now(UTC).date()
    current = read_window(s3, bucket, model, digest, end, window_days_)
    if current.empty:
        raise DriftError(
            "window", f"no prediction log of {model}@{digest} in the last {window_days_} days", "is log_sample 0?"
        )
    uri, version = reference_of(ledger_records, digest)
    reference = read_reference(s3, uri, version)
    score, columns = compare(reference, current, threshold)
    start = datetime.combine(end - timedelta(days=window_days_ - 1), time.min, UTC)
    result = DriftResult(
        model,
        digest,
        start,
        datetime.combine(end, time.max, UTC),
        f"{uri}?versionId={version}" if version else uri,
        len(current),
        len(reference),
        score,
        threshold,
        columns,
    )
    store.ensure_tables(conn)
    run_id = store.insert_run(
        conn,
        {
            "model": model,
            "digest": digest,
            "window_start": result.window_start,
            "window_end": result.window_end,
            "reference_uri": result.reference_uri,
            "rows_current": result.rows_current,
            "rows_reference": result.rows_reference,
            "score": score,
            "threshold": threshold,
            "drifted": result.drifted,
            "drifted_features": result.drifted_features,
            "ledger_key": None,
        },
        [{"feature": c.feature, "method": c.method, "score": c.score, "drifted": c.drifted} for c in columns],
    )
    if gateway:
        push(gateway, result)
    key = record(result) if record else None
    if key:
        store.set_ledger_key(conn, run_id, key)
    return result, run_id, key

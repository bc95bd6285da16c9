"""Prediction logs: a sample of what a served model was asked and answered, as JSON lines in S3.

A served model's runtime creates one `PredictionLogger` (usually `PredictionLogger.from_env()`) and calls
`log(request, response)` after answering; the logger keeps a sample (`serving.models.<name>.log_sample`,
default 10 %, 0 turns it off), removes the fields listed in `drop_fields` at any depth (personal data),
never sees a header, and writes batches to

    s3://<artifact bucket>/predictions/<model>/<digest>/dt=YYYY-MM-DD/<HHMMSS>-<uuid>.jsonl

where `<digest>` is the model's OCI manifest digest with the colon dropped (`sha256-<hex>`), so a rollout
of a new version starts a new folder. The model's role may only put objects under
`predictions/<model>/` (`prediction_log_statements`). Nothing expires them unless the stack sets
`serving.prediction_retention_days` (a lifecycle rule on `predictions/` then).

One record per line (schema `mlplatform.prediction/v1`):

    {"schema": "mlplatform.prediction/v1", "id": "<uuid4>", "time": "2026-12-07T10:15:02.123456+00:00",
     "model": "churn", "digest": "sha256:<hex>", "request": {...}, "response": {...}, "latency_ms": 12.5}

`request` and `response` are the JSON bodies as the runtime received and returned them, minus the dropped
fields. The drift job (components/serving/drift.py) reads the feature rows from the request formats of
MLflow's scoring server (`dataframe_split`, `dataframe_records`, `instances`, `inputs`) and the predictions
from `predictions` (or a bare list) in the response.

Pulumi-free: only boto3 and the standard library, so a runtime image needs nothing else.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..args.serving import DEFAULT_SAMPLE, PredictionLogArgs  # defined with the other serving args

logger = logging.getLogger("mlplatform.prediction_log")

SCHEMA = "mlplatform.prediction/v1"
PREFIX = "predictions"
ENV_PREFIX = "MLPLATFORM_PREDICTION_LOG_"


def digest_folder(digest: str) -> str:
    """`sha256:<hex>` -> `sha256-<hex>` (one path segment)."""
    algo, _, hexpart = digest.partition(":")
    if not hexpart or not algo.isalnum() or not all(c in "0123456789abcdef" for c in hexpart):
        raise ValueError(f"digest: {digest!r} is not an OCI digest; pass the model's sha256:<hex> manifest digest")
    return f"{algo}-{hexpart}"


def log_prefix(model: str, digest: str | None = None, day: str | None = None) -> str:
    """predictions/<model>/[<digest>/[dt=<day>/]]"""
    out = f"{PREFIX}/{model}/"
    if digest is not None:
        out += f"{digest_folder(digest)}/"
        if day is not None:
            out += f"dt={day}/"
    return out


def drop(value: Any, fields: frozenset[str]) -> Any:
    """`value` without the keys in `fields`, at any depth, and without those columns of a pandas "split"
    table (`{"columns": [...], "data": [[...], ...]}`, MLflow's `dataframe_split`), where names are values."""
    if isinstance(value, dict):
        columns, data = value.get("columns"), value.get("data")
        if isinstance(columns, list) and isinstance(data, list) and fields.intersection(map(str, columns)):
            keep = [i for i, c in enumerate(columns) if str(c) not in fields]
            value = {
                **value,
                "columns": [columns[i] for i in keep],
                "data": [[row[i] for i in keep if i < len(row)] if isinstance(row, list) else row for row in data],
            }
        return {k: drop(v, fields) for k, v in value.items() if k not in fields}
    if isinstance(value, list):
        return [drop(v, fields) for v in value]
    return value


def prediction_log_statements(bucket_arn: str, model: str, kms_key_arn: str | None) -> list[dict[str, Any]]:
    """IAM statements a served model's role needs to write its prediction log: put objects under
    `predictions/<model>/` only (no read, list or delete), and the bucket key for SSE-KMS."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WritePredictionLog",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{log_prefix(model)}*",
        }
    ]
    if kms_key_arn:
        statements.append(
            {"Sid": "EncryptPredictionLog", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": kms_key_arn}
        )
    return statements


@dataclass
class PredictionLogger:
    """Samples and buffers prediction records; `flush()` writes one JSON-lines object per call.

    Thread-safe. A batch is written when it holds `batch_records` records or is `batch_seconds` old, and
    on `close()`. Without `start()` the `log` call that fills or ages the batch writes it; after `start()`
    a background thread does (a request never waits for S3), and a batch S3 refused is kept and retried,
    at most `max_buffer` records in all (beyond that the oldest are dropped and counted in `dropped`).
    """

    bucket: str
    model: str
    digest: str
    sample: float = DEFAULT_SAMPLE
    drop_fields: Iterable[str] = ()
    batch_records: int = 1000
    batch_seconds: float = 60.0
    s3: Any = None
    rng: Callable[[], float] = random.random
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    max_buffer: int = 100_000
    dropped: int = field(default=0, init=False)
    _buffer: list[dict[str, Any]] = field(default_factory=list, init=False)
    _opened: float = field(default_factory=time.monotonic, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False)

    def __post_init__(self) -> None:
        if not 0 <= self.sample <= 1:
            raise ValueError(f"log_sample: {self.sample} is not a share; use 0 (off) to 1 (every request)")
        digest_folder(self.digest)
        self._drop = frozenset(self.drop_fields)
        if self.s3 is None and self.sample > 0:
            import boto3

            self.s3 = boto3.client("s3")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **kw: Any) -> PredictionLogger:
        """From MLPLATFORM_PREDICTION_LOG_{BUCKET,MODEL,DIGEST,SAMPLE,DROP_FIELDS} (what `serve render` sets
        on the runtime container) and, optionally, _BATCH_RECORDS and _BATCH_SECONDS."""
        env = os.environ if environ is None else environ

        def get(key: str, default: str = "") -> str:
            return env.get(f"{ENV_PREFIX}{key}") or default

        missing = [k for k in ("BUCKET", "MODEL", "DIGEST") if not get(k)]
        if missing:
            raise ValueError(f"{', '.join(ENV_PREFIX + k for k in missing)}: not set; the serving component sets them")
        drop_fields = [f.strip() for f in get("DROP_FIELDS").split(",") if f.strip()]
        sample = float(get("SAMPLE", str(DEFAULT_SAMPLE)))
        for key, name, kind in (("BATCH_RECORDS", "batch_records", int), ("BATCH_SECONDS", "batch_seconds", float)):
            if get(key):
                kw.setdefault(name, kind(get(key)))
        return cls(get("BUCKET"), get("MODEL"), get("DIGEST"), sample, drop_fields, **kw)

    def sampled(self, request_id: str | None = None) -> bool:
        """Whether this request is logged: a stable choice per request id when given."""
        if self.sample <= 0:
            return False
        if self.sample >= 1:
            return True
        if request_id is not None:
            h = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big")
            return h / 2**64 < self.sample
        return self.rng() < self.sample

    def log(self, request: Any, response: Any, latency_ms: float | None = None, request_id: str | None = None) -> bool:
        """Record one answered request if sampled (bodies only: never pass headers). True if kept."""
        if not self.sampled(request_id):
            return False
        self.append(request, response, latency_ms, request_id)
        return True

    def append(
        self, request: Any, response: Any, latency_ms: float | None = None, request_id: str | None = None
    ) -> None:
        """Record one answered request that `sampled` chose (the caller decided, so it builds the bodies only
        for the requests it keeps)."""
        record = {
            "schema": SCHEMA,
            "id": request_id or str(uuid.uuid4()),
            "time": self.clock().isoformat(),
            "model": self.model,
            "digest": self.digest,
            "request": drop(request, self._drop),
            "response": drop(response, self._drop),
            "latency_ms": latency_ms,
        }
        with self._lock:
            self._buffer.append(record)
            self._trim()
            full = len(self._buffer) >= self.batch_records
            old = time.monotonic() - self._opened >= self.batch_seconds
        if full or old:
            if self._thread is not None:
                self._wake.set()
            else:
                self.flush()

    def _trim(self) -> None:
        over = len(self._buffer) - self.max_buffer
        if over > 0:
            del self._buffer[:over]
            self.dropped += over

    def flush(self) -> str | None:
        """Write the buffered records as one object; its key (None when nothing was buffered). A batch S3
        refuses goes back into the buffer (the error is raised)."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._opened = time.monotonic()
        if not batch:
            return None
        now = self.clock()
        key = f"{log_prefix(self.model, self.digest, now.strftime('%Y-%m-%d'))}{now:%H%M%S}-{uuid.uuid4().hex}.jsonl"
        body = io.BytesIO()
        for record in batch:
            body.write(json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n")
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.getvalue(), ContentType="application/x-ndjson")
        except Exception:
            with self._lock:
                self._buffer[:0] = batch
                self._trim()
            raise
        return key

    def start(self) -> PredictionLogger:
        """Write from a background thread from now on (see the class); `close()` stops it. Idempotent."""
        if self._thread is None and self.sample > 0:
            self._thread = threading.Thread(target=self._run, name=f"prediction-log-{self.model}", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.batch_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # kept for the next round; the model keeps serving
                logger.exception("prediction log of %s: writing to s3://%s failed", self.model, self.bucket)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the background thread (if started) and write what is buffered."""
        if self._thread is not None:
            self._stopping.set()
            self._wake.set()
            self._thread.join(timeout)
            self._thread = None
        self.flush()


__all__ = [
    "SCHEMA",
    "PredictionLogArgs",
    "PredictionLogger",
    "drop",
    "log_prefix",
    "prediction_log_statements",
]

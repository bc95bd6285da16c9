"""Model drift: the settings of the scheduled drift job and the metrics it pushes (Pulumi-free).

`DriftArgs` is the stack spec's `monitoring.drift` and the Monitoring component's `drift` input. For each
served model (`serving.models`), a CronJob runs `mlplatform drift run --model <name>` on `schedule`: it
compares the last `window_days` of the model's prediction log with the reference data named in the
model's provenance record (Evidently's data-drift preset over every input feature and the prediction),
writes the result to the metadata database's `monitoring` schema, pushes the scores below to the
Pushgateway (so `ModelDrift` fires and routes like every alert) and appends a `drift` ledger record.
"""

from __future__ import annotations

from .args.monitoring import DriftArgs as DriftArgs  # the stack spec's monitoring.drift

# The metrics the drift job pushes (grouping key job=mlplatform-drift, model=<name>): name -> (type, labels).
DRIFT_JOB = "mlplatform-drift"
DRIFT_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mlplatform_model_drift_score": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drift_threshold": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drifted_features": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drift_rows": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drift_last_run_timestamp_seconds": ("gauge", ("job", "model", "digest")),
}


def drift_alert_expr() -> str:
    return "mlplatform_model_drift_score >= on (model, digest) mlplatform_model_drift_threshold"


__all__ = ["DRIFT_JOB", "DRIFT_METRICS", "DriftArgs", "drift_alert_expr"]

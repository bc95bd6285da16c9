"""Model drift: the settings of the scheduled drift job and the metrics it pushes (Pulumi-free).

`DriftArgs` is the stack spec's `monitoring.drift` and the Monitoring component's `drift` input. For each
served model (`serving.models`), a CronJob runs `mlplatform drift run --model <name>` on `schedule`: it
compares the last `window_days` of the model's prediction log with the reference data named in the
model's provenance record (Evidently's data-drift preset over every input feature and the prediction),
writes the result to the metadata database's `monitoring` schema, pushes the scores below to the
Pushgateway (so `ModelDrift` fires and routes like every alert) and appends a `drift` ledger record.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .cron import FIX as CRON_FIX
from .cron import valid_cron

# The metrics the drift job pushes (grouping key job=mlplatform-drift, model=<name>): name -> (type, labels).
DRIFT_JOB = "mlplatform-drift"
DRIFT_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mlplatform_model_drift_score": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drift_threshold": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drifted_features": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drift_rows": ("gauge", ("job", "model", "digest")),
    "mlplatform_model_drift_last_run_timestamp_seconds": ("gauge", ("job", "model", "digest")),
}


class DriftArgs(BaseModel):
    """When and how the drift job compares a served model's inputs and predictions with its training data.

    Fields:
        schedule (cron, default "0 4 * * *"): when the job runs (UTC), one CronJob per served model.
        window_days (int, default 7, 1..90): how many days of prediction logs it reads.
        threshold (float, default 0.5, 0 < t <= 1): the drift score (share of drifted columns, Evidently's
            dataset-drift share) at which `ModelDrift` fires.
    """

    model_config = ConfigDict(extra="forbid")

    schedule: str = "0 4 * * *"
    window_days: int = Field(7, ge=1, le=90)
    threshold: float = Field(0.5, gt=0, le=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not valid_cron(v):
            raise ValueError(f"{v!r} is not a cron schedule: {CRON_FIX}")
        return v


def drift_alert_expr() -> str:
    return "mlplatform_model_drift_score >= on (model, digest) mlplatform_model_drift_threshold"


__all__ = ["DRIFT_JOB", "DRIFT_METRICS", "DriftArgs", "drift_alert_expr"]

"""The inputs of `Monitoring` (components/monitoring.py), Pulumi-free: the stack spec's `monitoring:`
section is built from `MonitoringSettings`, its `existing` IS `ExistingMonitoring`."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from ..alerting import AlertsArgs
from ..conventions import DNS_LABEL
from ..cron import FIX as CRON_FIX
from ..cron import valid_cron
from . import Args, Section, ValidationError

# The Grafana sidecar loads ConfigMaps with this label (kube-prometheus-stack values
# grafana.sidecar.dashboards.label / labelValue, set explicitly so they cannot drift).
DASHBOARD_LABEL, DASHBOARD_LABEL_VALUE = "grafana_dashboard", "1"
ARC_NAMESPACE = "arc-systems"
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def namespace_name(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValidationError(
            "",
            f"{value!r} is not a Kubernetes namespace name",
            "use lowercase letters, digits and '-', at most 63 characters",
        )
    return value


class ExistingMonitoring(Section):
    """A kube-prometheus-stack release that already runs, to extend instead of installing one.

    Fields:
        namespace (str, required): its namespace; dcgm-exporter, the rules, monitors and dashboards go there.
        release (str, required): its Helm release name; everything added is labelled `release: <release>`
            so its Prometheus selects it (kube-prometheus-stack's default selectors).
        grafana_url (str | None, default None): where its Grafana is reached (https://...); None: the
            output is a port-forward command to `<release>-grafana`.
        dashboard_label (str, default "grafana_dashboard"): its Grafana sidecar's
            `sidecar.dashboards.label`.
        dashboard_label_value (str, default "1"): its `sidecar.dashboards.labelValue`.
    """

    namespace: str
    release: str
    grafana_url: str | None = None
    dashboard_label: str = DASHBOARD_LABEL
    dashboard_label_value: str = DASHBOARD_LABEL_VALUE

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        return namespace_name(v)

    @field_validator("release")
    @classmethod
    def _release(cls, v: str) -> str:
        if not DNS_LABEL.match(v) or len(v) > 53:
            raise ValidationError(
                "", f"{v!r} is not a Helm release name", "pass the name shown by `helm list -n <namespace>`"
            )
        return v

    @field_validator("grafana_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValidationError(
                "", f"{v!r} is not a URL", "write it like https://grafana.example.com, or leave it None"
            )
        return v

    @field_validator("dashboard_label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not _LABEL_KEY.match(v):
            raise ValidationError(
                "", f"{v!r} is not a label key", "pass the Grafana sidecar's sidecar.dashboards.label"
            )
        return v

    @field_validator("dashboard_label_value")
    @classmethod
    def _label_value(cls, v: str) -> str:
        if not _LABEL_VALUE.match(v):
            raise ValidationError(
                "", f"{v!r} is not a label value", "pass the Grafana sidecar's sidecar.dashboards.labelValue"
            )
        return v


class DriftArgs(Section):
    """When and how the drift job compares a served model's inputs and predictions with its training data.

    Fields:
        schedule (cron, default "0 4 * * *"): when the job runs (UTC), one CronJob per served model.
        window_days (int, default 7, 1..90): how many days of prediction logs it reads.
        threshold (float, default 0.5, 0 < t <= 1): the drift score (share of drifted columns, Evidently's
            dataset-drift share) at which `ModelDrift` fires.
    """

    schedule: str = "0 4 * * *"
    window_days: int = Field(7, ge=1, le=90)
    threshold: float = Field(0.5, gt=0, le=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not valid_cron(v):
            raise ValidationError("", f"{v!r} is not a cron schedule", CRON_FIX)
        return v


class MonitoringSettings(Section):
    """What a user chooses of monitoring: the fields `MonitoringArgs` and the stack's `monitoring:`
    section share (one definition of each bound and default).

    Fields:
        retention_days (int, default 7): how long Prometheus keeps samples, 1..365.
        storage_gib (int, default 20): Prometheus volume per replica in GiB (gp3, encrypted); 0: no volume
            (data lost when the pod moves). Retention by size keeps the TSDB under 80 % of it.
        prometheus_replicas (int, default 1): Prometheus replicas, 1..10 (2 for high availability);
            Alertmanager runs as many.
        prometheus_memory_mib (int, default 1024): memory each Prometheus replica requests (MiB, 256..65536;
            limit 2x, CPU request a quarter of it in millicores). Its working set grows with the series
            scraped and the retention: profiles size it (512 pragmatic, 2048 growth, 4096 full).
        alertmanager (bool, default True): run Alertmanager (one replica per Prometheus replica), which
            routes the alerts to `alerts.receivers`.
        alerts (AlertsArgs, default AlertsArgs()): receivers, routes by severity, grouping and repeat
            intervals (components/alerting.py); not with `existing` (configure that release's Alertmanager).
        drift (DriftArgs, default DriftArgs()): schedule, window_days and threshold of the drift job of
            each served model (components/drift.py).
        existing (ExistingMonitoring | None, default None): extend this kube-prometheus-stack release
            instead of installing one; the sizes above (and MonitoringArgs' namespace and storage_class)
            then go unused, but are still checked.
    """

    retention_days: int = Field(7, ge=1, le=365)
    storage_gib: int = Field(20, ge=0)
    prometheus_replicas: int = Field(1, ge=1, le=10)
    prometheus_memory_mib: int = Field(1024, ge=256, le=65536)
    alertmanager: bool = True
    alerts: AlertsArgs = AlertsArgs()
    drift: DriftArgs = DriftArgs()
    existing: ExistingMonitoring | None = None


class MonitoringArgs(MonitoringSettings, Args):
    """Inputs of `Monitoring`: `MonitoringSettings` (retention_days, storage_gib, prometheus_replicas,
    prometheus_memory_mib, alertmanager, existing) plus the wiring below.

    Fields:
        cluster (Cluster | ClusterRef | None, default None): the cluster; its Kubernetes provider fills
            k8s_provider (kept for existing programs).
        k8s_provider (pulumi.ProviderResource | None, default None): the cluster's Kubernetes provider
            (`Cluster.provider`); None: the ambient kubeconfig.
        namespace (str, default "monitoring"): namespace of the bundled stack (ignored when adopting).
        storage_class (str | None, default None): StorageClass of the volumes; None: create
            `gp3-encrypted` (EBS CSI driver, encrypted) when a volume is asked for.
        mlflow_namespace (str, default "mlflow"): where the MLflow server runs (MLflow dashboard and alert).
        runner_controller_namespace (str | None, default "arc-systems"): namespace of the Actions Runner
            Controller, whose listener pods are scraped for the `gha_*` metrics of the stuck-runner alert;
            None: no runners, no listener PodMonitor and no runner alert.
        gpu_hour_usd (float | None, default None): price of one GPU-hour (> 0); when given, the GPU cost
            dashboard also shows dollars (editable there).
        helm_values (dict | None, default None): your own kube-prometheus-stack values, deep-merged over the ones
            this component computes (checked against the pinned chart by `mlplatform check`); keys it owns
            for safety are refused (components/helm_values.OWNED).
        dcgm_exporter_helm_values (dict | None, default None): the same for the dcgm-exporter chart.
        alert_secrets (Mapping[str, Input[str]] | None, default None): each receiver's secret by receiver
            name (a Pulumi secret: webhook URL, routing key, SMTP password, bearer token); exactly the
            receivers whose kind needs one. They reach Alertmanager through a Kubernetes Secret, never Helm values.
        served_models (list[str] | None, default None): the served models (`serving.models`); for each, a
            drift CronJob and a panel on the Model drift dashboard; with any, the pinned Pushgateway.
        drift_image (Input[str] | None): the drift job's image (required with served_models).
        drift_env (Mapping[str, Input[str]] | None): extra environment of the drift job (bucket, ledger).
        drift_policies (Mapping[str, Input[str]] | None): inline IAM policies (name -> JSON) of the drift
            jobs' IRSA role (service account `mlplatform-drift`): read the prediction logs and reference data.
        drift_managed_policy_arns (Mapping[str, Input[str]] | None): managed policies attached to that role
            (the evidence ledger's writer and reader policies).
        oidc_provider_arn, oidc_issuer_url (Input[str] | None): the cluster's OIDC provider (from `cluster`),
            needed for the drift jobs' role.
    """

    k8s_provider: Any = None
    namespace: str = "monitoring"
    storage_class: str | None = None
    mlflow_namespace: str = "mlflow"
    runner_controller_namespace: str | None = ARC_NAMESPACE
    gpu_hour_usd: float | None = Field(None, gt=0)
    helm_values: dict[str, Any] | None = None
    dcgm_exporter_helm_values: dict[str, Any] | None = None
    cluster: Any = None
    alert_secrets: Any = None
    served_models: list[str] | None = None
    drift_image: Any = None
    drift_env: Any = None
    drift_policies: Any = None
    drift_managed_policy_arns: Any = None
    oidc_provider_arn: Any = None
    oidc_issuer_url: Any = None

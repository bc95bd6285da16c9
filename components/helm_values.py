"""A user's own Helm values (`helm_values`), merged over what a component computes.

Every component that installs a chart takes `helm_values: dict | None` (day-two settings such as
Grafana SSO, Prometheus remote write, MLflow extra env). They are deep-merged over the component's
values (mappings key by key; lists and scalars replaced). Keys the component owns for safety are
refused with the reason (`owned_problem`): the GPU taint tolerations (only GPU work may land on GPU
nodes), IRSA service-account annotations and names (each role trusts exactly one service account),
the database secret reference, and the wiring to the cluster. `stacks/config/spec.py` refuses the same keys,
and keys the pinned chart does not have, when the stack config is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._common import ValidationError
from .conventions import GPU_TAINT
from .merge import deep_merge

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
_IRSA = "the component sets it: the IRSA role's trust policy names this service account"
_GPU_ONLY = "the component sets it: the GPU DaemonSet runs on GPU nodes only, tolerating the GPU taint"
# chart -> {dotted key path: why the component owns it}. A user's key at, above or below one is refused.
OWNED: dict[str, dict[str, str]] = {
    "kube-prometheus-stack": {
        "grafana.admin": "the Grafana admin login is the stack's Pulumi secret (grafana_admin_password output)",
        "fullnameOverride": "the monitors, rules and dashboards mlplatform adds select this release by name",
        "prometheus.prometheusSpec.retention": "set retention_days (monitoring.retention_days)",
        "prometheus.prometheusSpec.replicas": "set prometheus_replicas (monitoring.prometheus_replicas)",
        "prometheus.prometheusSpec.storageSpec": "set storage_gib (monitoring.storage_gib)",
        "alertmanager.enabled": "set alertmanager (monitoring.alertmanager)",
        "alertmanager.config": "set monitoring.alerts (receivers, grouping); secrets stay in Pulumi config",
        "alertmanager.stringConfig": "set monitoring.alerts (receivers, grouping); secrets stay in Pulumi config",
        "alertmanager.tplConfig": "set monitoring.alerts: the configuration is rendered as given, not templated",
        "alertmanager.alertmanagerSpec.secrets": "the receivers' secrets are mounted from mlplatform's Secret",
        "alertmanager.alertmanagerSpec.useExistingSecret": "set monitoring.alerts: mlplatform writes the configuration",
    },
    "dcgm-exporter": {"tolerations": _GPU_ONLY, "affinity": _GPU_ONLY},
    "prometheus-pushgateway": {
        "fullnameOverride": "the drift jobs push to this Service by name",
        "serviceMonitor.additionalLabels": "the stack's Prometheus selects the ServiceMonitor by this label",
        "serviceMonitor.honorLabels": "the drift scores keep the model and digest labels they were pushed with",
    },
    "nvidia-device-plugin": {"tolerations": _GPU_ONLY, "affinity": _GPU_ONLY},
    "mlflow": {
        "backendStore.existingDatabaseSecret": "the database password stays in the Secret the component writes",
        "backendStore.postgres": "MLflow's database is the stack's metadata database",
        "artifactRoot.s3": "artifacts go to the registry bucket the MLflow role may write",
        "serviceAccount.name": _IRSA,
        "serviceAccount.create": _IRSA,
        "fullnameOverride": "the tracking URL (mlflow_url) names this Service",
        "replicaCount": "set replicas (mlflow.replicas)",
    },
    "cluster-autoscaler": {
        "rbac.serviceAccount.name": _IRSA,
        "rbac.serviceAccount.create": _IRSA,
        "autoDiscovery.clusterName": "the autoscaler manages the stack's own cluster's node groups",
    },
    "karpenter": {
        "serviceAccount.name": _IRSA,
        "serviceAccount.create": _IRSA,
        "settings.clusterName": "Karpenter manages the stack's own cluster",
        "settings.interruptionQueue": "the interruption queue is the one the component creates",
    },
    "aws-load-balancer-controller": {
        "serviceAccount.name": _IRSA,
        "serviceAccount.create": _IRSA,
        "clusterName": "the controller manages the stack's own cluster",
        "vpcId": "the stack's own VPC",
    },
    "argo-workflows": {
        "workflow.serviceAccount.name": _IRSA,
        "server.serviceAccount.name": _IRSA,
        "controller.serviceAccount.name": _IRSA,
    },
    "gha-runner-scale-set": {
        "githubConfigSecret": "the GitHub App secret is the stack's Pulumi secret",
        "githubConfigUrl": "set runners.github_config_url",
        "controllerServiceAccount": "the scale set is bound to the stack's runner controller",
        "minRunners": "set min_runners (runners.cpu/gpu.min)",
        "maxRunners": "set max_runners (runners.cpu/gpu.max)",
    },
    "gha-runner-scale-set-controller": {},
    "argo-rollouts": {
        "installCRDs": "the analysis templates and every rendered Rollout need the Argo Rollouts CRDs",
        "keepCRDs": "deleting the CRDs would delete every Rollout, and with it every served model",
        "controller.replicas": "set serving.controller_replicas",
    },
}


def _leaves(values: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(values, Mapping) and values:
        for k, v in values.items():
            yield from _leaves(v, path + (str(k),))
    else:
        yield path, values


def _tolerates_gpu_taint(t: Any) -> bool:
    """Kubernetes' toleration matching against GPU_TAINT (an empty key with Exists, or no effect, matches all)."""
    if not isinstance(t, Mapping):
        return False
    if t.get("effect") not in (None, "", GPU_TAINT["effect"]):
        return False
    if t.get("operator") == "Exists":
        return t.get("key") in (None, "", GPU_TAINT["key"])
    return t.get("key") == GPU_TAINT["key"] and t.get("value", "") == GPU_TAINT["value"]


def owned_problem(chart: str, values: Mapping[str, Any]) -> tuple[str, str] | None:
    """(dotted key, reason) of the first key in `values` the component owns for `chart`; None if none."""
    owned = {tuple(k.split(".")): why for k, why in OWNED.get(chart, {}).items()}
    for path, leaf in _leaves(values):
        for o, why in owned.items():
            below = path[: len(o)] == o
            replaces = o[: len(path)] == path and not isinstance(leaf, Mapping)  # `{}` merges nothing
            if below or replaces:
                return ".".join(path), why
        if path and path[-1] == IRSA_ANNOTATION:
            return ".".join(path), _IRSA
        if (
            path
            and path[-1] == "tolerations"
            and chart not in ("dcgm-exporter", "nvidia-device-plugin")
            and isinstance(leaf, list)
            and any(_tolerates_gpu_taint(t) for t in leaf)
        ):
            return ".".join(path), (
                "tolerating the GPU taint would let these pods keep GPU nodes up; only GPU "
                "work and the GPU DaemonSets tolerate it"
            )
    return None


def with_user_values(chart: str, values: Any, user: Mapping[str, Any] | None, field: str = "helm_values") -> Any:
    """The component's `values` with the user's `helm_values` merged over them; an owned key is a
    ValidationError naming it and the reason."""
    if not user:
        return values
    problem = owned_problem(chart, user)
    if problem:
        raise ValidationError(f"{field}.{problem[0]}", f"refused for {chart}: {problem[1]}", f"remove it from {field}")
    return deep_merge(values, user)


def check_user_values(chart: str, user: Mapping[str, Any] | None, field: str = "helm_values") -> None:
    """Refuse (ValidationError) a `helm_values` that is not a mapping or sets a key the component owns."""
    if user is None:
        return
    if not isinstance(user, Mapping):
        raise ValidationError(
            field,
            f"must be a mapping of {chart} values, got {type(user).__name__}",
            "write it like {'grafana': {'grafana.ini': {...}}}",
        )
    problem = owned_problem(chart, user)
    if problem:
        raise ValidationError(f"{field}.{problem[0]}", f"refused for {chart}: {problem[1]}", f"remove it from {field}")

"""The Argo Rollouts controller's Helm values (chart `argo-rollouts`, versions.HELM_CHARTS).

On the system nodes with requests and a memory limit, non-root, read-only root filesystem, every
capability dropped, RuntimeDefault seccomp (the chart's defaults, stated for reviewers and `check`),
its CRDs installed and kept on uninstall (a Rollout outlives a chart upgrade), no dashboard.
"""

from __future__ import annotations

from typing import Any

from ..conventions import RESTRICTED_CONTAINER, SYSTEM_NODE_SELECTOR

NAMESPACE = "argo-rollouts"
CONTROLLER_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
# The chart's own keys: the pod runs as non-root, each container with seccomp and nothing more.
POD_SECURITY = {"runAsNonRoot": True}
CONTAINER_SECURITY = RESTRICTED_CONTAINER


def controller_values(replicas: int, monitoring_release: str | None) -> dict[str, Any]:
    """The argo-rollouts chart values mlplatform sets."""
    controller: dict[str, Any] = {
        "replicas": replicas,
        "nodeSelector": {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR},
        "resources": CONTROLLER_RESOURCES,
        "metrics": {"enabled": monitoring_release is not None},
    }
    if monitoring_release is not None:
        controller["metrics"]["serviceMonitor"] = {"enabled": True, "additionalLabels": {"release": monitoring_release}}
    if replicas > 1:  # leader election: one may go during a node drain
        controller["pdb"] = {"enabled": True, "minAvailable": 1}
    return {
        "installCRDs": True,
        "keepCRDs": True,
        "controller": controller,
        "podSecurityContext": POD_SECURITY,
        "containerSecurityContext": CONTAINER_SECURITY,
        "dashboard": {"enabled": False},
    }

"""What every part of GpuNodePool shares: names, node labels, the GPU cap of a pool."""

from __future__ import annotations

from typing import Any

from ..conventions import ACCELERATOR_LABEL, GPU_LABEL, POOL_LABEL
from ..gpu_instances import gpu_model

CA_TAG = "k8s.io/cluster-autoscaler"
CONTROLLER_NAMESPACE = "kube-system"
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"
KARPENTER_SA = "karpenter"
CPU_BATCH_DISK_GIB = 100
NODE_EXPIRY = "720h"  # Karpenter replaces nodes after 30 days (patched AMIs); do-not-disrupt pods delay it
# Spot groups first, then on-demand fallbacks, then any other group cluster-autoscaler finds.
SPOT_PRIORITY, ON_DEMAND_PRIORITY, OTHER_PRIORITY = 50, 10, 1

# Managed node groups are auto-named `<name>-<pool>-ondemand-<7 hex>`; EKS allows 63 characters.
MAX_GROUP_NAME = 63 - 8


def autoscaler_chart(mechanism: str) -> str:
    """The chart of the node autoscaler a mechanism installs (what `helm_values` applies to)."""
    return "karpenter" if mechanism == "karpenter" else "cluster-autoscaler"


def accelerator(instance_types: list[str]) -> str:
    """The `k8s.amazonaws.com/accelerator` value of a pool: its GPU model, or the models joined by '.'
    when it mixes some (a managed node group carries one label set; select a single model with
    `node.kubernetes.io/instance-type`)."""
    models = sorted({gpu_model(t) for t in instance_types})
    joined = ".".join(models)
    return joined if len(joined) <= 63 else "nvidia-mixed"


def node_labels(pool: str, instance_types: list[str] | None) -> dict[str, str]:
    labels = {POOL_LABEL: pool, GPU_LABEL: "true"}
    if instance_types:
        labels[ACCELERATOR_LABEL] = accelerator(instance_types)
    return labels


def metadata_options() -> dict[str, Any]:
    # IMDSv2 only, and one hop: pods cannot reach the node role's credentials through IMDS.
    return {
        "httpEndpoint": "enabled",
        "httpProtocolIPv6": "disabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    }

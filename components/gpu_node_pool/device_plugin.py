"""The NVIDIA device plugin: advertises `nvidia.com/gpu`, on GPU nodes only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._common import helm_release
from ..conventions import GPU_NODE_AFFINITY, GPU_TOLERATION
from ..helm_values import with_user_values
from .nodes import CONTROLLER_NAMESPACE

if TYPE_CHECKING:
    from .component import GpuNodePool


def install(c: GpuNodePool) -> None:
    """Advertises `nvidia.com/gpu` on GPU nodes; runs only there (GPU toleration + GPU node affinity)."""
    values = {
        "tolerations": [dict(GPU_TOLERATION)],
        "affinity": GPU_NODE_AFFINITY,
        "priorityClassName": "system-node-critical",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }
    values = with_user_values(
        "nvidia-device-plugin", values, c._args.device_plugin_helm_values, "device_plugin_helm_values"
    )
    helm_release(
        c,
        f"{c._name}-nvidia-device-plugin",
        "nvidia-device-plugin",
        CONTROLLER_NAMESPACE,
        values,
        c._args.k8s_provider,
        create_namespace=False,
    )

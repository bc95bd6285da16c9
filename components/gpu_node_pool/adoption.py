"""Adopted GPU nodes: the pool and GPU labels and the GPU taint, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi_kubernetes as k8s

from ..args.gpu_node_pool import ExistingGpuNodes
from ..conventions import GPU_TAINT
from .nodes import node_labels

if TYPE_CHECKING:
    from .component import GpuNodePool


def adopt(c: GpuNodePool, existing: ExistingGpuNodes) -> None:
    for node in existing.node_names:
        k8s.core.v1.NodePatch(
            f"{c._name}-{node}",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name=node,
                labels=node_labels(existing.pool, None),
                # The node's taints are owned by kubelet too: take them over (server-side apply force).
                annotations={"pulumi.com/patchForce": "true"},
            ),
            spec=k8s.core.v1.NodeSpecPatchArgs(taints=[k8s.core.v1.TaintPatchArgs(**GPU_TAINT)]),
            opts=c._k8s_opts(),
        )

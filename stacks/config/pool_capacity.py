"""How many GPUs a pool may run: ONE definition, read by the queues (each flavor's capacity, the
cohort's share) and through them the `queue-capacity` check rule's expectation.

It is `components.args.gpu_node_pool.gpu_limit_of`, the definition GpuNodePool builds from (Karpenter:
the NodePool's GPU limit; managed: the node groups' sizes together, `gpu.pools[].max` nodes in all).
"""

from __future__ import annotations

from typing import Any


def pool_gpus(pool: Any, mechanism: str) -> int | None:
    """Most GPUs the pool may run; None when a type is unknown to mlplatform (GpuNodePool names it)."""
    from mlplatform.components.args.gpu_node_pool import gpu_limit_of
    from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES

    if not all(t in GPU_INSTANCE_TYPES for t in pool.instance_types):
        return None
    return gpu_limit_of(pool, mechanism)

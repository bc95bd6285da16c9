"""How many GPUs a pool may run: ONE definition, read by the stack spec (quota totals), the queues
(each flavor's capacity, the cohort's share) and the `queue-capacity` check rule's expectation.

The meaning of `gpu.pools[].max` is being settled elsewhere (the most GPU nodes the pool may run,
whatever the capacity type); when that lands, this function is pointed at its definition.
"""

from __future__ import annotations

from typing import Any


def pool_gpus(pool: Any) -> int | None:
    """Most GPUs the pool may run: its `gpu_limit`, else `max` nodes x the most GPUs one of its types
    has; None when a type is unknown to mlplatform (GpuNodePool names it)."""
    from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES

    if pool.gpu_limit is not None:
        return int(pool.gpu_limit)
    if not all(t in GPU_INSTANCE_TYPES for t in pool.instance_types):
        return None
    return int(pool.max) * max(GPU_INSTANCE_TYPES[t][0] for t in pool.instance_types)

"""Where serving pods run, and what they ask of the nodes (Pulumi-free: the render, `check`, the
capacity check and `cost` read the same answer).

* CPU models: `placement: system` puts them on the system nodes (pragmatic); `cpu-batch` on the
  Karpenter CPU pool, tolerating its taint (growth/full).
* GPU models (`gpu >= 1`, every vllm model): the stack's GPU pool, tolerating the GPU taint.

A canary without dynamicStableScale keeps the stable pods at full size while the canary grows to full
size at its last step, so an environment needs room for twice its replicas during a rollout (`PEAK`).
"""

from __future__ import annotations

from typing import Any

from ..conventions import (
    CPU_BATCH_POOL,
    CPU_BATCH_TOLERATION,
    GPU_LABEL,
    GPU_TOLERATION,
    POOL_LABEL,
    SYSTEM_POOL,
)
from .args import ServedModel

PEAK = 2  # stable + a full-size canary at the rollout's last step


def effective(placement: str, cpu_batch_pool: bool) -> str:
    """`system` or `cpu-batch`: what `placement` (auto | system | cpu-batch) means on this cluster."""
    if placement == "auto":
        return "cpu-batch" if cpu_batch_pool else "system"
    return placement


def pool_of(model: ServedModel, placement: str, gpu_pool: str | None) -> str:
    """The node pool (`mlplatform.io/pool`) a model's pods run on."""
    if model.gpu:
        if not gpu_pool:
            raise ValueError("a GPU model needs a GPU pool")
        return gpu_pool
    return CPU_BATCH_POOL if placement == "cpu-batch" else SYSTEM_POOL


def scheduling(model: ServedModel, placement: str, gpu_pool: str | None) -> dict[str, Any]:
    """nodeSelector and tolerations of a model's pods."""
    pool = pool_of(model, placement, gpu_pool)
    selector = {"kubernetes.io/os": "linux", POOL_LABEL: pool}
    if model.gpu:
        return {"nodeSelector": {**selector, GPU_LABEL: "true"}, "tolerations": [dict(GPU_TOLERATION)]}
    if pool == CPU_BATCH_POOL:
        return {"nodeSelector": selector, "tolerations": [dict(CPU_BATCH_TOLERATION)]}
    return {"nodeSelector": selector}


def resources(model: ServedModel) -> dict[str, Any]:
    """Requests (CPU, memory, GPU) and limits (memory, GPU) of a model's server container."""
    requests: dict[str, Any] = {"cpu": model.cpu, "memory": model.memory}
    limits: dict[str, Any] = {"memory": model.memory}
    if model.gpu:
        requests["nvidia.com/gpu"] = str(model.gpu)
        limits["nvidia.com/gpu"] = str(model.gpu)
    return {"requests": requests, "limits": limits}


def sized_for(models: dict[str, ServedModel], placement: str, gpu_pool: str | None) -> list[dict[str, Any]]:
    """What one environment's pods ask for, per model: pool, replicas at steady state, per-pod requests."""
    return [
        {
            "model": name,
            "pool": pool_of(m, placement, gpu_pool),
            "replicas": m.replicas,
            "peak_replicas": m.replicas * PEAK,
            "cpu": m.cpu,
            "memory": m.memory,
            "gpu": m.gpu,
        }
        for name, m in sorted(models.items())
    ]


def quota(models: dict[str, ServedModel]) -> dict[str, str]:
    """ResourceQuota `hard` of one environment: its models' requests at the rollout peak."""
    from ..quantity import MIB, parse_quantity  # the one quantity parser (the Kubernetes client's arithmetic)

    cpu_m = sum(float(parse_quantity(m.cpu)) * 1000 * m.replicas * PEAK for m in models.values())
    mem_mi = sum(float(parse_quantity(m.memory)) / MIB * m.replicas * PEAK for m in models.values())
    gpus = sum(m.gpu * m.replicas * PEAK for m in models.values())
    hard = {
        "requests.cpu": f"{int(-(-cpu_m // 1))}m",
        "requests.memory": f"{int(-(-mem_mi // 1))}Mi",
        "limits.memory": f"{int(-(-mem_mi // 1))}Mi",
    }
    hard["requests.nvidia.com/gpu"] = str(gpus)
    return hard

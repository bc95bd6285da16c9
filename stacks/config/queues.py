"""The stack's queues (components/queueing) from its spec: one source of truth for GPU capacity.

Each GPU pool's capacity is `pool_capacity.pool_gpus` (what its Karpenter `limits` or its node groups'
sizes allow); each team's nominal GPUs per pool are `team_gpu_split` (its `gpu_quota_by_pool`, else its
`gpu_quota` filling the pools in order); the cohort holds the rest. The same numbers feed the
GpuNodePool, the ClusterQueues and the `queue-capacity` check rule, which compares them in the plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlplatform.components.conventions import (
    CPU_BATCH_POOL,
    CPU_BATCH_TOLERATION,
    GPU_LABEL,
    GPU_TAINT,
    POOL_LABEL,
    SYSTEM_NODE_SELECTOR,
    SYSTEM_POOL,
)
from mlplatform.components.queueing.args import Flavor, TeamQueue

from ..errors import SpecError
from .pool_capacity import pool_gpus

if TYPE_CHECKING:
    from .spec import StackSpec, TeamSpec


def queueing_on(spec: StackSpec) -> bool:
    return spec.queueing.enabled


def has_batch_pool(spec: StackSpec) -> bool:
    g = spec.gpu
    return g.cpu_batch_pool and g.mechanism == "karpenter" and g.existing is None


def gpu_capacity(spec: StackSpec) -> dict[str, int]:
    """Pool name -> GPUs it may run (pools of unknown types are left out: GpuNodePool refuses them);
    adopted GPU nodes: their count x `queueing.adopted_gpus_per_node`."""
    if spec.gpu.existing is not None:
        e = spec.gpu.existing
        return {e.pool: len(e.node_names) * spec.queueing.adopted_gpus_per_node}
    out: dict[str, int] = {}
    for p in spec.gpu.pools:
        gpus = pool_gpus(p, spec.gpu.mechanism)
        if gpus is not None:
            out[p.name] = gpus
    return out


def flavors(spec: StackSpec) -> list[Flavor]:
    """The CPU flavor (the batch pool, else the system nodes), then one per GPU pool in order."""
    if has_batch_pool(spec):
        cpu = Flavor(name=CPU_BATCH_POOL, node_labels={POOL_LABEL: CPU_BATCH_POOL}, tolerations=[CPU_BATCH_TOLERATION])
    else:
        cpu = Flavor(name=SYSTEM_POOL, node_labels=dict(SYSTEM_NODE_SELECTOR))
    caps = gpu_capacity(spec)
    pools = [(p.name, list(p.instance_types)) for p in spec.gpu.pools]
    if spec.gpu.existing is not None:
        pools = [(spec.gpu.existing.pool, [])]  # adopted nodes: their types are not known (no price)
    gpus = [
        Flavor(
            name=name,
            node_labels={POOL_LABEL: name, GPU_LABEL: "true"},
            node_taints=[dict(GPU_TAINT)],
            gpus=caps.get(name, 0),
            instance_types=types,
        )
        for name, types in pools
    ]
    return [cpu, *gpus]


def team_gpu_split(spec: StackSpec, team: TeamSpec) -> dict[str, int]:
    """The team's nominal GPUs per pool: `gpu_quota_by_pool` as written, else `gpu_quota` filling the
    pools in order, each up to what it may run (what overflows the last pool stays on it)."""
    if team.gpu_quota_by_pool:
        return {k: v for k, v in team.gpu_quota_by_pool.items() if v}
    left, out = team.gpu_quota, {}
    caps = list(gpu_capacity(spec).items())
    for i, (pool, cap) in enumerate(caps):
        take = left if i == len(caps) - 1 else min(left, cap)
        if take:
            out[pool] = take
        left -= take
        if not left:
            break
    return out


def admissible_gpus(spec: StackSpec, team: TeamSpec) -> int:
    """The most GPUs Kueue may admit for the team at once: its nominal GPUs plus what it may borrow
    (per pool: its borrowing limit, else everything the pool has beyond its own share)."""
    caps = gpu_capacity(spec)
    split = team_gpu_split(spec, team)
    total = 0
    for pool, cap in caps.items():
        own = split.get(pool, 0)
        extra = max(0, cap - own) if team.gpu_borrowing_limit is None else team.gpu_borrowing_limit
        total += min(cap, own + extra) if not spec.gpu.oversubscribe_gpus else own + extra
    return total


def team_queues(spec: StackSpec) -> list[TeamQueue]:
    return [
        TeamQueue(
            team=t.name,
            namespace=t.name,
            gpus=team_gpu_split(spec, t),
            cpu=t.cpu_quota,
            memory_gib=t.memory_quota_gib,
            gpu_borrowing_limit=t.gpu_borrowing_limit,
            gpu_lending_limit=t.gpu_lending_limit,
            gpu_budget_usd_month=t.gpu_budget_usd_month,
        )
        for t in spec.teams
    ]


def check_queueing(spec: StackSpec) -> None:
    """What the queues refuse, named by the stack's key path (SpecError)."""
    pools = {p.name for p in spec.gpu.pools} | ({spec.gpu.existing.pool} if spec.gpu.existing else set())
    for i, t in enumerate(spec.teams):
        unknown = sorted(set(t.gpu_quota_by_pool) - pools)
        if unknown:
            raise SpecError(
                f"teams.{i}.gpu_quota_by_pool",
                f"{', '.join(unknown)} is not a GPU pool of this stack",
                f"use the names of gpu.pools: {', '.join(sorted(pools)) or 'none'}",
            )
        if t.gpu_quota_by_pool and sum(t.gpu_quota_by_pool.values()) != t.gpu_quota:
            raise SpecError(
                f"teams.{i}.gpu_quota_by_pool",
                f"adds up to {sum(t.gpu_quota_by_pool.values())} GPUs, gpu_quota is {t.gpu_quota}",
                "make gpu_quota the sum of gpu_quota_by_pool",
            )
        queue_settings = (
            t.gpu_quota_by_pool
            or t.gpu_borrowing_limit is not None
            or t.gpu_lending_limit is not None
            or t.gpu_budget_usd_month is not None
        )
        if queue_settings and not spec.queueing.enabled:
            raise SpecError(
                f"teams.{i}",
                "gpu_quota_by_pool, gpu_borrowing_limit, gpu_lending_limit and gpu_budget_usd_month are queue "
                "settings (Kueue counts what a budget spends), and queueing is off",
                "set queueing.enabled: true, or remove them",
            )
    if spec.training.enabled and not spec.queueing.enabled:
        raise SpecError(
            "training.enabled",
            "TrainJobs are admitted by Kueue, all their nodes at once, and queueing is off",
            "set queueing.enabled: true, or training.enabled: false",
        )
    if not spec.queueing.enabled:
        return
    if spec.gpu.oversubscribe_gpus:
        return
    caps = gpu_capacity(spec)
    for pool, cap in caps.items():
        asked = {t.name: team_gpu_split(spec, t).get(pool, 0) for t in spec.teams}
        if sum(asked.values()) > cap:
            per_team = ", ".join(f"{n} {v}" for n, v in asked.items() if v)
            raise SpecError(
                "teams",
                f"the teams' GPUs on pool {pool} add up to {sum(asked.values())} ({per_team}), the pool may run {cap}",
                "give teams gpu_quota_by_pool on other pools, lower the quotas, or raise the pool's gpu_limit/max",
            )


def multi_gpu_pools(spec: StackSpec) -> list[tuple[str, list[str]]]:
    """(pool, instance types) of the pools whose nodes have more than one GPU (distributed training)."""
    from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES

    return [
        (p.name, list(p.instance_types))
        for p in spec.gpu.pools
        if max((GPU_INSTANCE_TYPES.get(t, (1, ""))[0] for t in p.instance_types), default=1) > 1
    ]

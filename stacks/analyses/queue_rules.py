"""`queue-capacity`: the GPUs the queues may admit on a pool equal the GPUs the pool may run.

For every GPU `ResourceFlavor` of the plan (its `mlplatform.io/pool` label names the pool), the teams'
`ClusterQueue` nominal GPUs on that flavor plus the `Cohort`'s own must equal the pool's real capacity
in the same plan: the Karpenter `NodePool`'s `limits.nvidia.com/gpu`, or the sum over the pool's EKS
managed node groups of `maxSize` x the GPUs of its largest instance type (every group of a pool can
grow at once). More quota than capacity admits jobs whose pods then wait for nodes that can never
come (Kueue's ProvisioningRequest check, which would catch it, works with cluster-autoscaler only:
kueue#5133); less leaves GPUs no queue can use. A stack that sets `gpu.oversubscribe_gpus` marks its
cohort (objects.OVERSUBSCRIBED_ANNOTATION): more quota than GPUs is then what it asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlplatform.components.conventions import GPU_RESOURCE, POOL_LABEL
from mlplatform.components.queueing.objects import OVERSUBSCRIBED_ANNOTATION

from ..plan.offline import Plan, PlannedResource
from .rules import rule

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADOPTED = -1  # a pool of adopted nodes: no capacity in the plan to compare with
KUEUE_GROUP = "kueue.x-k8s.io/"


def _quantity(v: Any) -> int:
    try:
        return int(str(v))
    except ValueError:
        return 0


def _kueue(plan: Plan, kind: str) -> list[tuple[PlannedResource, dict[str, Any]]]:
    from ..plan import export

    return [
        (r, m)
        for r, m in export.kubernetes_objects(plan)
        if str(m.get("apiVersion", "")).startswith(KUEUE_GROUP) and m.get("kind") == kind
    ]


def flavor_gpus(manifest: dict[str, Any]) -> dict[str, int]:
    """Flavor -> nominal GPUs of a ClusterQueue or Cohort manifest."""
    out: dict[str, int] = {}
    for group in (manifest.get("spec") or {}).get("resourceGroups") or []:
        for f in group.get("flavors") or []:
            for res in f.get("resources") or []:
                if res.get("name") == GPU_RESOURCE:
                    out[f["name"]] = out.get(f["name"], 0) + _quantity(res.get("nominalQuota", 0))
    return out


def pool_capacity_in_plan(plan: Plan) -> dict[str, int]:
    """Pool -> GPUs the plan's node pools may run (Karpenter limits; managed groups' max sizes)."""
    from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES

    from ..plan import export

    out: dict[str, int] = {}
    adopted: set[str] = set()
    for _, m in export.kubernetes_objects(plan):
        if m.get("kind") == "NodePool" and str(m.get("apiVersion", "")).startswith("karpenter.sh/"):
            spec = m.get("spec") or {}
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            limit = (spec.get("limits") or {}).get(GPU_RESOURCE)
            if POOL_LABEL in labels and limit is not None:
                out[labels[POOL_LABEL]] = out.get(labels[POOL_LABEL], 0) + _quantity(limit)
    for _, m in export.kubernetes_objects(plan):
        # adopted GPU nodes: their pool's capacity is what the stack says (queueing.adopted_gpus_per_node)
        if m.get("kind") == "Node" and POOL_LABEL in ((m.get("metadata") or {}).get("labels") or {}):
            adopted.add(m["metadata"]["labels"][POOL_LABEL])
    for g in plan.of_type(NODE_GROUP):
        labels = g.inputs.get("labels") or {}
        types = [t for t in g.inputs.get("instanceTypes") or [] if t in GPU_INSTANCE_TYPES]
        if POOL_LABEL not in labels or not types:
            continue
        per_node = max(GPU_INSTANCE_TYPES[t][0] for t in types)
        size = _quantity((g.inputs.get("scalingConfig") or {}).get("maxSize", 0))
        out[labels[POOL_LABEL]] = out.get(labels[POOL_LABEL], 0) + size * per_node
    for pool in adopted - set(out):
        out[pool] = ADOPTED
    return out


@rule("queue-capacity", "high", "The queues admit exactly the GPUs each pool may run")
def _queue_capacity(plan: Plan) -> Iterator[tuple[PlannedResource, str, str]]:
    flavors = _kueue(plan, "ResourceFlavor")
    if not flavors:
        return
    queues = _kueue(plan, "ClusterQueue")
    cohorts = _kueue(plan, "Cohort")
    capacity = pool_capacity_in_plan(plan)
    oversubscribed = any(
        ((c.get("metadata") or {}).get("annotations") or {}).get(OVERSUBSCRIBED_ANNOTATION) == "true"
        for _, c in cohorts
    )
    for r, m in flavors:
        spec = m.get("spec") or {}
        if not any(t.get("key") == GPU_RESOURCE for t in spec.get("nodeTaints") or []):
            continue  # a CPU flavor
        name = m["metadata"]["name"]
        pool = (spec.get("nodeLabels") or {}).get(POOL_LABEL, name)
        teams = {q["metadata"]["name"]: flavor_gpus(q).get(name, 0) for _, q in queues}
        shared = sum(flavor_gpus(c).get(name, 0) for _, c in cohorts)
        quota = sum(teams.values()) + shared
        if pool not in capacity:
            yield (
                r,
                f"flavor {name} names pool {pool}, which no NodePool or node group of the plan has",
                "give the flavor the pool's mlplatform.io/pool label (stacks/config/queues.py)",
            )
            continue
        if capacity[pool] == ADOPTED:
            continue  # adopted nodes: the plan patches their labels, it does not know their GPUs
        if quota > capacity[pool] and oversubscribed and shared == 0:
            continue  # gpu.oversubscribe_gpus: more quota than GPUs, on purpose
        if quota != capacity[pool]:
            per_team = ", ".join(f"{t} {n}" for t, n in teams.items() if n) or "no team"
            yield (
                r,
                f"the queues admit {quota} GPUs on pool {pool} ({per_team}, cohort {shared}) "
                f"but the pool may run {capacity[pool]}",
                "size the pool and the queues from the same number (gpu.pools[].max / gpu_limit, teams[].gpu_quota)",
            )

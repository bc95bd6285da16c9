"""The inputs of `GpuNodePool` (components/gpu_node_pool), Pulumi-free: the stack spec's `gpu:` section
is built from `GpuSettings`, and its pools and adopted nodes ARE `GpuPool` and `ExistingGpuNodes`."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..conventions import CPU_BATCH_POOL, SYSTEM_POOL
from ..gpu_instances import GPU_INSTANCE_TYPES, OTHER_ACCELERATORS, REGION_GPU_OFFERINGS, family, gpu_count
from . import Args, Section, ValidationError, min_max

MECHANISMS = ("managed", "karpenter")
CAPACITIES = ("spot-first", "spot", "on-demand")
POOL_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


def _pool_name(v: str) -> str:
    if not POOL_NAME.match(v):
        raise ValidationError(
            "",
            f"{v!r} is not a pool name",
            "use lowercase letters, digits and '-', starting with a letter, at most 31 characters",
        )
    return v


class GpuPool(Section):
    """One GPU pool (a class of GPU nodes with its own limits).

    Fields:
        name (str, required): pool name, the `mlplatform.io/pool` label value: lowercase letters,
            digits and '-', starting with a letter, at most 31 characters; not `system` or `cpu-batch`.
        instance_types (list[str], default ["g6.xlarge", "g5.xlarge"]): NVIDIA GPU instance types
            (gpu_instances.GPU_INSTANCE_TYPES), preferred first, each once. Managed pools need one GPU
            count for all of them (cluster-autoscaler sizes a group from its first type).
        min (int, default 0): nodes kept running. 0 = nothing billed while idle. Karpenter pools must be 0.
        max (int, default 2, at least 1): the most GPU nodes the pool may run, whatever their capacity
            type (a spot-first managed pool's spot and on-demand groups together; Karpenter: the GPU
            limit's basis when gpu_limit is None, max x the most GPUs one listed type has).
        gpu_limit (int | None, default None): most GPUs the pool may run. Karpenter: the NodePool's
            `limits.nvidia.com/gpu`. Managed: caps the pool's nodes at gpu_limit / GPUs per node.
        capacity (str, default "spot-first"): "spot-first" (spot, on-demand when spot is short),
            "spot" or "on-demand".
        disk_gib (int, default 200): root volume (gp3, encrypted) in GiB, 50..16384; ML images are big.
    """

    positional = ("name", "instance_types", "min", "max", "gpu_limit", "capacity", "disk_gib")

    name: str
    instance_types: list[str] = Field(default_factory=lambda: ["g6.xlarge", "g5.xlarge"], min_length=1)
    min: int = Field(0, ge=0)
    max: int = Field(2, ge=1)
    gpu_limit: int | None = Field(None, ge=1)
    capacity: Literal["spot-first", "spot", "on-demand"] = "spot-first"
    disk_gib: int = Field(200, ge=50, le=16384)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        _pool_name(v)
        if v in (SYSTEM_POOL, CPU_BATCH_POOL):
            raise ValidationError("", f"{v!r} is reserved", "pick another pool name, like gpu or gpu-1x")
        return v

    @field_validator("instance_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValidationError("", "lists a type twice", "list each instance type once")
        return v

    @model_validator(mode="after")
    def _bounds(self) -> GpuPool:
        min_max(self.min, self.max, f"gpu pool {self.name}")
        return self


class ExistingGpuNodes(Section):
    """GPU nodes that already exist, to adopt instead of creating pools.

    Fields:
        node_names (list[str], required, at least one): Kubernetes node names (`kubectl get nodes`),
            each once. Each gets the pool and GPU labels and the GPU taint (server-side apply; the
            node's taint list becomes the GPU taint, other controllers re-add their own). For nodes
            that come and go, set the same labels and taint on the node group that makes them instead.
        pool (str, default "gpu"): the `mlplatform.io/pool` label value.
    """

    positional = ("node_names", "pool")

    node_names: list[str] = Field(min_length=1)
    pool: str = "gpu"

    @field_validator("node_names")
    @classmethod
    def _nodes(cls, v: list[str]) -> list[str]:
        for node in v:
            if not _NODE_NAME.match(node):
                raise ValidationError(
                    "", f"{node!r} is not a Kubernetes node name", "use the names shown by `kubectl get nodes`"
                )
        if len(set(v)) != len(v):
            raise ValidationError("", "lists a node twice", "list each node once")
        return v

    @field_validator("pool")
    @classmethod
    def _pool(cls, v: str) -> str:
        return _pool_name(v)


class GpuSettings(Section):
    """What a user chooses of the GPU capacity: the fields `GpuNodePoolArgs` and the stack's `gpu:`
    section share (one definition of each bound and default)."""

    mechanism: Literal["managed", "karpenter"] = "managed"
    pools: list[GpuPool] = []
    cpu_batch_pool: bool = False
    cpu_batch_vcpu_limit: int = Field(64, ge=1)  # most vCPUs the CPU batch pool may run
    idle_minutes: int = Field(5, ge=1, le=60)  # an unused node goes away after this
    existing: ExistingGpuNodes | None = None  # adopt these nodes instead of creating pools

    @field_validator("pools")
    @classmethod
    def _unique(cls, v: list[GpuPool]) -> list[GpuPool]:
        names = [p.name for p in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError("", f"pool name(s) {', '.join(dup)} repeat", "give every pool its own name")
        return v


class GpuNodePoolArgs(GpuSettings, Args):
    """Inputs of `GpuNodePool`: `GpuSettings` (mechanism, pools, cpu_batch_pool, cpu_batch_vcpu_limit,
    idle_minutes, existing) plus the wiring below.

    Fields:
        cluster (Cluster | ClusterRef | None, default None): the cluster the pools join; its name,
            Kubernetes provider, OIDC provider, issuer and security group fill the five fields below.
        cluster_name (Input[str] | None, default None): the EKS cluster (`Cluster.cluster_name`); required
            without `cluster` (kept for existing programs, like the four below).
        k8s_provider (ProviderResource | None, default None): the cluster's Kubernetes provider
            (`Cluster.provider`); every Kubernetes object and Helm release uses it.
        oidc_provider_arn (Input[str] | None, default None): the cluster's IAM OIDC provider, for the
            controllers' IRSA roles; required unless `existing`.
        oidc_issuer_url (Input[str] | None, default None): the cluster's OIDC issuer URL; required
            unless `existing`.
        subnet_ids (Input[list[str]] | None, default None): private subnets GPU nodes start in (node
            groups; Karpenter's subnetSelectorTerms by id); required unless `existing`.
        cluster_security_group_id (Input[str] | None, default None): the EKS cluster security group
            Karpenter nodes join; required for mechanism "karpenter".
        mechanism (str, default "managed"): "managed" (node groups + cluster-autoscaler) or "karpenter".
        pools (list[GpuPool], default []): the GPU pools; at least one unless `existing`.
        cpu_batch_pool (bool, default False): also a Karpenter NodePool for CPU training jobs (c/m/r
            families, spot first, tainted CPU_BATCH_TAINT); mechanism "karpenter" only.
        cpu_batch_vcpu_limit (int, default 64): most vCPUs the CPU batch pool may run, at least 1.
        idle_minutes (int, default 5): minutes an unused node stays before it is removed
            (cluster-autoscaler scale-down-unneeded-time / Karpenter consolidateAfter), 1..60.
        region (str | None, default None = the `aws:region` config): region whose GPU offerings the
            instance types are checked against (gpu_instances.REGION_GPU_OFFERINGS; regions without a
            list are not checked).
        kubernetes_version (str | None, default None): node groups' Kubernetes version; None = the
            cluster's version when the group is created.
        cni_policy_on_node_role (bool, default False): attach AmazonEKS_CNI_Policy to the GPU node role.
            Needed when the cluster's vpc-cni has no IRSA role of its own (many adopted clusters);
            `Cluster` gives vpc-cni its own role, so leave it off there.
        device_plugin (bool, default True): install the NVIDIA device plugin (off if the NVIDIA GPU
            Operator already runs one).
        existing (ExistingGpuNodes | None, default None): adopt these nodes: labels, taint and device
            plugin only; pools must be empty.
        tags (dict[str, str], default {}): extra tags on every AWS resource (and Karpenter's instances).
        helm_values (dict | None, default None): your own values for the node autoscaler's chart
            (cluster-autoscaler for "managed", karpenter for "karpenter"), deep-merged over the computed
            ones; keys it owns (IRSA service account, cluster wiring) are refused (helm_values.OWNED).
            Refused when adopting nodes (no autoscaler is installed).
        device_plugin_helm_values (dict | None, default None): the same for the nvidia-device-plugin
            chart (its tolerations and affinity are owned: GPU nodes only).
    """

    cluster_name: Any = None
    k8s_provider: Any = None
    oidc_provider_arn: Any = None
    oidc_issuer_url: Any = None
    subnet_ids: Any = None
    cluster_security_group_id: Any = None
    region: str | None = None
    kubernetes_version: str | None = None
    cni_policy_on_node_role: bool = False
    device_plugin: bool = True
    tags: dict[str, str] = {}
    helm_values: dict[str, Any] | None = None
    device_plugin_helm_values: dict[str, Any] | None = None
    cluster: Any = None


# -- checks that need more than one pool's fields (the component and the stack spec both call them) --
def check_instance_type(where: str, itype: str, region: str | None) -> None:
    """`itype` is an NVIDIA GPU instance type mlplatform knows, offered in `region` (when it has a list)."""
    if not isinstance(itype, str):
        raise ValidationError(
            where, f"{itype!r} is not an EC2 instance type name", 'write it like "g6.xlarge" (family.size)'
        )
    if itype in GPU_INSTANCE_TYPES:
        offered = REGION_GPU_OFFERINGS.get(region or "")
        if offered is not None and itype not in offered:
            choices = ", ".join(sorted(offered, key=lambda t: (gpu_count(t), t))[:8])
            raise ValidationError(
                where,
                f"{itype} is not offered in {region}",
                f"use a type offered there ({choices}, ...) or another region",
            )
        return
    if not _INSTANCE_TYPE.match(itype):
        raise ValidationError(
            where, f"{itype!r} is not an EC2 instance type name", 'write it like "g6.xlarge" (family.size)'
        )
    fam = family(itype)
    if fam in OTHER_ACCELERATORS:
        problem = f"{itype} {OTHER_ACCELERATORS[fam]}, not NVIDIA GPUs the EKS NVIDIA AMI drives"
    elif any(family(t) == fam for t in GPU_INSTANCE_TYPES):
        sizes = sorted(t for t in GPU_INSTANCE_TYPES if family(t) == fam)
        problem = f"{itype} is not a {fam} size; {fam} comes as {', '.join(sizes)}"
    else:
        problem = f"{itype} is not an NVIDIA GPU instance type"
    raise ValidationError(
        where,
        problem,
        "use GPU types such as g6.xlarge, g5.xlarge, g6e.12xlarge or p4d.24xlarge "
        "(components/gpu_instances.py lists them)",
    )


def check_pool(at: str, pool: GpuPool, mechanism: str, region: str | None) -> None:
    """What a pool's own fields cannot say alone: its types in the region, one GPU count per managed
    group, no warm Karpenter nodes, a gpu_limit that fits a node (and min nodes, managed). `at` names
    the pool in the error (`pools[gpu]` for the component, `gpu.pools.0` for the stack)."""
    for itype in pool.instance_types:
        check_instance_type(f"{at}.instance_types", itype, region)
    if mechanism == "karpenter" and pool.min > 0:
        raise ValidationError(
            f"{at}.min", f"{pool.min}: Karpenter keeps no idle nodes", "use min 0, or mechanism managed for warm nodes"
        )
    counts = sorted({gpu_count(t) for t in pool.instance_types})
    if mechanism == "managed" and len(counts) > 1:
        raise ValidationError(
            f"{at}.instance_types",
            f"mixes {'/'.join(map(str, counts))} GPUs per node",
            "a managed node group needs one GPU count (cluster-autoscaler sizes it from the first type): "
            "split them into two pools",
        )
    if pool.gpu_limit is not None:
        if pool.gpu_limit < counts[0]:
            raise ValidationError(
                f"{at}.gpu_limit",
                f"{pool.gpu_limit} is fewer GPUs than one node has ({counts[0]})",
                f"use at least {counts[0]}",
            )
        if mechanism == "managed" and pool.gpu_limit // counts[0] < pool.min:
            raise ValidationError(
                f"{at}.gpu_limit",
                f"{pool.gpu_limit} GPUs fit fewer nodes than min {pool.min}",
                f"use at least {pool.min * counts[0]}, or lower min",
            )
    if mechanism == "managed" and pool.capacity == "spot-first":
        # Two node groups (SPOT, ON_DEMAND) share the pool's nodes; EKS needs max size >= 1 for each.
        n = node_limit(pool)
        if n < 2:
            raise ValidationError(
                f"{at}.max" if pool.max < 2 else f"{at}.gpu_limit",
                f"a spot-first pool is a spot and an on-demand node group sharing at most {n} node(s); each needs one",
                "allow 2 nodes or more (max, gpu_limit), or use capacity spot or on-demand",
            )
        if pool.min >= n:
            raise ValidationError(
                f"{at}.min",
                f"min {pool.min} leaves the on-demand fallback none of the pool's {n} nodes",
                f"use min {n - 1} or less, or capacity spot or on-demand",
            )


# -- what `max` means: the most GPU nodes the pool may run, whatever the capacity type --------------
def gpus_per_node(pool: GpuPool) -> int:
    """The most GPUs one node of the pool has (a managed pool's types all have the same count)."""
    return max(gpu_count(t) for t in pool.instance_types)


def node_limit(pool: GpuPool) -> int:
    """The most GPU nodes the pool may run, all capacity types together: `max`, or fewer when
    `gpu_limit` fits fewer (gpu_limit // GPUs per node)."""
    if pool.gpu_limit is None:
        return pool.max
    return min(pool.max, pool.gpu_limit // gpus_per_node(pool))


def gpu_limit_of(pool: GpuPool, mechanism: str) -> int:
    """The most GPUs the pool may run. Karpenter: `gpu_limit` (its NodePool's `limits.nvidia.com/gpu`),
    else max x the most GPUs one of its types has. Managed: node_limit x GPUs per node (the node
    groups' sizes together)."""
    if mechanism == "karpenter":
        return pool.gpu_limit if pool.gpu_limit is not None else pool.max * gpus_per_node(pool)
    return node_limit(pool) * gpus_per_node(pool)


def group_sizes(pool: GpuPool) -> list[tuple[str, int, int]]:
    """(EKS capacity type, min size, max size) of a managed pool's node groups, first choice first;
    their max sizes add up to node_limit(pool).

    cluster-autoscaler has no limit shared by two node groups on AWS (`--gpu-total` works on GKE only;
    `--max-nodes-total` counts the whole cluster), so a spot-first pool's nodes are split between its
    groups: the on-demand fallback may run half of them (rounded down) and the spot group the rest,
    with the warm nodes (min) in the spot group. The priority expander still asks for spot first; when
    spot is short or the spot group is full, the on-demand group grows, never past the pool's total."""
    n = node_limit(pool)
    if pool.capacity == "spot":
        return [("SPOT", pool.min, n)]
    if pool.capacity == "on-demand":
        return [("ON_DEMAND", pool.min, n)]
    on_demand = min(n // 2, n - pool.min)
    return [("SPOT", pool.min, n - on_demand), ("ON_DEMAND", 0, on_demand)]

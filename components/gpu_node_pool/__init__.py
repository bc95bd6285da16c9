"""GpuNodePool: GPU capacity that costs nothing when idle and starts when a job asks for a GPU.

One component per cluster holds every GPU pool of the stack plus the controllers they need, installed
once (so two pools never install two autoscalers):

* mechanism "managed" (pragmatic): per pool, EKS managed node groups on the NVIDIA AMI, scaled from
  zero by cluster-autoscaler (managed.py). Spot-first is TWO node groups, a SPOT one and an ON_DEMAND
  fallback, and cluster-autoscaler's `priority` expander tries spot first; when spot capacity does not
  come within `max-node-provision-time` the group backs off and the on-demand group is used. (One group
  cannot mix capacity types on EKS.) A pool's `max` is its total: the groups' max sizes add up to it
  (the on-demand group half of it rounded down, the spot group the rest;
  args.gpu_node_pool.group_sizes), since cluster-autoscaler has no limit two groups share on AWS.
* mechanism "karpenter" (growth, full): the Karpenter controller (IRSA role, interruption queue fed by
  EventBridge, node role + instance profile + EKS access entry) and, per pool, an `EC2NodeClass` and a
  `NodePool` whose `limits` cap the pool's GPUs; optionally a CPU batch NodePool.
* `existing` nodes (adopt): only labels, the GPU taint and the device plugin.

Every GPU node carries the taint `nvidia.com/gpu=true:NoSchedule` (`conventions.GPU_TAINT`) and the labels
`mlplatform.io/pool=<pool>`, `mlplatform.io/gpu=true`, `k8s.amazonaws.com/accelerator=<model>`. Only
pods that tolerate the taint (GPU jobs, the NVIDIA device plugin, GPU exporters) land there, so a CPU
pod can never keep a GPU node alive. cluster-autoscaler judges a GPU node by its GPU requests alone
(a node with only DaemonSets is unused) and Karpenter's `WhenEmpty` ignores DaemonSet pods: an idle
GPU node goes away `idle_minutes` after its last GPU pod ends. A running training pod that must not be
moved should carry `karpenter.sh/do-not-disrupt: "true"` and
`cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` (see examples/gpu-job).
"""

from ..args.gpu_node_pool import (
    CAPACITIES,
    MECHANISMS,
    ExistingGpuNodes,
    GpuNodePoolArgs,
    GpuPool,
    GpuSettings,
    gpu_limit_of,
    group_sizes,
    node_limit,
)
from ..conventions import ACCELERATOR_LABEL, CPU_BATCH_POOL, CPU_BATCH_TAINT, CPU_BATCH_TOLERATION
from .component import GpuNodePool
from .iam import cluster_autoscaler_statements, karpenter_statements
from .karpenter import INTERRUPTION_EVENTS, cpu_batch_node_pool, karpenter_node_pool
from .managed import scale_from_zero_tags
from .nodes import (
    CA_TAG,
    CLUSTER_AUTOSCALER_SA,
    CONTROLLER_NAMESPACE,
    CPU_BATCH_DISK_GIB,
    KARPENTER_SA,
    NODE_EXPIRY,
    ON_DEMAND_PRIORITY,
    OTHER_PRIORITY,
    SPOT_PRIORITY,
    accelerator,
    autoscaler_chart,
    node_labels,
)

__all__ = [
    "ACCELERATOR_LABEL",
    "CAPACITIES",
    "CA_TAG",
    "CLUSTER_AUTOSCALER_SA",
    "CONTROLLER_NAMESPACE",
    "CPU_BATCH_DISK_GIB",
    "CPU_BATCH_POOL",
    "CPU_BATCH_TAINT",
    "CPU_BATCH_TOLERATION",
    "INTERRUPTION_EVENTS",
    "KARPENTER_SA",
    "MECHANISMS",
    "NODE_EXPIRY",
    "ON_DEMAND_PRIORITY",
    "OTHER_PRIORITY",
    "SPOT_PRIORITY",
    "ExistingGpuNodes",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "GpuPool",
    "GpuSettings",
    "accelerator",
    "autoscaler_chart",
    "cluster_autoscaler_statements",
    "cpu_batch_node_pool",
    "gpu_limit_of",
    "group_sizes",
    "node_limit",
    "karpenter_node_pool",
    "karpenter_statements",
    "node_labels",
    "scale_from_zero_tags",
]

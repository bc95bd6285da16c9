"""Do the system nodes hold their pods? Requests of every long-running pod against allocatable.

Every long-running pod the stack's Helm releases run on the system nodes is listed in `PODS` (chart ->
pods, each with the values paths of its containers' resources and of its replica count). `system_pods`
reads them from a Plan (the values as Helm gets them), `unrequested` names every container without a
CPU and memory request (a BestEffort pod is the first evicted under memory pressure), and `fit`
compares the sum with the allocatable capacity of the stack's system nodes (`ALLOCATABLE`).

Allocatable, per instance type, is what the EKS AL2023 AMI's kubelet leaves to pods:
capacity - kube-reserved - eviction threshold, with
* memory reserved = 11 MiB x maxPods + 255 MiB, CPU reserved = 6 % of the first core + 1 % of the
  second + 0.5 % of the third and fourth + 0.25 % of the rest (awslabs/amazon-eks-ami,
  nodeadm/internal/kubelet/config.go: getMemoryMebibytesToReserve, getCPUMillicoresToReserve);
* eviction-hard memory.available < 100Mi (the same file's kubelet defaults);
* maxPods = ENIs x (IPv4 addresses per ENI - 1) + 2 (VPC CNI without prefix delegation;
  awslabs/amazon-eks-ami files/eni-max-pods.txt: t3a.medium 17, m6i.large 29, m6i.xlarge 58);
* vCPUs and memory as EC2 publishes them (aws.amazon.com/ec2/instance-types: t3a.medium 2 vCPU
  4 GiB, m6i.large 2 vCPU 8 GiB, m6i.xlarge 4 vCPU 16 GiB).
The kubelet counts memory from /proc/meminfo, a little under the nominal size, so `fit` keeps
HEADROOM of allocatable free. Pods of the EKS add-ons are counted from `ADDON_PODS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlplatform.components.conventions import POOL_LABEL, SYSTEM_POOL
from mlplatform.components.quantity import MIB, QuantityError, parse_quantity

from ..plan.offline import Plan

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
HEADROOM = 0.10  # of allocatable, kept free (kubelet's MemTotal < nominal memory; rolling updates)

# instance type -> (vCPUs, memory MiB, maxPods): EC2's published sizes, eni-max-pods.txt.
INSTANCE_TYPES: dict[str, tuple[int, int, int]] = {
    "t3a.medium": (2, 4096, 17),
    "t3.medium": (2, 4096, 17),
    "t3a.large": (2, 8192, 35),
    "t3.large": (2, 8192, 35),
    "m6i.large": (2, 8192, 29),
    "m6i.xlarge": (4, 16384, 58),
    "m6i.2xlarge": (8, 32768, 58),
    "m7i.large": (2, 8192, 29),
    "m7i.xlarge": (4, 16384, 58),
}
EVICTION_HARD_MIB = 100


def reserved_cpu_m(vcpus: int) -> int:
    """kube-reserved CPU of the EKS AMI (nodeadm getCPUMillicoresToReserve)."""
    total, out = vcpus * 1000, 0.0
    for lo, hi, pct in ((0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005), (4000, 1 << 30, 0.0025)):
        if total > lo:
            out += (min(total, hi) - lo) * pct
    return int(out)


def allocatable(instance_type: str) -> tuple[int, int, int] | None:
    """(CPU millicores, memory MiB, pods) a node of this type gives pods; None when unknown."""
    if instance_type not in INSTANCE_TYPES:
        return None
    vcpus, memory, pods = INSTANCE_TYPES[instance_type]
    return vcpus * 1000 - reserved_cpu_m(vcpus), memory - (11 * pods + 255) - EVICTION_HARD_MIB, pods


ALLOCATABLE = {t: allocatable(t) for t in INSTANCE_TYPES}


@dataclass(frozen=True)
class Pod:
    """One long-running pod of a chart: its containers' resources paths, replicas, where it runs."""

    name: str
    containers: tuple[str, ...]  # dotted values paths of each container's `resources`
    replicas: str | None = None  # values path of the replica count
    default_replicas: int = 1  # the chart's own default when the path is unset
    enabled: str | None = None  # values path that switches the pod on (absent: on)
    daemonset: bool = False  # one per node (system nodes count it per node)
    get: Callable[[dict[str, Any], str], Any] | None = None  # custom reader for odd paths


def _path(values: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


def _listener(values: dict[str, Any], _: str) -> Any:
    containers = _path(values, "listenerTemplate.spec.containers") or []
    return next((c.get("resources") for c in containers if c.get("name") == "listener"), None)


# chart -> the long-running pods it runs on the system nodes (GPU-only DaemonSets are not listed:
# the NVIDIA device plugin and dcgm-exporter run on GPU nodes alone).
PODS: dict[str, tuple[Pod, ...]] = {
    "kube-prometheus-stack": (
        Pod(
            "prometheus",
            ("prometheus.prometheusSpec.resources", "prometheusOperator.prometheusConfigReloader.resources"),
            replicas="prometheus.prometheusSpec.replicas",
        ),
        Pod(
            "alertmanager",
            ("alertmanager.alertmanagerSpec.resources", "prometheusOperator.prometheusConfigReloader.resources"),
            replicas="alertmanager.alertmanagerSpec.replicas",
            enabled="alertmanager.enabled",
        ),
        Pod("prometheus-operator", ("prometheusOperator.resources",)),
        # Grafana and its dashboards and datasources sidecars (both on in kube-prometheus-stack).
        Pod("grafana", ("grafana.resources", "grafana.sidecar.resources", "grafana.sidecar.resources")),
        Pod("kube-state-metrics", ("kube-state-metrics.resources",)),
        Pod("node-exporter", ("prometheus-node-exporter.resources",), daemonset=True),
    ),
    "aws-load-balancer-controller": (Pod("controller", ("resources",), replicas="replicaCount", default_replicas=2),),
    "cluster-autoscaler": (Pod("cluster-autoscaler", ("resources",), replicas="replicaCount"),),
    "karpenter": (Pod("karpenter", ("controller.resources",), replicas="replicas", default_replicas=2),),
    "gha-runner-scale-set-controller": (Pod("controller", ("resources",), replicas="replicaCount"),),
    "gha-runner-scale-set": (Pod("listener", ("listenerTemplate",), get=_listener),),
    "mlflow": (Pod("mlflow", ("resources",), replicas="replicaCount"),),
    "kueue": (
        Pod(
            "controller-manager",
            ("controllerManager.manager.resources",),
            replicas="controllerManager.replicas",
            default_replicas=1,
        ),
    ),
    "kubeflow-trainer": (
        Pod("trainer-controller-manager", ("manager.resources",), replicas="manager.replicas"),
        # its jobset dependency (jobset.install, on by default)
        Pod("jobset-controller", ("jobset.controller.resources",), replicas="jobset.controller.replicas"),
    ),
    "argo-workflows": (
        Pod("workflow-controller", ("controller.resources",), replicas="controller.replicas"),
        Pod("server", ("server.resources",), replicas="server.replicas", enabled="server.enabled"),
    ),
    "argo-rollouts": (
        Pod("controller", ("controller.resources",), replicas="controller.replicas", default_replicas=2),
    ),
}
GPU_ONLY_CHARTS = ("nvidia-device-plugin", "dcgm-exporter")

# The EKS managed add-ons' own pods, as their manifests request them: (pod, cpu m, memory Mi per pod,
# replicas or None for a DaemonSet). coredns: 2 replicas, 100m / 70Mi; kube-proxy: 100m; aws-node:
# 25m (vpc-cni); aws-ebs-csi-driver: controller 2 replicas and node DaemonSet, 10m / 40Mi per container
# (6 and 3 containers).
ADDON_PODS: tuple[tuple[str, int, int, int | None], ...] = (
    ("coredns", 100, 70, 2),
    ("kube-proxy", 100, 0, None),
    ("aws-node", 25, 0, None),
    ("ebs-csi-controller", 60, 240, 2),
    ("ebs-csi-node", 30, 120, None),
)


@dataclass
class PodRequests:
    release: str
    pod: str
    cpu_m: int
    memory_mib: int
    replicas: int  # 0 for a DaemonSet (one per node)
    unrequested: list[str] = field(default_factory=list)  # containers without CPU or memory requests


def cpu_m(q: Any) -> int:
    """A CPU quantity in millicores, rounded up (QuantityError when it is not a quantity)."""
    return math.ceil(parse_quantity(q) * 1000)


def memory_mib(q: Any) -> int:
    """A memory quantity in MiB, rounded up (QuantityError when it is not a quantity)."""
    return math.ceil(parse_quantity(q) / MIB)


def _chart(release_inputs: dict[str, Any]) -> str:
    return str(release_inputs.get("chart", "")).rsplit("/", 1)[-1]


def system_pods(plan: Plan) -> list[PodRequests]:
    """Every long-running pod the plan's Helm releases put on system nodes, with its requests."""
    out = []
    for r in plan.of_type(HELM_RELEASE):
        values = r.inputs.get("values") or {}
        for pod in PODS.get(_chart(r.inputs), ()):
            if pod.enabled and _path(values, pod.enabled) is False:  # unset: the charts' default is on
                continue
            cpu = mem = 0
            missing = []
            for p in pod.containers:
                res = pod.get(values, p) if pod.get else _path(values, p)
                requests = (res or {}).get("requests") or {}
                where = f"{p}.requests" if not pod.get else "listener.resources.requests"
                if "cpu" not in requests or "memory" not in requests:
                    missing.append(where)
                    continue
                try:
                    cpu, mem = cpu + cpu_m(requests["cpu"]), mem + memory_mib(requests["memory"])
                except QuantityError as e:  # counted as unrequested: Kubernetes would refuse it
                    missing.append(f"{where} ({e})")
            if pod.daemonset:
                replicas = 0
            else:
                replicas = int((_path(values, pod.replicas) if pod.replicas else None) or pod.default_replicas)
            out.append(PodRequests(r.name, pod.name, cpu, mem, replicas, missing))
    return out


def unrequested(plan: Plan) -> list[str]:
    """`release/pod: path` for every long-running container without CPU and memory requests."""
    return [f"{p.release}/{p.pod}: {m}" for p in system_pods(plan) for m in p.unrequested]


@dataclass
class Fit:
    instance_type: str
    nodes: int
    allocatable_cpu_m: int
    allocatable_memory_mib: int
    requested_cpu_m: int
    requested_memory_mib: int
    pods: int
    max_pods: int

    @property
    def ok(self) -> bool:
        room = 1 - HEADROOM
        return (
            self.requested_cpu_m <= self.allocatable_cpu_m * room
            and self.requested_memory_mib <= self.allocatable_memory_mib * room
            and self.pods <= self.max_pods
        )

    def line(self) -> str:
        return (
            f"{self.nodes} x {self.instance_type}: CPU {self.requested_cpu_m}m of {self.allocatable_cpu_m}m, "
            f"memory {self.requested_memory_mib}Mi of {self.allocatable_memory_mib}Mi, "
            f"pods {self.pods} of {self.max_pods} (keeping {int(HEADROOM * 100)} % free)"
        )


RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"


def serving_pods(plan: Plan, pool: str | None = None) -> list[PodRequests]:
    """The model pods each serving namespace's quota is sized for (components/serving: the
    `mlplatform.io/serving-pods` annotation), at the rollout peak (stable + full-size canary), on `pool`
    (None: every pool)."""
    import json

    from mlplatform.components.conventions import SERVING_POOL_ANNOTATION

    out = []
    for q in plan.of_type(RESOURCE_QUOTA):
        meta = q.inputs.get("metadata") or {}
        raw = (meta.get("annotations") or {}).get(SERVING_POOL_ANNOTATION)
        if not raw:
            continue
        for m in json.loads(raw):
            if pool is None or m["pool"] == pool:
                where = f"{meta.get('namespace')}/{m['model']}"
                out.append(PodRequests(where, m["pool"], cpu_m(m["cpu"]), memory_mib(m["memory"]), m["peak_replicas"]))
    return out


def fit(plan: Plan) -> Fit | None:
    """The system node group's allocatable capacity at its minimum size against the requests of every
    system pod (DaemonSets once per node) and the add-ons' pods; None: no system group or unknown type."""
    groups = [g for g in plan.of_type(NODE_GROUP) if (g.inputs.get("labels") or {}).get(POOL_LABEL) == SYSTEM_POOL]
    if len(groups) != 1:
        return None
    g = groups[0].inputs
    itype = (g.get("instanceTypes") or [None])[0]
    alloc = ALLOCATABLE.get(itype)
    if alloc is None:
        return None
    nodes = int((g.get("scalingConfig") or {}).get("minSize") or 1)
    cpu = mem = pods = 0
    for p in system_pods(plan):
        n = nodes if p.replicas == 0 else p.replicas
        cpu, mem, pods = cpu + p.cpu_m * n, mem + p.memory_mib * n, pods + n
    for _, c, m, replicas in ADDON_PODS:
        n = nodes if replicas is None else replicas
        cpu, mem, pods = cpu + c * n, mem + m * n, pods + n
    for p in serving_pods(plan, SYSTEM_POOL):  # models placed on the system nodes, at the rollout peak
        cpu, mem, pods = cpu + p.cpu_m * p.replicas, mem + p.memory_mib * p.replicas, pods + p.replicas
    return Fit(itype, nodes, alloc[0] * nodes, alloc[1] * nodes, cpu, mem, pods, alloc[2] * nodes)

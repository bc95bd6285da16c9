"""The Kueue objects of a stack as plain manifests (Pulumi-free: the component creates them, the
analyses and tests read them).

* one `ResourceFlavor` per node pool teams run on: each GPU pool (its labels; its GPU taint as
  `nodeTaints`, so only a pod that tolerates the taint, GPU work, is ever given a GPU flavor; Kueue
  counts a flavor's own `tolerations` as the pod's, so a GPU flavor carries none) and the CPU pool
  (the Karpenter CPU batch pool: its labels and its taint's toleration, which Kueue adds to the pods
  it admits there; without a batch pool, the system nodes);
* one `ClusterQueue` per team in one cohort: a single resource group covering cpu, memory and
  nvidia.com/gpu over every flavor, CPU flavor first (a CPU job never takes GPU quota), GPU pools in
  preference order. GPUs: the team's nominal quota per pool, its borrowing and lending limits; CPU and
  memory: the team's quota on each flavor, never borrowed (the namespace's ResourceQuota still caps
  them). Preemption: a team reclaims its lent GPUs from any borrower (`reclaimWithinCohort: Any`), and
  within its own queue higher priority preempts lower;
* the `Cohort` holds the GPUs of each pool no team was given, so that for every pool the teams'
  nominal GPUs plus the cohort's equal what the pool may run (the `queue-capacity` check rule);
* a `LocalQueue` named `default` in each team namespace (Kueue gives it to every job there that names
  no queue);
* `WorkloadPriorityClass`es: serving > training > evaluation (CI).
"""

from __future__ import annotations

from typing import Any

import yaml

from ..conventions import GPU_RESOURCE, TEAM_LABEL, TEAM_LOCAL_QUEUE
from .args import REQUEUE_BACKOFF_BASE_SECONDS, REQUEUE_BACKOFF_MAX_SECONDS, Flavor, QueueingArgs, TeamQueue

KUEUE_API = "kueue.x-k8s.io/v1beta2"
COVERED = ("cpu", "memory", GPU_RESOURCE)
# name -> (value, description): higher preempts lower within a team's queue and is admitted first.
PRIORITY_CLASSES: dict[str, tuple[int, str]] = {
    "serving": (1000, "Model serving and latency-bound work: admitted first, preempts training and evaluation"),
    "training": (500, "Training jobs"),
    "evaluation": (100, "CI and evaluation jobs: the first to be preempted"),
}
# Kueue integrations on (the chart's default list minus those whose CRDs this stack does not install).
FRAMEWORKS = (
    "batch/job",
    "jobset.x-k8s.io/jobset",
    "trainer.kubeflow.org/trainjob",
    "pod",
    "deployment",
    "statefulset",
)


COHORT_SUFFIX = "-cohort"
# On the cohort when the stack lets the teams' GPUs add up to more than the pools run (oversubscribe).
OVERSUBSCRIBED_ANNOTATION = "mlplatform.io/gpu-oversubscribed"


def team_resource_names(name: str, team: str) -> tuple[str, str]:
    """The Pulumi names of a team's ClusterQueue and LocalQueue under a Queueing named `name`."""
    return f"{name}-team-{team}-clusterqueue", f"{name}-team-{team}-localqueue"


def resource_flavor(f: Flavor) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeLabels": dict(f.node_labels)}
    if f.node_taints:
        spec["nodeTaints"] = [dict(t) for t in f.node_taints]
    if f.tolerations:
        spec["tolerations"] = [dict(t) for t in f.tolerations]
    return {"apiVersion": KUEUE_API, "kind": "ResourceFlavor", "metadata": {"name": f.name}, "spec": spec}


def _gpu_entry(nominal: int, borrowing: int | None = None, lending: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": GPU_RESOURCE, "nominalQuota": nominal}
    if borrowing is not None:
        entry["borrowingLimit"] = borrowing
    if lending is not None:
        entry["lendingLimit"] = min(lending, nominal)
    return entry


def cluster_queue(t: TeamQueue, flavors: list[Flavor], cohort: str) -> dict[str, Any]:
    entries = []
    for f in flavors:
        gpu = t.gpus.get(f.name, 0) if f.gpus else 0
        entries.append(
            {
                "name": f.name,
                "resources": [
                    {"name": "cpu", "nominalQuota": t.cpu, "borrowingLimit": 0},
                    {"name": "memory", "nominalQuota": f"{t.memory_gib}Gi", "borrowingLimit": 0},
                    _gpu_entry(gpu, t.gpu_borrowing_limit if f.gpus else 0, t.gpu_lending_limit if f.gpus else None),
                ],
            }
        )
    return {
        "apiVersion": KUEUE_API,
        "kind": "ClusterQueue",
        "metadata": {"name": t.team, "labels": {TEAM_LABEL: t.team}},
        "spec": {
            "cohortName": cohort,
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": t.namespace}},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [{"coveredResources": list(COVERED), "flavors": entries}],
            "preemption": {
                "reclaimWithinCohort": "Any",
                "withinClusterQueue": "LowerPriority",
                "borrowWithinCohort": {"policy": "Never"},
            },
            "stopPolicy": "None",
        },
    }


def unassigned_gpus(args: QueueingArgs) -> dict[str, int]:
    """GPUs of each GPU flavor no team was given (never below 0)."""
    return {f.name: max(0, f.gpus - sum(t.gpus.get(f.name, 0) for t in args.teams)) for f in args.flavors if f.gpus}


def cohort(args: QueueingArgs) -> dict[str, Any]:
    """The cohort: its own quota is the GPUs no team was given, lent to every team in it."""
    free = unassigned_gpus(args)
    entries = [
        {
            "name": f.name,
            "resources": [
                {"name": "cpu", "nominalQuota": 0},
                {"name": "memory", "nominalQuota": 0},
                {"name": GPU_RESOURCE, "nominalQuota": free.get(f.name, 0)},
            ],
        }
        for f in args.flavors
    ]
    meta: dict[str, Any] = {"name": args.cohort}
    if args.oversubscribe:
        meta["annotations"] = {OVERSUBSCRIBED_ANNOTATION: "true"}
    return {
        "apiVersion": KUEUE_API,
        "kind": "Cohort",
        "metadata": meta,
        "spec": {"resourceGroups": [{"coveredResources": list(COVERED), "flavors": entries}]},
    }


def local_queue(t: TeamQueue) -> dict[str, Any]:
    return {
        "apiVersion": KUEUE_API,
        "kind": "LocalQueue",
        "metadata": {"name": TEAM_LOCAL_QUEUE, "namespace": t.namespace, "labels": {TEAM_LABEL: t.team}},
        "spec": {"clusterQueue": t.team},
    }


def priority_classes() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": KUEUE_API,
            "kind": "WorkloadPriorityClass",
            "metadata": {"name": n},
            "value": v,
            "description": d,
        }
        for n, (v, d) in PRIORITY_CLASSES.items()
    ]


def controller_config(wait_minutes: int) -> dict[str, Any]:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2, v0.19.2), the chart's own defaults kept
    (apis/config/v1beta2), with what this stack changes:

    * `managedJobsNamespaceSelector`: only namespaces labelled `mlplatform.io/team` (the team spaces);
      Kueue's default is every namespace but kube-system and its own;
    * `manageJobsWithoutQueueName: true`: in those namespaces a job without a queue label is managed
      too (Kueue labels it with the namespace's LocalQueue `default`), so no team job bypasses its queue
      and the namespace's GPU ResourceQuota never has to reject queued work;
    * `waitForPodsReady`: the timeout a GPU node's start from zero needs (args.WAIT_FOR_PODS_READY_MINUTES),
      other admissions not blocked meanwhile, requeued with a backoff that starts at 5 minutes;
    * integrations: the frameworks whose CRDs the stack installs;
    * `resources.excludeResourcePrefixes`: EFA devices are not counted against any quota.
    """
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        "manageJobsWithoutQueueName": True,
        "managedJobsNamespaceSelector": {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]},
        "waitForPodsReady": {
            "timeout": f"{wait_minutes}m",
            "recoveryTimeout": f"{wait_minutes}m",
            "blockAdmission": False,
            "requeuingStrategy": {
                "timestamp": "Eviction",
                "backoffBaseSeconds": REQUEUE_BACKOFF_BASE_SECONDS,
                "backoffMaxSeconds": REQUEUE_BACKOFF_MAX_SECONDS,
            },
        },
        "integrations": {"frameworks": list(FRAMEWORKS)},
        # EFA interfaces (vpc.amazonaws.com/efa) are the node's, not a quota: a TrainJob that asks for
        # one is not refused for a resource no ClusterQueue covers.
        "resources": {"excludeResourcePrefixes": ["vpc.amazonaws.com/"]},
    }


def controller_config_yaml(wait_minutes: int) -> str:
    return yaml.safe_dump(controller_config(wait_minutes), sort_keys=False)

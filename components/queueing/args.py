"""The one typed input of `Queueing` (pydantic): its bounds are defined here, once; the stack's
`queueing:` section (stacks/config/spec.py) reuses `QueueingSettings`, the part a user writes.

Pulumi-free, so the stack spec and the analyses read it without loading the SDK.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..args.queueing import QueueingSettings, TeamQueueSettings
from ..conventions import DNS_LABEL as _DNS_LABEL
from ..conventions import KUEUE_NAMESPACE

DNS_LABEL = _DNS_LABEL.pattern
# Why 30 minutes (kueue#2215: a timeout shorter than a GPU node's start from zero evicts work that was
# about to run): spot capacity that does not come is given up after cluster-autoscaler's
# max-node-provision-time (10 min in this stack; Karpenter tries the next offering sooner), the
# on-demand node then launches and joins in 2-5 min, the NVIDIA driver and device plugin register the
# GPUs in 1-2 min, and a CUDA training image of 5-10 GB is pulled onto the fresh node in 5-10 min.
# 10 + 5 + 2 + 10 = 27 min, rounded up to 30. It is also Kueue v0.19's own default, set explicitly here
# so that the figure is ours and shown in the plan.
WAIT_FOR_PODS_READY_MINUTES = 30  # (components/args/queueing.py uses the same figure as its default)
# Kueue requeues an evicted workload after backoffBaseSeconds * 2^(n-1): capacity that did not come in
# 30 minutes is unlikely to be there a minute later (kueue#2215), so the first retry waits 5 minutes.
REQUEUE_BACKOFF_BASE_SECONDS = 300
REQUEUE_BACKOFF_MAX_SECONDS = 3600


class Flavor(BaseModel):
    """One ResourceFlavor: a node pool as Kueue sees it.

    Fields:
        name (str): the flavor's name (the pool's name).
        node_labels (dict[str, str]): labels the pool's nodes carry; Kueue adds them to an admitted pod's
            node selector.
        node_taints (list[dict]): taints of the pool's nodes; only a pod that tolerates them is given
            this flavor (GPU pools: only GPU work).
        tolerations (list[dict]): tolerations Kueue adds to a pod admitted on this flavor (the CPU batch
            pool: every CPU job of a team runs there).
        gpus (int, >= 0): GPUs the pool may run at most (0: a CPU flavor).
        instance_types (list[str]): the pool's instance types (prices of its GPU hours).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=DNS_LABEL)
    node_labels: dict[str, str] = {}
    node_taints: list[dict[str, str]] = []
    tolerations: list[dict[str, str]] = []
    gpus: int = Field(0, ge=0)
    instance_types: list[str] = []


class TeamQueue(TeamQueueSettings):
    """One team's ClusterQueue and LocalQueue.

    Fields:
        team (str): the team (the ClusterQueue's name).
        namespace (str): the team's namespace (its LocalQueue `default` lives there).
        gpus (dict[str, int]): nominal GPUs per GPU flavor.
        cpu (int, >= 0): nominal CPU cores on each flavor (the team's cpu_quota).
        memory_gib (int, >= 0): nominal memory on each flavor (the team's memory_quota_gib).
        gpu_borrowing_limit (int | None): most GPUs the team may borrow from the cohort per flavor
            (None: all it has unused).
        gpu_lending_limit (int | None): most of its nominal GPUs the team lends per flavor (None: all).
        gpu_budget_usd_month (float | None, > 0): the team's GPU budget per month in USD (None: none).
        (gpu_quota_by_pool is the stack's split, resolved into `gpus`.)
    """

    team: str = Field(pattern=DNS_LABEL)
    namespace: str = Field(pattern=DNS_LABEL)
    gpus: dict[str, int] = {}
    cpu: int = Field(0, ge=0)
    memory_gib: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _non_negative(self) -> TeamQueue:
        for flavor, n in self.gpus.items():
            if n < 0:
                raise ValueError(f"gpus[{flavor}] is {n}: use 0 or more")
        return self


class QueueingArgs(QueueingSettings):
    """Inputs of `Queueing` (the settings above, plus what the stack computes).

    Fields:
        flavors (list[Flavor], at least one): CPU flavors first, then the GPU pools in preference order.
        teams (list[TeamQueue], default []): one ClusterQueue + LocalQueue each.
        oversubscribe (bool, default False): let the teams' nominal GPUs on a flavor add up to more
            than the pool may run (the `queue-capacity` check rule still reports it).
        cluster (Cluster | ClusterRef | None): the cluster (its Kubernetes provider).
        namespace (str, default "kueue-system"): where Kueue runs.
        monitoring_namespace, monitoring_release (str | None): the kube-prometheus-stack that scrapes
            Kueue's metrics (a ServiceMonitor labelled for that release); None: no ServiceMonitor.
        gpu_hour_prices (dict[str, float]): flavor -> on-demand USD per GPU-hour (budgets; a flavor
            without one is not priced, never guessed).
        budget_job_image (Input[str] | None): the image of this package the budget hold CronJob runs;
            needed when a team has a budget.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    flavors: list[Flavor] = Field(min_length=1)
    teams: list[TeamQueue] = []
    oversubscribe: bool = False
    cluster: Any = None
    namespace: str = Field(KUEUE_NAMESPACE, pattern=DNS_LABEL)
    monitoring_namespace: str | None = Field(None, pattern=DNS_LABEL)
    monitoring_release: str | None = None
    gpu_hour_prices: dict[str, float] = {}
    budget_job_image: Any = None

    @model_validator(mode="after")
    def _consistent(self) -> QueueingArgs:
        names = [f.name for f in self.flavors]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"flavors: {dup} repeat; give each pool one flavor")
        gpu_flavors = {f.name: f.gpus for f in self.flavors if f.gpus > 0}
        teams = [t.team for t in self.teams]
        dup = sorted({n for n in teams if teams.count(n) > 1})
        if dup:
            raise ValueError(f"teams: {dup} repeat; give each team one queue")
        for t in self.teams:
            unknown = sorted(set(t.gpus) - set(gpu_flavors))
            if unknown:
                raise ValueError(
                    f"teams.{t.team}.gpus: {unknown} is not a GPU flavor; use one of {sorted(gpu_flavors) or 'none'}"
                )
        if any(t.gpu_budget_usd_month for t in self.teams):
            if self.budget_job_image is None or not (self.monitoring_namespace and self.monitoring_release):
                raise ValueError("teams: a GPU budget needs budget_job_image and the monitoring namespace and release")
        if not self.oversubscribe:
            for flavor, cap in gpu_flavors.items():
                asked = sum(t.gpus.get(flavor, 0) for t in self.teams)
                if asked > cap:
                    raise ValueError(
                        f"teams: nominal GPUs on {flavor} add up to {asked}, the pool may run {cap}; "
                        "lower the quotas or set oversubscribe"
                    )
        return self


def validated(model: type[BaseModel], args: Any) -> Any:
    """`args` as `model` (an instance passes through; a mapping is validated), pydantic's error turned
    into the components' one-line ValidationError (field, problem, fix)."""
    import pydantic

    from .._common import ValidationError

    if isinstance(args, model):
        return args
    try:
        return model.model_validate(args)
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or model.__name__
        raise ValidationError(field, err["msg"], f"see {model.__name__}'s fields and bounds") from None

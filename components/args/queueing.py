"""What a user sets for the queues (Pulumi-free, shared by the spec and components/queueing): the stack's
`queueing:` section and each team's queue settings. Bounds are defined here, once."""

from __future__ import annotations

from pydantic import Field

from ..conventions import DNS_LABEL
from . import Section

# Why 30 minutes (kueue#2215): see components/queueing/args.py WAIT_FOR_PODS_READY_MINUTES.
WAIT_FOR_PODS_READY_MINUTES = 30


class QueueingSettings(Section):
    """The stack's `queueing:` section.

    Fields:
        enabled (bool, default False): install Kueue and the queues (growth and full profiles: on).
        wait_for_pods_ready_minutes (int, default 30, 10..240): how long an admitted job's pods may take
            to be ready (a GPU node starting from zero included) before Kueue evicts and requeues it.
        controller_replicas (int, default 1, 1..3): Kueue controller replicas (leader-elected; 2+ adds a PDB).
        cohort (str, default "mlplatform"): the cohort every team's ClusterQueue borrows and lends in.
        adopted_gpus_per_node (int, default 1, 1..16): GPUs of each adopted GPU node (gpu.existing): the
            queues' capacity of that pool (the stack does not know the nodes' types).
    """

    enabled: bool = False
    wait_for_pods_ready_minutes: int = Field(WAIT_FOR_PODS_READY_MINUTES, ge=10, le=240)
    controller_replicas: int = Field(1, ge=1, le=3)
    cohort: str = Field("mlplatform", pattern=DNS_LABEL.pattern, max_length=63)
    adopted_gpus_per_node: int = Field(1, ge=1, le=16)


class TeamQueueSettings(Section):
    """A team's queue settings (its `teams:` entry):

    Fields:
        gpu_quota_by_pool (dict[str, int >= 0]): the team's GPUs per pool (their sum is gpu_quota).
        gpu_borrowing_limit (int >= 0 | None): most GPUs borrowed from the cohort per pool (None: all free).
        gpu_lending_limit (int >= 0 | None): most of its own GPUs lent per pool (None: all).
        gpu_budget_usd_month (float > 0 | None): GPU spend per month in USD (None: no budget).
    """

    gpu_quota_by_pool: dict[str, int] = {}
    gpu_borrowing_limit: int | None = Field(None, ge=0)
    gpu_lending_limit: int | None = Field(None, ge=0)
    gpu_budget_usd_month: float | None = Field(None, gt=0)

"""The one typed input of `Training` (pydantic); the stack's `training:` section reuses `TrainingSettings`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..conventions import TRAINER_NAMESPACE
from ..queueing.args import DNS_LABEL


class TrainingSettings(BaseModel):
    """What a user sets (the stack's `training:` section).

    Fields:
        enabled (bool, default False): install Kubeflow Trainer + JobSet and the torch-distributed
            runtime (growth and full: on; needs queueing, which admits each TrainJob as one gang).
        efa (bool, default True): the EFA device plugin on the multi-GPU pool's EFA instance types.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    efa: bool = True


class EfaPool(BaseModel):
    """A GPU pool whose nodes get the EFA device plugin: its name and its types that have EFA."""

    model_config = ConfigDict(extra="forbid")

    pool: str = Field(pattern=DNS_LABEL)
    instance_types: list[str] = Field(min_length=1)


class TrainingArgs(TrainingSettings):
    """Inputs of `Training`.

    Fields:
        cluster (Cluster | ClusterRef | None): the cluster (its Kubernetes provider).
        namespace (str, default "kubeflow-system"): where the Trainer and JobSet controllers run.
        efa_pools (list[EfaPool], default []): pools (and their EFA types) the EFA device plugin runs on.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    cluster: Any = None
    namespace: str = Field(TRAINER_NAMESPACE, pattern=DNS_LABEL)
    efa_pools: list[EfaPool] = []

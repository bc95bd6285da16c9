"""Training (`mlplatform:training:Training`): Kubeflow Trainer + JobSet, the torch-distributed runtime,
EFA on the multi-GPU pool. `args` and `efa` are Pulumi-free; the component is loaded on first use."""

from __future__ import annotations

from typing import Any

from .args import EfaPool, TrainingArgs, TrainingSettings

__all__ = ["EfaPool", "Training", "TrainingArgs", "TrainingSettings"]


def __getattr__(name: str) -> Any:
    if name == "Training":
        from .component import Training

        return Training
    raise AttributeError(name)

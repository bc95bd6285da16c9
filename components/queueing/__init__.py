"""Queueing (`mlplatform:scheduling:Queueing`): Kueue, and the teams' queues generated from the stack.

`args` and `objects` are Pulumi-free (the stack spec and the analyses read them); the component itself
(`component.Queueing`) is loaded on first use.
"""

from __future__ import annotations

from typing import Any

from .args import Flavor, QueueingArgs, QueueingSettings, TeamQueue

__all__ = ["Flavor", "Queueing", "QueueingArgs", "QueueingSettings", "TeamQueue"]


def __getattr__(name: str) -> Any:
    if name == "Queueing":
        from .component import Queueing

        return Queueing
    raise AttributeError(name)

"""How a command runs in its process: with CPython's cyclic garbage collector paused.

A plan imports about a thousand provider-SDK modules (most lazily, while the program runs) and makes
some 200k objects; meanwhile the collector's full passes walk that whole long-lived heap again and
again: measured, about a second of a cold `mlplatform plan -p full` (`benchmarks/plan_speed.py`).
Reference counting still frees everything not in a cycle (a plan's peak memory is the same either
way, ~170 MB), and the cycles left behind are collected as usual once the pause ends. The `mlplatform`
command (`cli.main.main`) keeps it off for the whole process and freezes the heap at exit.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic collector off for the duration, then as it was (nested pauses are fine)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()

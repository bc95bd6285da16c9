"""The on-demand price of a GPU-hour on each flavor, from the price data (stacks/data/prices-*.json).

A flavor's GPU-hour costs the most its instance types charge per GPU on demand (what a budget counts
is never less than what the team's jobs can cost), each type's hourly price divided by its GPUs. A type
without a price is a gap, named; a flavor none of whose types has a price is not priced at all (its
GPU-hours are counted, not turned into dollars) and is reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES
from mlplatform.components.queueing.args import Flavor

from .cost import load_prices


def flavor_gpu_hour_prices(region: str, flavors: Iterable[Flavor]) -> tuple[dict[str, float], list[str]]:
    """(flavor -> USD per GPU-hour on demand, gaps: one line each)."""
    book = load_prices(region)
    prices: dict[str, float] = {}
    gaps: list[str] = []
    for f in flavors:
        if not f.gpus:
            continue
        per_gpu = []
        for t in f.instance_types:
            p = book.price("ec2", t)
            if p.value is None or t not in GPU_INSTANCE_TYPES:
                gaps.append(f"{f.name}: no on-demand price for {t} in {region} ({p.status})")
                continue
            per_gpu.append(p.value / GPU_INSTANCE_TYPES[t][0])
        if per_gpu:
            prices[f.name] = round(max(per_gpu), 6)
        else:
            gaps.append(f"{f.name}: no priced instance type, its GPU-hours are not turned into dollars")
    return prices, gaps

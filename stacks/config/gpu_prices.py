"""The on-demand price of a GPU-hour on each flavor, from the price data (stacks/data/prices-*.json).

A flavor's GPU-hour costs the most its instance types charge per GPU on demand (what a budget counts
is never less than what the team's jobs can cost), each type's hourly price divided by its GPUs. A type
without a price is a gap, named; a flavor none of whose types has a price is not priced at all (its
GPU-hours are counted, not turned into dollars) and is reported, never guessed.

It reads the same price files as `mlplatform cost` (stacks/analyses/cost.PriceBook: `prices.ec2.<type>`,
else `prices.ec2_all.<type>`); it sits in config because the program that prices the budgets is below
the analyses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES
from mlplatform.components.queueing.args import Flavor

DATA = Path(__file__).resolve().parents[1] / "data"


def on_demand_hour(region: str, instance_type: str) -> float | None:
    """The on-demand USD per hour of an instance type in a region's price file; None: no price (or no file)."""
    path = DATA / f"prices-{region}.json"
    if not path.is_file():
        return None
    prices = json.loads(path.read_text())["prices"]
    for table in ("ec2", "ec2_all"):
        value = (prices.get(table) or {}).get(instance_type)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def flavor_gpu_hour_prices(region: str, flavors: Iterable[Flavor]) -> tuple[dict[str, float], list[str]]:
    """(flavor -> USD per GPU-hour on demand, gaps: one line each)."""
    prices: dict[str, float] = {}
    gaps: list[str] = []
    for f in flavors:
        if not f.gpus:
            continue
        per_gpu = []
        for t in f.instance_types:
            hour = on_demand_hour(region, t)
            if hour is None or t not in GPU_INSTANCE_TYPES:
                gaps.append(f"{f.name}: no on-demand price for {t} in {region}")
                continue
            per_gpu.append(hour / GPU_INSTANCE_TYPES[t][0])
        if per_gpu:
            prices[f.name] = round(max(per_gpu), 6)
        else:
            gaps.append(f"{f.name}: no priced instance type, its GPU-hours are not turned into dollars")
    return prices, gaps

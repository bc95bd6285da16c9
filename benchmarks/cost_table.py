"""Monthly cost per profile: resources, idle $/month, $/month with the default usage, $/GPU-hour, plan time.

Idle = always-on resources and provisioned volumes with GPU pools and runners at their minimum
(stacks/analyses/cost.py). Prices: the shipped price file of the region (snapshot date in the title); gaps
are left out of the totals and counted in the last column. Plan time: in-process `plan(spec)`,
median of N runs after one warm-up (no interpreter start-up; `benchmarks/plan_speed.py` times
whole commands).
Goal (issue 7): pragmatic idle <= $190/month in us-east-1.

    python benchmarks/cost_table.py [--region us-east-1] [--runs 3] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.table import Table

from mlplatform.stacks.analyses.cost import estimate, load_prices, load_usage
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import PROFILES, load_spec

IDLE_GOAL = {"pragmatic": 190.0}


def _gpu_hour(report) -> str:
    """First-choice type of each pool: on-demand $/GPU-h, and the spot range where observed."""
    seen, parts = set(), []
    for g in report.gpu_hours:
        if g.pool in seen or g.on_demand is None:
            continue
        seen.add(g.pool)
        spot = f", spot {g.spot_low:.2f}-{g.spot_high:.2f}" if g.spot_low is not None else ""
        parts.append(f"{g.pool} {g.instance_type}: {g.on_demand:.2f}{spot}")
    return "\n".join(parts) or "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="Override applied to every profile (what-if), e.g. cluster.system_nodes.instance_type=t3.medium")
    args = ap.parse_args()
    usage = load_usage()
    prices = load_prices(args.region)
    table = Table(title=f"mlplatform monthly cost, {args.region} (prices of {prices.snapshot_date}, 730 h, USD)"
                        + (f" with {', '.join(args.sets)}" if args.sets else ""))
    for col in ("profile", "resources", "idle $/month", "goal", "with usage $/month", "$/GPU-hour (on-demand, spot)",
                "plan s", "price gaps"):
        table.add_column(col, justify="left" if col in ("profile", "$/GPU-hour (on-demand, spot)") else "right")
    plan(load_spec("pragmatic", region=args.region, sets=args.sets))  # warm-up: imports, first-run caches
    for profile in PROFILES:
        spec = load_spec(profile, region=args.region, sets=args.sets)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            the_plan = plan(spec)
            times.append(time.perf_counter() - start)
        report = estimate(the_plan, args.region, usage, prices=prices)
        goal = IDLE_GOAL.get(profile)
        verdict = "" if goal is None else (f"<= {goal:.0f} ok" if report.idle <= goal else f"<= {goal:.0f} MISSED")
        table.add_row(profile, str(len(the_plan.resources)), f"{report.idle:,.2f}", verdict, f"{report.monthly:,.2f}",
                      _gpu_hour(report), f"{statistics.median(times):.2f}", str(len(report.gaps)))
    Console(width=max(Console().width, 170)).print(table)


if __name__ == "__main__":
    main()

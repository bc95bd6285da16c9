"""Dollar budgets per team: Prometheus recording rules and alerts over Kueue's own usage metric.

Kueue v0.19.2 exports `kueue_cluster_queue_resource_usage{cohort, cluster_queue, flavor, resource,
replica_role}` (pkg/metrics/metrics.go: Subsystem "kueue", Name "cluster_queue_resource_usage"): the
resources of the workloads a ClusterQueue has admitted, per flavor. A team's ClusterQueue is named after
the team, so `cluster_queue` is the team. From it:

* `mlplatform:team_gpus:admitted` — GPUs admitted now, per team and flavor;
* `mlplatform:team_gpu_hours:month` — GPU-hours since the start of the month (UTC), per team and flavor:
  an accumulator, each evaluation (every minute) adding the admitted GPUs x 1/60 h to its own previous
  value while that value's sample is of the current month (`month(timestamp(...)) == month()`), and
  starting from 0 in a new month. A 31-day subquery that keeps the current month's steps would not
  need its own past, but costs every evaluation tens of thousands of steps per team; the accumulator
  costs one sample. What it misses: minutes Prometheus did not evaluate (a restart), and a gap over
  5 minutes (the lookback) restarts the month's count from 0 — both make an alert late, never early;
* `mlplatform:team_gpu_usd:month` — those GPU-hours priced at each flavor's on-demand dollars per
  GPU-hour (the price data; a flavor without a price is left out and reported as a gap);
* `mlplatform:team_gpu_budget_usd:month` — the team's `gpu_budget_usd_month`.

Alerts, routed like every alert by their `severity`: `TeamGpuBudgetWarning` (warning) from 80 %,
`TeamGpuBudgetExhausted` (critical) at 100 %; the budget hold job puts the team's ClusterQueue on hold
while the latter fires (stacks/project/budget.py).
"""

from __future__ import annotations

from typing import Any

from ..conventions import GPU_RESOURCE

USAGE_METRIC = "kueue_cluster_queue_resource_usage"
GROUP = "mlplatform-gpu-budgets"
WARNING_SHARE = 0.8
WARNING_ALERT = "TeamGpuBudgetWarning"
EXHAUSTED_ALERT = "TeamGpuBudgetExhausted"
ADMITTED = "mlplatform:team_gpus:admitted"
HOURS = "mlplatform:team_gpu_hours:month"
DOLLARS = "mlplatform:team_gpu_usd:month"
BUDGET = "mlplatform:team_gpu_budget_usd:month"
INTERVAL_MINUTES = 1  # the group's evaluation interval: each evaluation adds this much time


def _number(v: float) -> str:
    return repr(float(v)) if v != int(v) else str(int(v))


def budget_rule_groups(
    budgets: dict[str, float], prices: dict[str, float], interval_minutes: int = INTERVAL_MINUTES
) -> list[dict[str, Any]]:
    """The PrometheusRule groups: team -> monthly budget (USD), flavor -> on-demand USD per GPU-hour;
    `interval_minutes` is the group's evaluation interval, the time each evaluation adds; it must stay
    under Prometheus' 5-minute lookback, within which each evaluation reads the previous value."""
    if not 1 <= interval_minutes < 5:
        raise ValueError(f"interval_minutes is {interval_minutes}: use 1 to 4 (under the 5-minute lookback)")
    if not budgets:
        return []
    this_month = f"{HOURS} and on(cluster_queue, flavor) (month(timestamp({HOURS})) == on() group_left() month())"
    hours = (
        f"{ADMITTED} * {interval_minutes} / 60"
        f" + on(cluster_queue, flavor) (({this_month}) or on(cluster_queue, flavor) ({ADMITTED} * 0))"
    )
    priced = " or ".join(f'{HOURS}{{flavor="{f}"}} * {_number(p)}' for f, p in sorted(prices.items()))
    budget = " or ".join(
        f'label_replace(vector({_number(b)}), "cluster_queue", "{team}", "", "")' for team, b in sorted(budgets.items())
    )
    dollars = f"sum by (cluster_queue) ({priced})" if priced else None
    rules: list[dict[str, Any]] = [
        {
            "record": ADMITTED,
            "expr": f'sum by (cluster_queue, flavor) ({USAGE_METRIC}{{resource="{GPU_RESOURCE}"}})',
        },
        {"record": HOURS, "expr": hours},
        {"record": BUDGET, "expr": budget},
    ]
    if dollars:
        rules.append({"record": DOLLARS, "expr": dollars})
        share = f"{DOLLARS} / on(cluster_queue) {BUDGET}"
        rules += [
            {
                "alert": WARNING_ALERT,
                "expr": f"{share} >= {WARNING_SHARE} < 1",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "Team {{ $labels.cluster_queue }} has spent {{ $value | humanizePercentage }} "
                    "of its monthly GPU budget",
                    "description": "GPU-hours admitted by Kueue this month (UTC), at on-demand prices.",
                    "runbook": "Check `mlplatform team list`; at 100 % the team's queue is put on hold "
                    "(running jobs finish, new ones wait) until the month ends or "
                    "`mlplatform team budget --release TEAM`.",
                },
            },
            {
                "alert": EXHAUSTED_ALERT,
                "expr": f"{share} >= 1",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "Team {{ $labels.cluster_queue }} has spent its monthly GPU budget: its queue is held",
                    "description": "The budget hold job sets the team's ClusterQueue stopPolicy to Hold: "
                    "admitted jobs finish, new ones wait until the month's start.",
                    "runbook": "Raise teams[].gpu_budget_usd_month, or release the queue for this month "
                    "with `mlplatform team budget --release TEAM`.",
                },
            },
        ]
    return [{"name": GROUP, "interval": f"{interval_minutes}m", "rules": rules}]

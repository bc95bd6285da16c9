"""Dollar budgets per team: the rules under the real promtool, the hold job's decisions, the CLI."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
import yaml

from mlplatform.components.queueing import budgets
from realtools import tool

# vision: $100 a month, 4 GPUs on gpu-1x at $1.25 per GPU-hour = $5 an hour: 80 % after 16 h, 100 % after 20 h.
# nlp: $1000 a month, 1 GPU: $1.25 an hour, never near its budget in a day. data: admitted nothing.
BUDGETS = {"vision": 100, "nlp": 1000, "data": 50}
PRICES = {"gpu-1x": 1.25, "gpu-multi": 4.1}


def usage(team: str, flavor: str, gpus: int, steps: int) -> dict:
    labels = (f'{budgets.USAGE_METRIC}{{cohort="mlplatform", cluster_queue="{team}", flavor="{flavor}", '
              f'resource="nvidia.com/gpu", replica_role="standalone"}}')
    return {"series": labels, "values": f"{gpus}+0x{steps}"}


def alert(name: str, team: str, severity: str, summary: str) -> dict:
    """The alert as Alertmanager gets it: labels (routed by severity) and the rule's annotations."""
    rule = next(r for r in budgets.budget_rule_groups(BUDGETS, PRICES)[0]["rules"] if r.get("alert") == name)
    return {"exp_labels": {"alertname": name, "cluster_queue": team, "severity": severity},
            "exp_annotations": {**rule["annotations"], "summary": summary}}


def test_budget_rules_under_promtool(tmp_path):
    promtool = tool("promtool")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": budgets.budget_rule_groups(BUDGETS, PRICES)}, sort_keys=False))
    steps = 23 * 60  # 23 hours, a sample a minute
    series = [usage("vision", "gpu-1x", 4, steps), usage("nlp", "gpu-1x", 1, steps), usage("data", "gpu-1x", 0, steps),
              # CPU usage of the same queues is not GPU usage
              {"series": f'{budgets.USAGE_METRIC}{{cluster_queue="vision", flavor="cpu-batch", resource="cpu"}}',
               "values": f"64+0x{steps}"}]
    warn, out = budgets.WARNING_ALERT, budgets.EXHAUSTED_ALERT
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                # 10 hours of 4 GPUs, counted a minute per evaluation from 0 to 10h (601 minutes):
                # 40.07 GPU-hours on gpu-1x, $50.08.
                # (In GPU-minutes and cents, rounded: the accumulator's float sums are not exact.)
                {"expr": f'round({budgets.HOURS}{{cluster_queue="vision"}} * 60)', "eval_time": "10h",
                 "exp_samples": [{"labels": '{cluster_queue="vision", flavor="gpu-1x"}', "value": 4 * 601}]},
                {"expr": f'round({budgets.DOLLARS}{{cluster_queue="vision"}} * 100)', "eval_time": "10h",
                 "exp_samples": [{"labels": '{cluster_queue="vision"}', "value": 5008}]},
                {"expr": f'{budgets.BUDGET}{{cluster_queue="data"}}', "eval_time": "1h",
                 "exp_samples": [{"labels": f'{budgets.BUDGET}{{cluster_queue="data"}}', "value": 50}]},
            ],
            "alert_rule_test": [
                # under budget: quiet
                {"eval_time": "10h", "alertname": warn, "exp_alerts": []},
                {"eval_time": "10h", "alertname": out, "exp_alerts": []},
                # 84 % (1011 minutes x 4 GPUs x $1.25 / 60): the warning, for vision alone
                {"eval_time": "16h50m", "alertname": warn, "exp_alerts": [alert(warn, "vision", "warning", "Team vision has spent 84.25% of its monthly GPU budget")]},
                {"eval_time": "16h50m", "alertname": out, "exp_alerts": []},
                # 100 %: the alert the hold job acts on; the warning stops
                {"eval_time": "21h", "alertname": out, "exp_alerts": [alert(out, "vision", "critical",
                                                                       "Team vision has spent its monthly GPU budget: its queue is held")]},
                {"eval_time": "21h", "alertname": warn, "exp_alerts": []},
            ],
        }],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    res = subprocess.run([promtool, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_flavor_without_a_price_is_left_out_not_guessed():
    groups = budgets.budget_rule_groups({"vision": 10}, {"gpu-1x": 1.0})
    dollars = next(r for r in groups[0]["rules"] if r.get("record") == budgets.DOLLARS)
    assert 'flavor="gpu-1x"' in dollars["expr"] and "gpu-multi" not in dollars["expr"]
    assert budgets.budget_rule_groups({}, {"gpu-1x": 1.0}) == []


def test_the_month_count_starts_again_at_the_months_start(tmp_path):
    """promtool's clock starts at 1970-01-01 00:00 UTC: 31 days later is February, and the count restarts.
    (Evaluated every 4 minutes to keep the test short, each evaluation adding 4 minutes: the accumulator
    reads its previous value within Prometheus' 5-minute lookback, so its interval must stay under it.)"""
    promtool = tool("promtool")
    rules = tmp_path / "rules.yaml"
    groups = budgets.budget_rule_groups({"vision": 10**6}, PRICES, interval_minutes=4)
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    steps = 31 * 24 * 15 + 3
    test = {"rule_files": [str(rules)], "evaluation_interval": "4m", "tests": [{
        "interval": "4m",
        "input_series": [usage("vision", "gpu-1x", 1, steps)],
        "promql_expr_test": [
            # January 31st, 23:00: 1 GPU for 31 days less an hour (plus the first evaluation's 4 minutes).
            {"expr": f"round({budgets.HOURS} * 60)", "eval_time": "30d23h",
             "exp_samples": [{"labels": '{cluster_queue="vision", flavor="gpu-1x"}', "value": (31 * 24 - 1) * 60 + 4}]},
            # February 1st, 00:08: the evaluations at 00:00, 00:04 and 00:08.
            {"expr": f"round({budgets.HOURS} * 60)", "eval_time": "31d8m",
             "exp_samples": [{"labels": '{cluster_queue="vision", flavor="gpu-1x"}', "value": 12}]},
        ],
    }]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    res = subprocess.run([promtool, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr

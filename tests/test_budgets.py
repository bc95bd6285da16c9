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


# -- the hold job's decisions, on ClusterQueues shaped as the API returns them ---------------------------
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from mlplatform.stacks.config.chart_facts import custom_resource_errors  # noqa: E402
from mlplatform.stacks.project import budget  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "kueue"
DECEMBER = datetime(2026, 12, 14, 9, 30, tzinfo=UTC)


def recorded() -> list[dict]:
    """`kubectl get clusterqueues -o json` of five teams (each validates against the pinned CRD, status too):
    vision admitting 4 GPUs, nlp held for November's budget, speech held for December's, data held by
    someone else (no annotation of ours), robotics released by hand this month."""
    items = json.loads((DATA / "clusterqueues.json").read_text())["items"]
    assert all(custom_resource_errors(q) == [] for q in items)
    return items


def test_hold_decisions():
    actions = {(a.team, a.op) for a in budget.decide(recorded(), {"vision", "speech", "data", "robotics"}, DECEMBER)}
    assert actions == {
        ("vision", "hold"),  # its alert fires, its queue runs: hold
        ("nlp", "release"),  # November's hold: December has started
        # speech: already held this month; data: held by someone else; robotics: released by hand this month
    }


def test_nothing_fires_nothing_held_nothing_done():
    queues = [q for q in recorded() if q["metadata"]["name"] in ("vision", "robotics")]
    assert budget.decide(queues, set(), DECEMBER) == []


def test_a_hand_release_lasts_the_month_only():
    robotics = [q for q in recorded() if q["metadata"]["name"] == "robotics"]
    assert budget.decide(robotics, {"robotics"}, DECEMBER) == []
    january = datetime(2027, 1, 3, tzinfo=UTC)
    assert [(a.team, a.op) for a in budget.decide(robotics, {"robotics"}, january)] == [("robotics", "hold")]


def test_the_patches_set_stop_policy_and_the_month():
    hold = budget.Action("vision", "hold", "")
    assert hold.patch("2026-12") == {"metadata": {"annotations": {budget.HOLD_ANNOTATION: "2026-12"}},
                                     "spec": {"stopPolicy": "Hold"}}
    patched = recorded()[0]
    patched["spec"]["stopPolicy"] = hold.patch("2026-12")["spec"]["stopPolicy"]
    assert custom_resource_errors(patched) == []  # Hold is a stopPolicy the CRD takes
    assert budget.Action("nlp", "release", "").patch("2026-12")["spec"] == {"stopPolicy": "None"}


def test_the_hold_job_has_the_narrowest_rbac_and_runs_restricted():
    from mlplatform.stacks.config.spec import load_spec
    from mlplatform.stacks.plan import export
    from mlplatform.stacks.program import plan

    p = plan(load_spec("growth", sets=["teams=[{name: vision, gpu_quota: 2, gpu_budget_usd_month: 500}, {name: nlp}]"]))
    objs = {(m["kind"], m["metadata"]["name"]): m for _, m in export.kubernetes_objects(p)}
    role = objs[("ClusterRole", "mlplatform-budget-hold")]
    assert role["rules"] == [{"apiGroups": ["kueue.x-k8s.io"], "resources": ["clusterqueues"],
                              "resourceNames": ["vision"], "verbs": ["get", "patch"]}]
    job = objs[("CronJob", "budget-hold")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    c = job["containers"][0]
    assert c["args"][-1] == "vision" and c["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["nodeSelector"]["mlplatform.io/pool"] == "system"
    rules = objs[("PrometheusRule", "mlplatform-gpu-budgets")]
    assert rules["metadata"]["labels"]["release"].endswith("-monitoring")
    alerts = {r["alert"] for g in rules["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {budgets.WARNING_ALERT, budgets.EXHAUSTED_ALERT}
    # priced from the price data: g6/g5 on demand in us-east-1, per GPU
    assert "* 1.212" in next(r["expr"] for r in rules["spec"]["groups"][0]["rules"] if r.get("record") == budgets.DOLLARS)


def test_a_budget_needs_queueing():
    from mlplatform.stacks.config.spec import SpecError, load_spec

    with pytest.raises(SpecError, match="queueing is off"):
        load_spec("pragmatic", sets=["teams=[{name: a, gpu_budget_usd_month: 100}]"])
    with pytest.raises(SpecError, match="teams.0.gpu_budget_usd_month"):
        load_spec("growth", sets=["teams=[{name: a, gpu_budget_usd_month: 0}]"])


# -- the CLI: team budget --release, team list --------------------------------------------------------
@pytest.fixture
def kubectl(tmp_path, monkeypatch):
    """A kubectl on PATH that records its arguments and answers `get clusterqueues` from the recording."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'if [ "$1" = get ]; then cat ' + str(DATA / "clusterqueues.json") + "; fi\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.fixture
def stack_yaml(tmp_path):
    p = tmp_path / "stack.yaml"
    p.write_text("profile: growth\nteams:\n  - name: vision\n    gpu_quota: 4\n    gpu_budget_usd_month: 800\n"
                 "  - name: nlp\n    gpu_quota: 2\n")
    return p


def test_team_budget_release_patches_the_queue(kubectl, stack_yaml):
    from mlplatform.cli.main import cli

    res = CliRunner().invoke(cli, ["team", "budget", "--release", "vision", "--config", str(stack_yaml)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("Stack dev (stack.yaml)")
    call = kubectl.read_text().split()
    assert call[:5] == ["patch", "clusterqueue", "vision", "--type", "merge"]
    patch = json.loads(kubectl.read_text().split("-p ", 1)[1])
    assert patch["spec"] == {"stopPolicy": "None"} and budget.RELEASE_ANNOTATION in patch["metadata"]["annotations"]
    res = CliRunner().invoke(cli, ["team", "budget", "--release", "robots", "--config", str(stack_yaml)])
    assert res.exit_code == 1 and "TEAM: 'robots' is not a team of this stack" in res.output


def test_team_list_shows_quota_usage_and_budget(kubectl, stack_yaml):
    from mlplatform.cli.main import cli

    rows = json.loads(CliRunner().invoke(cli, ["team", "list", "--config", str(stack_yaml), "--json"]).stdout)
    vision = next(r for r in rows if r["name"] == "vision")
    assert vision["gpus_by_pool"] == {"gpu-1x": 4} and vision["gpus_admissible"] == 8
    assert vision["gpu_budget_usd_month"] == 800
    assert vision["usage"] == {"gpus_in_use": {"gpu-1x": "4"}, "stop_policy": "None"}
    nlp = next(r for r in rows if r["name"] == "nlp")
    assert nlp["usage"]["stop_policy"] == "Hold"


def test_team_list_says_when_no_cluster_is_reachable(tmp_path, stack_yaml, monkeypatch):
    from mlplatform.cli.main import cli

    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no kubectl at all
    res = CliRunner().invoke(cli, ["team", "list", "--config", str(stack_yaml)])
    assert res.exit_code == 0, res.output
    assert "GPUs in use: ? (no cluster reachable with kubectl" in res.output
    rows = json.loads(CliRunner().invoke(cli, ["team", "list", "--config", str(stack_yaml), "--json"]).stdout)
    assert rows[0]["usage"] == "no cluster reachable (kubectl)" and rows[0]["gpu_budget_usd_month"] == 800


def test_team_add_with_a_budget_keeps_the_budget_objects_in_step(stack_yaml):
    from mlplatform.stacks.source import stack_source
    from mlplatform.stacks.project.team import add_team, new_team_entry

    entry = {**new_team_entry("speech", gpu_quota=1), "gpu_budget_usd_month": 300}
    change = add_team(stack_source(config_file=stack_yaml), entry, write=False)
    assert change.other_changes == []
    ops = {(c.type.rsplit(":", 1)[-1], c.name): c.op for c in change.diff.resources
           if "budget" in c.name or c.type.endswith(("ClusterQueue", "LocalQueue"))}
    assert ops == {("ClusterQueue", "ml-dev-team-speech-clusterqueue"): "create",
                   ("LocalQueue", "ml-dev-team-speech-localqueue"): "create",
                   ("PrometheusRule", "ml-dev-gpu-budgets"): "update",  # speech's budget joins the rules
                   ("ClusterRole", "ml-dev-budget-hold"): "update",  # and the hold job may patch its queue
                   ("CronJob", "ml-dev-budget-hold"): "update"}

"""Alert receivers: the Alertmanager configuration the release runs, checked by the real amtool; secrets
only in a Kubernetes Secret; the `check` finding and `plan` warning without a receiver; `alerts test`
against a real Alertmanager on loopback."""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import helm_values, one, plan_of
from mlplatform.components._common import ValidationError
from mlplatform.components.alerting import (RECEIVER_SECRET, SECRETS_MOUNT, TEST_ALERTNAME, TEST_RECEIVER_LABEL,
                                            AlertsArgs, alertmanager_config)
from mlplatform.components.monitoring import Monitoring, MonitoringArgs
from mlplatform.stacks.config.chart_facts import chart_defaults, deep_merge
from mlplatform.stacks.plan.offline import SECRET
from realtools import tool

KPS = "kube-prometheus-stack"
README = Path(__file__).resolve().parents[1] / "README.md"

SECRETS = {  # recognisable values: none may appear in any plan input
    "ops-slack": "https://hooks.slack.com/services/T000/B000/SLACKSECRET0001",
    "oncall": "pdroutingkeySECRET0002",
    "mail": "smtpPASSWORD-SECRET-0003",
    "hook": "bearer-SECRET-0004",
}
RECEIVERS = {
    "slack": {"name": "ops-slack", "kind": "slack", "channel": "#ml-alerts"},
    "pagerduty": {"name": "oncall", "kind": "pagerduty"},
    "email": {"name": "mail", "kind": "email", "to": ["ml-team@example.com"], "sender": "alerts@example.com",
              "smarthost": "smtp.example.com:587", "username": "alerts"},
    "webhook": {"name": "hook", "kind": "webhook", "url": "https://hooks.example.com/alertmanager",
                "bearer_token": True},
}


def monitoring_plan(receivers: list[dict]):
    alerts = AlertsArgs(receivers=receivers)
    secrets = {n: SECRETS[n] for n in alerts.secret_names()}
    return plan_of(lambda: Monitoring("ml-dev", MonitoringArgs(alerts=alerts, alert_secrets=secrets)))


def rendered_config(plan) -> dict:
    """What Alertmanager runs: the chart renders `alertmanager.config` (Helm's merge of the chart defaults and
    the release's values; tplConfig false: toYaml as is) into the Secret the operator hands to Alertmanager."""
    values = helm_values(plan, KPS)[0]
    merged = deep_merge(chart_defaults(KPS), values)
    assert merged["alertmanager"]["enabled"] is True and merged["alertmanager"]["tplConfig"] is False
    assert not merged["alertmanager"]["stringConfig"] and not merged["alertmanager"]["alertmanagerSpec"]["useExistingSecret"]
    return merged["alertmanager"]["config"]


def write_config(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("amtool"), *args], capture_output=True, text=True, timeout=60)


def routed_to(config_file: Path, **labels: str) -> list[str]:
    res = amtool("config", "routes", "test", f"--config.file={config_file}", *(f"{k}={v}" for k, v in labels.items()))
    assert res.returncode == 0, res.stderr
    return sorted(x.strip() for x in res.stdout.strip().split(","))


@pytest.mark.parametrize("kind", sorted(RECEIVERS))
def test_each_receiver_kind_passes_the_real_amtool_and_keeps_its_secret_out_of_the_plan(kind, tmp_path):
    plan = monitoring_plan([RECEIVERS[kind]])
    config = rendered_config(plan)
    path = write_config(tmp_path, config)
    res = amtool("check-config", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout

    # The secret is only a file path into the Secret the operator mounts.
    name = RECEIVERS[kind]["name"]
    text = json.dumps([r.inputs for r in plan.resources], default=str)
    assert SECRETS[name] not in text
    assert f"{SECRETS_MOUNT}/{RECEIVER_SECRET}/{name}" in yaml.safe_dump(config)
    spec = helm_values(plan, KPS)[0]["alertmanager"]["alertmanagerSpec"]
    assert spec["secrets"] == [RECEIVER_SECRET]
    secret = one(plan, "kubernetes:core/v1:Secret", "ml-dev-alert-receivers")
    # The whole stringData is a Pulumi secret: the plan shows it as such, never the value.
    assert secret.inputs["metadata"]["name"] == RECEIVER_SECRET and secret.inputs["stringData"] == SECRET


def test_the_rendered_config_keeps_the_charts_defaults_it_does_not_replace(tmp_path):
    config = rendered_config(monitoring_plan([RECEIVERS["slack"]]))
    defaults = chart_defaults(KPS)["alertmanager"]["config"]
    assert config["inhibit_rules"] == defaults["inhibit_rules"] and config["global"] == defaults["global"]
    assert [r["name"] for r in config["receivers"]] == ["null", "ops-slack"]


def readme_example() -> tuple[list[dict], dict[str, list[str]]]:
    """The receivers of the README's example and its table of where each severity goes."""
    section = README.read_text().split("#### Where alerts go", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    receivers = yaml.safe_load(block)["monitoring"]["alerts"]["receivers"]
    table = dict(re.findall(r"^\| (critical|warning|info) \| ([^|]+) \|$", section, re.M))
    return receivers, {sev: sorted(x.strip() for x in names.split(",")) for sev, names in table.items()}


def test_critical_pages_and_warnings_go_to_chat_where_the_readme_says(tmp_path):
    receivers, expected = readme_example()
    assert set(expected) == {"critical", "warning"}
    for r in receivers:
        SECRETS.setdefault(r["name"], f"readme-secret-{r['name']}")
    path = write_config(tmp_path, rendered_config(monitoring_plan(receivers)))
    assert amtool("check-config", str(path)).returncode == 0
    for severity, names in expected.items():
        assert routed_to(path, alertname="GpuNodeNotReady", severity=severity, namespace="x") == names
    # Everything without a matching severity (Watchdog, info) goes to the null receiver.
    assert routed_to(path, alertname="Watchdog", severity="none") == ["null"]
    assert routed_to(path, alertname="Something", severity="info") == ["null"]
    # The test alert of `alerts test` reaches only the receiver it names.
    assert routed_to(path, alertname=TEST_ALERTNAME, **{TEST_RECEIVER_LABEL: "oncall"}, severity="critical") == ["oncall"]


def test_receiver_defaults_page_on_critical_only():
    alerts = AlertsArgs(receivers=[RECEIVERS[k] for k in sorted(RECEIVERS)])
    assert alerts.routes_to("critical") == ["mail", "oncall", "ops-slack", "hook"]
    assert sorted(alerts.routes_to("warning")) == ["hook", "ops-slack"]
    config = alertmanager_config(alerts)
    critical = [r for r in config["route"]["routes"] if r.get("matchers") == ['severity = "critical"']
                or r.get("matchers") == ['severity =~ "critical"']]
    assert critical and all(r["repeat_interval"] == "1h" for r in critical)
    assert config["route"]["repeat_interval"] == "4h" and config["route"]["group_wait"] == "30s"


@pytest.mark.parametrize("args, message", [
    ({"alerts": AlertsArgs(receivers=[RECEIVERS["pagerduty"]])}, r"alert_secrets: no secret for receiver\(s\) oncall"),
    ({"alert_secrets": {"x": "y"}}, "alert_secrets: x is not a receiver that takes a secret"),
    ({"alerts": AlertsArgs(receivers=[{"name": "null", "kind": "webhook", "url": "https://a.example"}])},
     "alerts.receivers: name.*null"),
    ({"alerts": AlertsArgs(receivers=[RECEIVERS["slack"]]), "alert_secrets": {"ops-slack": "s"}, "alertmanager": False},
     "alertmanager: is off while alerts.receivers are set"),
])
def test_bad_receiver_inputs_fail_before_anything_is_created(args, message):
    with pytest.raises(ValidationError, match=message):
        plan_of(lambda: Monitoring("ml-dev", MonitoringArgs(**args)))


@pytest.mark.parametrize("bad, field", [
    ({"name": "x", "kind": "webhook", "url": "http://plain.example"}, "url"),
    ({"name": "x", "kind": "email", "to": ["not-an-address"], "sender": "a@b.co", "smarthost": "h:25"}, "to"),
    ({"name": "x", "kind": "sms"}, "kind"),
    ({"name": "Bad_Name", "kind": "pagerduty"}, "name"),
])
def test_the_spec_refuses_bad_receivers(bad, field):
    from mlplatform.stacks.config.spec import SpecError, load_spec

    with pytest.raises(SpecError, match=rf"monitoring\.alerts\.receivers\.0.*{field}|{field}"):
        load_spec("growth", overrides={"monitoring": {"alerts": {"receivers": [bad]}}})


# -- the stack: every profile has Alertmanager; no receiver = warning + finding ----------------------
@pytest.mark.parametrize("profile", ["pragmatic", "growth", "full"])
def test_every_profile_runs_alertmanager_and_warns_without_a_receiver(profile, profile_plans):
    plan = profile_plans[profile]
    values = helm_values(plan, KPS)[0]["alertmanager"]
    assert values["enabled"] is True
    spec = values["alertmanagerSpec"]
    assert spec["resources"]["requests"] and spec["replicas"] >= 1
    warnings = [w for w in plan.warnings if w.startswith("monitoring.alerts: no receiver")]
    assert len(warnings) == 1 and "\n" not in warnings[0]


def test_check_reports_alerts_that_route_nowhere_high_on_growth(profile_plans):
    from mlplatform.stacks.analyses.policy import evaluate

    by_profile = {p: [f for f in evaluate(profile_plans[p]) if f.rule == "alerts-route-nowhere"]
                  for p in ("pragmatic", "growth", "full")}
    assert [f.severity for f in by_profile["pragmatic"]] == ["medium"]
    assert [f.severity for f in by_profile["growth"]] == ["high"] == [f.severity for f in by_profile["full"]]


def test_a_stack_with_receivers_has_no_finding_no_warning_and_no_secret_in_any_input():
    from mlplatform.stacks.analyses.policy import evaluate
    from mlplatform.stacks.config.spec import load_spec
    from mlplatform.stacks.plan.offline import run_offline
    from mlplatform.stacks.program import build

    receivers = [RECEIVERS["pagerduty"], RECEIVERS["slack"]]
    spec = load_spec("growth", overrides={"monitoring": {"alerts": {"receivers": receivers}}})
    config = {"mlplatform:alert_oncall": SECRETS["oncall"], "mlplatform:alert_ops_slack": SECRETS["ops-slack"]}
    plan = run_offline(lambda: build(spec, "dev"), region=spec.region, config=config, profile="growth")
    assert not [w for w in plan.warnings if "monitoring.alerts" in w]
    assert not [f for f in evaluate(plan) if f.rule == "alerts-route-nowhere"]
    text = json.dumps([r.inputs for r in plan.resources], default=str)
    assert SECRETS["oncall"] not in text and SECRETS["ops-slack"] not in text


def test_preview_and_up_refuse_an_unset_or_clear_receiver_secret():
    from mlplatform.stacks.cloud.secrets_check import check_deployable
    from mlplatform.stacks.config.spec import SpecError, load_spec

    spec = load_spec("growth", overrides={"runners": {"enabled": False},
                                          "monitoring": {"alerts": {"receivers": [RECEIVERS["pagerduty"]]}}})
    with pytest.raises(SpecError, match=r"^mlplatform:alert_oncall: not set: an alert receiver needs its secret"):
        check_deployable(spec, {})
    with pytest.raises(SpecError, match="stored in clear text"):
        check_deployable(spec, {"mlplatform:alert_oncall": "abc"})
    check_deployable(spec, {"mlplatform:alert_oncall": {"secure": "v1:abc"}})


# -- alerts test: a real Alertmanager on loopback, a webhook receiver that records what it gets -----------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.received.append({"auth": self.headers.get("Authorization"), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alerts_test_sends_through_a_real_alertmanager_to_the_named_receiver_only(tmp_path):
    from mlplatform.stacks.cloud.alerts import build_test_alerts, post_alerts

    binary = tool("prometheus-alertmanager")
    if not Path("/usr/share/prometheus/alertmanager/default.tmpl").is_file():
        pytest.skip("Debian's Alertmanager needs its templates in /usr/share/prometheus/alertmanager: run "
                    "`bash .ci/tools.sh` as root (CI does)")
    hook = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    alerts = AlertsArgs(group_wait="1s", receivers=[
        {"name": "hook", "kind": "webhook", "url": "https://hooks.example.com/a", "bearer_token": True},
        {"name": "other", "kind": "webhook", "url": "https://hooks.example.com/b"}])
    config = alertmanager_config(alerts)
    # The shipped configuration, with the endpoints moved to the loopback recorder and the secret path to tmp.
    token = tmp_path / "hook-token"
    token.write_text("TOKEN-123")
    for r in config["receivers"]:
        for w in r.get("webhook_configs", []):
            w["url"] = f"http://127.0.0.1:{hook.server_port}/{r['name']}"
            if "http_config" in w:
                w["http_config"]["authorization"]["credentials_file"] = str(token)
    path = write_config(tmp_path, config)
    port, cluster_port = free_port(), free_port()
    proc = subprocess.Popen([binary, f"--config.file={path}", f"--storage.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--cluster.listen-address=127.0.0.1:{cluster_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 20
        while True:
            try:
                post_alerts(url, build_test_alerts(alerts, "hook"))
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        deadline = time.time() + 20
        while not Recorder.received and time.time() < deadline:
            time.sleep(0.2)
        assert Recorder.received, "the webhook receiver got nothing"
        got = Recorder.received[0]
        assert got["body"]["receiver"] == "hook" and got["auth"] == "Bearer TOKEN-123"
        assert got["body"]["alerts"][0]["labels"][TEST_RECEIVER_LABEL] == "hook"
        time.sleep(1.5)
        assert all(r["body"]["receiver"] == "hook" for r in Recorder.received)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        hook.shutdown()


def test_alerts_test_without_kubectl_says_so_and_exits_1(monkeypatch, tmp_path):
    from mlplatform.stacks.cloud import alerts as mod

    target = mod.AlertmanagerTarget("monitoring", "x-alertmanager")
    with pytest.raises(mod.AlertsError, match=r"^kubectl: not on PATH: `alerts test` needs the stack's cluster") as e:
        with mod.port_forward(target, which=lambda _: None):
            pass
    assert e.value.exit_code == 1


def test_alerts_test_refuses_an_unknown_receiver_and_a_stack_without_receivers():
    from mlplatform.stacks.cloud.alerts import build_test_alerts
    from mlplatform.stacks.errors import SpecError, UsageError

    with pytest.raises(UsageError, match="--receiver: 'nope' is not a receiver"):
        build_test_alerts(AlertsArgs(receivers=[RECEIVERS["pagerduty"]]), "nope")
    with pytest.raises(SpecError, match="monitoring.alerts.receivers: is empty"):
        build_test_alerts(AlertsArgs(), None)


def test_the_cli_commands_are_registered_and_alerts_test_needs_a_project(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mlplatform.cli.main import cli

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["alerts", "test", "--receiver", "oncall"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1 and res.stderr.startswith("error: "), res.output
    assert CliRunner().invoke(cli, ["drift", "run", "--help"]).exit_code == 0

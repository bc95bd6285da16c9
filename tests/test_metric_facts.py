"""Every metric name a rule or dashboard of any profile queries is one a pinned exporter emits.

The names come from `stacks/data/metrics/<exporter>.json`, derived by `stacks/facts/metrics.py` from each
exporter's own source at the pinned version; recording-rule outputs count as emitted. With
`MLPLATFORM_METRIC_SOURCES=<git mirrors folder>:<wheels folder>` the derived files are also compared with
the live sources.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import promql_parser
import pytest

from conftest import PROFILES, helm_values
from mlplatform.components.dashboards import MODEL_METRICS
from mlplatform.stacks.facts import metrics as facts

RULE_TYPE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
# Grafana variables, replaced by plausible values before a dashboard query is parsed.
GRAFANA_VARS = {"$__range": "6h", "$__rate_interval": "1m", "$__interval": "1m"}
# The model-serving convention (components/dashboards.MODEL_METRICS) that an `image` runtime (a team's own
# server) is documented to emit. The pinned `mlflow` runtime emits some of them itself
# (stacks/data/metrics/mlplatform-runtime.json); the rest no pinned exporter emits and are allowed here,
# as the contract of a server we do not pin. `test_pending_names_are_not_yet_emitted` keeps the two apart.
CONVENTION = {
    f"{m}{s}" for m, (kind, _, _) in MODEL_METRICS.items() for s in (("_bucket", "_sum", "_count") if kind == "histogram" else ("",))
}
PENDING_SERVING_RUNTIMES = CONVENTION - set(facts.emitted_names())


def _vars(expr: str) -> str:
    for k, v in GRAFANA_VARS.items():
        expr = expr.replace(k, v)
    # Any other dashboard variable ($node, ${model}, ...) inside a label matcher becomes a regex.
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def names_in(expr: str) -> set[str]:
    found: set[str] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)
        if isinstance(node, promql_parser.MatrixSelector) and node.vector_selector.name:
            found.add(node.vector_selector.name)

    promql_parser.walk(promql_parser.parse(_vars(expr)), visit)
    return found


def _panels(board: dict):
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def metric_uses(plan) -> list[tuple[str, str]]:
    """(where, metric name) for every rule expression and dashboard query of the plan."""
    uses: list[tuple[str, str]] = []
    for r in plan.of_type(RULE_TYPE):
        for group in r.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                where = f"rule {rule.get('alert') or rule.get('record')} ({r.name})"
                uses += [(where, n) for n in names_in(rule["expr"])]
    for cm in plan.of_type("kubernetes:core/v1:ConfigMap"):
        for key, text in (cm.inputs.get("data") or {}).items():
            if not key.endswith(".json"):
                continue
            board = json.loads(text)
            for panel in _panels(board):
                for target in panel.get("targets", []):
                    if target.get("expr"):
                        where = f"dashboard {board.get('title')!r} panel {panel.get('title')!r}"
                        uses += [(where, n) for n in names_in(target["expr"])]
            for var in board.get("templating", {}).get("list", []):
                query = var.get("query")
                text_ = query.get("query") if isinstance(query, dict) else query
                m = re.match(r"label_values\((\w+)", text_ or "")
                if m:
                    uses.append((f"dashboard {board.get('title')!r} variable {var.get('name')!r}", m.group(1)))
    return uses


def recorded(plan) -> set[str]:
    return {rule["record"] for r in plan.of_type(RULE_TYPE) for g in r.inputs["spec"]["groups"] for rule in g["rules"]
            if "record" in rule}


def unknown_metrics(plan, allowed: set[str] = frozenset()) -> list[str]:
    """'<where>: <name> is emitted by no pinned exporter' for each offending use."""
    emitted = set(facts.emitted_names()) | recorded(plan) | set(allowed)
    return sorted({f"{where}: {name} is emitted by no pinned exporter" for where, name in metric_uses(plan)
                   if name not in emitted})


@pytest.mark.parametrize("profile", PROFILES)
def test_every_rule_and_dashboard_uses_only_emitted_metrics(profile, profile_plans):
    plan = profile_plans[profile]
    uses = metric_uses(plan)
    assert len(uses) > 50 and any(w.startswith("rule ") for w, _ in uses)
    assert unknown_metrics(plan, PENDING_SERVING_RUNTIMES) == []


def test_a_panel_with_a_made_up_name_fails_naming_the_panel(profile_plans):
    plan = profile_plans["pragmatic"]
    board = {"title": "Broken", "panels": [{"title": "Made up", "targets": [{"expr": "sum(rate(flask_http_request_total[5m]))"}]}]}
    rule = {"groups": [{"name": "g", "rules": [{"alert": "Nope", "expr": "mlflow_requests_served_total > 0"},
                                                {"record": "job:up:sum", "expr": "sum(up)"},
                                                {"alert": "UsesRecorded", "expr": "job:up:sum < 1"}]}]}
    fake = SimpleNamespace(name="fake")
    extra = [SimpleNamespace(type="kubernetes:core/v1:ConfigMap", name="broken", inputs={"data": {"b.json": json.dumps(board)}}),
             SimpleNamespace(type=RULE_TYPE, name="broken-rules", inputs={"spec": rule})]
    del fake
    broken = SimpleNamespace(of_type=lambda t: plan.of_type(t) + [r for r in extra if r.type == t])
    assert unknown_metrics(broken, PENDING_SERVING_RUNTIMES) == [
        "dashboard 'Broken' panel 'Made up': flask_http_request_total is emitted by no pinned exporter",
        "rule Nope (broken-rules): mlflow_requests_served_total is emitted by no pinned exporter",
    ]


def test_pending_names_are_not_yet_emitted():
    """Only the convention names no pinned exporter emits are let through; once every one is emitted the
    exception goes (this fails then, saying so)."""
    assert PENDING_SERVING_RUNTIMES, "every model-serving convention name is emitted now: drop PENDING_SERVING_RUNTIMES"
    assert not PENDING_SERVING_RUNTIMES & set(facts.emitted_names())
    assert CONVENTION & set(facts.emitted_names()) == {"model_prediction_value_bucket", "model_prediction_value_count",
                                                      "model_prediction_value_sum"}


def test_mlflow_panels_and_alert_use_its_real_exporter_and_the_release_enables_it(profile_plans):
    plan = profile_plans["growth"]
    uses = metric_uses(plan)
    mlflow = {n for w, n in uses if "MLflow" in w or "MlflowDown" in w}
    assert {"mlflow_http_request_total", "mlflow_http_request_duration_seconds_bucket", "up"} <= mlflow
    assert not any(n.startswith("flask_") for _, n in uses)
    emitted = facts.load_all()["mlflow"]["metrics"]
    assert emitted["mlflow_http_request_total"]["labels"] == ["method", "status"]  # the 5xx panel reads `status`
    values = helm_values(plan, "mlflow")[0]
    release = next(r for r in plan.of_type("kubernetes:helm.sh/v3:Release")
                   if r.inputs.get("chart", "").endswith("kube-prometheus-stack"))
    # mlflow chart 1.11.5: serviceMonitor.enabled passes --expose-prometheus and creates the ServiceMonitor.
    assert values["serviceMonitor"]["enabled"] is True and values["serviceMonitor"]["useServicePort"] is True
    assert values["serviceMonitor"]["labels"] == {"release": release.inputs["name"]}


def test_every_facts_file_has_the_documented_shape():
    docs = facts.load_all()
    assert {"dcgm-exporter", "kube-state-metrics", "kubelet", "cadvisor", "arc-listener", "mlflow", "prometheus"} <= set(docs)
    for name, doc in docs.items():
        assert set(doc) == {"exporter", "version", "source", "metrics"} and doc["exporter"] == name
        assert doc["metrics"] and all(set(m) == {"type", "labels"} for m in doc["metrics"].values()), name
        assert re.match(r"^\S+@\S+ \S+|^pypi:|^https://|^mlplatform \S+", doc["source"]), name


def test_dcgm_facts_are_the_counters_the_plan_mounts(profile_plans):
    csv = helm_values(profile_plans["growth"], "dcgm-exporter")[0]["customMetrics"]
    mounted = {line.split(",")[0].strip() for line in csv.splitlines() if line.strip()}
    assert mounted == set(facts.load_all()["dcgm-exporter"]["metrics"])


SOURCES = os.environ.get("MLPLATFORM_METRIC_SOURCES")


@pytest.mark.skipif(not SOURCES, reason="set MLPLATFORM_METRIC_SOURCES=<git mirrors>:<wheels> to compare with the sources")
def test_the_facts_are_what_the_script_derives_from_the_sources():
    mirror, wheels = (Path(p) for p in SOURCES.split(":", 1))
    derived = facts.derive(mirror, wheels)
    committed = facts.load_all()
    assert {k: committed[k] for k in derived} == derived


def test_parsers_read_the_upstream_shapes():
    ksm = "| kube_node_status_condition | Gauge | The condition | `node`=&lt;node&gt; <br> `condition`=&lt;c&gt; | STABLE |"
    assert facts.parse_ksm_markdown(ksm) == {"kube_node_status_condition": {"type": "gauge", "labels": ["condition", "node"]}}
    exporter = 'GunicornInternalPrometheusMetrics(app, defaults_prefix="mlflow", group_by=mlflow_version)'
    flask = ("self.info(\n '%sexporter_info' % prefix, 'x', version=1)\n"
             "Counter(\n '%shttp_request_total' % prefix, 'Total', counter_labels)")
    assert facts.parse_flask_exporter(exporter, flask) == {
        "mlflow_exporter_info": {"type": "gauge", "labels": ["version"]},
        "mlflow_http_request_total": {"type": "counter", "labels": ["method", "status"]}}


def test_prometheus_report_parser_keeps_only_the_series_every_scrape_writes():
    text = '''
var (
	scrapeHealthMetric = reportSample{
		name: []byte("up" + "\\xff"),
		Metadata: metadata.Metadata{Type: model.MetricTypeGauge, Help: "h"},
	}
	scrapeTimeoutMetric = reportSample{
		name: []byte("scrape_timeout_seconds" + "\\xff"),
		Metadata: metadata.Metadata{Type: model.MetricTypeGauge, Help: "h"},
	}
)
func (sl *scrapeLoop) report(app scrapeLoopAppendAdapter) (err error) {
	if err = app.addReportSample(scrapeHealthMetric, ts, health, b, false); err != nil {
	}
	if sl.reportExtraMetrics {
		if err = app.addReportSample(scrapeTimeoutMetric, ts, t, b, false); err != nil {
'''
    assert facts.parse_prometheus_report(text) == {"up": {"type": "gauge", "labels": ["instance", "job"]}}
    with pytest.raises(facts.SourceMissing, match="no longer defines"):
        facts.parse_prometheus_report(text.replace("func (sl *scrapeLoop) report(", "func report("))
    with pytest.raises(facts.SourceMissing, match="does not know"):
        facts.parse_prometheus_report(text.replace("addReportSample(scrapeHealthMetric", "addReportSample(otherMetric"))

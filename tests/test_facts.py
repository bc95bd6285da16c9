"""The facts derived from ../shared (stacks/data/chart-*, crds-*, prices-*) and what `check` does with them.

The derived files must equal what the scripts in stacks/facts/ make from `shared/` (beside the
repository, or $MLPLATFORM_SHARED); without it those comparisons skip and say so. Everything else
reads only the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.components.versions import HELM_CHARTS
from mlplatform.stacks.config import chart_facts
from mlplatform.stacks.config.chart_facts import check_values, custom_resource_errors, structural_to_jsonschema
from mlplatform.stacks.facts import charts as chart_script
from mlplatform.stacks.facts import prices as price_script

ROOT = Path(__file__).resolve().parents[1]
SHARED = chart_script.shared_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None or not (SHARED / "charts").is_dir(),
    reason="no shared/ beside the repository (set MLPLATFORM_SHARED=/path/to/shared to compare the derived facts)")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- the derived files ---------------------------------------------------------------------------------
@needs_shared
def test_chart_facts_are_what_the_script_derives_from_shared():
    files = chart_script.derived_files(SHARED)
    assert {p.name for p in files} >= {f"chart-{c}.json" for c in HELM_CHARTS}
    for path, text in files.items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m mlplatform.stacks.facts.charts"
    shipped = {p.name for pattern in ("chart-*.json", "crds-*.json") for p in chart_script.DATA.glob(pattern)}
    assert shipped == {p.name for p in files}, "a facts file for a chart that is no longer pinned"


@needs_shared
def test_price_files_are_what_the_script_derives_from_shared():
    for path, text in price_script.derived_files(SHARED).items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m mlplatform.stacks.facts.prices"


def test_every_pinned_chart_has_facts_and_they_carry_no_prose():
    for chart, (version, _) in HELM_CHARTS.items():
        facts = chart_facts.chart_facts(chart)
        assert facts["chart"] == chart and facts["version"] == version
    for path in list(chart_script.DATA.glob("crds-*.json")) + list(chart_script.DATA.glob("chart-*.json")):
        data = json.loads(path.read_text())

        def walk(node, in_properties=False):
            if isinstance(node, dict):
                for k, v in node.items():
                    if not in_properties and path.name.startswith("crds-"):
                        assert k not in ("description", "example", "x-kubernetes-validations"), path.name
                    walk(v, in_properties=(k == "properties"))
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(data.get("crds") or data.get("values_schema") or {})


def test_the_pinned_charts_crds_are_all_there():
    kinds = {(api, kind) for _, api, kind in chart_facts.installed_kinds()}
    assert {("karpenter.sh/v1", "NodePool"), ("karpenter.k8s.aws/v1", "EC2NodeClass"),
            ("monitoring.coreos.com/v1", "PodMonitor"), ("monitoring.coreos.com/v1", "ServiceMonitor"),
            ("monitoring.coreos.com/v1", "PrometheusRule"), ("argoproj.io/v1alpha1", "CronWorkflow"),
            ("actions.github.com/v1alpha1", "AutoscalingRunnerSet"), ("argoproj.io/v1alpha1", "Rollout"),
            ("argoproj.io/v1alpha1", "AnalysisTemplate"), ("argoproj.io/v1alpha1", "ClusterAnalysisTemplate")} <= kinds
    # kueue ships its CRDs as templates; the facts come from crds/plain (v1beta2 stored, v1beta1 served).
    assert {("kueue.x-k8s.io/v1beta2", k) for k in ("ClusterQueue", "LocalQueue", "ResourceFlavor", "Cohort",
                                                    "WorkloadPriorityClass", "Workload")} <= kinds
    assert {("trainer.kubeflow.org/v1alpha1", "TrainJob"), ("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime"),
            ("jobset.x-k8s.io/v1alpha2", "JobSet")} <= kinds


def test_argo_rollouts_crds_come_from_the_plain_manifests_and_refuse_unknown_fields():
    facts = json.loads((chart_script.DATA / "crds-argo-rollouts.json").read_text())
    assert facts["derived_from"].endswith("crds/plain by python -m mlplatform.stacks.facts.charts")
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "m"},
               "spec": {"strategy": {"canary": {"pingPong": {"pingService": "a", "pongService": "b"},
                                                "dynamicStableScal": True}}}}
    (problem,) = custom_resource_errors(rollout)
    assert "dynamicStableScal" in problem and "dynamicStableScale" in problem  # did you mean


def test_values_yaml_keys_documented_only_as_comments_are_known(tmp_path):
    text = ("replicas: 1\n# maxRunners: 5\nresources: {}\n#  limits:\n#    cpu: 1\n"
            "secret:\n  token: ''\n# secret: name-of-a-secret\n")
    tree = chart_script.values_keys(text)
    assert tree["maxRunners"] == {"type": "integer", "commented": True}
    assert tree["resources"]["free_form"] is True
    assert tree["secret"]["alt_types"] == ["string"]  # the other shape the chart documents


# -- Helm values ---------------------------------------------------------------------------------------
def test_a_misspelt_value_is_named_with_the_closest_key():
    report = check_values("kube-prometheus-stack", {"alertmanagerr": {}, "prometheus": {"prometheusSpec": {
        "retention": "7d", "retentionSize": "5GB", "replicas": "two"}}})
    assert report.unknown == ["alertmanagerr"] and report.suggestions == {"alertmanagerr": "alertmanager"}
    assert report.mismatched == ["prometheus.prometheusSpec.replicas: is a string, the chart's default is a number"]


def test_free_form_keys_stop_the_check_and_say_where():
    report = check_values("karpenter", {"nodeSelector": {"a/b": "c"}, "podAnnotations": {"x": "y"}})
    assert report.ok and report.stopped_at == ["nodeSelector", "podAnnotations"]


def test_values_schema_of_the_chart_is_applied_to_the_merged_values():
    assert chart_facts.schema_errors("mlflow", {}) == []
    (problem,) = chart_facts.schema_errors("mlflow", {"replicaCount": "two"})
    assert problem == "replicaCount: 'two' is not of type 'integer'"
    assert chart_facts.schema_errors("karpenter", {"replicas": "two"}) == []  # the chart ships no schema


# -- custom resources ----------------------------------------------------------------------------------
def test_structural_schema_translation():
    s = structural_to_jsonschema({"type": "object", "properties": {
        "metadata": {"type": "object"},
        "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "opt": {"type": "string", "nullable": True},
        "map": {"type": "object", "additionalProperties": {"type": "string"}}}})
    assert s["additionalProperties"] is False and s["properties"]["metadata"] == {"type": "object"}
    assert s["properties"]["port"] == {"type": ["integer", "string"]}
    assert "additionalProperties" not in s["properties"]["free"]
    assert s["properties"]["opt"]["type"] == ["string", "null"]
    assert s["properties"]["map"]["additionalProperties"] == {"type": "string"}


NODE_POOL = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "gpu"}, "spec": {
    "template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                          "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In",
                                            "values": ["spot"]}]}},
    "limits": {"nvidia.com/gpu": 8, "cpu": "64"},
    "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"}}}


def test_a_node_pool_fits_the_real_crd_and_unknown_fields_are_refused():
    assert custom_resource_errors(NODE_POOL) == []  # limits are int-or-string quantities
    bad = json.loads(json.dumps(NODE_POOL))
    bad["spec"]["disruption"]["consolidationPolicy"] = "Sometimes"
    bad["spec"]["weigth"] = 10
    assert custom_resource_errors(bad) == [
        "spec: unknown field 'weigth' (did you mean 'weight'?); it takes disruption, limits, replicas, template, "
        "weight",
        "spec.disruption.consolidationPolicy: 'Sometimes' is not one of "
        "['WhenEmpty', 'WhenEmptyOrUnderutilized', 'Balanced']",
    ]
    assert custom_resource_errors({"apiVersion": "example.com/v1", "kind": "Thing"}) is None  # no pinned CRD


# -- mlplatform check ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_growth(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    receiver = "--set=monitoring.alerts.receivers=[{name: oncall, kind: pagerduty}]"  # growth refuses alerts to nobody
    assert run("plan", "-p", "growth", receiver, "--json", "--out", str(path)).exit_code == 0
    return path


def test_check_passes_the_profiles_plan_against_the_facts(saved_growth):
    res = run("check", "--plan", str(saved_growth), "--no-scanners", "--json")
    assert res.exit_code == 0, res.stdout
    data = json.loads(res.stdout)
    assert not {f["rule"] for f in data["findings"]} & {"helm-values", "custom-resource-schema"}
    # where the Helm values check stopped: sub-chart values and free-form maps, named per release
    assert {"grafana", "kube-state-metrics"} <= set(data["helm_values_unchecked"]["ml-dev-monitoring"])
    assert "template" in data["helm_values_unchecked"]["ml-dev-cpu"]


def test_check_reports_a_misspelt_helm_value_and_a_node_pool_field(saved_growth, tmp_path):
    data = json.loads(saved_growth.read_text())
    for r in data["resources"]:
        if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["chart"] == "kube-prometheus-stack":
            r["inputs"]["values"]["prometheus"]["prometheusSpec"]["retentionn"] = "7d"
        if r["type"] == "kubernetes:karpenter.sh/v1:NodePool" and r["inputs"]["metadata"]["name"] == "gpu-1x":
            r["inputs"]["spec"]["template"]["spec"]["nodeClassReff"] = {}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    sarif = tmp_path / "check.sarif"
    res = run("check", "--plan", str(bad), "--no-scanners", "--json", "--sarif", str(sarif))
    assert res.exit_code == 3
    found = {(f["rule"], f["name"], f["severity"]): f["message"] for f in json.loads(res.stdout)["findings"]
             if f["rule"] in ("helm-values", "custom-resource-schema")}
    assert found == {
        ("helm-values", "ml-dev-monitoring", "high"):
            "kube-prometheus-stack 88.5.3 has no value prometheus.prometheusSpec.retentionn "
            "(did you mean prometheus.prometheusSpec.retention?)",
        ("custom-resource-schema", "ml-dev-gpu-1x-nodepool", "high"):
            "NodePool gpu-1x: spec.template.spec: unknown field 'nodeClassReff' (did you mean 'nodeClassRef'?); "
            "it takes expireAfter, nodeClassRef, requirements, startupTaints, taints, terminationGracePeriod "
            "(CRD of karpenter 1.14.1)",
    }
    rule_ids = {r["ruleId"] for run_ in json.loads(sarif.read_text())["runs"] for r in run_["results"]}
    assert {"helm-values", "custom-resource-schema"} <= rule_ids


def test_a_helm_values_finding_can_be_waived():
    from mlplatform.stacks.config.spec import Waiver

    assert Waiver(rule="helm-values", resource="ml-dev-monitoring", reason="checked by hand").rule == "helm-values"


def test_tests_read_nothing_outside_the_repository():
    """A user's clone has no ../shared: only these comparisons (and the scripts) may look there."""
    for path in (ROOT / "tests").glob("*.py"):
        if path.name == "test_facts.py":
            continue
        text = path.read_text()
        assert '/ "shared"' not in text and "/work/shared" not in text and "parents[2]" not in text, path.name

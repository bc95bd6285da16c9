"""Monitoring: kube-prometheus-stack (bundled or adopted), dcgm-exporter, rules, monitors, dashboards."""

from __future__ import annotations

import json
import re

import promql_parser
import pytest

from chartcheck import chart_values, check_values, custom_resource_errors, known_paths
from conftest import assert_valid_k8s, helm_values, k8s_objects, one, plan_of
from mlplatform.components._common import GPU_LABEL, GPU_TAINT, SYSTEM_NODE_SELECTOR, ValidationError
from mlplatform.components.dashboards import MODEL_METRICS
from mlplatform.components.monitoring import (HARDWARE_XIDS, ExistingMonitoring, Monitoring, MonitoringArgs,
                                              grafana_service)
from mlplatform.stacks.facts.metrics import emitted_names
from mlplatform.stacks.plan.mocks import _hex
from mlplatform.stacks.plan.offline import SECRET

KPS, DCGM = "kube-prometheus-stack", "dcgm-exporter"
RULE_TYPE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
POD_MONITOR_TYPE = "kubernetes:monitoring.coreos.com/v1:PodMonitor"

# Metrics the pinned exporters emit: derived from each exporter's source (stacks/facts/metrics.py,
# tests/test_metric_facts.py checks every profile); the serving runtimes' facts come with the serving branch.
EMITTED = set(emitted_names())
MODEL = {f"{m}{suffix}" for m, (kind, _, _) in MODEL_METRICS.items()
         for suffix in (("_bucket", "_sum", "_count") if kind == "histogram" else ("",))}
# Grafana variables, replaced by plausible values before a dashboard query is parsed.
GRAFANA_VARS = {"$__range": "6h", "$__rate_interval": "1m", "$node": ".*", "$namespace": ".*", "$model": ".*",
                "$usd_per_gpu_hour": "0.8"}


def bundled(**kw) -> Monitoring:
    return Monitoring("ml-dev", MonitoringArgs(**kw))


def adopted(**kw) -> Monitoring:
    return Monitoring("ml-dev", MonitoringArgs(existing=ExistingMonitoring(namespace="observability", release="kps", **kw)))


@pytest.fixture(scope="module")
def full_plan():
    return plan_of(lambda: bundled(retention_days=30, storage_gib=200, prometheus_replicas=2, alertmanager=True))


@pytest.fixture(scope="module")
def adopted_plan():
    return plan_of(adopted)


def dcgm_metrics(plan) -> set[str]:
    """The metric names dcgm-exporter is configured to export (its customMetrics CSV)."""
    csv = helm_values(plan, DCGM)[0]["customMetrics"]
    return {line.split(",")[0].strip() for line in csv.splitlines() if line.strip() and not line.startswith("#")}


def metrics_in(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
    promql_parser.walk(promql_parser.parse(expr), visit)
    assert None not in names, f"selector without a metric name in {expr}"
    return names


def rules_of(plan) -> list[dict]:
    return [rule for group in one(plan, RULE_TYPE).inputs["spec"]["groups"] for rule in group["rules"]]


def dashboards_of(plan) -> dict[str, dict]:
    out = {}
    for cm in plan.of_type("kubernetes:core/v1:ConfigMap"):
        (key, text), = cm.inputs["data"].items()
        out[key] = json.loads(text)
    return out


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    for t in tolerations:
        if t.get("key") != taint["key"] or t.get("effect", taint["effect"]) != taint["effect"]:
            continue
        if t.get("operator") == "Exists" or t.get("value") == taint["value"]:
            return True
    return False


def affinity_matches(affinity: dict, node_labels: dict[str, str]) -> bool:
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    def term_ok(term):
        for e in term["matchExpressions"]:
            if e["operator"] == "In" and node_labels.get(e["key"]) not in e["values"]:
                return False
            if e["operator"] == "Exists" and e["key"] not in node_labels:
                return False
        return True
    return any(term_ok(t) for t in terms)


# -- dcgm-exporter ---------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["full_plan", "adopted_plan"])
def test_exporter_tolerates_the_gpu_taint_and_only_targets_gpu_nodes(request, which):
    values = helm_values(request.getfixturevalue(which), DCGM)[0]
    assert tolerates(values["tolerations"], GPU_TAINT)
    # Only the GPU taint: the chart's default control-plane toleration is replaced.
    assert len(values["tolerations"]) == 1
    assert affinity_matches(values["affinity"], {GPU_LABEL: "true", "mlplatform.io/pool": "gpu-1x"})
    assert not affinity_matches(values["affinity"], dict(SYSTEM_NODE_SELECTOR))
    assert not affinity_matches(values["affinity"], {GPU_LABEL: "false"})


def test_exporter_keeps_least_privilege_explicit(full_plan):
    values = helm_values(full_plan, DCGM)[0]
    assert values["hostNetwork"] is False and values["hostPID"] is False
    sc = values["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"add": ["SYS_ADMIN"], "drop": ["ALL"]}


def test_exporter_servicemonitor_labels_workload_and_node(full_plan):
    relabel = helm_values(full_plan, DCGM)[0]["serviceMonitor"]["relabelings"]
    assert {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"} in relabel
    drop = [r for r in relabel if r["action"] == "labeldrop"]
    assert drop and all(re.fullmatch(drop[0]["regex"], label) for label in ("pod", "namespace", "container"))


# -- selectors: what the stack's Prometheus picks up --------------------------------------------
def test_monitors_and_rules_carry_the_bundled_release_label(full_plan):
    release = one(full_plan, "kubernetes:helm.sh/v3:Release", "ml-dev-monitoring").inputs["name"]
    assert release == "ml-dev-monitoring"
    # The chart's Prometheus selects by `release: <release name>` when the selectors are left nil.
    spec = helm_values(full_plan, KPS)[0]["prometheus"]["prometheusSpec"]
    defaults = chart_values(KPS)["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is True and f"{kind}Selector" not in spec
        assert defaults[f"{kind}Selector"] == {}
    assert helm_values(full_plan, DCGM)[0]["serviceMonitor"]["additionalLabels"] == {"release": release}
    assert helm_values(full_plan, DCGM)[0]["serviceMonitor"]["enabled"] is True
    for r in full_plan.of_type(RULE_TYPE) + full_plan.of_type(POD_MONITOR_TYPE):
        assert r.inputs["metadata"]["labels"]["release"] == release
        assert r.inputs["metadata"]["namespace"] == "monitoring"


def test_monitors_and_rules_carry_the_adopted_release_label(adopted_plan):
    # Nothing of the adopted stack is installed or replaced.
    assert not helm_values(adopted_plan, KPS)
    for t in ("kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret", "kubernetes:storage.k8s.io/v1:StorageClass",
              "random:index/randomPassword:RandomPassword"):
        assert not adopted_plan.of_type(t), t
    dcgm = one(adopted_plan, "kubernetes:helm.sh/v3:Release")
    assert dcgm.inputs["namespace"] == "observability" and dcgm.inputs["createNamespace"] is False
    assert helm_values(adopted_plan, DCGM)[0]["serviceMonitor"]["additionalLabels"] == {"release": "kps"}
    monitors = adopted_plan.of_type(RULE_TYPE) + adopted_plan.of_type(POD_MONITOR_TYPE)
    assert len(monitors) == 3
    for r in monitors:
        assert r.inputs["metadata"]["labels"]["release"] == "kps"
        assert r.inputs["metadata"]["namespace"] == "observability"


def test_model_and_runner_pod_monitors(full_plan):
    pods = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in full_plan.of_type(POD_MONITOR_TYPE)}
    assert pods["mlplatform-model-metrics"]["selector"]["matchLabels"] == {"mlplatform.io/model-metrics": "true"}
    assert pods["mlplatform-model-metrics"]["namespaceSelector"] == {"any": True}
    arc = pods["mlplatform-arc-listeners"]
    assert arc["namespaceSelector"] == {"matchNames": ["arc-systems"]}
    assert arc["selector"]["matchLabels"] == {"app.kubernetes.io/component": "runner-scale-set-listener"}
    assert arc["podMetricsEndpoints"][0]["port"] == "metrics"


def test_no_runner_monitor_or_alert_without_runners():
    plan = plan_of(lambda: bundled(runner_controller_namespace=None))
    assert [r.inputs["metadata"]["name"] for r in plan.of_type(POD_MONITOR_TYPE)] == ["mlplatform-model-metrics"]
    assert "RunnerScaleSetStuckAtMax" not in {r["alert"] for r in rules_of(plan)}


# -- alert rules ---------------------------------------------------------------------------------
PROM_DURATION = r"0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?"
EXPECTED_ALERTS = {"GpuAllocatedButIdle", "GpuMemoryNearlyFull", "GpuXidHardwareError", "GpuXidError",
                   "GpuNodeNotReady", "MlflowDown", "PrometheusStorageFilling", "RunnerScaleSetStuckAtMax", "ModelDrift"}


@pytest.mark.parametrize("which", ["full_plan", "adopted_plan"])
def test_alerts_parse_and_use_only_exported_metrics(request, which):
    plan = request.getfixturevalue(which)
    exported = EMITTED
    rules = rules_of(plan)
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    for rule in rules:
        used = metrics_in(rule["expr"])  # parses, or raises
        assert used <= exported, f"{rule['alert']} uses {used - exported}"
        if "for" in rule:  # the CRD's duration pattern, and a real duration
            assert re.fullmatch(PROM_DURATION, rule["for"]) and promql_parser.parse_duration(rule["for"])


def test_gpu_alerts_use_dcgm_metrics_the_exporter_is_configured_for(full_plan):
    dcgm = dcgm_metrics(full_plan)
    by_name = {r["alert"]: r for r in rules_of(full_plan)}
    for alert in ("GpuAllocatedButIdle", "GpuMemoryNearlyFull", "GpuXidHardwareError", "GpuXidError"):
        assert metrics_in(by_name[alert]["expr"]) <= dcgm
    idle = by_name["GpuAllocatedButIdle"]
    assert "< 10" in idle["expr"] and 'pod!=""' in idle["expr"] and idle["for"] == "30m"
    assert all(f"== {code}" in by_name["GpuXidHardwareError"]["expr"] for code in HARDWARE_XIDS)
    assert "nvidia_com_gpu" in by_name["GpuNodeNotReady"]["expr"]


def test_every_rule_has_summary_runbook_and_severity(full_plan):
    rule = one(full_plan, RULE_TYPE)
    groups = rule.inputs["spec"]["groups"]
    alerts = [r["alert"] for g in groups for r in g["rules"]]
    assert len(alerts) == len(set(alerts))
    for r in rules_of(full_plan):
        assert r["labels"]["severity"] in ("critical", "warning", "info")
        assert r["annotations"]["summary"] and r["annotations"]["runbook"]
        # Go templates in annotations must be balanced.
        for text in r["annotations"].values():
            assert text.count("{{") == text.count("}}")


def test_prometheus_rule_and_pod_monitor_fit_the_real_crds(full_plan, adopted_plan):
    """The PrometheusRule / PodMonitor objects against kube-prometheus-stack's own CRDs (monitoring.coreos.com/v1)."""
    for plan in (full_plan, adopted_plan):
        objects = [r.inputs for r in plan.of_type(RULE_TYPE) + plan.of_type(POD_MONITOR_TYPE)]
        assert objects
        for m in objects:
            assert custom_resource_errors(m) == [], m["metadata"]["name"]
        for r in plan.of_type(RULE_TYPE):
            names = [g["name"] for g in r.inputs["spec"]["groups"]]
            assert len(names) == len(set(names))  # the operator refuses a rule file with a group twice
    broken = json.loads(json.dumps(full_plan.of_type(POD_MONITOR_TYPE)[0].inputs))
    broken["spec"]["podMetricsEndpoints"][0]["intervall"] = "30s"
    (problem,) = custom_resource_errors(broken)
    assert problem.startswith("spec.podMetricsEndpoints.0: unknown field 'intervall' (did you mean 'interval'?)")


# -- the bundled stack -----------------------------------------------------------------------------
# Keys of the grafana and kube-state-metrics sub-charts that kube-prometheus-stack's own values.yaml does
# not list; they are passed through to those charts (reported below as free-form stops).
SUBCHART_ONLY = {("grafana", "nodeSelector"), ("kube-state-metrics", "nodeSelector"), ("grafana", "resources"),
                 ("grafana", "sidecar", "resources"), ("kube-state-metrics", "resources"),
                 ("prometheus-node-exporter", "resources")}


def test_helm_values_exist_in_the_pinned_charts(full_plan, adopted_plan):
    values = helm_values(full_plan, KPS)[0]
    report = check_values(KPS, values, free_form=("grafana", "kube-state-metrics", "prometheus-node-exporter"))
    assert report.unknown == []
    assert {"grafana", "kube-state-metrics"} <= set(report.stopped_at)  # free-form: reported, not checked
    # Everything but the sub-chart-only keys is checked key by key, grafana's admin and sidecar keys too.
    strict = json.loads(json.dumps(values))
    for *parents, key in SUBCHART_ONLY:
        node = strict
        for k in parents:
            node = node[k]
        del node[key]
    assert check_values(KPS, strict).unknown == []
    assert ("grafana", "admin", "existingSecret") in known_paths(KPS)
    for plan in (full_plan, adopted_plan):
        assert check_values(DCGM, helm_values(plan, DCGM)[0]).unknown == []


def test_the_stack_runs_on_system_nodes(full_plan):
    v = helm_values(full_plan, KPS)[0]
    selectors = [v["prometheus"]["prometheusSpec"]["nodeSelector"], v["alertmanager"]["alertmanagerSpec"]["nodeSelector"],
                 v["prometheusOperator"]["nodeSelector"], v["prometheusOperator"]["admissionWebhooks"]["patch"]["nodeSelector"],
                 v["grafana"]["nodeSelector"], v["kube-state-metrics"]["nodeSelector"]]
    assert all(s == SYSTEM_NODE_SELECTOR for s in selectors)


def test_profile_sizes_reach_the_chart(full_plan):
    v = helm_values(full_plan, KPS)[0]
    spec = v["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d" and spec["replicas"] == 2
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3-encrypted" and claim["resources"]["requests"]["storage"] == "200Gi"
    assert spec["retentionSize"] == f"{int(200 * 1024 * 0.8)}MB"  # below the volume, so it never fills
    assert v["alertmanager"]["enabled"] is True and v["alertmanager"]["alertmanagerSpec"]["replicas"] == 2
    # EKS hides its control plane: no monitors or rules that could only report it down.
    assert v["kubeControllerManager"]["enabled"] is False and v["kubeScheduler"]["enabled"] is False
    assert v["kubeEtcd"]["enabled"] is False and v["defaultRules"]["rules"]["etcd"] is False


def test_encrypted_gp3_storage_class(full_plan):
    sc = one(full_plan, "kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert sc["metadata"]["name"] == "gp3-encrypted" and sc["provisioner"] == "ebs.csi.aws.com"
    assert sc["parameters"]["type"] == "gp3" and sc["parameters"]["encrypted"] == "true"
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer" and sc["allowVolumeExpansion"] is True
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "false"
    release = one(full_plan, "kubernetes:helm.sh/v3:Release", "ml-dev-monitoring")
    assert any(d.endswith("StorageClass::ml-dev-gp3-encrypted") for d in release.depends_on)


def test_without_a_volume_nothing_is_stored_or_watched():
    plan = plan_of(lambda: bundled(storage_gib=0, alertmanager=False))
    v = helm_values(plan, KPS)[0]
    assert "storageSpec" not in v["prometheus"]["prometheusSpec"] and "retentionSize" not in v["prometheus"]["prometheusSpec"]
    assert v["alertmanager"]["enabled"] is False
    assert not plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert "PrometheusStorageFilling" not in {r["alert"] for r in rules_of(plan)}


def test_an_existing_storage_class_is_used_not_created():
    plan = plan_of(lambda: bundled(storage_gib=50, storage_class="io2-encrypted"))
    claim = helm_values(plan, KPS)[0]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "io2-encrypted"
    assert not plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")


def test_grafana_password_is_a_secret_never_in_clear(full_plan):
    password = (_hex("pw" + "ml-dev-grafana-admin", 64) * 2)[:32]  # what the mock's RandomPassword returns
    assert password not in full_plan.to_json()
    secret = one(full_plan, "kubernetes:core/v1:Secret").inputs
    assert secret["stringData"] == SECRET and secret["type"] == "Opaque"
    admin = helm_values(full_plan, KPS)[0]["grafana"]["admin"]
    assert admin == {"existingSecret": secret["metadata"]["name"], "userKey": "admin-user", "passwordKey": "admin-password"}
    assert "adminPassword" not in json.dumps(helm_values(full_plan, KPS)[0])
    assert one(full_plan, "random:index/randomPassword:RandomPassword").inputs["length"] >= 32
    release = one(full_plan, "kubernetes:helm.sh/v3:Release", "ml-dev-monitoring")
    assert any(d.endswith("Secret::ml-dev-grafana-admin") for d in release.depends_on)


def test_kubernetes_objects_validate(full_plan, adopted_plan):
    for plan in (full_plan, adopted_plan):
        for manifest in k8s_objects(plan):
            if manifest["kind"] == "Secret":  # the plan masks all of stringData: validate its shape
                assert manifest["stringData"] == SECRET
                manifest = {**manifest, "stringData": {"admin-user": "masked", "admin-password": "masked"}}
            if manifest["kind"] in ("ConfigMap", "Secret", "Namespace"):
                assert_valid_k8s(manifest)
        for sc in plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
            assert_valid_k8s(dict(sc.inputs))


def test_namespace_allows_the_exporters_it_runs(full_plan):
    labels = one(full_plan, "kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"  # node-exporter, dcgm-exporter: host access
    assert labels["pod-security.kubernetes.io/audit"] == "baseline"


# -- dashboards ----------------------------------------------------------------------------------
def test_dashboards_carry_the_sidecar_label_from_the_chart(full_plan, adopted_plan):
    sidecar = chart_values(KPS)["grafana"]["sidecar"]["dashboards"]
    for cm in full_plan.of_type("kubernetes:core/v1:ConfigMap"):
        assert cm.inputs["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
    assert helm_values(full_plan, KPS)[0]["grafana"]["sidecar"]["dashboards"]["label"] == sidecar["label"]
    plan = plan_of(lambda: adopted(dashboard_label="dashboards", dashboard_label_value="yes"))
    for cm in plan.of_type("kubernetes:core/v1:ConfigMap"):
        assert cm.inputs["metadata"]["labels"]["dashboards"] == "yes"
        assert cm.inputs["metadata"]["namespace"] == "observability"
    assert len(adopted_plan.of_type("kubernetes:core/v1:ConfigMap")) == 5


def test_dashboards_load_with_unique_ids_a_datasource_variable_and_valid_queries(full_plan):
    boards = dashboards_of(full_plan)
    assert {b["uid"] for b in boards.values()} == {"mlplatform-gpu", "mlplatform-gpu-cost", "mlplatform-training",
                                                   "mlplatform-mlflow", "mlplatform-model-serving"}
    known = EMITTED | MODEL
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and 0 not in ids, name
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        queries = 0
        for panel in board["panels"]:
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            for target in panel["targets"]:
                expr = target["expr"]
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                assert "$" not in expr, (name, expr)
                assert metrics_in(expr) <= known, (name, panel["title"], metrics_in(expr) - known)
                queries += 1
        assert queries >= 8, name


def test_gpu_dashboard_covers_node_and_pod(full_plan):
    exprs = [t["expr"] for p in dashboards_of(full_plan)["mlplatform-gpu.json"]["panels"] for t in p.get("targets", [])]
    for metric in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE"):
        assert any(metric in e and "by (namespace, pod)" in e for e in exprs), metric  # per pod
        assert any(e.startswith(metric + '{node=~"$node"}') for e in exprs), metric  # per node and GPU


def test_cost_dashboard_compares_billed_and_busy_gpu_hours():
    plan = plan_of(lambda: bundled(gpu_hour_usd=0.8048))
    board = dashboards_of(plan)["mlplatform-gpu-cost.json"]
    titles = {p["title"]: p for p in board["panels"]}
    assert "kube_node_status_capacity" in titles["Billed GPU-hours"]["targets"][0]["expr"]
    assert "DCGM_FI_DEV_GPU_UTIL >= 10" in titles["Busy GPU-hours"]["targets"][0]["expr"]
    assert "$usd_per_gpu_hour" in titles["Cost of idle GPU-hours"]["targets"][0]["expr"]
    price = {v["name"]: v for v in board["templating"]["list"]}["usd_per_gpu_hour"]
    assert price["query"] == "0.8048"
    # Without a price: GPU-hours only, no dollars invented.
    plain = dashboards_of(plan_of(bundled))["mlplatform-gpu-cost.json"]
    assert "currencyUSD" not in json.dumps(plain) and "usd_per_gpu_hour" not in json.dumps(plain)


def test_model_serving_dashboard_uses_the_conventional_metrics(full_plan):
    text = json.dumps(dashboards_of(full_plan)["mlplatform-model-serving.json"])
    for metric in ("model_requests_total", "model_request_duration_seconds_bucket", "model_prediction_value_bucket",
                   "model_predictions_total"):
        assert metric in text
    assert '"heatmap"' in text and "histogram_quantile" in text


# -- outputs -------------------------------------------------------------------------------------
def test_grafana_url():
    seen = {}

    def program():
        seen["bundled"] = bundled()
        seen["adopted"] = Monitoring("ml-b", MonitoringArgs(existing=ExistingMonitoring(namespace="observability",
                                                                                      release="kps")))
        seen["url"] = Monitoring("ml-c", MonitoringArgs(existing=ExistingMonitoring(
            namespace="observability", release="prom", grafana_url="https://grafana.example.com")))
    plan_of(program)
    assert seen["bundled"].grafana_url.startswith("kubectl -n monitoring port-forward svc/ml-dev-monitoring-grafana 3000:80")
    assert "http://localhost:3000" in seen["bundled"].grafana_url
    assert "kubectl -n observability port-forward svc/kps-grafana 3000:80" in seen["adopted"].grafana_url
    assert seen["url"].grafana_url == "https://grafana.example.com"
    assert seen["adopted"].grafana_admin_password is None
    assert seen["bundled"].scrape_labels == {"release": "ml-dev-monitoring"}
    assert grafana_service("my-grafana") == "my-grafana"


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, args, message", [
    ("ML_dev", {}, "name: 'ML_dev' cannot prefix Helm release names; use lowercase"),
    ("ml-" + "x" * 40, {}, "at most 39 characters"),
    ("ml", dict(namespace="Monitoring"), "namespace: 'Monitoring' is not a Kubernetes namespace name;"),
    ("ml", dict(retention_days=0), "retention_days: input should be greater than or equal to 1; use a value >= 1"),
    ("ml", dict(retention_days=366), "retention_days: input should be less than or equal to 365; use a value <= 365"),
    ("ml", dict(storage_gib=-1), "storage_gib: input should be greater than or equal to 0; use a value >= 0"),
    ("ml", dict(prometheus_replicas=0), "prometheus_replicas: input should be greater than or equal to 1"),
    ("ml", dict(prometheus_replicas=11), "prometheus_replicas: input should be less than or equal to 10"),
    ("ml", dict(storage_class="GP3"), "storage_class: 'GP3' is not a StorageClass name"),
    ("ml", dict(mlflow_namespace="ml flow"), "mlflow_namespace: 'ml flow' is not a Kubernetes namespace"),
    ("ml", dict(runner_controller_namespace=""), "runner_controller_namespace: '' is not a Kubernetes"),
    ("ml", dict(gpu_hour_usd=0), "gpu_hour_usd: input should be greater than 0; use a value > 0"),
    ("ml", dict(existing=dict(namespace="obs", release="Kube_Prom")),
     "existing.release: 'Kube_Prom' is not a Helm release name; pass the name shown by `helm list"),
    ("ml", dict(existing=dict(namespace="", release="kps")), "existing.namespace: ''"),
    ("ml", dict(existing=dict(namespace="obs", release="kps", grafana_url="grafana.local")),
     "existing.grafana_url: 'grafana.local' is not a URL"),
    ("ml", dict(existing=dict(namespace="obs", release="kps", dashboard_label="a b")),
     "existing.dashboard_label: 'a b' is not a label key"),
    ("ml", dict(existing=dict(namespace="obs", release="kps", dashboard_label_value="-x")),
     "existing.dashboard_label_value: '-x' is not a label value"),
])
def test_validation_errors(name, args, message):
    # Bounds are refused as MonitoringArgs is built (components/args/monitoring.py, the spec's own types).
    with pytest.raises(ValidationError) as err:
        plan_of(lambda: Monitoring(name, MonitoringArgs(**args)))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bundled_only_fields_are_ignored_when_adopting():
    # A profile's sizes are always passed; adopting must not trip over them.
    # (The sizes are still checked: the stack passes a profile's, which are in range.)
    plan = plan_of(lambda: Monitoring("ml", MonitoringArgs(retention_days=30, namespace="Bad", existing=ExistingMonitoring(
        namespace="obs", release="kps"))))
    assert not helm_values(plan, KPS) and helm_values(plan, DCGM)


# -- in the stack --------------------------------------------------------------------------------
def test_every_profile_wires_monitoring():
    from mlplatform.stacks.config.profiles import components_of
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import load_spec

    spec = load_spec("growth")
    p = plan(spec)
    v = helm_values(p, KPS)[0]
    assert v["prometheus"]["prometheusSpec"]["retention"] == "15d" and v["alertmanager"]["enabled"] is True
    assert p.outputs["grafana_url"].startswith("kubectl -n monitoring port-forward")
    assert p.outputs["grafana_admin_password"] == SECRET
    release = one(p, "kubernetes:helm.sh/v3:Release", "ml-dev-monitoring")
    provider = [r for r in p.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider and release.inputs["namespace"] == "monitoring"
    assert "Monitoring" in components_of(spec)
    adopted_spec = load_spec("pragmatic", sets=["monitoring.existing.namespace=obs", "monitoring.existing.release=kps"])
    assert "Monitoring (adopted)" in components_of(adopted_spec)

"""Every alert rule the stack ships has a `promtool test rules` case (the real promtool): it fires on the
series its summary describes, with the labels and annotations Alertmanager will get, and stays quiet on a
near miss. The rule files are generated from the plan's PrometheusRule objects: what ships is tested.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import PROFILES
from realtools import tool

RULE_TYPE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
GPU = {"gpu": "0", "UUID": "GPU-1", "node": "ip-10-0-1-5", "Hostname": "ip-10-0-1-5", "modelName": "NVIDIA L4",
       "namespace": "team-a", "pod": "train-7f9", "container": "trainer"}

DRIFT = {"job": "mlplatform-drift", "model": "churn", "digest": "sha256:" + "ab" * 32}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


# alert -> (fires: input series, eval time, the alert's labels without severity, its $value),
#          (near misses: list of (what, input series, eval time))
CASES: dict[str, dict] = {
    "GpuAllocatedButIdle": {
        "fires": ([series("DCGM_FI_DEV_GPU_UTIL", GPU, "5x40")], "35m", GPU, 5),
        "quiet": [("12% busy", [series("DCGM_FI_DEV_GPU_UTIL", GPU, "12x40")], "35m"),
                  ("idle but held by no pod", [series("DCGM_FI_DEV_GPU_UTIL", {**GPU, "pod": ""}, "0x40")], "35m"),
                  ("idle for 25 minutes only", [series("DCGM_FI_DEV_GPU_UTIL", GPU, "60x10 5x30")], "35m")],
    },
    "GpuMemoryNearlyFull": {
        "fires": ([series("DCGM_FI_DEV_FB_USED", GPU, "23000x20"), series("DCGM_FI_DEV_FB_FREE", GPU, "500x20")],
                  "18m", GPU, None),
        "quiet": [("94 % used", [series("DCGM_FI_DEV_FB_USED", GPU, "21620x20"),
                                 series("DCGM_FI_DEV_FB_FREE", GPU, "1380x20")], "18m")],
    },
    "GpuXidHardwareError": {
        "fires": ([series("DCGM_FI_DEV_XID_ERRORS", GPU, "79x5")], "2m", GPU, 79),
        "quiet": [("application XID 13", [series("DCGM_FI_DEV_XID_ERRORS", GPU, "13x5")], "2m")],
    },
    "GpuXidError": {
        "fires": ([series("DCGM_FI_DEV_XID_ERRORS", GPU, "13x5")], "2m", GPU, 13),
        "quiet": [("no XID", [series("DCGM_FI_DEV_XID_ERRORS", GPU, "0x5")], "2m"),
                  ("hardware XID 79 (its own alert)", [series("DCGM_FI_DEV_XID_ERRORS", GPU, "79x5")], "2m")],
    },
    "GpuNodeNotReady": {
        "fires": ([series("kube_node_status_condition", {"node": "gpu-1", "condition": "Ready", "status": "true"}, "0x15"),
                   series("kube_node_status_capacity", {"node": "gpu-1", "resource": "nvidia_com_gpu", "unit": "integer"},
                          "1x15")],
                  "12m", {"node": "gpu-1", "condition": "Ready", "status": "true"}, 0),
        "quiet": [("a NotReady node without GPUs",
                   [series("kube_node_status_condition", {"node": "cpu-1", "condition": "Ready", "status": "true"}, "0x15"),
                    series("kube_node_status_capacity", {"node": "cpu-1", "resource": "nvidia_com_gpu", "unit": "integer"},
                           "0x15")], "12m"),
                  ("NotReady for 8 minutes",
                   [series("kube_node_status_condition", {"node": "gpu-1", "condition": "Ready", "status": "true"}, "1x6 0x8"),
                    series("kube_node_status_capacity", {"node": "gpu-1", "resource": "nvidia_com_gpu", "unit": "integer"},
                           "1x15")], "14m")],
    },
    "MlflowDown": {
        "fires": ([series("kube_deployment_status_replicas_available", {"namespace": "mlflow", "deployment": "mlflow"}, "0x10")],
                  "7m", {"namespace": "mlflow"}, 0),
        "quiet": [("one replica available, scraped",
                   [series("kube_deployment_status_replicas_available", {"namespace": "mlflow", "deployment": "mlflow"}, "1x10"),
                    series("up", {"namespace": "mlflow", "job": "mlflow", "instance": "10.0.1.7:5000"}, "1x10")], "7m")],
        "fires_too": [("the exporter down while the pod looks available",
                       [series("kube_deployment_status_replicas_available", {"namespace": "mlflow", "deployment": "mlflow"}, "1x10"),
                        series("up", {"namespace": "mlflow", "job": "mlflow", "instance": "10.0.1.7:5000"}, "0x10")], "7m")],
    },
    "PrometheusStorageFilling": {
        "fires": ([series("kubelet_volume_stats_available_bytes", {"namespace": "monitoring", "persistentvolumeclaim": "prometheus-db-0"}, "5x20"),
                   series("kubelet_volume_stats_capacity_bytes", {"namespace": "monitoring", "persistentvolumeclaim": "prometheus-db-0"}, "100x20")],
                  "18m", {"namespace": "monitoring", "persistentvolumeclaim": "prometheus-db-0"}, 0.05),
        "quiet": [("11 % free", [series("kubelet_volume_stats_available_bytes", {"namespace": "monitoring", "persistentvolumeclaim": "prometheus-db-0"}, "11x20"),
                                 series("kubelet_volume_stats_capacity_bytes", {"namespace": "monitoring", "persistentvolumeclaim": "prometheus-db-0"}, "100x20")], "18m")],
    },
    "RunnerScaleSetStuckAtMax": {
        "fires": ([series("gha_desired_runners", {"name": "gpu"}, "4x40"), series("gha_max_runners", {"name": "gpu"}, "4x40"),
                   series("gha_assigned_jobs", {"name": "gpu"}, "7x40"), series("gha_running_jobs", {"name": "gpu"}, "4x40")],
                  "35m", {"name": "gpu"}, 4),
        "quiet": [("below its maximum", [series("gha_desired_runners", {"name": "gpu"}, "3x40"),
                                         series("gha_max_runners", {"name": "gpu"}, "4x40"),
                                         series("gha_assigned_jobs", {"name": "gpu"}, "7x40"),
                                         series("gha_running_jobs", {"name": "gpu"}, "4x40")], "35m"),
                  ("at its maximum, nothing waiting", [series("gha_desired_runners", {"name": "gpu"}, "4x40"),
                                                       series("gha_max_runners", {"name": "gpu"}, "4x40"),
                                                       series("gha_assigned_jobs", {"name": "gpu"}, "4x40"),
                                                       series("gha_running_jobs", {"name": "gpu"}, "4x40")], "35m")],
    },
    "ModelDrift": {
        "fires": ([series("mlplatform_model_drift_score", DRIFT, "0.6x10"),
                   series("mlplatform_model_drift_threshold", DRIFT, "0.5x10")], "5m",
                  {"model": DRIFT["model"], "digest": DRIFT["digest"]}, 0.6),  # one-to-one `on`: those labels
        "quiet": [("score under the threshold", [series("mlplatform_model_drift_score", DRIFT, "0.4x10"),
                                                 series("mlplatform_model_drift_threshold", DRIFT, "0.5x10")], "5m")],
    },
}


def shipped_rules(plan) -> dict[str, list[dict]]:
    """file name -> the groups of each PrometheusRule of the plan (what the operator loads)."""
    return {f"{r.name}.rules.yaml": r.inputs["spec"]["groups"] for r in plan.of_type(RULE_TYPE)}


def alerts_of(plan) -> dict[str, dict]:
    return {rule["alert"]: rule for groups in shipped_rules(plan).values() for g in groups for rule in g["rules"]
            if "alert" in rule}


def _go_value(value: float) -> str:
    """Go's %v of a float64 (how Prometheus prints {{ $value }})."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def expand(template: str, labels: dict[str, str], value: float | None) -> str:
    out = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)
    if value is not None:
        out = out.replace("{{ $value }}", _go_value(value))
    assert "{{" not in out, f"template not covered by the test: {template}"
    return out


def promtool_file(tmp_path: Path, plan, tests: list[dict]) -> Path:
    files = []
    for name, groups in shipped_rules(plan).items():
        (tmp_path / name).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        files.append(name)
    test = tmp_path / "rules.test.yaml"
    test.write_text(yaml.safe_dump({"rule_files": files, "evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    return test


def run_promtool(test: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), "test", "rules", test.name], cwd=test.parent, capture_output=True,
                          text=True, timeout=120)


def cases_for(plan) -> list[dict]:
    tests = []
    for alert, rule in alerts_of(plan).items():
        case = CASES[alert]
        inputs, at, labels, value = case["fires"]
        exp_labels = {**labels, **rule["labels"]}
        exp = {"exp_labels": exp_labels,
               "exp_annotations": {k: expand(v, exp_labels, value) for k, v in rule["annotations"].items()}}
        tests.append({"name": f"{alert} fires", "interval": "1m", "input_series": inputs,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": [exp]}]})
        for what, inputs, at in case["quiet"]:
            tests.append({"name": f"{alert} quiet: {what}", "interval": "1m", "input_series": inputs,
                          "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}]})
    return tests


@pytest.mark.parametrize("profile", PROFILES)
def test_every_alert_fires_on_its_summary_and_stays_quiet_on_a_near_miss(profile, profile_plans, tmp_path):
    plan = profile_plans[profile]
    alerts = alerts_of(plan)
    assert alerts and set(alerts) <= set(CASES), f"no promtool case for {set(alerts) - set(CASES)}"
    check = subprocess.run([tool("promtool"), "check", "rules", *shipped_rules(plan)], cwd=promtool_file(
        tmp_path, plan, []).parent, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    test = promtool_file(tmp_path, plan, cases_for(plan))
    res = run_promtool(test)
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


def test_mlflow_down_also_fires_when_only_the_exporter_is_down(profile_plans, tmp_path):
    plan = profile_plans["growth"]
    rule = alerts_of(plan)["MlflowDown"]
    (what, inputs, at), = CASES["MlflowDown"]["fires_too"]
    labels = {"namespace": "mlflow", **rule["labels"]}
    exp = {"exp_labels": labels, "exp_annotations": {k: expand(v, labels, 0) for k, v in rule["annotations"].items()}}
    test = promtool_file(tmp_path, plan, [{"name": what, "interval": "1m", "input_series": inputs,
                                           "alert_rule_test": [{"eval_time": at, "alertname": "MlflowDown",
                                                                "exp_alerts": [exp]}]}])
    res = run_promtool(test)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_wrong_expectation_fails_promtool(profile_plans, tmp_path):
    """The harness can fail: a near miss expected to fire is reported by promtool."""
    plan = profile_plans["growth"]
    what, inputs, at = CASES["GpuAllocatedButIdle"]["quiet"][0]
    test = promtool_file(tmp_path, plan, [{"name": "wrong", "interval": "1m", "input_series": inputs,
                                           "alert_rule_test": [{"eval_time": at, "alertname": "GpuAllocatedButIdle",
                                                                "exp_alerts": [{"exp_labels": {"severity": "warning"}}]}]}])
    res = run_promtool(test)
    assert res.returncode != 0 and "FAILED" in res.stdout + res.stderr

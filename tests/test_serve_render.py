"""`mlplatform serve render`: a release + serving.models -> Rollout, Services, Ingress, PodMonitor, PDB.

Every custom resource validates against the pinned CRDs, every core object passes kubernetes-validate,
the Rollout holds what the argo-rollouts v1.9.0 validation (pkg/apis/rollouts/validation) and ALB
reconciler (rollout/trafficrouting/alb) need, and the observer resolves the pods it would run."""

from __future__ import annotations

import copy

import pytest
import yaml
from click.testing import CliRunner

from conftest import assert_valid_k8s
from mlplatform.cli.main import cli
from mlplatform.components.conventions import ENVIRONMENT_LABEL, MODEL_DIGEST_ANNOTATION, MODEL_LABEL
from mlplatform.components.serving.analysis import POD_TARGET_LABELS, template_name
from mlplatform.stacks.project.serving_check import pod_problems, rendered, serving_findings
from mlplatform.stacks.config.chart_facts import custom_resource_errors
from mlplatform.stacks.config.spec import load_spec
from mlplatform.stacks.errors import SpecError
from mlplatform.stacks.evidence import observer
from mlplatform.stacks.project.promotion import release_yaml
from mlplatform.stacks.project.serving import Release, read_release_file, render, to_yaml

DIGEST = "sha256:" + "b" * 64
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/models"
RELEASE = Release("churn", "4", DIGEST, f"{REPO}@{DIGEST}")
MODELS = ["serving.models.churn.model_metric=true", "serving.models.llm.runtime=vllm", "serving.models.llm.gpu=1",
          "serving.models.own.runtime=image", "serving.models.own.port=9000"]


def objects(profile="growth", release=RELEASE, env="production", sets=()):
    spec = load_spec(profile, sets=[*MODELS, *sets])
    return {o["kind"] + ("/" + o["metadata"]["name"] if o["kind"] == "Service" else ""): o
            for o in render(spec, "dev", release, [env])[env]}


def write_release(root, model="churn", version=4, digest=DIGEST, reference=None):
    path = root / "models" / model / "release.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(release_yaml(model=model, version=version, digest=digest, reference=reference or f"{REPO}@{digest}",
                                 run_id="r1", run_url="https://github.com/o/r/actions/runs/1", mlflow_url="http://m",
                                 metric="auc", greater_is_better=True, candidate_metrics={"auc": 0.9}, production=None,
                                 evidence=[], commit="abc1234", created="2026-12-07T10:00:00Z"))
    return path


@pytest.mark.parametrize("model", ["churn", "llm", "own"])
def test_every_object_validates(model):
    rel = Release(model, "4", DIGEST, f"{REPO}@{DIGEST}")
    for env in ("staging", "production"):
        for o in objects(release=rel, env=env).values():
            errors = custom_resource_errors(o)
            if errors is None:  # a core object
                assert_valid_k8s(o)
            else:
                assert errors == [], (o["kind"], errors)
        assert o["metadata"]["namespace"] == f"serving-{env}"


def test_the_rollout_is_an_alb_canary_with_ping_pong_and_analyses():
    objs = objects()
    canary = objs["Rollout"]["spec"]["strategy"]["canary"]
    assert canary["pingPong"] == {"pingService": "churn-ping", "pongService": "churn-pong"}
    assert canary["trafficRouting"] == {"alb": {"ingress": "churn", "rootService": "churn", "servicePort": 80}}
    assert "dynamicStableScale" not in canary and "stableService" not in canary and "canaryService" not in canary
    steps = canary["steps"]
    assert [s.get("setWeight") for s in steps] == [10, None, 50, None, 100]
    analysis = steps[1]["analysis"]
    assert [t["templateName"] for t in analysis["templates"]] == [
        template_name("mlflow", j) for j in ("error-share", "latency-p95", "model-metric")]
    assert {"name": "model", "value": "churn"} in analysis["args"]
    assert {"name": "environment", "value": "production"} in analysis["args"]
    assert objs["Rollout"]["spec"]["progressDeadlineAbort"] is True


def test_the_ingress_is_internal_and_routes_the_root_service_by_annotation():
    ing = objects()["Ingress"]
    assert ing["spec"]["ingressClassName"] == "alb"
    assert ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] == "ip"
    (path,) = ing["spec"]["rules"][0]["http"]["paths"]
    assert path["backend"]["service"] == {"name": "churn", "port": {"name": "use-annotation"}}


def test_services_select_the_model_never_a_revision():
    objs = objects()
    for name in ("churn", "churn-ping", "churn-pong"):
        selector = objs[f"Service/{name}"]["spec"]["selector"]
        assert selector[MODEL_LABEL] == "churn" and selector[ENVIRONMENT_LABEL] == "production"
        assert "rollouts-pod-template-hash" not in selector  # Argo Rollouts adds it to ping/pong itself


def test_the_model_is_pinned_by_digest_and_the_observer_resolves_the_pod():
    rollout = objects()["Rollout"]
    template = rollout["spec"]["template"]
    (init,) = template["spec"]["initContainers"]
    assert init["image"] == f"{REPO}@{DIGEST}"
    assert template["metadata"]["labels"][MODEL_LABEL] == "churn"
    assert template["metadata"]["annotations"][MODEL_DIGEST_ANNOTATION] == DIGEST
    pod = {"metadata": copy.deepcopy(template["metadata"]) | {"namespace": "serving-production", "name": "churn-abc"},
           "spec": template["spec"], "status": {"phase": "Running"}}
    (seen,) = observer.seen_pods({"items": [pod]})
    assert (seen.model, seen.environment, seen.digest, seen.source) == ("churn", "production", DIGEST, "annotation")


def test_the_pod_monitor_copies_the_labels_the_analysis_selects():
    pm = objects()["PodMonitor"]
    assert pm["spec"]["podTargetLabels"] == list(POD_TARGET_LABELS)
    assert pm["metadata"]["labels"]["release"] == "ml-dev-monitoring"
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_runtimes_place_and_run_their_pods():
    llm = objects(release=Release("llm", "1", DIGEST, f"{REPO}@{DIGEST}"))["Rollout"]["spec"]["template"]["spec"]
    assert llm["nodeSelector"]["mlplatform.io/pool"] == "gpu-1x"
    assert llm["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert llm["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    own = objects(release=Release("own", "2", DIGEST, f"{REPO}@{DIGEST}"))["Rollout"]["spec"]["template"]["spec"]
    assert own["containers"][0]["image"] == f"{REPO}@{DIGEST}" and "initContainers" not in own
    assert own["containers"][0]["ports"][0]["containerPort"] == 9000
    from mlplatform.components.versions import SERVING_MLSERVER_TAG

    server = objects()["Rollout"]["spec"]["template"]["spec"]["containers"][0]
    # the platform's MLServer image from the stack's images repository, starting on the copied modelcar tree
    assert server["image"] == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/images:{SERVING_MLSERVER_TAG}"
    assert server["command"] == ["mlserver", "start", "/mnt/models"]
    churn = objects("pragmatic")["Rollout"]["spec"]["template"]["spec"]
    assert churn["nodeSelector"]["mlplatform.io/pool"] == "system" and "tolerations" not in churn


def test_rendered_pods_meet_the_restricted_level_and_check_says_when_not():
    spec = load_spec("growth", sets=MODELS)
    for where, objs in rendered(spec, "dev").items():
        (rollout,) = [o for o in objs if o["kind"] == "Rollout"]
        assert pod_problems(rollout["spec"]["template"]["spec"]) == [], where
    bad = copy.deepcopy(rollout["spec"]["template"]["spec"])
    bad["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    del bad["containers"][0]["resources"]["requests"]
    problems = [p for p, _ in pod_problems(bad)]
    assert any("privilege escalation" in p for p in problems) and any("request" in p for p in problems)
    from mlplatform.stacks.program import plan

    assert serving_findings(spec, "dev", plan(spec)) == []


def test_same_input_same_bytes():
    spec = load_spec("growth", sets=MODELS)
    assert to_yaml(render(spec, "dev", RELEASE)["staging"]) == to_yaml(render(spec, "dev", RELEASE)["staging"])
    assert "&id" not in to_yaml(render(spec, "dev", RELEASE)["staging"])


def test_release_files_are_read_and_checked(tmp_path):
    write_release(tmp_path)
    assert read_release_file("churn", tmp_path) == RELEASE
    write_release(tmp_path, reference=f"{REPO}@sha256:{'c' * 64}")
    with pytest.raises(SpecError, match="does not pin"):
        read_release_file("churn", tmp_path)
    with pytest.raises(SpecError, match="no release of 'gone'"):
        read_release_file("gone", tmp_path)
    with pytest.raises(SpecError) as e:
        render(load_spec("pragmatic"), "dev", RELEASE)
    assert e.value.key == "serving.models.churn"


def test_cli_renders_for_kubectl_and_refuses_in_one_line(tmp_path):
    write_release(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["serve", "render", "--profile", "growth", "--releases", str(tmp_path),
                                 "--set", "serving.models.churn.replicas=2", "--environment", "staging"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Stack dev")
    docs = [d for d in yaml.safe_load_all(result.output) if d]
    assert [d["kind"] for d in docs] == ["Service", "Service", "Service", "Ingress", "PodMonitor",
                                         "PodDisruptionBudget", "Rollout"]
    out = tmp_path / "out"
    out.mkdir()
    args = ["serve", "render", "--profile", "growth", "--releases", str(tmp_path), "--set",
            "serving.models.churn.replicas=2", "--out", str(out)]
    assert runner.invoke(cli, args).exit_code == 0
    assert (out / "production" / "churn.yaml").is_file() and (out / "staging" / "churn.yaml").is_file()
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and "--force" in again.output
    missing = runner.invoke(cli, ["serve", "render", "--releases", str(tmp_path)])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1
    unknown = runner.invoke(cli, ["serve", "render", "--model", "churn", "--releases", str(tmp_path)])
    assert unknown.exit_code == 1 and "serving.models.churn" in unknown.output


def test_a_models_analysis_bounds_reach_its_rollout_and_bad_ones_are_refused_in_one_line():
    bounds = ["serving.models.churn.analysis.max_error_share=0.05",
              "serving.models.churn.analysis.max_latency_p95_seconds=1.5",
              "serving.models.churn.analysis.max_prediction_shift=0.00001"]  # fmt: skip
    rollout = objects(sets=bounds)["Rollout"]
    assert custom_resource_errors(rollout) == []
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    for step in (steps[1], steps[3]):
        args = {a["name"]: a.get("value") for a in step["analysis"]["args"]}
        # plain decimals: the templates' conditions compare with them in Argo Rollouts' expr
        assert (args["max-error-share"], args["max-latency-p95-seconds"], args["max-prediction-shift"]) == (
            "0.05", "1.5", "0.00001")
    # Unset: no argument, the template's default holds.
    assert "max-error-share" not in {a["name"] for a in objects()["Rollout"]["spec"]["strategy"]["canary"]["steps"][1]
                                     ["analysis"]["args"]}  # fmt: skip
    for bad, key, fix in [
        ("serving.models.churn.analysis.max_error_share=1", "serving.models.churn.analysis.max_error_share", "< 1"),
        ("serving.models.churn.analysis.max_latency_p95_seconds=0", "analysis.max_latency_p95_seconds", "> 0"),
        ("serving.models.own.analysis.max_ttft_p95_seconds=2", "serving.models.own.analysis.max_ttft_p95_seconds",
         "remove it"),
        ("serving.models.own.analysis.max_prediction_shift=0.3", "serving.models.own.analysis.max_prediction_shift",
         "set model_metric: true"),
    ]:  # fmt: skip
        with pytest.raises(SpecError) as e:
            load_spec("growth", sets=[*MODELS, bad])
        assert e.value.key.endswith(key) and fix in str(e.value) and "\n" not in str(e.value), bad

"""The canary's ClusterAnalysisTemplates: valid against the pinned Argo Rollouts CRDs, conditions that
make "no data yet" inconclusive, the expr subset checked against argo-rollouts' own test examples.
(The queries against a real Prometheus scraping a real model server: test_serving_runtime.py.)"""

from __future__ import annotations

import math
import re

import promql_parser
import pytest
from argo_expr import (
    ERROR,
    FAILED,
    INCONCLUSIVE,
    SUCCESSFUL,
    ArgsError,
    ExprError,
    analysis_run_args,
    eval_condition,
    evaluate_result,
    resolve_args,
    template_args,
)

from mlplatform.components._common import ValidationError
from mlplatform.components.serving import analysis
from mlplatform.stacks.config.chart_facts import crd_for, custom_resource_errors

PROM = "http://kube-prometheus-stack-prometheus.monitoring:9090"


@pytest.fixture(scope="module")
def templates():
    return analysis.cluster_analysis_templates(PROM)


def test_every_runtime_has_each_judge(templates):
    names = {t["metadata"]["name"] for t in templates}
    assert names == {f"mlplatform-{r}-{j}" for r in analysis.RUNTIMES for j in analysis.JUDGES}
    assert analysis.RUNTIMES == ("mlflow", "vllm", "image")


def test_templates_validate_against_the_pinned_crd(templates):
    assert crd_for("argoproj.io/v1alpha1", "ClusterAnalysisTemplate")[0] == "argo-rollouts"
    for t in templates:
        assert custom_resource_errors(t) == [], t["metadata"]["name"]
    # The check is not vacuous: a misspelt field is refused.
    bad = {**templates[0], "spec": {**templates[0]["spec"], "metrics": [{**templates[0]["spec"]["metrics"][0]}]}}
    bad["spec"]["metrics"][0]["inconclusiveLimt"] = 1
    assert any("inconclusiveLimt" in e for e in custom_resource_errors(bad))


def test_queries_parse_once_arguments_are_resolved(templates):
    for t in templates:
        args = template_args(
            t,
            {
                "namespace": "models",
                "model": "churn",
                "environment": "production",
                "canary-hash": "abc",
                "stable-hash": "def",
            },
        )
        query = resolve_args(t["spec"]["metrics"][0]["provider"]["prometheus"]["query"], args)
        promql_parser.parse(query)  # raises on a syntax error
        for label in analysis.SERIES_LABELS.values():
            assert label in query
        assert 'rollouts_pod_template_hash="abc"' in query


def test_rollout_step_references():
    refs = analysis.analysis_templates_for("mlflow", model_metric=False)
    assert refs == [
        {"templateName": "mlplatform-mlflow-error-share", "clusterScope": True},
        {"templateName": "mlplatform-mlflow-latency-p95", "clusterScope": True},
    ]
    assert len(analysis.analysis_templates_for("vllm", model_metric=True)) == 3
    args = {a["name"]: a for a in analysis.analysis_args("mlflow", "churn", "staging")}
    assert args["canary-hash"]["valueFrom"] == {"podTemplateHashValue": "Latest"}
    assert args["stable-hash"]["valueFrom"] == {"podTemplateHashValue": "Stable"}
    assert args["model"]["value"] == "churn" and args["environment"]["value"] == "staging"
    # Every argument a template needs without a default is one the Rollout passes.
    for runtime in analysis.RUNTIMES:
        given = {a["name"] for a in analysis.analysis_args(runtime, "m", "production")}
        for t in analysis.cluster_analysis_templates(PROM):
            if t["metadata"]["labels"]["mlplatform.io/runtime"] == runtime:
                needed = {a["name"] for a in t["spec"]["args"] if "value" not in a}
                assert needed <= given, t["metadata"]["name"]


def _step(runtime: str, model_metric: bool, bounds: dict[str, str] | None = None) -> dict[str, str]:
    """The AnalysisRun arguments Argo Rollouts makes of one rendered analysis step."""
    by_name = {t["metadata"]["name"]: t for t in analysis.cluster_analysis_templates(PROM)}
    refs = analysis.analysis_templates_for(runtime, model_metric)
    return analysis_run_args(
        [by_name[r["templateName"]] for r in refs], analysis.analysis_args(runtime, "m", "e", bounds)
    )


@pytest.mark.parametrize("runtime", analysis.RUNTIMES)
@pytest.mark.parametrize("model_metric", [False, True])
def test_argo_rollouts_can_start_every_analysis_step(runtime, model_metric):
    # The templates of one step must not give one argument two defaults: Argo Rollouts then refuses the step.
    args = _step(runtime, model_metric)
    assert args["canary-hash"] == {"podTemplateHashValue": "Latest"}
    defaults = analysis.VLLM_DEFAULTS if runtime == "vllm" else analysis.DEFAULTS
    assert args["max-error-share"] == defaults["error-share"]["max-error-share"]
    # A model's bounds replace the defaults of the same name, and only those.
    bound = "max-ttft-p95-seconds" if runtime == "vllm" else "max-prediction-shift"
    bounds = {"max-error-share": "0.05", "max-latency-p95-seconds": "1.5", **({bound: "0.3"} if model_metric else {})}
    args = _step(runtime, model_metric, bounds)
    assert {k: args[k] for k in bounds} == bounds
    assert args["min-requests"] == "20"


def test_the_flatten_check_is_not_vacuous():
    t = analysis.cluster_analysis_templates(PROM)[0]
    other = {**t, "spec": {**t["spec"], "args": [{**a, "value": "9m"} if a["name"] == "window" else a
                                                 for a in t["spec"]["args"]]}}  # fmt: skip
    with pytest.raises(ArgsError, match="`window` specified multiple times"):
        analysis_run_args([t, other], analysis.analysis_args("mlflow", "m", "e"))
    with pytest.raises(ValidationError, match="^analysis.max_ttft_p95_seconds: runtime mlflow has no such bound"):
        analysis.analysis_args("mlflow", "m", "e", {"max-ttft-p95-seconds": "2"})


def test_bad_input_is_one_line():
    with pytest.raises(ValidationError, match="use one of mlflow, vllm, image"):
        analysis.analysis_templates_for("torchserve", model_metric=False)
    with pytest.raises(ValidationError, match="prometheus_address"):
        analysis.cluster_analysis_templates("prometheus:9090")


def _phases(template, result):
    m = template["spec"]["metrics"][0]
    args = template_args(
        template, {"namespace": "n", "model": "m", "environment": "e", "canary-hash": "c", "stable-hash": "s"}
    )
    return evaluate_result(result, resolve_args(m["successCondition"], args), resolve_args(m["failureCondition"], args))


def test_no_data_is_inconclusive_never_failed_or_error(templates):
    for t in templates:
        m = t["spec"]["metrics"][0]
        assert _phases(t, []) == INCONCLUSIVE, t["metadata"]["name"]  # an empty vector
        assert _phases(t, [math.nan]) == INCONCLUSIVE  # 0/0: no request inside the window
        assert m["inconclusiveLimit"] >= 1 and m["failureLimit"] == 0


def test_values_pass_or_fail_on_their_bound(templates):
    by_name = {t["metadata"]["name"]: t for t in templates}
    errors = by_name["mlplatform-mlflow-error-share"]
    assert _phases(errors, [0.0]) == SUCCESSFUL
    assert _phases(errors, [0.01]) == SUCCESSFUL
    assert _phases(errors, [0.5]) == FAILED
    latency = by_name["mlplatform-vllm-latency-p95"]
    assert _phases(latency, [12.0]) == SUCCESSFUL and _phases(latency, [31.0]) == FAILED
    assert _phases(latency, [math.inf]) == FAILED  # histogram_quantile beyond the last bucket


# -- the expr subset, against argo-rollouts v1.9.0's own tests -----------------------------------------
# utils/evaluate/evaluate_test.go and metricproviders/prometheus/prometheus_test.go
@pytest.mark.parametrize(
    ("result", "success", "failure", "phase"),
    [
        (True, "true", "false", SUCCESSFUL),  # TestEvaluateResultWithSuccess
        (True, "true", "true", FAILED),  # TestEvaluateResultWithFailure
        (True, "false", "false", INCONCLUSIVE),  # TestEvaluateResultInconclusive
        (True, "", "false", SUCCESSFUL),  # TestEvaluateResultNoSuccessConditionAndNotFailing
        (True, "false", "", FAILED),  # TestEvaluateResultNoFailureConditionAndNotSuccessful
        (True, "", "", SUCCESSFUL),  # TestEvaluateResultNoFailureConditionAndNoSuccessCondition
        (True, "a == true", "true", ERROR),  # TestEvaluateResultWithErrorOnSuccessCondition
        (True, "true", "a == true", ERROR),  # TestEvaluateResultWithErrorOnFailureCondition
        (10.0, "result == 10", "result != 10", SUCCESSFUL),  # TestRunSuccessfully (scalar 10)
        (math.nan, "result >= 0.9", "result < 0.9", INCONCLUSIVE),  # TestProcessNaNResponse/inconclusive
        (math.nan, "result >= 0.9 || isNaN(result)", "", SUCCESSFUL),  # .../success
        (math.nan, "result >= 0.9", "", FAILED),  # .../failure
        (math.inf, "result >= 0.9", "", SUCCESSFUL),  # TestProcessInfResponse/success
        (math.inf, "", "isInf(result)", FAILED),  # TestProcessInfResponse/failure
        ([10.0, 11.0], "10 in result", "len(result) != 2", SUCCESSFUL),  # TestProcessVectorResponse
        ([10.0], "result[0] == 10", "result[0] != 10", SUCCESSFUL),  # TestRunSuccessfulWithOAuth
    ],
)
def test_expr_subset_matches_argo_rollouts(result, success, failure, phase):
    assert evaluate_result(result, success, failure) == phase


def test_expr_subset_errors_as_expr_does():
    assert eval_condition(True, "result == true") is True  # TestEvaluateConditionWithSuccess
    assert eval_condition(True, "result == false") is False  # TestEvaluateConditionWithFailure
    assert eval_condition(5.0, "result > 1") is True  # TestEvaluateFloat64
    with pytest.raises(ExprError, match="expected bool"):
        eval_condition(True, "1")  # TestErrorWithNonBoolReturn
    with pytest.raises(ExprError, match="unknown name invalidVariable"):
        eval_condition(True, "invalidVariable")  # TestErrorWithInvalidReference
    # The pitfall the templates avoid: indexing an empty vector is an evaluation error (#1466, #1905)...
    assert evaluate_result([], "result[0] <= 0.01", "result[0] > 0.01") == ERROR
    # ...and && short-circuits, so the `len(result) > 0 &&` guard makes it inconclusive.
    assert evaluate_result([], "len(result) > 0 && result[0] <= 0.01", "len(result) > 0 && result[0] > 0.01") == (
        INCONCLUSIVE
    )
    # Outside the subset: refused, not guessed.
    with pytest.raises(ExprError):
        eval_condition([1.0], "all(result, # > 10)")


# -- every series a template queries is one its runtime really emits -----------------------------------
def _facts(runtime: str) -> dict[str, dict]:
    from mlplatform.components.dashboards import MODEL_METRICS
    from mlplatform.stacks.facts import serving_metrics as metrics

    if runtime == "image":  # the documented convention a team's server follows
        return {n: {"type": t, "labels": list(labels)} for n, (t, labels, _) in MODEL_METRICS.items()}
    files = {"mlflow": ("mlserver", "mlplatform-runtime"), "vllm": ("vllm", "prometheus-fastapi-instrumentator")}
    out: dict[str, dict] = {}
    for exporter in files[runtime]:
        out.update(metrics.load(exporter)["metrics"])
    return out


def test_queried_series_and_labels_are_emitted_at_the_pinned_versions(templates):
    from mlplatform.stacks.facts.serving_metrics import series

    pod_labels = {"namespace", *analysis.SERIES_LABELS.values()}
    for t in templates:
        runtime = t["metadata"]["labels"]["mlplatform.io/runtime"]
        facts = _facts(runtime)
        emitted = {s: facts[name]["labels"] for name in facts for s in series(name, {"metrics": facts})}
        query = t["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
        selectors = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", query)
        assert selectors, t["metadata"]["name"]
        for name, matchers in selectors:
            assert name in emitted, f"{t['metadata']['name']}: {name} is not emitted by the {runtime} runtime"
            for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!=|!~|=)", matchers):
                assert label in pod_labels or label in emitted[name], (t["metadata"]["name"], name, label)


def test_metric_facts_are_what_the_script_derives():
    pytest.importorskip("mlserver")
    from mlplatform.stacks.facts import serving_metrics as metrics

    assert metrics.render(metrics.derive_mlserver()) == (metrics.DATA / "mlserver.json").read_text()
    for name in ("mlserver", "vllm", "prometheus-fastapi-instrumentator", "mlplatform-runtime"):
        facts = metrics.load(name)
        assert set(facts) == {"exporter", "version", "source", "metrics"} and facts["exporter"] == name
        for m in facts["metrics"].values():
            assert m["type"] in ("counter", "gauge", "histogram", "summary") and isinstance(m["labels"], list)

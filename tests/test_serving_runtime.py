"""The `mlflow` runtime for real: a tiny scikit-learn model saved with MLflow, laid out as a modelcar,
served by MLServer (the pinned version, with the platform's runtime class) on 127.0.0.1; its /metrics
hold the series the analysis templates query, with the labels they select; a real Prometheus (Debian's)
scraping it evaluates the templates the way Argo Rollouts does: no traffic is inconclusive, a healthy
server passes every template, errors fail the error share, slow answers fail the p95 latency.

The slow answers come from a second model in the same server (tests/sleepy_model.py, an MLflow pyfunc
that sleeps as long as the request asks), so the slow phase does not depend on this machine's speed."""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from argo_expr import FAILED, INCONCLUSIVE, SUCCESSFUL, evaluate_result, resolve_args, template_args, vector_result
from realtools import tool
from serving_servers import get_json, mlserver, post_json, prometheus, v2_request

from mlplatform.components.serving import analysis
from mlplatform.stacks.facts import serving_metrics as metric_facts
from mlplatform.stacks.project import modelcar

pytest.importorskip("mlserver")
COLUMNS = ["f0", "f1", "f2", "f3"]
CANARY, STABLE = "6f8d9c7b5", "5c4b3a291"
ARGS = {"namespace": "models", "model": "churn", "environment": "staging", "canary-hash": CANARY, "stable-hash": STABLE}
WINDOW = "30s"  # the templates' default is minutes; the test's traffic lasts seconds
SCRAPE = 0.25  # seconds between Prometheus scrapes (a pod's is 30 s; rate() needs two in the window)


def _sleepy(dest: Path) -> Path:
    import mlflow.pyfunc
    import pandas as pd

    code = Path(__file__).with_name("sleepy_model.py")
    example = pd.DataFrame({"sleep_seconds": [0.0]})
    # Requirements named, not inferred (inferring loads the model in a subprocess: seconds, and unused here).
    mlflow.pyfunc.save_model(str(dest), python_model=str(code), input_example=example, pip_requirements=[])
    return dest


def _train(dest: Path) -> Path:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.linear_model import LogisticRegression

    x = np.random.RandomState(0).rand(200, 4)
    y = (x[:, 0] > 0.5).astype(int)
    frame = pd.DataFrame(x, columns=COLUMNS)
    model = LogisticRegression().fit(frame, y)
    requirements = [f"scikit-learn=={sklearn.__version__}"]  # named: inferring them takes seconds
    mlflow.sklearn.save_model(model, str(dest), input_example=frame.head(2), pip_requirements=requirements)
    return dest


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    prometheus_bin = tool("prometheus")
    tmp = tmp_path_factory.mktemp("serving")
    model = _train(tmp / "trained")
    root = tmp / "modelcar"
    modelcar.layout(model, root, "churn", "3")
    modelcar.layout(_sleepy(tmp / "sleepy"), root, "slow", "1")
    with mlserver(root) as server:
        target = re.sub(r"^http://|/metrics$", "", server["metrics"])
        pod = {"namespace": "models", "mlplatform_io_model": "churn", "mlplatform_io_environment": "staging"}
        jobs = [
            # What the PodMonitor's podTargetLabels put on the canary's and the stable pods' series.
            {"name": "canary", "target": target, "labels": {**pod, "rollouts_pod_template_hash": CANARY}},
            {"name": "stable", "target": target, "labels": {**pod, "rollouts_pod_template_hash": STABLE}},
        ]
        assert set(jobs[0]["labels"]) == {"namespace", *analysis.SERIES_LABELS.values()}
        with prometheus(prometheus_bin, tmp, jobs, interval=f"{SCRAPE * 1000:.0f}ms") as prom:
            yield {**server, "prometheus": prom}


def _predict(server, rows: list[list[float]]) -> int:
    status, _ = post_json(f"{server['url']}/v2/models/churn/infer", v2_request(rows, COLUMNS), timeout=120)
    return status


def _broken(server) -> int:
    """A request the model cannot answer (two of its four inputs): MLServer answers 500."""
    status, _ = post_json(f"{server['url']}/v2/models/churn/infer", v2_request([[0.1, 0.2]], COLUMNS[:2]))
    return status


def _query(prom: str, q: str):
    return get_json(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q}))


def _wait_scraped(prom: str, series: str, at_least: float, timeout: float = 20, labels: str = "") -> None:
    """Until Prometheus has scraped `series{labels}` summing to at least `at_least` (and one scrape more)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = _query(prom, f'sum({series}{{job="canary"{labels}}})')["data"]["result"]
        if r and float(r[0]["value"][1]) >= at_least:
            time.sleep(1.2 * SCRAPE)
            return
        time.sleep(SCRAPE / 2)
    raise TimeoutError(f"{series} never reached {at_least} in Prometheus")


def _verdicts(prom: str) -> dict[str, str]:
    """Each mlflow template's measurement phase, now, as Argo Rollouts would measure it."""
    out = {}
    for t in analysis.cluster_analysis_templates(prom):
        if t["metadata"]["labels"]["mlplatform.io/runtime"] != "mlflow":
            continue
        metric = t["spec"]["metrics"][0]
        args = template_args(t, {**ARGS, "window": WINDOW, "prediction-window": WINDOW})
        result = vector_result(_query(prom, resolve_args(metric["provider"]["prometheus"]["query"], args)))
        phase = evaluate_result(
            result, resolve_args(metric["successCondition"], args), resolve_args(metric["failureCondition"], args)
        )
        out[metric["name"]] = phase
    return out


def _exposed(metrics_url: str) -> dict[str, list[set[str]]]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        text = r.read().decode()
    out: dict[str, list[set[str]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(set(s.labels))
    return out


def test_runtime_phases(served):
    prom = served["prometheus"]
    # 1. No traffic yet: every judge is inconclusive (never failed, never an evaluation error).
    assert set(_verdicts(prom).values()) == {INCONCLUSIVE}

    # 2. Healthy traffic: every template passes. One request first so the series exists before the rest
    # (a counter that appears with its first scrape already counted has no increase to show).
    assert _predict(served, [[0.2, 0.4, 0.6, 0.8]]) == 200
    _wait_scraped(prom, "rest_server_requests_total", 1)
    for i in range(40):
        assert _predict(served, [[i / 40, 0.5, 0.5, 0.5], [1 - i / 40, 0.1, 0.2, 0.3]]) == 200
    _wait_scraped(prom, "rest_server_requests_total", 41)
    assert _verdicts(prom) == {"error-share": SUCCESSFUL, "latency-p95": SUCCESSFUL, "model-metric": SUCCESSFUL}

    # The series the templates select exist on the real server with the labels they select.
    exposed = _exposed(served["metrics"])
    facts = {**metric_facts.load("mlserver")["metrics"], **metric_facts.load("mlplatform-runtime")["metrics"]}
    for name in ("rest_server_requests_total", "rest_server_request_duration_seconds", "model_prediction_value"):
        for series in metric_facts.series(name, {"metrics": facts}):
            assert series in exposed, series
            wanted = set(facts[name]["labels"]) | ({"le"} if series.endswith("_bucket") else set())
            assert wanted in exposed[series], (series, exposed[series])
    assert {"path", "status_code"} <= set(facts["rest_server_requests_total"]["labels"])

    # 3. The same server made to return errors: the error share fails, latency still passes.
    assert _broken(served) == 500
    _wait_scraped(prom, "rest_server_requests_total", 1, labels=',status_code="500"')
    for _ in range(30):
        assert _broken(served) == 500
    _wait_scraped(prom, "rest_server_requests_total", 31, labels=',status_code="500"')
    verdicts = _verdicts(prom)
    assert verdicts["error-share"] == FAILED
    assert verdicts["latency-p95"] == SUCCESSFUL

    # 4. Slow answers (the same server's sleepy model, 1.6 times the template's p95 bound each) in more
    # than 5% of the window's requests: p95 latency fails.
    bound = float(analysis.DEFAULTS["latency-p95"]["max-latency-p95-seconds"])
    slow = {"inputs": [{"name": "sleep_seconds", "shape": [1], "datatype": "FP64", "data": [1.6 * bound]}]}
    for _ in range(6):
        started = time.monotonic()
        assert post_json(f"{served['url']}/v2/models/slow/infer", slow, timeout=30)[0] == 200
        assert time.monotonic() - started >= 1.6 * bound
    _wait_scraped(prom, "rest_server_requests_total", 78)
    assert _verdicts(prom)["latency-p95"] == FAILED

    # 5. MLflow's /invocations path (mlserver-mlflow answers it in its own handler, not through predict)
    # feeds the model metric too: each numeric prediction is observed once. Both models register that one
    # route and whichever loaded first answers it; the rows carry both models' columns (MLflow's schema
    # check drops the ones a model does not take), and the count is summed over both.
    def observed() -> float:
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(served["metrics"], timeout=10) as r:
            text = r.read().decode()
        return sum(
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "model_prediction_value_count"
        )

    before = observed()
    rows = [[0.1, 0.2, 0.3, 0.4, 0.0], [0.9, 0.8, 0.7, 0.6, 0.0]]
    body = {"dataframe_split": {"columns": [*COLUMNS, "sleep_seconds"], "data": rows}}
    status, answer = post_json(f"{served['url']}/invocations", body)
    assert status == 200 and len(answer["predictions"]) == 2
    assert observed() == before + 2

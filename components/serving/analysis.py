"""The canary's judges: Argo Rollouts `ClusterAnalysisTemplate`s on each serving runtime's real metrics.

Pulumi-free: the `ModelServing` component applies `cluster_analysis_templates(...)`, `serve render`
puts `analysis_templates_for(...)` and `analysis_args(...)` in a Rollout's canary analysis steps.

Three judges per runtime (`RUNTIMES`), one template each, named `mlplatform-<runtime>-<judge>`:

* `error-share`: the share of the canary's inference requests answered 5xx;
* `latency-p95`: the canary's 95th percentile time to answer an inference request;
* `model-metric` (optional per model): `mlflow` and `image`, how far the canary's mean prediction
  (`model_prediction_value`) moved from the stable pods'; `vllm`, the canary's p95 time to first token.

Which series (the names each server really emits at its pinned version, `stacks/data/metrics/`):

| runtime | requests, errors                                   | latency                                            |
|---------|----------------------------------------------------|----------------------------------------------------|
| mlflow  | MLServer `rest_server_requests_total{path,status_code}` (starlette-exporter) | `rest_server_request_duration_seconds` |
| vllm    | `http_requests_total{handler,status}` (prometheus-fastapi-instrumentator in vLLM's API server) | `vllm:e2e_request_latency_seconds` |
| image   | the documented convention `model_requests_total{code}` | `model_request_duration_seconds`            |

Only the canary is selected: the PodMonitor copies the pod labels `POD_TARGET_LABELS` onto every series
(prometheus-operator's `podTargetLabels`, names sanitized to `SERIES_LABELS`), and every query selects
`namespace`, model, environment and the canary ReplicaSet's `rollouts-pod-template-hash`, which the
Rollout passes as the `canary-hash` argument (`podTemplateHashValue: Latest`).

"No data yet" is INCONCLUSIVE, never a failure. Argo Rollouts 1.9 hands a Prometheus vector to the
conditions as a list of floats, so an empty result is `[]`, and `result[0] < x` on it is an evaluation
ERROR that counts towards failing the analysis (argo-rollouts#1466, #1905). Here:

* every query returns nothing until the canary has answered `min-requests` requests inside `window`
  (`... and on() <request count> >= min-requests`), and `NaN` when the window holds no request;
* `successCondition` and `failureCondition` both start with `len(result) > 0 &&` (expr short-circuits),
  and compare with `<=`/`>`, false for `NaN`; with no data neither holds, so the measurement is
  Inconclusive (`utils/evaluate.EvaluateResult`), not Error or Failed;
* `inconclusiveLimit` tolerates `INCONCLUSIVE_LIMIT` such measurements (a canary warming up); one more
  makes the AnalysisRun Inconclusive, which PAUSES the rollout for a person, it does not abort it. A
  failed measurement beyond `failureLimit` aborts back to stable.

Thresholds and the windows are template arguments with defaults (`DEFAULTS`); a model's bounds
(`serving.models.<name>.analysis`, components/args/serving.CanaryAnalysis) are passed as the Rollout
analysis step's arguments of the same name, which replace the defaults.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from mlplatform.components.conventions import ENVIRONMENT_LABEL, MODEL_LABEL

RUNTIMES = ("mlflow", "vllm", "image")
JUDGES = ("error-share", "latency-p95", "model-metric")
API_VERSION = "argoproj.io/v1alpha1"

# The label Argo Rollouts puts on every pod of a ReplicaSet it manages (pod template hash).
POD_TEMPLATE_HASH_LABEL = "rollouts-pod-template-hash"
# Pod labels the PodMonitor copies onto every scraped series (PodMonitor `spec.podTargetLabels`).
POD_TARGET_LABELS = (MODEL_LABEL, ENVIRONMENT_LABEL, POD_TEMPLATE_HASH_LABEL)


def series_label(pod_label: str) -> str:
    """The series label prometheus-operator makes of a `podTargetLabels` entry (sanitizeLabelName)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", pod_label)


SERIES_LABELS = {label: series_label(label) for label in POD_TARGET_LABELS}

# Measurement cadence: one measurement a minute, five per analysis step.
INTERVAL = "1m"
COUNT = 5
FAILURE_LIMIT = 0  # the first failed measurement aborts the canary
INCONCLUSIVE_LIMIT = 2  # two "no data yet" measurements tolerated, a third pauses for a person

# Template arguments with defaults: (name, default). Strings, as Argo Rollouts arguments are. One analysis
# step runs several templates, and Argo Rollouts v1.9 refuses to start it when two of them give the same
# argument different defaults (utils/analysis/helpers.go flattenArgs: "Argument `window` specified multiple
# times with different values"), even if the Rollout passes that argument: within a runtime a shared name
# has ONE default, and a judge that needs another value has its own name (`prediction-window`).
DEFAULTS: dict[str, dict[str, str]] = {
    "error-share": {"max-error-share": "0.01", "min-requests": "20", "window": "2m"},
    "latency-p95": {"max-latency-p95-seconds": "0.5", "min-requests": "20", "window": "2m"},
    "model-metric": {"max-prediction-shift": "0.2", "min-requests": "20", "prediction-window": "5m"},
}
# vLLM answers in seconds, not milliseconds: its latency and time-to-first-token bounds differ, and its
# (fewer, longer) requests are judged over five minutes.
VLLM_DEFAULTS: dict[str, dict[str, str]] = {
    "error-share": {"max-error-share": "0.01", "min-requests": "20", "window": "5m"},
    "latency-p95": {"max-latency-p95-seconds": "30", "min-requests": "20", "window": "5m"},
    "model-metric": {"max-ttft-p95-seconds": "2", "min-requests": "20", "window": "5m"},
}

# Arguments every template takes from the Rollout (no default: the Rollout must pass them).
REQUIRED_ARGS = ("namespace", "model", "environment", "canary-hash")
# The model metric also compares with the stable pods.
STABLE_ARG = "stable-hash"


def _selector(hash_arg: str = "canary-hash") -> str:
    model, env, pod_hash = (SERIES_LABELS[x] for x in POD_TARGET_LABELS)
    return (
        f'namespace="{{{{args.namespace}}}}",{model}="{{{{args.model}}}}",'
        f'{env}="{{{{args.environment}}}}",{pod_hash}="{{{{args.{hash_arg}}}}}"'
    )


# Per runtime: the request counter (with its inference-request filter and 5xx matcher) and the latency
# histogram. Names and labels are facts in stacks/data/metrics/ (tests compare them).
_RUNTIME_SERIES: dict[str, dict[str, str]] = {
    "mlflow": {
        # MLServer's REST app (starlette-exporter, prefix rest_server, group_paths: route templates).
        "requests": "rest_server_requests_total",
        "filter": r'path=~".*/infer|/invocations"',
        "errors": 'status_code=~"5.."',
        "latency": "rest_server_request_duration_seconds_bucket",
    },
    "vllm": {
        # vLLM's OpenAI API server (prometheus-fastapi-instrumentator, status grouped as `5xx`).
        "requests": "http_requests_total",
        "filter": r'handler=~"/v1/.+"',
        "errors": 'status="5xx"',
        "latency": "vllm:e2e_request_latency_seconds_bucket",
    },
    "image": {
        # The documented convention a team's own server follows (components/dashboards.MODEL_METRICS).
        "requests": "model_requests_total",
        "filter": "",
        "errors": 'code=~"5.."',
        "latency": "model_request_duration_seconds_bucket",
    },
}


def _sel(runtime: str, *extra: str, hash_arg: str = "canary-hash") -> str:
    parts = [_selector(hash_arg), _RUNTIME_SERIES[runtime]["filter"], *extra]
    return "{" + ",".join(p for p in parts if p) + "}"


def _enough(runtime: str, window: str = "[{{args.window}}]") -> str:
    """`and on()` this: the canary answered at least min-requests inference requests in the window."""
    s = _RUNTIME_SERIES[runtime]
    return f"sum(increase({s['requests']}{_sel(runtime)}{window})) >= {{{{args.min-requests}}}}"


def queries(runtime: str) -> dict[str, str]:
    """The PromQL of each judge for `runtime` (with `{{args.*}}` placeholders)."""
    s = _RUNTIME_SERIES[runtime]
    w = "[{{args.window}}]"
    total = f"sum(rate({s['requests']}{_sel(runtime)}{w}))"
    errors = f"sum(rate({s['requests']}{_sel(runtime, s['errors'])}{w}))"
    # `or on() (0 * total)`: no 5xx series at all (a healthy server never wrote one) is a share of 0.
    error_share = f"(({errors} or on() (0 * {total})) / {total}) and on() ({_enough(runtime)})"
    latency = (
        f"histogram_quantile(0.95, sum by (le) (rate({s['latency']}{_sel(runtime)}{w}))) and on() ({_enough(runtime)})"
    )
    if runtime == "vllm":
        # vLLM's model-level signal: time to first token (vllm:time_to_first_token_seconds).
        model_metric = (
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(vllm:time_to_first_token_seconds_bucket{_sel(runtime)}{w}))) and on() ({_enough(runtime)})"
        )
    else:
        # Relative shift of the canary's mean prediction from the stable pods' (model_prediction_value),
        # over its own, longer window.
        pw = "[{{args.prediction-window}}]"

        def mean(hash_arg: str) -> str:
            sel = "{" + _selector(hash_arg) + "}"
            return (
                f"(sum(rate(model_prediction_value_sum{sel}{pw})) / sum(rate(model_prediction_value_count{sel}{pw})))"
            )

        model_metric = (
            f"abs({mean('canary-hash')} - {mean(STABLE_ARG)}) / abs({mean(STABLE_ARG)}) "
            f"and on() ({_enough(runtime, pw)})"
        )
    return {"error-share": error_share, "latency-p95": latency, "model-metric": model_metric}


def _bound(runtime: str, judge: str) -> str:
    """The argument holding the judge's upper bound."""
    return next(k for k in _defaults(runtime)[judge] if k.startswith("max-"))


def _defaults(runtime: str) -> dict[str, dict[str, str]]:
    return VLLM_DEFAULTS if runtime == "vllm" else DEFAULTS


def conditions(runtime: str, judge: str) -> tuple[str, str]:
    """(successCondition, failureCondition): an empty result or NaN satisfies neither (inconclusive)."""
    bound = f"{{{{args.{_bound(runtime, judge)}}}}}"
    return f"len(result) > 0 && result[0] <= {bound}", f"len(result) > 0 && result[0] > {bound}"


def template_name(runtime: str, judge: str) -> str:
    return f"mlplatform-{runtime}-{judge}"


def _template(runtime: str, judge: str, prometheus_address: str) -> dict[str, Any]:
    success, failure = conditions(runtime, judge)
    required = list(REQUIRED_ARGS) + ([STABLE_ARG] if judge == "model-metric" and runtime != "vllm" else [])
    args = [{"name": a} for a in required] + [{"name": k, "value": v} for k, v in _defaults(runtime)[judge].items()]
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterAnalysisTemplate",
        "metadata": {
            "name": template_name(runtime, judge),
            "labels": {"app.kubernetes.io/part-of": "mlplatform", "mlplatform.io/runtime": runtime},
        },
        "spec": {
            "args": args,
            "metrics": [
                {
                    "name": judge,
                    "interval": INTERVAL,
                    "count": COUNT,
                    "failureLimit": FAILURE_LIMIT,
                    "inconclusiveLimit": INCONCLUSIVE_LIMIT,
                    "successCondition": success,
                    "failureCondition": failure,
                    "provider": {"prometheus": {"address": prometheus_address, "query": queries(runtime)[judge]}},
                }
            ],
        },
    }


def _invalid(field: str, problem: str, fix: str) -> NoReturn:
    # components._common loads the Pulumi SDK: imported only on this error path, so the module stays
    # Pulumi-free for `serve render` and the analyses.
    from mlplatform.components._common import ValidationError

    raise ValidationError(field, problem, fix)


def cluster_analysis_templates(prometheus_address: str) -> list[dict[str, Any]]:
    """Every ClusterAnalysisTemplate the canary analysis uses: each judge of each runtime."""
    if not re.match(r"^https?://[^\s/]+", prometheus_address):
        _invalid(
            "serving.prometheus_address",
            f"{prometheus_address!r} is not an http(s) URL",
            "give the Prometheus URL, e.g. http://kube-prometheus-stack-prometheus.monitoring:9090",
        )
    return [_template(r, j, prometheus_address) for r in RUNTIMES for j in JUDGES]


def _check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        _invalid("serving runtime", f"{runtime!r} is not a runtime", f"use one of {', '.join(RUNTIMES)}")


def analysis_templates_for(runtime: str, model_metric: bool) -> list[dict[str, Any]]:
    """The `templates:` of a Rollout canary analysis step for a model served by `runtime`."""
    _check_runtime(runtime)
    judges = JUDGES if model_metric else JUDGES[:2]
    return [{"templateName": template_name(runtime, j), "clusterScope": True} for j in judges]


def analysis_args(
    runtime: str, model: str, environment: str, bounds: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The `args:` of a Rollout canary analysis step: what every template of `runtime` needs.

    The canary's and the stable pods' template hashes come from Argo Rollouts (`podTemplateHashValue`),
    the namespace from the Rollout itself; `bounds` (a model's `CanaryAnalysis.template_args()`) replace
    the templates' defaults of the same name (Argo Rollouts MergeArgs), the others keep theirs.
    """
    _check_runtime(runtime)
    known = {name for judge in _defaults(runtime).values() for name in judge if name.startswith("max-")}
    for name in bounds or {}:
        if name not in known:
            _invalid(f"analysis.{name.replace('-', '_')}", f"runtime {runtime} has no such bound", "remove it")
    if not model or not environment:
        _invalid("serving analysis args", "model and environment are empty", "name the model and its environment")
    args: list[dict[str, Any]] = [
        {"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "model", "value": model},
        {"name": "environment", "value": environment},
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
    ]
    if runtime != "vllm":
        args.append({"name": STABLE_ARG, "valueFrom": {"podTemplateHashValue": "Stable"}})
    return args + [{"name": k, "value": v} for k, v in sorted((bounds or {}).items())]

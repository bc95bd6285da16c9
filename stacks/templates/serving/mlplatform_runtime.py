"""The `mlflow` runtime's model class inside MLServer: MLServer's MLflow runtime plus the platform's
model metric and a prediction hook.

Why MLServer. An MLflow model on CPU needs a maintained server that loads an MLflow model and exports
Prometheus metrics the canary analysis can judge (requests by status, a latency histogram). Compared
(sources read at the pinned versions; licences from the LICENSE files at the repositories' newest
snapshots the tools held, December 2025):

* MLServer 1.7.1 + mlserver-mlflow (SeldonIO/MLServer): Apache-2.0 (Seldon moved Core v2 to the BSL in
  2024; MLServer's LICENSE is still Apache-2.0). Loads any MLflow pyfunc (`MLflowRuntime`; V2 inference
  protocol and MLflow's `/invocations`). Metrics: `rest_server_requests_total{path,status_code}` and the
  `rest_server_request_duration_seconds` histogram (starlette-exporter), `model_infer_request_
  {success,failure}_total`, `model_infer_request_duration` (summary). Maintenance slow but alive: 1.7.1
  in June 2025, dependency updates for 1.7.2 in December 2025.
* KServe 0.21 Python `ModelServer` (kserve/kserve): Apache-2.0, CNCF, active. No MLflow loader of its
  own (KServe serves MLflow models through MLServer; we would write and maintain one), and its metrics
  are `request_{preprocess,predict,postprocess,explain}_seconds{model_name}` histograms only: no status,
  so no error share for the canary.
* `mlflow models serve` (MLflow 3.15): Apache-2.0, loads the model, exports no metrics (mlflow#25263).

MLServer is the only one that loads MLflow models AND exports the error and latency series, under a
permissive licence. Its risks: slow releases (pinned, watch the repository), and Seldon's own
`mlserver:*-mlflow` images ship an older MLflow (1.7.1's lock: MLflow 2.x, which cannot read an MLflow 3
`skops` model), so the platform builds its serving image from versions.MLSERVER, MLSERVER_MLFLOW and
MLFLOW_CLIENT (`mlserver.Dockerfile` here). One process per replica (`parallel_workers: 0`): scale
with replicas.

Speed (`benchmarks/serving.py`: one 1-CPU replica, a 4-feature LogisticRegression, one-row requests
from 4 keep-alive connections, both servers in the same run on 2 cores; idle: `--requests 400 --rounds 2`,
load average 1.1; loaded: 2000 requests per server, load average 5.5 from other work):

| idle / loaded; each server on one core, own 1-CPU cgroup  | req/s      | p50 ms     | p95 ms      | CPU ms/request |
|-----------------------------------------------------------|------------|------------|-------------|----------------|
| MLServer 1.7.1 + this class, V2 infer, metrics on         | 585 / 259  | 5.2 / 13.2 | 10.7 / 31.6 | 1.72 / 2.56    |
| MLServer 1.7.1 + this class, /invocations, metrics on     | 568 / 215  | 5.4 / 14.1 | 11.1 / 36.5 | 1.75 / 2.60    |
| `mlflow models serve` 3.15.1, no metrics                  | 473 / 193  | 7.7 / 17.8 | 14.9 / 40.2 | 2.10 / 3.36    |

(An earlier run at load 4.9: V2 393 req/s, p50 9.0, p95 21.8 ms against 329, 11.0, 23.2.)
At least as fast as MLflow's own server with metrics on. An earlier measurement (MLServer 80-87 req/s,
p50 40 ms, against 347 req/s) was the harness, not the server: both were pinned with `taskset` alone to
a core other work also ran on, and the kernel shares a core between threads, not servers. `mlflow
models serve` predicts in a thread pool (`asyncio.to_thread`: a runnable thread per request in flight, plus its
event loop), MLServer in its one event loop, so on a contended core the thread pool got several shares to
MLServer's one. Two busy loops on the server core show it: taskset alone, MLServer 51 req/s (p50 72 ms)
against 130 (p50 28 ms), 12-15 ms of run-queue wait per request for both (/proc schedstat); each server
in its own 1-CPU cgroup, as a pod is, MLServer 187 req/s (p50 18 ms, p95 38 ms) against 160 (p50 23
ms, p95 45 ms). No sleep hides in MLServer: TCP_NODELAY is set on every connection (strace), adaptive
batching is off (max_batch_size 0), and py-spy shows the event loop busy only in the request's own
work: the model's predict (sklearn, MLflow's schema check) ~50 %, V2 decoding to pandas ~16 %,
FastAPI/pydantic ~10 %, the metrics middleware ~4 %.

Shipped into the serving image next to MLServer (`mlserver.Dockerfile`) and named in the model's
`model-settings.json` as `"implementation": "mlplatform_runtime.MLflowRuntime"`. It imports only what the
image has (MLServer, mlserver-mlflow, prometheus_client), nothing of mlplatform.

What it adds to `mlserver_mlflow.MLflowRuntime.predict`, after the model answered:

* `model_prediction_value{model, version}` (histogram): every numeric prediction of the first output
  (class label or score), the documented model metric convention, which the canary's `model-metric`
  analysis compares between canary and stable pods. Also on MLflow's `/invocations` path, which
  mlserver-mlflow answers in its own handler without `predict` (its JSON `predictions` are observed);
* the prediction hook: every callable registered under the entry point group `mlplatform.prediction`
  is called as `hook(model_name, model_version, request, response)` after each answered request (the
  place prediction logging plugs in); a hook that raises is logged and never fails the request. After
  `predict` (V2) it gets the InferenceRequest and InferenceResponse; after MLflow's `/invocations` (which
  mlserver-mlflow answers without `predict`) the raw JSON request body (str) and response body (bytes),
  so a hook parses only the requests it keeps. The serving image's hook is the prediction log
  (mlplatform.components.serving.prediction_hook, installed with the mlplatform package).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import numpy as np
from fastapi import Depends, Header, Response
from mlserver.codecs import NumpyCodec
from mlserver.handlers import custom_handler
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_mlflow import MLflowRuntime as _MLflowRuntime
from mlserver_mlflow.runtime import _get_raw_body
from prometheus_client import Histogram

logger = logging.getLogger("mlplatform.runtime")

HOOK_GROUP = "mlplatform.prediction"
PREDICTION_METRIC = "model_prediction_value"
# Buckets for class labels 0..9 and scores in [0, 1] alike.
BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 2.0, 3.0, 5.0, 10.0, 100.0)


# MLServer re-executes this module (importlib.reload in ModelSettings.implementation) for every model it
# reads: a module-level `= []` would forget the histogram a model already registered, and the next model's
# load would register it again (DuplicateTimeseries; two models in one server never loaded). reload keeps
# the module's old globals, so the list made by the first execution is the one every later one uses.
_HISTOGRAM: list[Histogram] = globals().setdefault("_HISTOGRAM", [])


def _histogram() -> Histogram:
    # In prometheus_client's default registry, as MLServer's own model_infer_* metrics: its /metrics
    # serves that registry with parallel_workers 0 (mlserver.metrics.REGISTRY is served only with worker
    # processes, through the multiprocess files, which the default registry's metrics reach too).
    if not _HISTOGRAM:
        _HISTOGRAM.append(
            Histogram(PREDICTION_METRIC, "predicted value or score", ["model", "version"], buckets=BUCKETS)
        )
    return _HISTOGRAM[0]


def load_hooks() -> list[Callable[..., Any]]:
    """The installed prediction hooks (entry points in HOOK_GROUP), loaded once per model."""
    hooks = []
    for ep in entry_points(group=HOOK_GROUP):
        try:
            hooks.append(ep.load())
        except Exception:  # a broken plugin must not stop the model from serving
            logger.exception("prediction hook %s could not be loaded", ep.name)
    return hooks


class MLflowRuntime(_MLflowRuntime):
    async def load(self) -> bool:
        loaded = await super().load()
        self._prediction_values = _histogram()
        self._hooks = load_hooks()
        return loaded

    def _observe(self, predictions: Any) -> None:
        try:
            values = np.asarray(predictions, dtype=float).ravel()
        except (TypeError, ValueError):
            return  # a non-numeric output (text, records) has no value to observe
        child = self._prediction_values.labels(model=self.settings.name, version=str(self.settings.version or ""))
        for v in values[np.isfinite(values)]:
            child.observe(float(v))

    # The same route, parameters and dependencies as mlserver-mlflow's handler, which this one replaces
    # (MLServer registers the custom handlers it finds on the model object by attribute).
    @custom_handler(rest_path="/invocations")
    async def invocations(
        self, raw_body: str = Depends(_get_raw_body), content_type: str = Header(default="")
    ) -> Response:
        response = await super().invocations(raw_body, content_type)
        if self._hooks and content_type.split(";")[0].strip() == "application/json":
            self._call_hooks(raw_body, response.body)  # the JSON bodies: a hook parses only what it keeps
        try:
            answer = json.loads(response.body)
        except ValueError:
            return response
        if isinstance(answer, dict) and "predictions" in answer:
            self._observe(answer["predictions"])
        return response

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        response = await super().predict(payload)
        if response.outputs:
            try:
                self._observe(NumpyCodec.decode_output(response.outputs[0]))
            except (TypeError, ValueError):
                pass  # an output the codec cannot decode has no value to observe
        self._call_hooks(payload, response)
        return response

    def _call_hooks(self, request: Any, response: Any) -> None:
        name, version = self.settings.name, str(self.settings.version or "")
        for hook in self._hooks:
            try:
                hook(name, version, request, response)
            except Exception:
                logger.exception("prediction hook %r failed", hook)

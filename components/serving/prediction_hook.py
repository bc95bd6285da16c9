"""The served model's prediction log, as the `mlflow` runtime's prediction hook.

`log_prediction` is registered by this package (pyproject.toml) under the entry point group
`mlplatform.prediction`, which the runtime (stacks/templates/serving/mlplatform_runtime.py) calls after
each answered request; the serving image installs the package (mlserver.Dockerfile), so the hook is there.
An entry point rather than a direct call keeps the runtime free of mlplatform imports (it stays a file
that runs in any MLServer) and lets a team add its own hook the same way.

Configured from the environment the Rollout's pod gets (`mlplatform serve render`):
MLPLATFORM_PREDICTION_LOG_{BUCKET, MODEL, DIGEST, SAMPLE, DROP_FIELDS} (prediction_log.PredictionLogger.
from_env). Without MLPLATFORM_PREDICTION_LOG_BUCKET the hook is off (said once in the server's log): a
server started anywhere else logs nothing. The logger writes from a background thread (a request only
appends to a buffer) and writes what is left when the interpreter exits (MLServer returns on SIGTERM).

What is recorded (the record format is prediction_log's):
- MLflow's `/invocations` (JSON only): the request and response bodies as sent and returned.
- The V2 protocol (`/v2/models/<name>/infer`): the request in MLflow's column form `{"inputs": {name:
  values}}` (one column per input tensor of shape [n] or [n, 1]; a [n, k] tensor gives `<name>_0` ..
  `<name>_<k-1>`) and the response as `{"predictions": <the first output's values>}`, so the drift job reads
  both protocols alike. `drop_fields` applies to the column names too.
Requests are sampled before anything is decoded: an unsampled request costs one random draw.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from typing import Any

from .prediction_log import ENV_PREFIX, PredictionLogger

logger = logging.getLogger("mlplatform.prediction_log")
_lock = threading.Lock()
_state: dict[str, PredictionLogger | None] = {}


def _logger() -> PredictionLogger | None:
    with _lock:
        if "logger" not in _state:
            if not os.environ.get(f"{ENV_PREFIX}BUCKET"):
                logger.info("prediction log off: %sBUCKET is not set", ENV_PREFIX)
                _state["logger"] = None
            else:
                try:
                    log = PredictionLogger.from_env().start()
                except ValueError as e:  # said once; the model serves on, unlogged
                    logger.error("prediction log off: %s", e)
                    _state["logger"] = None
                    return None
                atexit.register(log.close)
                logger.info(
                    "prediction log of %s: %.0f%% of requests to s3://%s/predictions/%s/",
                    log.model,
                    log.sample * 100,
                    log.bucket,
                    log.model,
                )
                _state["logger"] = log
        return _state["logger"]


def _plain(values: Any) -> Any:
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind in "SO":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in array.tolist()]
    return array.tolist()


def v2_columns(request: Any) -> dict[str, Any]:
    """A V2 InferenceRequest as MLflow's column form {"inputs": {name: values}}."""
    from mlserver.codecs import NumpyCodec

    columns: dict[str, Any] = {}
    for tensor in request.inputs:
        array = NumpyCodec.decode_input(tensor)
        if array.ndim == 2 and array.shape[1] > 1:
            for j in range(array.shape[1]):
                columns[f"{tensor.name}_{j}"] = _plain(array[:, j])
        else:
            columns[tensor.name] = _plain(array.reshape(array.shape[0]) if array.ndim == 2 else array)
    return {"inputs": columns}


def v2_predictions(response: Any) -> dict[str, Any]:
    """A V2 InferenceResponse as {"predictions": <the first output's values>}."""
    from mlserver.codecs import NumpyCodec

    if not response.outputs:
        return {"predictions": []}
    array = NumpyCodec.decode_output(response.outputs[0])
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.reshape(array.shape[0])
    return {"predictions": _plain(array)}


def _body(value: Any) -> Any:
    if isinstance(value, bytes | str):
        return json.loads(value)
    return value


def log_prediction(model: str, _version: str, request: Any, response: Any) -> None:
    """The hook: sample, then record `request` and `response` (V2 objects, or JSON bodies as str/bytes)."""
    log = _logger()
    if log is None:
        return
    if model != log.model:  # a pod serves one model; another one here is not this log's
        return
    request_id = getattr(request, "id", None)
    if not log.sampled(request_id):
        return
    if isinstance(request, bytes | str):
        try:
            body, answer = _body(request), _body(response)
        except ValueError:  # not JSON (CSV): not recorded
            return
    else:
        body, answer = v2_columns(request), v2_predictions(response)
    log.append(body, answer, request_id=request_id)

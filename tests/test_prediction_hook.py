"""The served model's prediction log for real: MLServer (the pinned version, the platform's runtime class)
with this package's `mlplatform.prediction` entry point, configured by the environment `serve render` gives
the pod, writing to a moto S3; the records are read back in the documented format, the drift job reads
them, 0 % logs nothing, and a slow S3 never slows a request down."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import threading
import time
import urllib.parse
from importlib.metadata import entry_points
from pathlib import Path

import boto3
import pytest
from serving_servers import mlserver, post_json, v2_request

from mlplatform.components.serving.prediction_log import SCHEMA, log_prefix
from mlplatform.stacks.monitoring import drift
from mlplatform.stacks.project import modelcar

pytest.importorskip("mlserver")
COLUMNS = ["f0", "f1", "f2", "email"]
BUCKET, MODEL, DIGEST = "ml-artifacts", "churn", "sha256:" + "5e" * 32


def _train(dest: Path) -> Path:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = np.random.RandomState(0).rand(200, 4)
    frame = pd.DataFrame(x, columns=COLUMNS)
    # requirements named, not inferred (MLflow infers them by re-importing the model in a subprocess, ~6 s)
    mlflow.sklearn.save_model(LogisticRegression().fit(frame, (x[:, 0] > 0.5).astype(int)), str(dest),
                             input_example=frame.head(2), pip_requirements=["scikit-learn"])
    return dest


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("trained") / "model")


def serve(model_dir: Path, root: Path, monkeypatch, **env: str):
    """MLServer on the modelcar layout, with the prediction log's environment as the Rollout sets it."""
    modelcar.layout(model_dir, root, MODEL, "3")
    for key, value in {"BUCKET": BUCKET, "MODEL": MODEL, "DIGEST": DIGEST, **env}.items():
        monkeypatch.setenv(f"MLPLATFORM_PREDICTION_LOG_{key}", value)
    return mlserver(root)


def stop_gracefully(server) -> None:
    """SIGTERM, as the kubelet stops the pod: MLServer stops and returns, the hook writes what it holds."""
    server["proc"].send_signal(signal.SIGTERM)
    server["proc"].wait(60)


def records(s3) -> list[tuple[str, dict]]:
    out = []
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        for line in s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode().splitlines():
            out.append((obj["Key"], json.loads(line)))
    return out


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_the_hook_is_this_packages_entry_point():
    (ep,) = [e for e in entry_points(group="mlplatform.prediction") if e.name == "prediction-log"]
    assert ep.value == "mlplatform.components.serving.prediction_hook:log_prediction", (
        "run `pip install -e .` again: the entry point is in pyproject.toml")


def test_a_misconfigured_log_is_said_once_and_the_model_serves_on(monkeypatch, caplog):
    from mlplatform.components.serving import prediction_hook

    monkeypatch.setattr(prediction_hook, "_state", {})
    monkeypatch.setenv("MLPLATFORM_PREDICTION_LOG_BUCKET", BUCKET)
    monkeypatch.delenv("MLPLATFORM_PREDICTION_LOG_MODEL", raising=False)
    monkeypatch.setenv("MLPLATFORM_PREDICTION_LOG_DIGEST", "latest")
    with caplog.at_level("INFO", logger="mlplatform.prediction_log"):
        for _ in range(3):
            assert prediction_hook.log_prediction(MODEL, "1", '{"inputs": [[1]]}', b'{"predictions": [0]}') is None
    assert [r.getMessage() for r in caplog.records] == [
        "prediction log off: MLPLATFORM_PREDICTION_LOG_MODEL: not set; the serving component sets them"]


def test_every_sampled_request_lands_in_the_documented_format_without_dropped_fields(model_dir, tmp_path, s3,
                                                                                       monkeypatch):
    rows = [[0.1, 0.2, 0.3, 0.9], [0.8, 0.1, 0.5, 0.4]]
    split = {"dataframe_split": {"columns": COLUMNS, "data": rows}}
    with serve(model_dir, tmp_path, monkeypatch, SAMPLE="1", DROP_FIELDS="email") as server:
        for i in range(3):
            status, answer = post_json(f"{server['url']}/v2/models/{MODEL}/infer",
                                       {**v2_request(rows, COLUMNS), "id": f"req-{i}"})
            assert status == 200, answer
        status, answer = post_json(f"{server['url']}/invocations", split)
        assert status == 200, answer
        assert records(s3) == []  # buffered, not written in the request
        stop_gracefully(server)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    got = records(s3)
    assert len(got) == 4
    for key, record in got:
        assert key.startswith(log_prefix(MODEL, DIGEST, day)) and key.endswith(".jsonl")
        assert set(record) == {"schema", "id", "time", "model", "digest", "request", "response", "latency_ms"}
        assert (record["schema"], record["model"], record["digest"]) == (SCHEMA, MODEL, DIGEST)
        assert "email" not in json.dumps(record["request"])  # dropped: a column of either protocol
    v2 = sorted((r for _, r in got if r["id"].startswith("req-")), key=lambda r: r["id"])
    assert [r["id"] for r in v2] == ["req-0", "req-1", "req-2"]
    assert v2[0]["request"] == {"inputs": {"f0": [0.1, 0.8], "f1": [0.2, 0.1], "f2": [0.3, 0.5]}}
    (invocation,) = [r for _, r in got if not r["id"].startswith("req-")]
    assert invocation["request"] == {"dataframe_split": {"columns": ["f0", "f1", "f2"], "data": [[0.1, 0.2, 0.3],
                                                                                                 [0.8, 0.1, 0.5]]}}
    # the model's own answers, as the server returned them
    assert invocation["response"] == answer and len(answer["predictions"]) == 2
    assert v2[0]["response"] == {"predictions": answer["predictions"]}
    # the drift job reads both protocols alike
    for record in (v2[0], invocation):
        assert [sorted(r) for r in drift.feature_rows(record["request"])] == [["f0", "f1", "f2"]] * 2
        assert drift.predictions_of(record["response"]) == answer["predictions"]


def test_zero_percent_logs_nothing(model_dir, tmp_path, s3, monkeypatch):
    with serve(model_dir, tmp_path, monkeypatch, SAMPLE="0") as server:
        for i in range(20):
            assert post_json(f"{server['url']}/v2/models/{MODEL}/infer",
                             {**v2_request([[0.1, 0.2, 0.3, 0.4]], COLUMNS), "id": f"r{i}"})[0] == 200
        stop_gracefully(server)
    assert records(s3) == []


class SlowS3(http.server.BaseHTTPRequestHandler):
    """A proxy in front of the moto S3 that answers every request `delay` seconds late."""

    upstream: str = ""
    delay = 2.0  # a request answers in milliseconds: one that waited for a write would take over a second
    puts: list[float] = []

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.command == "PUT":
            SlowS3.puts.append(time.monotonic())
        time.sleep(self.delay)
        url = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_PUT = do_GET = do_POST = do_HEAD = _forward

    def log_message(self, *args) -> None:
        pass


def test_a_slow_s3_never_slows_a_request(model_dir, tmp_path, s3, monkeypatch):
    SlowS3.upstream, SlowS3.puts = os.environ["AWS_ENDPOINT_URL"], []
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowS3)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.server_address[1]}")
    try:
        with serve(model_dir, tmp_path, monkeypatch, SAMPLE="1", BATCH_RECORDS="5") as server:
            latencies = []
            for i in range(40):
                start = time.monotonic()
                assert post_json(f"{server['url']}/v2/models/{MODEL}/infer",
                                 {**v2_request([[0.1, 0.2, 0.3, 0.4]], COLUMNS), "id": f"r{i}"})[0] == 200
                latencies.append(time.monotonic() - start)
                time.sleep(0.05)
            assert SlowS3.puts, "no batch was written while the requests ran"
            # a write takes 2 s; no request waited for one
            assert max(latencies) < SlowS3.delay / 2, latencies
            stop_gracefully(server)
    finally:
        proxy.shutdown()
    assert len(records(s3)) == 40  # nothing lost: every batch written, the last ones on shutdown

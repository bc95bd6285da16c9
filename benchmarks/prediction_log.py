"""What the prediction log costs a served model: request latency of the `mlflow` runtime (MLServer, the
platform's runtime class) with the prediction-log hook off (the same-run baseline: no bucket configured) and
logging every request (sample 1.0) to a moto S3, for the V2 protocol and MLflow's /invocations.

    python benchmarks/prediction_log.py [--requests 400] [--rows 10] [--batch 100]

Requests are sent one after another from one client; the server writes a batch every `--batch` records from its
background thread, so the writes fall inside the timed window. Both servers run the same model, one after the
other, on the same machine: compare the rows of one run only.

Measured 2026-12-07 on the shared 2-core machine (load average 5), 800 requests of 10 rows, batches of 100,
ms p50 / p95 / mean -- V2 infer: off 3.69 / 6.45 / 4.09, every request 3.48 / 9.91 / 4.48; /invocations: off
3.02 / 5.57 / 3.44, every request 4.16 / 9.66 / 5.17 (the hook parses the two JSON bodies of each kept request;
at the default 10 % that is about a tenth of it). 1,640 records in 17 objects, none lost (40 are the warm-up's).
A second run (400 requests) put the V2 difference inside the noise (p50 7.11 off, 6.08 on).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import moto_process
from serving_servers import mlserver, v2_request

from mlplatform.stacks.project import modelcar

BUCKET, MODEL, DIGEST = "bench-artifacts", "bench", "sha256:" + "ab" * 32
COLUMNS = [f"f{i}" for i in range(8)]


def _train(dest: Path) -> Path:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = np.random.RandomState(0).rand(500, len(COLUMNS))
    frame = pd.DataFrame(x, columns=COLUMNS)
    model = LogisticRegression().fit(frame, (x[:, 0] > 0.5).astype(int))
    mlflow.sklearn.save_model(model, str(dest), input_example=frame.head(2))
    return dest


def _post(url: str, body: bytes) -> float:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        assert r.status == 200
    return (time.perf_counter() - start) * 1000


def _measure(root: Path, model: Path, n: int, rows: int) -> dict[str, list[float]]:
    modelcar.layout(model, root, MODEL, "1")
    import numpy as np

    data = np.random.RandomState(1).rand(rows, len(COLUMNS)).round(6).tolist()
    v2 = json.dumps(v2_request(data, COLUMNS)).encode()
    split = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": data}}).encode()
    out: dict[str, list[float]] = {}
    with mlserver(root) as server:
        for name, path, body in (
            ("V2 infer", f"/v2/models/{MODEL}/infer", v2),
            ("/invocations", "/invocations", split),
        ):
            for _ in range(20):  # warm-up
                _post(server["url"] + path, body)
            out[name] = [_post(server["url"] + path, body) for _ in range(n)]
        server["proc"].terminate()
        server["proc"].wait(60)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rows", type=int, default=10, help="rows per request")
    ap.add_argument("--batch", type=int, default=100, help="records per written object")
    args = ap.parse_args()
    proc, url = moto_process.start(timeout_s=60)
    os.environ.update(
        AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as tmp:
            model = _train(Path(tmp) / "model")
            for k in [k for k in os.environ if k.startswith("MLPLATFORM_PREDICTION_LOG_")]:
                del os.environ[k]
            off = _measure(Path(tmp) / "off", model, args.requests, args.rows)
            os.environ.update(
                MLPLATFORM_PREDICTION_LOG_BUCKET=BUCKET,
                MLPLATFORM_PREDICTION_LOG_MODEL=MODEL,
                MLPLATFORM_PREDICTION_LOG_DIGEST=DIGEST,
                MLPLATFORM_PREDICTION_LOG_SAMPLE="1",
                MLPLATFORM_PREDICTION_LOG_BATCH_RECORDS=str(args.batch),
            )
            on = _measure(Path(tmp) / "on", model, args.requests, args.rows)
        objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        lines = sum(len(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().splitlines()) for o in objects)
    finally:
        moto_process.stop(proc)

    table = Table(title=f"{args.requests} sequential requests of {args.rows} rows, one client, ms")
    for col in ("protocol", "prediction log", "p50", "p95", "p99", "mean"):
        table.add_column(col, justify="right" if col not in ("protocol", "prediction log") else "left")
    for name in off:
        for label, runs in (("off (baseline)", off), ("every request", on)):
            xs = sorted(runs[name])
            q = statistics.quantiles(xs, n=100)
            table.add_row(name, label, f"{q[49]:.2f}", f"{q[94]:.2f}", f"{q[98]:.2f}", f"{statistics.mean(xs):.2f}")
    console = Console()
    console.print(table)
    console.print(f"written: {lines} records in {len(objects)} objects (expected {2 * args.requests + 40})")


if __name__ == "__main__":
    main()

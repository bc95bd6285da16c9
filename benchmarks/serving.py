"""Requests per second and p50/p95 latency of one 1-CPU replica of a small scikit-learn model: the
`mlflow` runtime (MLServer with the platform's runtime class, metrics on) against `mlflow models serve`
of the same model, measured in the same run, on 127.0.0.1.

Each server is pinned to one core with `taskset` (the replica's CPU limit); the load generator runs on
another core. Besides wall-clock requests/s and latency, the server's own CPU time per request is read
from /proc (its whole process tree): on a contended core wall clock depends on the neighbours, CPU time
per request does not, and 1000 / (CPU ms per request) is the rate one dedicated CPU sustains. Every request predicts one row (online inference); `--requests` per server after
`--warmup`, from `--concurrency` keep-alive connections, in `--rounds` rounds taken in turn (both
servers run at once, so background load on a shared machine hits them alike). MLServer is measured on both its paths: the
Open Inference Protocol (V2, `/v2/models/<name>/infer`, which the canary analysis and
`model_prediction_value` watch) and MLflow's `/invocations` (the same body as `mlflow models serve`).

    python benchmarks/serving.py [--requests 2000] [--rounds 5] [--concurrency 4] [--server-cpu 0] [--client-cpu 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving_servers import BIN, free_port, mlserver, stop, v2_request, wait_http

from mlplatform.stacks.project import modelcar

COLUMNS = ["f0", "f1", "f2", "f3"]
ROW = [0.7, 0.2, 0.4, 0.9]


def train(dest: Path) -> Path:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame(np.random.RandomState(0).rand(500, 4), columns=COLUMNS)
    y = (x["f0"] + x["f1"] > 1).astype(int)
    mlflow.sklearn.save_model(LogisticRegression().fit(x, y), str(dest), input_example=x.head(2))
    return dest


@contextmanager
def mlflow_serve(model: Path, log: Path, cpu: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = ["taskset", "-c", str(cpu), str(BIN / "mlflow"), "models", "serve", "-m", str(model),
           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    with log.open("wb") as out:
        # it execs `uvicorn` from PATH: this interpreter's
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc, log, timeout=180)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        stop(proc)


def load(
    url: str, path: str, body: dict[str, Any], requests: int, warmup: int, concurrency: int
) -> tuple[list[float], float]:
    """Send `warmup` then `requests` POSTs over `concurrency` keep-alive connections: (latencies, seconds)."""
    host, port = url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json"}

    def one(conn: http.client.HTTPConnection) -> float:
        start = time.perf_counter()
        conn.request("POST", path, data, headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}{path}: HTTP {resp.status}")
        return time.perf_counter() - start

    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for _ in range(warmup):
        one(conn)
    conn.close()
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [requests]

    def worker() -> None:
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        mine = []
        while True:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            mine.append(one(c))
        c.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start


def summary(latencies: list[float], seconds: float, cpu: float) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    n = len(latencies)
    return {"rps": n / seconds, "p50": q[49] * 1000, "p95": q[94] * 1000, "n": n, "cpu_ms": cpu * 1000 / n}


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process tree: what a replica's CPU limit meters."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    if args.requests < 20 or args.requests > 100_000:
        parser.error("--requests: between 20 and 100000")
    os.sched_setaffinity(0, {args.client_cpu})
    console = Console()
    with tempfile.TemporaryDirectory(prefix="mlplatform-bench-") as tmp:
        root = Path(tmp)
        model = train(root / "trained")
        modelcar.layout(model, root / "car", "bench", "1")
        v2 = v2_request([ROW], COLUMNS)
        split = {"dataframe_split": {"columns": COLUMNS, "data": [ROW]}}
        # Both servers run on the same core at once, idle but for the one being measured; the request count
        # is split into rounds taken in turn, so a change in the machine's background load hits all alike.
        with (
            mlserver(root / "car", cpu=args.server_cpu) as server,
            mlflow_serve(model, root / "mlflow-serve.log", args.server_cpu) as (url, mlflow_pid),
        ):
            pid = server["proc"].pid
            targets = [
                ("MLServer 1.7.1, V2 infer (metrics on)", server["url"], "/v2/models/bench/infer", v2, pid),
                ("MLServer 1.7.1, /invocations (metrics on)", server["url"], "/invocations", split, pid),
                ("mlflow models serve 3.15.1 (no metrics)", url, "/invocations", split, mlflow_pid),
            ]
            for _, base, path, body, _ in targets:
                load(base, path, body, 0, args.warmup, 1)
            measured: dict[str, tuple[list[float], float, float]] = {t[0]: ([], 0.0, 0.0) for t in targets}
            per_round = max(1, args.requests // args.rounds)
            for _ in range(args.rounds):
                for label, base, path, body, server_pid in targets:
                    before = cpu_seconds(server_pid)
                    lat, secs = load(base, path, body, per_round, 0, args.concurrency)
                    used = cpu_seconds(server_pid) - before
                    old = measured[label]
                    measured[label] = (old[0] + lat, old[1] + secs, old[2] + used)
            results = [(label, summary(*measured[label])) for label, *_ in targets]
    table = Table(
        title=f"one replica on CPU {args.server_cpu}: {args.requests} one-row requests, "
        f"{args.concurrency} connections, after {args.warmup} warm-up"
    )
    for col in ("server", "requests/s", "p50 ms", "p95 ms", "server CPU ms/request", "requests per CPU-second"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for label, r in results:
        table.add_row(
            label,
            f"{r['rps']:.0f}",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['cpu_ms']:.2f}",
            f"{1000 / r['cpu_ms']:.0f}",
        )
    console.print(table)
    console.print(
        f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: on a shared machine the wall-clock "
        "columns depend on what else runs on the core (a threaded server gets more of a contended core than an "
        "event loop); the CPU columns do not, and are what a replica with a 1-CPU limit is metered on."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

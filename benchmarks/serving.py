"""Requests per second and p50/p95 latency of one 1-CPU replica of a small scikit-learn model: the
`mlflow` runtime (MLServer with the platform's runtime class, metrics on) against `mlflow models serve`
of the same model, measured in the same run, on 127.0.0.1.

Each server is a 1-CPU replica the way the kubelet makes one: pinned to one core with `taskset` AND in
a CPU cgroup of its own with a quota of one CPU (cgroup v1 `cpu` or v2 `cpu.max`, when this machine lets
us create one; the table's title says which). The cgroup matters on a shared machine: the kernel shares
a contended core between cgroups, but between the THREADS of the processes inside one. `mlflow models
serve` predicts in a thread pool (one thread per request in flight, plus the event loop), MLServer in
its one event loop; pinned to a core that other work also runs on, the server with more runnable
threads gets more of the core, which a pod (one cgroup, its limit its own) never gets. `--no-cgroup`
shows that effect. The load generator runs on another core, in the machine's own cgroup.

Besides wall-clock requests/s and latency, the server's own CPU time per request is read from /proc
(its whole process tree): on a contended core wall clock depends on the neighbours, CPU time per request
does not, and 1000 / (CPU ms per request) is the rate one dedicated CPU sustains. The run-queue column
(from /proc/<pid>/task/*/schedstat, summed over the server's threads) is the time its threads were
ready to run but waited for the core: the neighbours' share of the wall clock. Every request predicts
one row (online inference); `--requests` per server after `--warmup`, from `--concurrency` keep-alive
connections, in `--rounds` rounds taken in turn (both servers run at once, so background load on a
shared machine hits them alike). MLServer is measured on both its paths: the Open Inference Protocol
(V2, `/v2/models/<name>/infer`, which the canary analysis and `model_prediction_value` watch) and
MLflow's `/invocations` (the same body as `mlflow models serve`).

    python benchmarks/serving.py [--requests 2000] [--rounds 5] [--concurrency 4] [--server-cpu 0] [--client-cpu 1] [--no-cgroup]
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


def summary(latencies: list[float], seconds: float, cpu: float, waited: float) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    n = len(latencies)
    return {"rps": n / seconds, "p50": q[49] * 1000, "p95": q[94] * 1000, "n": n, "cpu_ms": cpu * 1000 / n,
            "wait_ms": waited * 1000 / n}  # fmt: skip


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


def run_queue_seconds(pid: int) -> float:
    """Time the threads of a process tree spent runnable but waiting for a CPU (schedstat's 2nd field)."""
    total = 0
    for p in _tree(pid):
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return total / 1e9


CGROUP_V1 = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")


@contextmanager
def one_cpu_cgroup(name: str) -> Iterator[Path | None]:
    """A CPU cgroup with a quota of one CPU per 100 ms period, as the kubelet gives a container with
    `limits.cpu: 1`; None (and nothing created) when this machine does not let us create one. Removed on
    exit (it is empty by then: its server has stopped)."""
    if (CGROUP_V1 / "cpu.cfs_quota_us").exists():
        group, files = CGROUP_V1 / name, {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "100000"}
    elif "cpu" in _read(CGROUP_V2 / "cgroup.subtree_control").split():
        group, files = CGROUP_V2 / name, {"cpu.max": "100000 100000"}
    else:
        yield None
        return
    try:
        group.mkdir()
        for file, value in files.items():
            (group / file).write_text(value)
    except OSError:  # not ours to create (read-only, delegated elsewhere): say so, measure without
        if group.is_dir():
            group.rmdir()
        yield None
        return
    try:
        yield group
    finally:
        for _ in range(50):  # the stopped server's threads leave the group a moment after it exits
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def join_cgroup(group: Path | None, pid: int) -> None:
    """Move a server's process tree (every thread: cgroup.procs) into `group`; what it starts later follows."""
    if group is not None:
        for p in _tree(pid):
            (group / "cgroup.procs").write_text(str(p))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-cgroup", action="store_true", help="taskset only: threads, not servers, share the core")
    args = parser.parse_args(argv)
    if args.requests < 20 or args.requests > 100_000:
        parser.error("--requests: between 20 and 100000")
    os.sched_setaffinity(0, {args.client_cpu})
    console = Console(width=None if sys.stdout.isatty() else 150)
    with tempfile.TemporaryDirectory(prefix="mlplatform-bench-") as tmp:
        root = Path(tmp)
        model = train(root / "trained")
        modelcar.layout(model, root / "car", "bench", "1")
        v2 = v2_request([ROW], COLUMNS)
        split = {"dataframe_split": {"columns": COLUMNS, "data": [ROW]}}
        # Both servers run on the same core at once, idle but for the one being measured; the request count
        # is split into rounds taken in turn, so a change in the machine's background load hits all alike.
        tag = f"mlplatform-bench-{os.getpid()}"
        with (
            one_cpu_cgroup(f"{tag}-mlserver") as ml_group,
            one_cpu_cgroup(f"{tag}-mlflow") as mf_group,
            mlserver(root / "car", cpu=args.server_cpu) as server,
            mlflow_serve(model, root / "mlflow-serve.log", args.server_cpu) as (url, mlflow_pid),
        ):
            pid = server["proc"].pid
            cgroups = not args.no_cgroup and ml_group is not None and mf_group is not None
            if cgroups:
                join_cgroup(ml_group, pid)
                join_cgroup(mf_group, mlflow_pid)
            targets = [
                ("MLServer 1.7.1, V2 infer (metrics on)", server["url"], "/v2/models/bench/infer", v2, pid),
                ("MLServer 1.7.1, /invocations (metrics on)", server["url"], "/invocations", split, pid),
                ("mlflow models serve 3.15.1 (no metrics)", url, "/invocations", split, mlflow_pid),
            ]
            for _, base, path, body, _ in targets:
                load(base, path, body, 0, args.warmup, 1)
            measured: dict[str, tuple[list[float], float, float, float]] = {t[0]: ([], 0, 0, 0) for t in targets}
            per_round = max(1, args.requests // args.rounds)
            for _ in range(args.rounds):
                for label, base, path, body, server_pid in targets:
                    before, waited = cpu_seconds(server_pid), run_queue_seconds(server_pid)
                    lat, secs = load(base, path, body, per_round, 0, args.concurrency)
                    used = cpu_seconds(server_pid) - before
                    waited = run_queue_seconds(server_pid) - waited
                    old = measured[label]
                    measured[label] = (old[0] + lat, old[1] + secs, old[2] + used, old[3] + waited)
            results = [(label, summary(*measured[label])) for label, *_ in targets]
    replica = "its own 1-CPU cgroup" if cgroups else "no cgroup (threads share the core)"
    table = Table(
        title=f"one replica on CPU {args.server_cpu}, {replica}: {args.requests} one-row requests, "
        f"{args.concurrency} connections, after {args.warmup} warm-up"
    )
    columns = ("server", "requests/s", "p50 ms", "p95 ms", "server CPU ms/request", "requests per CPU-second",
               "run-queue ms/request")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col == "server" else "right")
    for label, r in results:
        table.add_row(
            label,
            f"{r['rps']:.0f}",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['cpu_ms']:.2f}",
            f"{1000 / r['cpu_ms']:.0f}",
            f"{r['wait_ms']:.2f}",
        )
    console.print(table)
    console.print(
        f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: on a shared machine the wall-clock "
        "columns depend on what else runs on the core (run-queue: time the server's threads waited for it); the CPU "
        "columns do not, and are what a replica with a 1-CPU limit is metered on."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

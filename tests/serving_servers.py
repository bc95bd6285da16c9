"""Real servers on loopback for the serving tests and benchmark: MLServer serving a modelcar folder, a
Prometheus scraping it. Each is started in a tmp dir on free ports and stopped by its PID."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlplatform.stacks.project import modelcar

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Stop a server: SIGTERM, then SIGKILL after `grace` seconds (0: at once, for a server with nothing
    to keep). One started with `start_new_session=True` is stopped with every process it forked (`mlflow
    server` runs uvicorn and seven huey job consumers that outlive a terminated parent)."""
    import signal

    def send(sig: signal.Signals) -> None:
        try:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    if proc.poll() is None:
        send(signal.SIGTERM if grace else signal.SIGKILL)
        try:
            proc.wait(grace or 5)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait(5)


@contextmanager
def mlserver(root: Path, cpu: int | None = None) -> Iterator[dict[str, Any]]:
    """MLServer (the `mlflow` runtime) serving every model under `root/models`, on 127.0.0.1.

    `cpu`: pin the server to that one core (taskset), for the benchmark."""
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    settings = modelcar.mlserver_settings(host="127.0.0.1", **ports)
    (root / "settings.json").write_text(json.dumps(settings))
    log = root / "mlserver.log"
    env = {**os.environ, "PYTHONPATH": str(modelcar.RUNTIME_MODULE_DIR)}
    cmd = [str(BIN / "mlserver"), "start", str(root)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    try:
        base = f"http://127.0.0.1:{ports['http_port']}"
        wait_http(f"{base}/v2/health/ready", proc, log)
        yield {"url": base, "metrics": f"http://127.0.0.1:{ports['metrics_port']}/metrics", "proc": proc, "log": log}
    finally:
        stop(proc)


@contextmanager
def prometheus(binary: str, root: Path, jobs: list[dict[str, Any]], interval: str = "1s") -> Iterator[str]:
    """Prometheus scraping `jobs` ({"name", "target", "labels"}) every `interval`; yields its base URL."""
    port = free_port()
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": j["name"],
                "static_configs": [{"targets": [j["target"]], "labels": j["labels"]}],
            }
            for j in jobs
        ],
    }
    (root / "prometheus.yml").write_text(json.dumps(config))
    log = root / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", proc, log, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def post_json(url: str, body: Any, timeout: float = 30) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def v2_request(rows: list[list[float]], columns: list[str]) -> dict[str, Any]:
    """An Open Inference Protocol (V2) request with one FP64 input per column."""
    return {
        "inputs": [
            {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": [r[i] for r in rows]}
            for i, c in enumerate(columns)
        ]
    }

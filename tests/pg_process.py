"""A real PostgreSQL (the machine's, /usr/lib/postgresql/*/bin) on 127.0.0.1 for one test: initdb in a
fresh folder, `postgres` on a free port, stopped by its PID. PostgreSQL refuses to run as root: as root
the server runs as the `postgres` user (runuser), in a folder it owns."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from realtools import tool
from serving_servers import free_port


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start(database: str = "mlflow", timeout_s: float = 30) -> tuple[subprocess.Popen[bytes], str, Path]:
    """(the server process, a SQLAlchemy URL of `database` (psycopg2 driver), its folder)."""
    initdb, postgres, createdb = tool("initdb"), tool("postgres"), tool("createdb")
    folder = Path(tempfile.mkdtemp(prefix="mlplatform-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data = folder / "data"
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = open(folder / "postgres.log", "wb")  # noqa: SIM115  # the server writes it while it runs
    proc = subprocess.Popen(
        _as_postgres(
            [postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder), "-c", "fsync=off"]
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        made = subprocess.run(
            [createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database], capture_output=True, text=True
        )
        if made.returncode == 0:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc, folder)
            raise RuntimeError(f"PostgreSQL did not start on port {port}: {made.stderr.strip()}")
        time.sleep(0.3)
    return proc, f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{database}", folder


def stop(proc: subprocess.Popen[bytes], folder: Path) -> None:
    if proc.poll() is None:
        proc.terminate()  # runuser passes SIGTERM on: PostgreSQL's smart shutdown
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    shutil.rmtree(folder, ignore_errors=True)

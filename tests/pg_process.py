"""A throwaway PostgreSQL (the machine's Debian build) on 127.0.0.1 for tests: initdb into a temporary
folder, password (scram) authentication, started and stopped by PID.

PostgreSQL refuses to run as root: under root the server runs as the `postgres` user (`runuser`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from realtools import tool

SUPERUSER = "postgres"


@dataclass
class Postgres:
    folder: Path
    port: int
    password: str
    pid: int

    def dsn(self, user: str = SUPERUSER, password: str | None = None, dbname: str = "postgres") -> str:
        return (f"host=127.0.0.1 port={self.port} user={user} password={password or self.password} "
                f"dbname={dbname} connect_timeout=10")

    def sqlalchemy_url(self, dbname: str) -> str:
        """The superuser's SQLAlchemy URL of `dbname` (psycopg2 driver), as `mlflow server` takes it."""
        return f"postgresql+psycopg2://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, dbname: str) -> None:
        subprocess.run([tool("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, dbname],
                       env={**os.environ, "PGPASSWORD": self.password}, check=True, capture_output=True, timeout=60)


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def start(password: str = "test-superuser-pw") -> Postgres:
    initdb, pg_ctl = tool("initdb"), tool("pg_ctl")
    folder = Path(tempfile.mkdtemp(prefix="mlplatform-pg-", dir="/tmp"))
    (folder / "pw").write_text(password)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for p in (folder, folder / "pw"):
            os.chown(p, user.pw_uid, user.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", SUPERUSER, "-A", "scram-sha-256",
                                 f"--pwfile={folder / 'pw'}", "-E", "UTF8", "--no-instructions", "--no-sync"]),
                   check=True, capture_output=True, timeout=120)
    # A throwaway database: nothing is flushed to disk (PostgreSQL's "non-durable settings", which its manual
    # gives for exactly this); MLflow's ~50 schema migrations each commit.
    opts = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off")
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(folder / "log"), "-w", "-t", "60",
                                 "start"]), check=True, capture_output=True, timeout=90)
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    return Postgres(folder, port, password, pid)


def stop(pg: Postgres) -> None:
    try:
        # immediate shutdown: no checkpoint for a database folder deleted next (a fast shutdown's takes ~2 s)
        os.kill(pg.pid, signal.SIGQUIT)
        for _ in range(100):
            os.kill(pg.pid, 0)
            time.sleep(0.1)
    except ProcessLookupError:
        pass
    shutil.rmtree(pg.folder, ignore_errors=True)

"""Where the real tools the tests run against are: Debian's Prometheus, Alertmanager, Pushgateway, registry, skopeo
(unpacked by `.ci/tools.sh` into `.cache/tools`, which `.ci/run` calls) and PostgreSQL.

`tool(name)` returns the binary's path or skips the test, naming the command that installs it; in CI
`.ci/run` installs them first, so there these tests run.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE_BIN = REPO / ".cache" / "tools" / "usr" / "bin"


def find(name: str) -> str | None:
    for folder in (os.environ.get("MLPLATFORM_TOOLS"), str(CACHE_BIN)):
        if folder and (Path(folder) / name).is_file():
            return str(Path(folder) / name)
    found = shutil.which(name)
    if found:
        return found
    pg = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return pg[-1] if pg else None


def tool(name: str) -> str:
    path = find(name)
    if path is None:
        pytest.skip(f"{name} is not installed: run `bash .ci/tools.sh` (CI's .ci/run does)")
    return path

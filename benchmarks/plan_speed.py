"""Wall time of `mlplatform plan --json` per profile and of `mlplatform --help`, as a user sees it.

Each figure is the median of N fresh processes (imports included: that is what a user waits for).
The floor is measured in the same run: a fresh process that only imports the Pulumi SDK modules a plan
loads (the provider SDKs' generated types are most of a cold plan). On a noisy machine read the ratio.
Targets (issue #15, 2-core machine): full-profile plan <= 2.5 s (floor ~1.9 s), --help <= 0.25 s.

    python benchmarks/plan_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _exe() -> str:
    found = Path(sys.executable).with_name("mlplatform")
    return str(found) if found.exists() else (shutil.which("mlplatform") or "mlplatform")


def time_command(args: list[str], runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        res = subprocess.run(args, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        out = res.stdout
    return statistics.median(times), out


_LIST_SDK_MODULES = (
    "import sys; from mlplatform.stacks.program import plan; from mlplatform.stacks.config.spec import load_spec; "
    "plan(load_spec('full')); "
    "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in "
    "('pulumi', 'pulumi_aws', 'pulumi_kubernetes', 'pulumi_random'))))"
)


def import_floor_command() -> list[str]:
    """A fresh interpreter importing exactly the Pulumi SDK modules a full plan has loaded once it ran (components
    import some of them inside the program), and nothing of ours."""
    mods = subprocess.run([sys.executable, "-c", _LIST_SDK_MODULES], capture_output=True, text=True,
                          check=True).stdout.split()
    return [sys.executable, "-c", "import importlib\nfor m in %r: importlib.import_module(m)" % mods]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    exe = _exe()
    table = Table(title=f"mlplatform plan speed (median of {runs} fresh processes)")
    for col in ("command", "resources", "wall s", "x floor", "target s"):
        table.add_column(col, justify="right" if col != "command" else "left")
    floor, _ = time_command(import_floor_command(), runs)
    table.add_row("import floor (Pulumi SDKs only)", "", f"{floor:.2f}", "1.00", "")
    for profile in ("pragmatic", "growth", "full"):
        t, out = time_command([exe, "plan", "--profile", profile, "--json"], runs)
        n = json.loads(out)["summary"]["add"]
        table.add_row(f"plan --profile {profile} --json", str(n), f"{t:.2f}", f"{t / floor:.2f}",
                      "2.50" if profile == "full" else "")
    t, _ = time_command([exe, "--help"], runs)
    table.add_row("--help", "", f"{t:.3f}", "", "0.25")
    Console().print(table)


if __name__ == "__main__":
    main()

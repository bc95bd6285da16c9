"""Wall time of `mlplatform plan --json` per profile and of `mlplatform --help`, as a user sees it.

Each figure is the median of N fresh processes (imports included: that is what a user waits for); the
commands take turns, run by run, so a slower minute of a noisy machine hits them all alike. The floor
is measured in the same run: a fresh process that only imports the Pulumi SDK modules a plan loads
(the provider SDKs' generated types are most of a cold plan), once as a plain interpreter does and once
with the cyclic garbage collector paused, as mlplatform runs a command (`mlplatform.stacks.runtime`).
"x floor" is against the paused floor. On a noisy machine read the ratio.
Targets (issue #15, 2-core machine): full-profile plan <= 2.5 s, --help <= 0.25 s.

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


def time_commands(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, str]]:
    """name -> (median wall seconds, last stdout); each run executes every command once, in turn."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    outs: dict[str, str] = {}
    for _ in range(runs):
        for name, args in commands.items():
            start = time.perf_counter()
            res = subprocess.run(args, capture_output=True, text=True, check=True)
            times[name].append(time.perf_counter() - start)
            outs[name] = res.stdout
    return {name: (statistics.median(ts), outs[name]) for name, ts in times.items()}


_LIST_SDK_MODULES = (
    "import sys; from mlplatform.stacks.program import plan; from mlplatform.stacks.config.spec import load_spec; "
    "plan(load_spec('full')); "
    "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in "
    "('pulumi', 'pulumi_aws', 'pulumi_kubernetes', 'pulumi_random'))))"
)


def sdk_modules() -> list[str]:
    """The Pulumi SDK modules a full plan has loaded once it ran (components import some inside the program)."""
    return subprocess.run([sys.executable, "-c", _LIST_SDK_MODULES], capture_output=True, text=True,
                          check=True).stdout.split()


def import_floor_command(mods: list[str], paused_gc: bool = False) -> list[str]:
    """A fresh interpreter importing exactly `mods` and nothing of ours; with `paused_gc`, the collector off first
    and the heap frozen at exit."""
    first, last = ("import gc; gc.disable()\n", "\ngc.freeze()") if paused_gc else ("", "")
    return [sys.executable, "-c", first + "import importlib\nfor m in %r: importlib.import_module(m)" % mods + last]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    exe = _exe()
    table = Table(title=f"mlplatform plan speed (median of {runs} fresh processes)")
    for col in ("command", "resources", "wall s", "x floor", "target s"):
        table.add_column(col, justify="right" if col != "command" else "left")
    mods = sdk_modules()
    commands = {"floor": import_floor_command(mods), "floor-paused": import_floor_command(mods, paused_gc=True)}
    for profile in ("pragmatic", "growth", "full"):
        commands[profile] = [exe, "plan", "--profile", profile, "--json"]
    commands["help"] = [exe, "--help"]
    got = time_commands(commands, runs)
    floor = got["floor-paused"][0]
    table.add_row("import floor (Pulumi SDKs only)", "", f"{got['floor'][0]:.2f}", f"{got['floor'][0] / floor:.2f}", "")
    table.add_row("import floor, collector paused", "", f"{floor:.2f}", "1.00", "")
    for profile in ("pragmatic", "growth", "full"):
        t, out = got[profile]
        n = json.loads(out)["summary"]["add"]
        table.add_row(f"plan --profile {profile} --json", str(n), f"{t:.2f}", f"{t / floor:.2f}",
                      "2.50" if profile == "full" else "")
    table.add_row("--help", "", f"{got['help'][0]:.3f}", "", "0.25")
    Console().print(table)


if __name__ == "__main__":
    main()

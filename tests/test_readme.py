"""The README's tour runs as written, in a temporary folder (the doc a new user copies from)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from mlplatform.cli.main import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def tour() -> list[str]:
    """The command lines of the bash block under `## A tour`, comments dropped."""
    text = README.read_text()
    block = re.search(r"^## A tour\n.*?```bash\n(.*?)```", text, re.S | re.M)
    assert block, "README.md has no `## A tour` bash block"
    lines = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_every_tour_command_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = tour()
    assert len(commands) >= 10 and commands[0].startswith("mlplatform ")
    seen_project = False
    for line in commands:
        argv = shlex.split(line)
        if argv[0] == "cd":
            os.chdir(argv[1])
            continue
        assert argv[0] == "mlplatform", f"the tour runs only mlplatform commands: {line}"
        res = CliRunner().invoke(cli, argv[1:], catch_exceptions=False)
        assert res.exit_code == 0, f"`{line}` exited {res.exit_code}: {res.output}"
        if Path("Pulumi.prod.yaml").is_file() and argv[1] not in ("init", "profiles"):
            seen_project = True
            first = res.stdout.splitlines()[0] if "--json" not in argv else ""
            assert not first or (first.startswith("Stack prod (") and "profile growth, region eu-west-1" in first), line
    assert seen_project and Path("plan.json").is_file()


def readme_cost_table() -> dict[str, list[str]]:
    """The README's idle cost table: region -> [pragmatic, growth, full] cells."""
    text = README.read_text()
    block = re.search(r"^\| idle cost \| pragmatic \| growth \| full \|\n\|---\|---\|---\|---\|\n((?:\|.*\n)+)", text, re.M)
    assert block, "README.md has no `| idle cost | pragmatic | growth | full |` table"
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.group(1).splitlines()]
    return {r[0]: r[1:] for r in rows}


def test_readme_cost_table_is_what_cost_says():
    """Each cell is `mlplatform cost --profile P --region R --json`'s idle figure, "at least" with its gaps."""
    import json

    from mlplatform.stacks.analyses.cost import idle_cell

    table = readme_cost_table()
    assert list(table) == ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"]
    for region, cells in table.items():
        said = []
        for profile in ("pragmatic", "growth", "full"):
            res = CliRunner().invoke(cli, ["cost", "--profile", profile, "--region", region, "--json"])
            assert res.exit_code == 0, res.output
            data = json.loads(res.stdout)
            assert data["price_snapshot"] in README.read_text()
            said.append(idle_cell(data["idle_monthly"], data["unpriced"]["idle"]))
        assert cells == said, f"README's {region} row is stale; it should read: | {region} | {' | '.join(said)} |"


def test_ci_runs_the_readmes_test_command():
    """`.ci/run` installs as the README's test command says (the same pinned uv, the same extra) and ends
    with its pytest invocation."""
    command = re.search(r"```bash\n(python3 -m venv .venv && .*pytest -q)\n```", README.read_text())
    assert command, "README.md has no test command"
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    parts = [p.strip() for p in command.group(1).split("&&")]
    for part in parts[:-1]:
        assert part in ci, f".ci/run does not run the README's `{part}`"
    assert ci.rstrip().splitlines()[-1] == parts[-1]

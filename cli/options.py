"""The options commands share, declared once (like pip-tools' scripts/options.py).

`source_options` are the options that choose the stack; every command that acts on a stack takes
them and turns them into one `StackSource` (`make_source`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]

profile = click.option("--profile", "-p", default=None, help="pragmatic, growth or full (default: the stack file's).")
team_size = click.option(
    "--team-size",
    type=int,
    default=None,
    help="People on the ML team: picks the profile (1-5 pragmatic, 6-20 growth, 21+ full).",
)


def config_option(help: str) -> Callable[[F], F]:
    """--config FILE (`config_file`) with a command's own help: `upgrade`, `team` say which config they edit."""
    return click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help=help)


config = config_option("A stack config: Pulumi.<stack>.yaml, or YAML with the keys of a profile.")
sets = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one value, e.g. --set network.az_count=3 (repeatable).",
)
region = click.option("--region", default=None, help="AWS region (default: the stack file's, else us-east-1).")
stack = click.option(
    "--stack", default=None, help="Stack name (default: the project's only Pulumi.<stack>.yaml, else dev)."
)
directory = click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False),
    help="The Pulumi project folder (default: the current folder).",
)
as_json = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
force = click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
yes = click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
saved_plan = click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A saved plan (`mlplatform plan --json --out FILE`) instead of planning.",
)


def usage_option(help: str) -> Callable[[F], F]:
    """--usage FILE (`usage_file`): the usage assumptions of a cost estimate; `cost` and `diff` each say what for."""
    return click.option("--usage", "usage_file", type=click.Path(dir_okay=False), default=None, help=help)


def apply(fn: F, *options: Callable[[F], F]) -> F:
    for option in reversed(options):
        fn = option(fn)
    return fn


def source_options(fn: F) -> F:
    """--profile --team-size --config --set --region --stack --dir."""
    return apply(fn, profile, team_size, config, sets, region, stack, directory)


def project_options(fn: F) -> F:
    """--stack --dir: the engine verbs act on a project folder's stack."""
    return apply(fn, stack, directory)


def make_source(
    profile: str | None = None,
    team_size: int | None = None,
    config_file: str | None = None,
    sets: tuple[str, ...] = (),
    region: str | None = None,
    stack: str | None = None,
    directory: str | None = None,
    plan_file: str | None = None,
) -> Any:
    from mlplatform.stacks.source import stack_source

    return stack_source(
        profile=profile,
        team_size=team_size,
        config_file=config_file,
        sets=sets,
        stack=stack,
        directory=directory,
        region=region,
        plan_file=plan_file,
    )

"""The options commands share, declared once (like pip-tools' scripts/options.py).

`stack_source` is the one stack-options decorator: it adds the seven options that choose the stack
(`--profile --team-size --config --set --region --stack --dir`, plus `--plan` where a command reads a
saved plan) and hands the command one `StackSource` as `src`. `--json`, `--force` and `--plan` are
declared here with each command's own help (`json_option(help)`, ...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mlplatform.stacks.source import StackSource

F = Callable[..., Any]

#: ctx.meta key: the command was asked for --json (the group's error mapping answers in JSON then).
JSON_META = "mlplatform.json"

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


def sets_option(help: str = "Override one value, e.g. --set network.az_count=3 (repeatable).") -> Callable[[F], F]:
    """--set KEY=VALUE (`sets`, repeatable)."""
    return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=help)


sets = sets_option()
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


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[JSON_META] = True
    return value


def json_option(help: str = "Machine-readable output.") -> Callable[[F], F]:
    """--json (`as_json`); remembered in ctx.meta so an error is answered in JSON on stdout too."""
    return click.option("--json", "as_json", is_flag=True, help=help, callback=_remember_json)


def force_option(help: str = "Overwrite the output file if it exists.") -> Callable[[F], F]:
    return click.option("--force", is_flag=True, help=help)


def saved_plan_option(
    help: str = "A saved plan (`mlplatform plan --json --out FILE`) instead of planning.",
) -> Callable[[F], F]:
    return click.option("--plan", "plan_file", type=click.Path(dir_okay=False), default=None, help=help)


as_json = json_option()
force = force_option()
yes = click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
saved_plan = saved_plan_option()


def usage_option(help: str) -> Callable[[F], F]:
    """--usage FILE (`usage_file`): the usage assumptions of a cost estimate; `cost` and `diff` each say what for."""
    return click.option("--usage", "usage_file", type=click.Path(dir_okay=False), default=None, help=help)


def apply(fn: F, *options: Callable[[F], F]) -> F:
    for option in reversed(options):
        fn = option(fn)
    return fn


_SOURCE_KEYS = ("profile", "team_size", "config_file", "sets", "region", "stack", "directory")


def stack_source(fn: F | None = None, *, plan: Callable[[F], F] | None = None) -> Any:
    """The stack-choosing options, turned into one `StackSource` passed to the command as `src`.

    `@stack_source` adds --profile --team-size --config --set --region --stack --dir;
    `@stack_source(plan=saved_plan_option(...))` also --plan FILE (a saved plan instead of planning).
    """

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            chosen = {k: kwargs.pop(k) for k in _SOURCE_KEYS}
            plan_file = kwargs.pop("plan_file", None) if plan is not None else None
            return fn(*args, src=make_source(**chosen, plan_file=plan_file), **kwargs)

        return apply(wrapper, profile, team_size, config, sets, region, stack, directory, *([plan] if plan else []))

    return deco(fn) if fn is not None else deco


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
) -> StackSource:
    from mlplatform.stacks.source import stack_source as make

    return make(
        profile=profile,
        team_size=team_size,
        config_file=config_file,
        sets=sets,
        stack=stack,
        directory=directory,
        region=region,
        plan_file=plan_file,
    )

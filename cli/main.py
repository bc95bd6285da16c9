"""The `mlplatform` command line: the group, the commands it holds, and the one error mapping.

Each command or group is a module of cli/commands/ (it parses options, calls `mlplatform.stacks`,
formats through cli/printers.py); adding one is one `cli.add_command` line below. Every command that
acts on a stack gets it from one `StackSource` (cli/options.py `stack_source`) and says first which stack
it read. Errors are mapped to exit codes in one place (`MlplatformGroup.invoke`): 0 ok, 1 domain error
(one red line naming the key and the fix), 2 usage, 3 policy/safety refusal; under `--json` the same
error is also a JSON object on stdout. Imports of Pulumi and the stack code happen inside the commands,
so `mlplatform --help` stays fast.
"""

from __future__ import annotations

import sys
from itertools import pairwise
from typing import Any, NoReturn

import click

from .options import JSON_META

EXIT_DOMAIN, EXIT_USAGE, EXIT_POLICY = 1, 2, 3


def _fail(
    message: str, code: int, parts: tuple[str, str, str], reasons: list[str] | None = None, document: Any = None
) -> NoReturn:
    """One red line on stderr (and, under --json, `parts` = (field, problem, fix) as JSON on stdout)."""
    from rich.console import Console
    from rich.markup import escape

    from .printers import error_json

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(JSON_META):
        error_json(*parts, code, document)
    # a message quotes input as is: no emoji, no highlighting
    err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    for reason in reasons or []:
        err.print(f"  - {reason}", markup=False)
    sys.exit(code)


def _wants_json(ctx: click.Context) -> bool:
    """--json (or plan's --format json) anywhere on the command line, before a command parsed it."""
    args = ctx.args
    if "--" in args:
        args = args[: args.index("--")]
    fmt = any(a == "--format=json" or (a == "--format" and b == "json") for a, b in pairwise([*args, ""]))
    return "--json" in args or fmt


class MlplatformGroup(click.Group):
    """The one mapping from errors to exit codes and one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        from mlplatform.stacks.errors import MlplatformError, PolicyRefusal
        from mlplatform.stacks.runtime import paused_gc

        if _wants_json(ctx):
            ctx.meta[JSON_META] = True
        try:
            with paused_gc():  # the SDK imports and the plan, without the collector's passes over them
                return super().invoke(ctx)
        except PolicyRefusal as e:
            _fail(str(e), e.exit_code, (e.key, e.problem, e.fix), e.reasons, e.document)
        except MlplatformError as e:
            _fail(str(e), e.exit_code, (e.key, e.problem, e.fix))
        except click.ClickException as e:  # click's own usage errors: its text on stderr, exit 2
            if ctx.meta.get(JSON_META):
                hint = getattr(e, "param_hint", None) or getattr(getattr(e, "param", None), "opts", None)
                field = hint if isinstance(hint, str) else "/".join(hint or [])
                from .printers import error_json

                error_json(field, e.format_message(), "see --help", e.exit_code)
            raise
        except Exception as e:  # a component's ValidationError, AWS API failures: one line, exit 1
            # A component error can only come from a loaded component module: commands that run without
            # Pulumi (the evidence observer's image has none) never import it here.
            common = sys.modules.get("mlplatform.components._common")
            if common is not None and isinstance(e, common.ValidationError):
                _fail(str(e), EXIT_DOMAIN, (e.field, e.problem, e.fix))
            from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

            if isinstance(e, NoCredentialsError):
                fix = "run `aws configure` or `aws sso login`, or set AWS_PROFILE"
                _fail(f"aws credentials: none found; {fix}", EXIT_DOMAIN, ("aws credentials", "none found", fix))
            if isinstance(e, (ClientError, BotoCoreError)):
                line = str(e).splitlines()[0]
                _fail(f"aws: {line}", EXIT_DOMAIN, ("aws", line, "check the credentials, region and permissions"))
            raise


@click.group(cls=MlplatformGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlplatform")
def cli() -> None:
    """mlplatform: your team's ML platform on AWS + Kubernetes, as Pulumi components.

    Offline verbs (profiles, plan, diff, cost, check) need no cloud, no credentials and no pulumi CLI.
    In a project folder (`mlplatform init`) every command acts on its stack.
    """


def _command(module: str, name: str | None = None) -> click.Command:
    """The command `name` (default: the module's name) of cli/commands/<module>.py."""
    from importlib import import_module

    command = getattr(import_module(f"{__package__}.commands.{module}"), name or module)
    assert isinstance(command, click.Command)
    return command


# One line per command or group: a new one (cli/commands/serve.py) is `cli.add_command(_command("serve"))`.
cli.add_command(_command("profiles"))
cli.add_command(_command("plan"))
cli.add_command(_command("init"))
cli.add_command(_command("doctor"))
cli.add_command(_command("engine", "preview"))
cli.add_command(_command("engine", "up"))
cli.add_command(_command("engine", "refresh"))
cli.add_command(_command("engine", "outputs"))
cli.add_command(_command("engine", "destroy"))
cli.add_command(_command("diff"))
cli.add_command(_command("cost"))
cli.add_command(_command("upgrade"))
cli.add_command(_command("team"))
cli.add_command(_command("ci"))
cli.add_command(_command("check"))
cli.add_command(_command("evidence"))
cli.add_command(_command("serve"))
cli.add_command(_command("alerts"))
cli.add_command(_command("drift"))


def main() -> None:
    """The `mlplatform` command. The cyclic collector stays off for the process (`stacks/runtime.py`), and
    on the way out the heap is frozen: the interpreter's last collection at exit would otherwise walk
    every object of the SDKs once more (about 0.6 s after a plan, `benchmarks/plan_speed.py`)."""
    import gc

    gc.disable()
    try:
        cli(prog_name="mlplatform")
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()

"""The `mlplatform` command line: parses options, calls `mlplatform.stacks`, formats the answer.

Imports of Pulumi and the stack code happen inside the commands, so `mlplatform --help` stays fast.
Exit codes: 0 ok, 1 domain error (one red line naming the key and the fix), 2 usage, 3 policy refusal.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

EXIT_DOMAIN = 1
EXIT_POLICY = 3


def _fail(message: str, code: int = EXIT_DOMAIN) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}", markup=True)
    sys.exit(code)


def domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the domain's errors into one red line on stderr and exit code 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mlplatform.components._common import ValidationError
        from mlplatform.stacks.spec import SpecError

        try:
            return fn(*args, **kwargs)
        except (SpecError, ValidationError) as e:
            _fail(str(e).replace("[", "\\["))

    return wrapper


def spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose a stack: profile or team size, config file, --set, region."""
    fn = click.option("--region", default=None, help="AWS region (default: the profile's, us-east-1).")(fn)
    fn = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                      help="Override one value, e.g. --set network.az_count=3 (repeatable).")(fn)
    fn = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                      help="Your stack config (YAML, same keys as a profile).")(fn)
    fn = click.option("--team-size", type=int, default=None,
                      help="People on the ML team: picks the profile (1-5 pragmatic, 6-20 growth, 21+ full).")(fn)
    fn = click.option("--profile", "-p", default=None, help="pragmatic, growth or full.")(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlplatform")
def cli() -> None:
    """mlplatform: your team's ML platform on AWS + Kubernetes, as Pulumi components.

    Offline verbs (profiles, plan) need no cloud, no credentials and no pulumi CLI.
    """


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def profiles(as_json: bool) -> None:
    """List the profiles: team size, components and key sizes."""
    from mlplatform.stacks.catalog import profile_rows

    rows = profile_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mlplatform profiles", show_lines=True)
    for col in ("profile", "team size", "components", "key sizes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(f"[bold]{r['profile']}[/]", r["team_size"], "\n".join(r["components"]),
                      "\n".join(f"{k}: {v}" for k, v in r["sizes"].items()))
    Console().print(table)


@cli.command()
@spec_options
@click.option("--stack", default="dev", show_default=True, help="Stack name (prefixes physical names).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (the plan --json contract).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the JSON plan to this file.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@domain_errors
def plan(profile: str | None, team_size: int | None, config_file: str | None, sets: tuple[str, ...],
         region: str | None, stack: str, as_json: bool, out: str | None, force: bool) -> None:
    """Show, offline, every resource a stack would create."""
    from mlplatform.stacks.files import write_atomic
    from mlplatform.stacks.program import plan as make_plan
    from mlplatform.stacks.spec import load_spec

    spec = load_spec(profile=profile, team_size=team_size, config_file=config_file, sets=sets, region=region)
    result = make_plan(spec, stack=stack)
    if out:
        write_atomic(out, result.to_json() + "\n", force=force)
    if as_json:
        click.echo(result.to_json())
        return
    from mlplatform.cli.render import print_plan

    print_plan(result, spec, stack)
    if out:
        click.echo(f"Plan written to {out}.")


def main() -> None:
    cli(prog_name="mlplatform")


if __name__ == "__main__":  # pragma: no cover
    main()

"""`mlplatform upgrade`: move a stack to another profile (diff, cost delta, refuse data loss, rewrite).

The flow is `mlplatform.stacks.project.upgrade` (upgrade_sources, prepare, check, apply, next_steps);
this command confirms the write and prints.
"""

from __future__ import annotations

from typing import Any

import click

from .. import options as o
from .. import printers

PROFILE_CHOICE = click.Choice(["pragmatic", "growth", "full"])


def _deprecated(old: str, new: str) -> Any:
    def note(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value:
            click.echo(f"note: {old} is deprecated; use {new}", err=True)
        return value

    return note


@click.command()
@click.option("--profile", "-p", "profile", type=PROFILE_CHOICE, default=None, help="The profile to move the stack to.")
@click.option(
    "--to", "to", type=PROFILE_CHOICE, default=None, hidden=True, callback=_deprecated("--to", "-p/--profile")
)
@click.option(
    "--config",
    "config_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="The stack config: Pulumi.<stack>.yaml, or YAML with `profile:` and sections, like "
    "examples/existing-vpc/stack.yaml (repeatable; every file given is rewritten).",
)
@click.option(
    "--stack-file",
    type=click.Path(dir_okay=False),
    default=None,
    hidden=True,
    callback=_deprecated("--stack-file", "--config"),
)
@o.directory
@o.stack
@o.sets_option("Override one value of the stack on both sides of the diff (repeatable; only with --dry-run).")
@click.option("--region", default=None, help="AWS region of both sides of the diff (only with --dry-run).")
@o.usage_option("Usage assumptions for the cost delta (default: stacks/data/usage-default.yaml).")
@click.option("--yes", is_flag=True, help="Write without asking.")
@click.option("--dry-run", is_flag=True, help="Show the diff and the cost delta; write nothing.")
@o.json_option("Machine-readable output (writes only with --yes).")
def upgrade(
    profile: str | None,
    to: str | None,
    config_files: tuple[str, ...],
    stack_file: str | None,
    directory: str | None,
    stack: str | None,
    sets: tuple[str, ...],
    region: str | None,
    usage_file: str | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Move a stack to another profile: diff, cost delta, refuse data loss (exit 3), rewrite the config."""
    from mlplatform.stacks.analyses.cost import load_usage
    from mlplatform.stacks.config.stackfile import check_writable
    from mlplatform.stacks.errors import UsageError
    from mlplatform.stacks.project.upgrade import UpgradeRefused, apply, next_steps, prepare, upgrade_sources

    if profile and to and profile != to:
        raise UsageError("--profile", f"--profile {profile} and --to {to} disagree", "give --profile alone")
    to = profile or to
    if to is None:
        raise UsageError("--profile", "no profile to move to", "pass -p/--profile pragmatic|growth|full")
    if as_json and not (yes or dry_run):
        raise UsageError(
            "--json", "writes only with --yes", "add --yes to write, or --dry-run to only show the upgrade"
        )
    if (sets or region) and not dry_run:
        given = " and ".join(x for x, v in (("--set", sets), ("--region", region)) if v)
        raise UsageError(
            given.split()[0],
            f"upgrade writes only the profile, so {given} would be shown in the diff but not written",
            f"write the value into the stack config first, or add --dry-run to only see the upgrade with {given}",
        )
    usage = load_usage(usage_file)
    sources = upgrade_sources([f for f in (stack_file, *config_files) if f], stack, directory, sets, region)
    if not dry_run:
        for source in sources:  # a file that cannot be rewritten is refused before the plans
            if source.stack_file is not None:
                check_writable(source.stack_file.path, source.stack_file.what)
    up = prepare(sources, to, usage)
    main = sources[0]
    if not as_json:
        printers.say_source(main)
    if up.noop:
        if as_json:
            printers.emit_json({"from": to, "to": to, "written": [], "noop": True}, main)
        else:
            click.echo(f"The stack is already on profile {to}: nothing to do.")
        return
    costs = (up.cost_before, up.cost_after) if up.cost_before and up.cost_after else None
    data: dict[str, Any] = printers.with_source(
        {
            "from": up.current.profile,
            "to": to,
            "diff": up.diff.to_dict(),
            "refused": up.refused,
            "cost": printers.cost_delta(costs),
            "dry_run": dry_run,
        },
        main,
    )
    if not as_json:
        printers.print_diff(up.diff, costs)
    if up.refused:  # exit 3 with each stateful resource at risk; under --json one document: the upgrade + error
        raise UpgradeRefused(up.refused, f"{up.current.profile} -> {to}", document={**data, "written": []})
    if dry_run:
        if as_json:
            printers.emit_json({**data, "written": []})
        else:
            click.echo(
                f"--dry-run: nothing written ({', '.join(str(s.file) for s in sources)} would get profile {to})."
            )
        return
    if not as_json:
        printers.confirm_or_refuse(
            f"Write profile {to} into {', '.join(str(s.file) for s in sources)}?", yes, "upgrade"
        )
    written = apply(up)
    steps = next_steps(up)
    if as_json:
        printers.emit_json(
            {
                **data,
                "written": [{"file": str(f), "backup": str(b)} for f, b in written],
                "also_changed": up.notes,
                "next_steps": steps,
            }
        )
        return
    for f, b in written:
        click.echo(f"wrote {f} (profile: {to}); the previous file is {b}")
    for note in up.notes:
        click.echo(f"  also changed: {note}")
    click.echo("Nothing has changed in the cloud yet. Next:")
    for s in steps:
        click.echo(f"  {s}")

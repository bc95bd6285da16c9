"""`mlplatform upgrade`: move a stack to another profile (diff, cost delta, refuse data loss, rewrite).

The flow is `mlplatform.stacks.project.upgrade` (upgrade_sources, prepare, check, apply, next_steps);
this command confirms the write and prints.
"""

from __future__ import annotations

from typing import Any

import click

from .. import options as o
from .. import printers


@click.command()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(["pragmatic", "growth", "full"]),
    help="The profile to move the stack to.",
)
@o.config_option("The stack config (YAML with `profile:` and sections, like examples/existing-vpc/stack.yaml).")
@click.option(
    "--stack-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The Pulumi stack file (Pulumi.<stack>.yaml with mlplatform:profile).",
)
@o.directory
@o.stack
@click.option("--yes", is_flag=True, help="Write without asking.")
@click.option("--dry-run", is_flag=True, help="Show the diff and the cost delta; write nothing.")
@o.json_option("Machine-readable output (writes only with --yes).")
def upgrade(
    to: str,
    config_file: str | None,
    stack_file: str | None,
    directory: str | None,
    stack: str | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Move a stack to another profile: diff, cost delta, refuse data loss (exit 3), rewrite the config."""
    from mlplatform.stacks.errors import UsageError
    from mlplatform.stacks.project.upgrade import apply, check, next_steps, prepare, upgrade_sources

    if as_json and not (yes or dry_run):
        raise UsageError(
            "--json", "writes only with --yes", "add --yes to write, or --dry-run to only show the upgrade"
        )
    sources = upgrade_sources([f for f in (stack_file, config_file) if f], stack, directory)
    up = prepare(sources, to)
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
    if up.refused or dry_run:
        if as_json:
            printers.emit_json({**data, "written": []})
        elif dry_run and not up.refused:
            click.echo(
                f"--dry-run: nothing written ({', '.join(str(s.file) for s in sources)} would get profile {to})."
            )
        check(up)  # refused: exit 3 with each stateful resource at risk
        return
    if not as_json:
        printers.confirm_or_refuse(
            f"Write profile {to} into {', '.join(str(s.file) for s in sources)}?", yes, "upgrade"
        )
    written = apply(up)
    steps = next_steps(up)
    if as_json:
        printers.emit_json(
            {**data, "written": [{"file": str(f), "backup": str(b)} for f, b in written], "next_steps": steps}
        )
        return
    for f, b in written:
        click.echo(f"wrote {f} (profile: {to}); the previous file is {b}")
    click.echo("Nothing has changed in the cloud yet. Next:")
    for s in steps:
        click.echo(f"  {s}")

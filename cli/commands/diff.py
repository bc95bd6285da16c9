"""`mlplatform diff`: what changes between two stacks, offline (add, change, replace, destroy, cost)."""

from __future__ import annotations

import click

from .. import options as o
from .. import printers


@click.command()
@click.option(
    "--from",
    "source_a",
    required=True,
    metavar="A",
    help="Profile name, stack config (YAML, or Pulumi.<stack>.yaml) or saved plan (JSON).",
)
@click.option(
    "--to",
    "source_b",
    default=None,
    metavar="B",
    help="Same kinds as --from (default: the stack of the project folder, --dir or the one you are in).",
)
@o.sets_option("Override one value of B (repeatable).")
@o.region
@o.stack
@o.directory
@o.usage_option("Usage assumptions for the cost delta (default: stacks/data/usage-default.yaml).")
@o.as_json
def diff(
    source_a: str,
    source_b: str | None,
    sets: tuple[str, ...],
    region: str | None,
    stack: str | None,
    directory: str | None,
    usage_file: str | None,
    as_json: bool,
) -> None:
    """Show, offline, what changes between two stacks: add, change, replace, destroy."""
    from mlplatform.stacks.analyses.cost import estimate_if_priced, load_usage
    from mlplatform.stacks.analyses.diff import diff_plans
    from mlplatform.stacks.source import source_for

    usage = load_usage(usage_file)
    if source_b is None:
        b = o.make_source(sets=sets, region=region, stack=stack, directory=directory)
        if b.kind != "project":
            from mlplatform.stacks.errors import UsageError

            raise UsageError(
                "--to",
                "not in a project folder, so there is no stack to compare with",
                "pass --to PROFILE|FILE, or run it in the folder `mlplatform init` made",
            )
    else:
        b = source_for(source_b, sets, region, stack, "--to", directory)
    a = source_for(source_a, (), region, stack or (b.stack if b.kind == "project" else None), "--from", directory)
    plan_a, plan_b = a.plan(), b.plan()
    result = diff_plans(plan_a, plan_b, source_a, source_b or b.label)
    before, after = estimate_if_priced(plan_a, a.region, usage), estimate_if_priced(plan_b, b.region, usage)
    costs = (before, after) if before and after else None
    if as_json:
        data = result.to_dict()
        data["cost"] = printers.cost_delta(costs)
        data["from_source"] = a.to_dict()
        printers.emit_json(data, b)
        return
    printers.say_source(b)
    click.echo(f"compared with: {a.describe()}")
    printers.print_diff(result, costs)
    if costs is None:
        click.echo(f"No cost delta: no price file for {a.region if before is None else b.region}.")

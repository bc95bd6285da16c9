"""`mlplatform profiles`: the profiles, their team sizes, components, key sizes and idle cost."""

from __future__ import annotations

import click

from .. import options as o
from .. import printers


@click.command()
@click.option("--region", default=None, help="Region of the cost column (default: the stack's, else us-east-1).")
@o.stack
@o.directory
@o.as_json
def profiles(region: str | None, stack: str | None, directory: str | None, as_json: bool) -> None:
    """List the profiles: team size, components, key sizes and idle cost."""
    from mlplatform.stacks.analyses.cost import profile_idle_costs
    from mlplatform.stacks.config.profiles import profile_rows

    src = o.make_source(region=region, stack=stack, directory=directory)
    costs = {c["profile"]: c for c in profile_idle_costs(src.region)}
    rows = [{**r, "idle_cost": costs[r["profile"]]} for r in profile_rows()]
    if as_json:
        printers.emit_json(rows)
        return
    printers.say_source(src)
    printers.print_profiles(rows, src.region)

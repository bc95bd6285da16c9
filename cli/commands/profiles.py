"""`mlplatform profiles`: the profiles, their team sizes, components and key sizes."""

from __future__ import annotations

import click

from .. import options as o
from .. import printers


@click.command()
@o.as_json
def profiles(as_json: bool) -> None:
    """List the profiles: team size, components and key sizes."""
    from mlplatform.stacks.config.profiles import profile_rows

    rows = profile_rows()
    if as_json:
        printers.emit_json(rows)
        return
    printers.print_profiles(rows)

"""`mlplatform doctor`: credentials, region, GPU offerings and quotas, tools and support dates."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.source import StackSource


@click.command()
@o.stack_source
@click.option("--offline", is_flag=True, help="Only the local checks: tools and support dates.")
@o.as_json
def doctor(src: StackSource, offline: bool, as_json: bool) -> None:
    """Check credentials, region, GPU offerings and quotas, pulumi, kubectl and support dates."""
    from mlplatform.stacks.cloud.doctor import run_preflight
    from mlplatform.stacks.errors import EXIT_DOMAIN

    report = run_preflight(src.spec, cloud=not offline)
    if as_json:
        printers.emit_json(report.to_dict(), src)
    else:
        printers.say_source(src)
        printers.print_findings(report.findings)
        n = len(report.blockers)
        click.echo(f"\n{n} blocker{'s' if n != 1 else ''}." if n else "\nReady: no blockers.")
    if report.blockers:
        sys.exit(EXIT_DOMAIN)

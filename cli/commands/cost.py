"""`mlplatform cost`: the monthly cost of a stack per resource and component, and a GPU-hour's price."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.source import StackSource


@click.command()
@o.stack_source(plan=o.saved_plan)
@o.usage_option("Usage assumptions (default: stacks/data/usage-default.yaml, which documents each one).")
@click.option(
    "--live-prices",
    is_flag=True,
    help="Ask the AWS Price List API (needs AWS credentials) for the "
    "prices this stack uses, instead of the shipped price file.",
)
@o.as_json
def cost(src: StackSource, usage_file: str | None, live_prices: bool, as_json: bool) -> None:
    """Monthly cost per resource and component: idle, with usage, and the price of a GPU-hour."""
    from mlplatform.stacks.analyses.cost import estimate, estimate_live, load_usage

    usage = load_usage(usage_file)
    missed: list[str] = []
    if live_prices:
        report, missed = estimate_live(src.plan(), src.region, usage)
    else:
        report = estimate(src.plan(), src.region, usage)
    if as_json:
        data = report.to_dict()
        if live_prices:
            data["live_prices_unanswered"] = missed
        printers.emit_json(data, src)
        return
    printers.say_source(src)
    printers.print_cost(report)
    if missed:
        click.echo(f"Price List API had no single answer for: {', '.join(missed)}")

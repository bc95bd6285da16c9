"""`mlplatform alerts test`: a test alert through the stack's live Alertmanager (stacks/cloud/alerts.py)."""

from __future__ import annotations

import json

import click

from mlplatform.cli import options as o


@click.group()
def alerts() -> None:
    """Where the stack's alerts go (monitoring.alerts)."""


@alerts.command("test")
@o.project_options
@click.option("--receiver", default=None, metavar="NAME", help="Only this receiver (default: one alert to each).")
@o.as_json
def test(stack: str | None, directory: str | None, receiver: str | None, as_json: bool) -> None:
    """Send a test alert to each receiver through the live Alertmanager (needs the cluster)."""
    from mlplatform.stacks.cloud.alerts import send_test_alerts
    from mlplatform.stacks.cloud.engine import project_of

    src = o.make_source(stack=stack, directory=directory)
    project_of(src, directory)  # an engine verb: a project folder's stack
    if not as_json:
        click.echo(src.describe())
    sent = send_test_alerts(src.plan(), src.spec.monitoring.alerts, receiver)
    if as_json:
        click.echo(json.dumps({"source": src.to_dict(), "sent_to": sent}, indent=2))
        return
    for name in sent:
        click.echo(f"Test alert sent to receiver {name}: check that it arrived.")

"""`mlplatform drift run`: one served model's drift job (stacks/monitoring/job.py); the CronJob runs it."""

from __future__ import annotations

import json

import click

from mlplatform.cli import options as o


@click.group()
def drift() -> None:
    """Compare a served model's logged inputs and predictions with its training data."""


@drift.command("run")
@click.option("--model", required=True, help="The served model (serving.models.<name>).")
@click.option("--digest", default=None, help="One version (sha256:...); default every version with logs.")
@click.option("--window-days", type=click.IntRange(1, 90), default=7, show_default=True)
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True)
@o.as_json
def run(model: str, digest: str | None, window_days: int, threshold: float, as_json: bool) -> None:
    """Run the drift job once (environment: see stacks/monitoring/job.py)."""
    from mlplatform.stacks.monitoring.job import run_from_env

    results = run_from_env(model, digest, window_days, threshold)
    if as_json:
        click.echo(json.dumps([{"digest": r.digest, **r.predicate()} for r in results], indent=2))
        return
    for r in results:
        state = "DRIFTED" if r.drifted else "no drift"
        click.echo(
            f"{model}@{r.digest}: {state}, score {r.score:.2f} (threshold {r.threshold}), "
            f"{r.drifted_features} of {len(r.columns)} columns drifted, {r.rows_current} rows"
        )

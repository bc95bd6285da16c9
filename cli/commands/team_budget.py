"""`mlplatform team budget --release TEAM`: release a team's queue held for its spent GPU budget."""

from __future__ import annotations

import json

import click

from .. import options as o


@click.command("budget")
@click.option("--release", "team", metavar="TEAM", required=True, help="The team whose held queue to release.")
@o.stack
@o.directory
@o.config_option("The stack config whose teams to read: a stack file or Pulumi.<stack>.yaml; default: the project's.")
@o.as_json
def team_budget(team: str, config_file: str | None, directory: str | None, stack: str | None, as_json: bool) -> None:
    """Release TEAM's ClusterQueue (stopPolicy None) for the rest of the month, with kubectl.

    The budget hold job will not hold it again this month; next month its budget counts from 0.
    """
    from mlplatform.stacks.config.queues import queueing_on
    from mlplatform.stacks.errors import SpecError
    from mlplatform.stacks.project.budget import release

    src = o.make_source(config_file=config_file, stack=stack, directory=directory)
    if not queueing_on(src.spec):
        raise SpecError("queueing.enabled", "is false: the stack has no queues to hold", "set queueing.enabled: true")
    month = release(team, [t.name for t in src.spec.teams])
    if as_json:
        click.echo(json.dumps({"source": src.to_dict(), "team": team, "released_for": month}))
        return
    click.echo(src.describe())
    click.echo(
        f"released team {team}'s queue for {month}: new jobs are admitted again; the budget counts from 0 next month"
    )

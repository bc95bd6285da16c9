"""`mlplatform init`: create the team's Pulumi project (stack file, program, state backend)."""

from __future__ import annotations

import sys
from typing import Literal

import click

from .. import options as o


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@o.team_size
@click.option("--profile", "-p", default=None, help="pragmatic, growth or full (instead of --team-size).")
@click.option("--region", default=None, help="AWS region (default us-east-1).")
@click.option("--stack", default=None, help="Stack name (default dev); prefixes every resource name.")
@click.option(
    "--backend",
    type=click.Choice(["local", "s3"]),
    default=None,
    help="Where Pulumi keeps state: local (a folder in the project, for trying it) or s3.",
)
@click.option(
    "--state-bucket",
    default=None,
    help="s3 backend: bucket to create or adopt (default mlplatform-state-<account>-<region>).",
)
@click.option(
    "--secrets",
    type=click.Choice(["kms", "passphrase"]),
    default=None,
    help="How stack secrets are encrypted (default: kms with s3, passphrase with local).",
)
@click.option("--kms-alias", default=None, help="KMS alias for --secrets kms (default alias/mlplatform-state).")
@click.option("--github-org", default=None, help="GitHub organization the CI runners register with.")
@o.sets_option("Override one value in the stack config, e.g. --set network.existing.vpc_id=vpc-... (repeatable).")
@click.option("--non-interactive", is_flag=True, help="Ask nothing: flags and defaults only.")
@o.force_option("Overwrite files that exist with other content.")
def init(
    directory: str,
    team_size: int | None,
    profile: str | None,
    region: str | None,
    stack: str | None,
    backend: Literal["local", "s3"] | None,  # click.Choice gives one of these
    state_bucket: str | None,
    secrets: Literal["kms", "passphrase"] | None,  # click.Choice gives one of these
    kms_alias: str | None,
    github_org: str | None,
    sets: tuple[str, ...],
    non_interactive: bool,
    force: bool,
) -> None:
    """Create the team's Pulumi project in DIRECTORY (default: here)."""
    import shlex
    from pathlib import Path

    from mlplatform.stacks.errors import UsageError
    from mlplatform.stacks.project.init import InitOptions, init_project, questionary_ask

    if profile is not None and team_size is not None:
        raise UsageError("--profile", "--profile and --team-size both pick the profile", "give one of them")
    opts = InitOptions(
        directory=Path(directory),
        stack=stack,
        profile=profile,
        team_size=team_size,
        region=region,
        backend=backend,
        state_bucket=state_bucket,
        secrets=secrets,
        kms_alias=kms_alias,
        sets=sets,
        github_org=github_org,
        force=force,
    )
    interactive = not non_interactive and sys.stdin.isatty()
    result = init_project(opts, ask=questionary_ask if interactive else None)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for change in result.backend_changes:
        click.echo(f"state backend: {change}")
    if result.no_op:
        click.echo(f"Nothing to do: {directory} is up to date ({len(result.unchanged)} files unchanged).")
        return
    for name in result.written:
        click.echo(f"wrote {Path(directory) / name}")
    for name in result.unchanged:
        click.echo(f"unchanged {Path(directory) / name}")
    cd = "" if Path(directory).resolve() == Path.cwd() else f"cd {shlex.quote(directory)} && "
    click.echo(
        f"\nStack {result.stack}: profile {result.spec.profile}, region {result.spec.region}. Next:\n"
        f"  {cd}mlplatform {shlex.join(result.plan_args)}\n"
        "  mlplatform doctor && mlplatform preview && mlplatform up"
    )

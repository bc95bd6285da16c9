"""`mlplatform team add|list|remove`: edit the teams of the stack config, with the offline diff of that team."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.source import StackSource


@click.group()
def team() -> None:
    """Self-serve team spaces: add, list or remove a team in the stack config (offline)."""


def team_options(verb: str) -> Any:
    """--config --dir --stack: the stack config a team command reads or edits (it must be a stack file)."""

    def deco(fn: Any) -> Any:
        fn = o.stack(fn)
        fn = o.directory(fn)
        return o.config_option(
            f"The stack config to {verb}: a stack file (teams:) or Pulumi.<stack>.yaml "
            "(mlplatform:teams); default: the project's."
        )(fn)

    return deco


def _team_source(config_file: str | None, directory: str | None, stack: str | None) -> StackSource:
    from mlplatform.stacks.errors import SpecError

    src = o.make_source(config_file=config_file, stack=stack, directory=directory)
    if src.stack_file is None:
        raise SpecError(
            "--dir",
            f"{directory or '.'} has no Pulumi.yaml",
            "pass --config FILE (a stack config or "
            "Pulumi.<stack>.yaml), or run it in the project folder `mlplatform init` made",
        )
    return src


@team.command("add")
@click.argument("name")
@click.option("--gpu-quota", type=int, default=0, show_default=True, help="Most GPUs the team's pods request at once.")
@click.option("--cpu-quota", type=int, default=None, help="Most CPU cores the team's pods request (default 8).")
@click.option("--memory-gib", type=int, default=None, help="Most memory (GiB) the team's pods request (default 32).")
@click.option("--pvc-quota", type=int, default=None, help="Most PersistentVolumeClaims the team creates (default 10).")
@click.option(
    "--storage-gib",
    type=int,
    default=None,
    help="Most storage (GiB) all the team's PersistentVolumeClaims request (default 500).",
)
@click.option(
    "--cpu-runners",
    metavar="MIN:MAX",
    default=None,
    help="The team's own CPU runner scale set (`runs-on: NAME`), e.g. 0:2 (default: none).",
)
@click.option(
    "--gpu-runners",
    metavar="MIN:MAX",
    default=None,
    help="The team's own GPU runner scale set (`runs-on: NAME-gpu`), e.g. 0:1 (default: none).",
)
@click.option(
    "--principal",
    "principals",
    multiple=True,
    metavar="ARN",
    help="IAM role/user ARN of a team member, mapped to the team's Kubernetes group (repeatable).",
)
@team_options("edit")
@click.option("--dry-run", is_flag=True, help="Show the diff, write nothing.")
@o.as_json
def team_add(
    name: str,
    gpu_quota: int,
    cpu_quota: int | None,
    memory_gib: int | None,
    pvc_quota: int | None,
    storage_gib: int | None,
    cpu_runners: str | None,
    gpu_runners: str | None,
    principals: tuple[str, ...],
    config_file: str | None,
    directory: str | None,
    stack: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Add team NAME to the stack config, then show the offline diff of its resources."""
    from mlplatform.stacks.project.team import add_team, new_team_entry

    entry = new_team_entry(
        name,
        gpu_quota=gpu_quota,
        cpu_quota=cpu_quota,
        principals=principals,
        memory_quota_gib=memory_gib,
        pvc_quota=pvc_quota,
        storage_quota_gib=storage_gib,
        runners={"cpu": cpu_runners or "", "gpu": gpu_runners or ""},
    )
    src = _team_source(config_file, directory, stack)
    printers.print_team_change(src, add_team(src, entry, write=not dry_run), as_json)


@team.command("list")
@team_options("read")
@o.as_json
def team_list(config_file: str | None, directory: str | None, stack: str | None, as_json: bool) -> None:
    """The teams of the stack config, with their quotas (defaults filled in)."""
    src = _team_source(config_file, directory, stack)
    rows = [t.model_dump() for t in src.spec.teams]
    if as_json:
        printers.emit_json(rows)
        return
    printers.say_source(src)
    if not rows:
        click.echo("No teams. Add one with `mlplatform team add NAME --gpu-quota N`.")
        return
    printers.print_teams(rows)


@team.command("remove")
@click.argument("name")
@team_options("edit")
@click.option("--dry-run", is_flag=True, help="Show the diff, write nothing.")
@o.as_json
def team_remove(
    name: str, config_file: str | None, directory: str | None, stack: str | None, dry_run: bool, as_json: bool
) -> None:
    """Remove team NAME from the stack config; its S3 prefix and ECR repositories are kept."""
    from mlplatform.stacks.project.team import remove_team

    src = _team_source(config_file, directory, stack)
    printers.print_team_change(src, remove_team(src, name, write=not dry_run), as_json)

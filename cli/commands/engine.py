"""The engine verbs: `preview`, `up`, `refresh`, `outputs`, `destroy` (Pulumi's Automation API).

The flows are in `mlplatform.stacks.cloud.engine` (and `orphans`); these commands choose the project's
stack, confirm what deletes or builds, and print.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.cloud.engine import DestroyPlan, Project
    from mlplatform.stacks.source import StackSource


def _project(stack: str | None, directory: str | None, quiet: bool = False) -> tuple[StackSource, Project]:
    from mlplatform.stacks.cloud.engine import project_of

    src = o.make_source(stack=stack, directory=directory)
    project = project_of(src, directory)
    if not quiet:
        printers.say_source(src)
    return src, project


@click.command()
@o.project_options
def preview(stack: str | None, directory: str | None) -> None:
    """Show what the engine would change (Pulumi preview via the Automation API)."""
    from mlplatform.stacks.cloud import engine

    _, project = _project(stack, directory)
    engine.preview(project)


@click.command()
@o.project_options
@o.yes
@click.option("--skip-preflight", is_flag=True, help="Don't run the doctor checks first.")
def up(stack: str | None, directory: str | None, yes: bool, skip_preflight: bool) -> None:
    """Build or update the stack (after the doctor checks)."""
    from mlplatform.stacks.cloud import engine
    from mlplatform.stacks.cloud.doctor import run_preflight
    from mlplatform.stacks.errors import SpecError

    src, project = _project(stack, directory)
    engine.require_deployable(project)
    engine.require_pulumi()  # one line saying what to install, before the longer preflight
    engine.require_credentials(project.region)
    if not skip_preflight:
        report = run_preflight(src.spec)
        printers.print_findings([f for f in report.findings if f.status != "ok"])
        if report.blockers:
            raise SpecError(
                "up", f"{len(report.blockers)} preflight blocker(s) above", "fix them, or pass --skip-preflight"
            )
    printers.confirm_or_refuse(f"Build stack {project.stack} in {project.region}?", yes, "up")
    engine.up(project)


@click.command()
@o.project_options
def refresh(stack: str | None, directory: str | None) -> None:
    """Bring the stack's state in line with what exists in the cloud."""
    from mlplatform.stacks.cloud import engine

    _, project = _project(stack, directory)
    engine.refresh(project)


@click.command()
@o.project_options
@o.as_json
def outputs(stack: str | None, directory: str | None, as_json: bool) -> None:
    """The stack's outputs: MLflow/Grafana URLs, registry URLs, the kubeconfig command."""
    from mlplatform.stacks.cloud import engine

    src, project = _project(stack, directory, quiet=as_json)
    rows = engine.outputs(project)
    if as_json:
        printers.emit_json(dict(rows), src)
        return
    printers.print_outputs(rows)


@click.command()
@o.project_options
@o.yes
@click.option("--purge", is_flag=True, help="Also delete the database, buckets and registries.")
@click.option("--no-sweep", is_flag=True, help="Skip the orphan sweep afterwards.")
@click.option("--orphans-only", is_flag=True, help="Only sweep leftovers tagged for this stack (no pulumi needed).")
def destroy(
    stack: str | None, directory: str | None, yes: bool, purge: bool, no_sweep: bool, orphans_only: bool
) -> None:
    """Tear the stack down in a safe order; data stays unless --purge; then sweep orphans."""
    from mlplatform.stacks.cloud import engine, orphans
    from mlplatform.stacks.errors import EXIT_DOMAIN, PolicyRefusal

    _, project = _project(stack, directory)
    if not orphans_only:

        def confirm(dplan: DestroyPlan) -> bool:
            printers.print_destroy_plan(dplan)
            if yes:
                return True
            if not sys.stdin.isatty():
                raise PolicyRefusal("destroy", "needs confirmation and there is no terminal to ask", "pass --yes")
            return click.prompt(f"Type the stack name ({project.stack}) to destroy it", default="") == project.stack

        dplan, _ = engine.destroy(project, purge, confirm)
        if dplan.kept:
            click.echo(f"Kept {len(dplan.kept)} resources (data and what it needs); `destroy --purge` deletes them.")
        if no_sweep:
            return
    found = orphans.find_orphans(project.region, project.stack)
    if not found:
        click.echo(f"No orphans tagged for stack {project.stack} in {project.region}.")
        return
    for orphan in found:
        click.echo(f"orphan {orphan.kind}: {orphan.id} {orphan.name}".rstrip())
    if orphans_only:
        printers.confirm_or_refuse(f"Delete these {len(found)} resources?", yes, "destroy --orphans-only")
    result = orphans.delete_orphans(found, project.region)
    click.echo(f"Deleted {len(result.deleted)} orphans.")
    for orphan, reason in result.failed:
        click.echo(
            f"could not delete {orphan.kind} {orphan.id}: {reason} (run `mlplatform destroy --orphans-only` later)"
        )
    if result.failed:
        sys.exit(EXIT_DOMAIN)

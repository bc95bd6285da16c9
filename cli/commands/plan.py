"""`mlplatform plan`: every resource a stack would create, offline (tree, JSON, exports)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.source import StackSource


@click.command()
@o.stack_source
@o.json_option("Print the plan as JSON (the plan --json contract).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the JSON plan (with --format terraform-plan/k8s-yaml: only that export) to this file.",
)
@o.force
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "json", "terraform-plan", "k8s-yaml"]),
    default="tree",
    show_default=True,
    help="json = --json; terraform-plan: Terraform plan JSON (checkov, OPA/conftest, "
    "Infracost); k8s-yaml: the Kubernetes objects as multi-document YAML.",
)
@click.option(
    "--show",
    "show",
    metavar="NAME_OR_URN",
    default=None,
    help="Print one resource's inputs and options (protect, parent, depends_on, ...) instead of the tree; "
    "NAME, TYPE::NAME (like NodeGroup::NAME, when a name repeats) or the URN.",
)
@click.option("--details", is_flag=True, help="Print each resource's inputs under its row of the tree.")
def plan(
    src: StackSource, as_json: bool, out: str | None, force: bool, fmt: str, show: str | None, details: bool
) -> None:
    """Show, offline, every resource a stack would create."""
    from mlplatform.stacks.files import check_writable, write_atomic

    if out:
        check_writable(out, force=force)  # a refused --out is refused before planning
    result = src.plan()
    if show is not None:
        from dataclasses import asdict

        resource = result.find(show)
        if as_json or fmt == "json":
            printers.emit_json({"resource": asdict(resource)}, src)
            return
        printers.say_source(src)
        printers.print_resource(resource)
        return
    if fmt in ("terraform-plan", "k8s-yaml"):
        from mlplatform.stacks.plan import export

        text = (
            export.terraform_plan_json(result, result.region) + "\n"
            if fmt == "terraform-plan"
            else export.k8s_yaml(result)
        )
        if out:
            write_atomic(out, text, force=force)
            printers.say_source(src)
            click.echo(f"{fmt} written to {out}.")
        else:
            click.echo(text, nl=False)
        return
    as_json = as_json or fmt == "json"
    data = printers.with_source(result.to_dict(), src)
    if out:
        import json

        write_atomic(out, json.dumps(data, indent=2) + "\n", force=force)
    if as_json:
        printers.emit_json(data)
        return
    printers.say_source(src)
    printers.print_plan(result, src.spec, src.stack, details=details)
    if out:
        click.echo(f"Plan written to {out}.")

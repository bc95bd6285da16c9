"""`mlplatform plan`: every resource a stack would create, offline (tree, JSON, exports)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.config.source import StackSource


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
def plan(src: StackSource, as_json: bool, out: str | None, force: bool, fmt: str) -> None:
    """Show, offline, every resource a stack would create."""
    from mlplatform.stacks.files import write_atomic

    result = src.plan()
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
    printers.print_plan(result, src.spec, src.stack)
    if out:
        click.echo(f"Plan written to {out}.")

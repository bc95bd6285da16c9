"""`mlplatform ci render` and the commands the generated workflows call (`ci evidence-predicate`, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .. import options as o
from .. import printers
from . import ci_evidence

if TYPE_CHECKING:
    from mlplatform.stacks.source import StackSource


@click.group()
def ci() -> None:
    """CI/CD: GitHub Actions workflows that run on the stack's runners."""


ci_evidence.register(ci)  # the commands the workflows call: evidence-predicate, merged-pull, released-models


@ci.command("render")
@o.stack_source
@click.option(
    "--out",
    default=".github/workflows",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder the workflows are written to.",
)
@o.force_option("Overwrite workflows that exist with other content.")
@click.option("--project-dir", default=".", show_default=True, help="The Pulumi project folder in the repository.")
@click.option("--branch", default="main", show_default=True, help="Branch that deploys and retrains.")
@click.option(
    "--secrets",
    type=click.Choice(["kms", "passphrase"]),
    default=None,
    help="How the stack's secrets are encrypted (default: the stack file's secretsprovider; "
    "passphrase: the PULUMI_CONFIG_PASSPHRASE secret).",
)
@click.option("--model-name", default="model", show_default=True, help="MLflow registered model and OCI tag prefix.")
@click.option("--metric", default="val_loss", show_default=True, help="Metric that decides promotion.")
@click.option("--higher-is-better", is_flag=True, help="A higher --metric is better (default: lower).")
@click.option(
    "--train-command",
    default="python training/train.py",
    show_default=True,
    help="The training command (logs to MLflow).",
)
@click.option(
    "--data-path",
    "data_paths",
    multiple=True,
    metavar="GLOB",
    help="A push touching these paths retrains (repeatable; default data/** and training/**).",
)
@click.option(
    "--approval",
    type=click.Choice(["pull-request", "environment"]),
    default="pull-request",
    show_default=True,
    help="How a better model is approved: merging its release pull request (every "
    "GitHub plan), or the model-promotion environment's required reviewers (Enterprise or public).",
)
@click.option(
    "--model-owner",
    "model_owners",
    multiple=True,
    metavar="OWNER",
    help="CODEOWNERS owner of models/ whose review approves a release (@org/team, @user; repeatable).",
)
@click.option(
    "--codeowners",
    "codeowners",
    default=None,
    type=click.Path(dir_okay=False),
    help="The CODEOWNERS file to add the models/ entry to (default: beside --out, .github/CODEOWNERS).",
)
@o.as_json
def ci_render(
    src: StackSource,
    out: str,
    force: bool,
    project_dir: str,
    branch: str,
    secrets: str | None,
    model_name: str,
    metric: str,
    higher_is_better: bool,
    train_command: str,
    data_paths: tuple[str, ...],
    approval: str,
    model_owners: tuple[str, ...],
    codeowners: str | None,
    as_json: bool,
) -> None:
    """Write the stack's workflows (platform, train-evaluate, model-publish, model-review) and the models/
    CODEOWNERS entry (offline)."""
    from mlplatform.stacks.project.ci import write_render
    from mlplatform.stacks.project.ci_source import render_for_source

    files = render_for_source(
        src,
        project_dir=project_dir,
        branch=branch,
        secrets=secrets,
        model_name=model_name,
        metric=metric,
        greater_is_better=higher_is_better,
        train_command=train_command,
        approval=approval,
        model_owners=list(model_owners),
        **({"data_paths": list(data_paths)} if data_paths else {}),
    )
    written, unchanged, removed = write_render(
        files, out, owners=list(model_owners), codeowners=codeowners, force=force
    )
    for p in removed:
        click.echo(f"removed {p} (not part of this render)", err=as_json)
    if as_json:
        printers.emit_json({"written": [str(p) for p in written], "unchanged": [str(p) for p in unchanged]}, src)
        return
    printers.say_source(src)
    for p in written:
        click.echo(f"wrote {p}")
    for p in unchanged:
        click.echo(f"unchanged {p}")
    if not src.spec.runners.enabled:
        click.echo("runners.enabled is false: no train-evaluate.yml (it runs on the stack's runners).")

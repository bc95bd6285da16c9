"""`mlplatform serve render | status | rollback`: released models as live services (stacks/project/serving.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import options


@click.group()
def serve() -> None:
    """Serve released models: render their canary Rollouts, show what is live, roll back."""


@serve.command("render")
@options.source_options
@click.option(
    "--model", "models", multiple=True, help="A model of serving.models (repeatable; default: every released one)."
)
@click.option(
    "--environment", "environments", multiple=True, help="staging or production (repeatable; default: the stack's)."
)
@click.option(
    "--releases",
    default=".",
    type=click.Path(file_okay=False, exists=True),
    help="The repository checkout holding models/<name>/release.yaml (default: the current folder).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Write <env>/<model>.yaml here.")
@options.force
@options.as_json
def render_cmd(
    profile,
    team_size,
    config_file,
    sets,
    region,
    stack,
    directory,
    models,
    environments,
    releases,
    out_dir,
    force,
    as_json,
) -> None:
    """Rollout, Services, internal ALB Ingress, PodMonitor and PDB of each released model, as YAML for
    `kubectl apply -f -` (the first line, a comment, says which stack was read)."""
    from mlplatform.stacks.errors import UsageError
    from mlplatform.stacks.files import write_atomic
    from mlplatform.stacks.project.serving import released_models, render_files

    src = options.make_source(profile, team_size, config_file, sets, region, stack, directory)
    chosen = list(models) or released_models(src.spec, releases)
    if not chosen:
        raise UsageError(
            "--model",
            f"no served model has a release in {Path(releases).resolve()}",
            "merge a release pull request first, or pass --releases DIR (the repository checkout)",
        )
    files = render_files(src.spec, src.stack, chosen, releases, list(environments) or None)
    if as_json:
        import yaml

        docs = {k: [d for d in yaml.safe_load_all(v) if d] for k, v in files.items()}
        click.echo(json.dumps({"source": src.to_dict(), "files": docs}, indent=2, sort_keys=True))
        return
    if out_dir:
        click.echo(src.describe())
        existing = [Path(out_dir) / rel for rel in files if (Path(out_dir) / rel).exists()]
        if existing and not force:  # refuse before writing anything
            raise UsageError("--out", f"{existing[0]} already exists", "pass --force to overwrite, or another --out")
        for rel, text in files.items():
            path = Path(out_dir) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text, force=True)
            click.echo(f"wrote {path}")
        return
    click.echo(f"# {src.describe()}")
    click.echo("".join(files.values()), nl=False)

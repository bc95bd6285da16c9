"""The `mlplatform` command line: parses options, calls `mlplatform.stacks`, formats the answer.

Every command that acts on a stack gets it from one `StackSource` (cli/options.py `make_source`) and
says first which stack it read (`Stack prod (Pulumi.prod.yaml): profile growth, region eu-west-1, ...`);
`--json` outputs carry the same as `source`. Errors are mapped to exit codes in one place
(`MlplatformGroup.invoke`): 0 ok, 1 domain error (one red line naming the key and the fix), 2 usage,
3 policy/safety refusal. Imports of Pulumi and the stack code happen inside the commands, so
`mlplatform --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

import click

from mlplatform.cli import ci_evidence as _ci_evidence

from . import options as o

EXIT_DOMAIN, EXIT_USAGE, EXIT_POLICY = 1, 2, 3


def _err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # a message quotes input as is


def _fail(message: str, code: int = EXIT_DOMAIN, reasons: list[str] | None = None) -> None:
    from rich.markup import escape

    err = _err_console()
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    for reason in reasons or []:
        err.print(f"  - {reason}", markup=False)
    sys.exit(code)


class MlplatformGroup(click.Group):
    """The one mapping from errors to exit codes and one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        from mlplatform.stacks.errors import MlplatformError, PolicyRefusal, UsageError
        from mlplatform.stacks.runtime import paused_gc

        try:
            with paused_gc():  # the SDK imports and the plan, without the collector's passes over them
                return super().invoke(ctx)
        except UsageError as e:
            _fail(str(e), EXIT_USAGE)
        except PolicyRefusal as e:
            _fail(str(e), e.exit_code, e.reasons)
        except MlplatformError as e:
            _fail(str(e), e.exit_code)
        except Exception as e:  # a component's ValidationError, AWS API failures: one line, exit 1
            # A component error can only come from a loaded component module: commands that run without
            # Pulumi (the evidence observer's image has none) never import it here.
            common = sys.modules.get("mlplatform.components._common")
            if common is not None and isinstance(e, common.ValidationError):
                _fail(str(e))
            from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

            if isinstance(e, NoCredentialsError):
                _fail("aws credentials: none found; run `aws configure` or `aws sso login`, or set AWS_PROFILE")
            if isinstance(e, (ClientError, BotoCoreError)):
                _fail(f"aws: {str(e).splitlines()[0]}")
            raise


def _say_source(src: Any) -> None:
    """The first line of every human output: which stack was read; then what was adjusted."""
    click.echo(src.describe())
    for n in src.notices:
        click.echo(f"note: {n}")


def _with_source(data: dict[str, Any], src: Any) -> dict[str, Any]:
    return {"source": src.to_dict(), **data}


def _confirm_or_refuse(question: str, yes: bool, what: str) -> None:
    """--yes, or an interactive yes; without a terminal and without --yes: refuse (exit 3)."""
    from mlplatform.stacks.errors import PolicyRefusal

    if yes:
        return
    if not sys.stdin.isatty():
        raise PolicyRefusal(what, "needs confirmation and there is no terminal to ask", "pass --yes")
    if not click.confirm(question, default=False):
        raise PolicyRefusal(what, "not confirmed", "nothing was changed")


@click.group(cls=MlplatformGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlplatform")
def cli() -> None:
    """mlplatform: your team's ML platform on AWS + Kubernetes, as Pulumi components.

    Offline verbs (profiles, plan, diff, cost, check) need no cloud, no credentials and no pulumi CLI.
    In a project folder (`mlplatform init`) every command acts on its stack.
    """


@cli.command()
@o.as_json
def profiles(as_json: bool) -> None:
    """List the profiles: team size, components and key sizes."""
    from mlplatform.stacks.config.profiles import profile_rows

    rows = profile_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="mlplatform profiles", show_lines=True)
    for col in ("profile", "team size", "components", "key sizes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            f"[bold]{r['profile']}[/]",
            r["team_size"],
            "\n".join(r["components"]),
            "\n".join(f"{k}: {v}" for k, v in r["sizes"].items()),
        )
    from mlplatform.cli.render import console_for

    console_for().print(table)


# -- plan ------------------------------------------------------------------------------------------
@cli.command()
@o.source_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (the plan --json contract).")
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
def plan(
    profile: str | None,
    team_size: int | None,
    config_file: str | None,
    sets: tuple[str, ...],
    region: str | None,
    stack: str | None,
    directory: str | None,
    as_json: bool,
    out: str | None,
    force: bool,
    fmt: str,
) -> None:
    """Show, offline, every resource a stack would create."""
    from mlplatform.stacks.files import write_atomic

    src = o.make_source(profile, team_size, config_file, sets, region, stack, directory)
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
            _say_source(src)
            click.echo(f"{fmt} written to {out}.")
        else:
            click.echo(text, nl=False)
        return
    as_json = as_json or fmt == "json"
    data = _with_source(result.to_dict(), src)
    if out:
        write_atomic(out, json.dumps(data, indent=2) + "\n", force=force)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from mlplatform.cli.render import print_plan

    _say_source(src)
    print_plan(result, src.spec, src.stack)
    if out:
        click.echo(f"Plan written to {out}.")


# -- init and doctor -------------------------------------------------------------------------------
@cli.command()
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
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one value in the stack config, e.g. --set network.existing.vpc_id=vpc-... (repeatable).",
)
@click.option("--non-interactive", is_flag=True, help="Ask nothing: flags and defaults only.")
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
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


def _print_findings(findings: list[Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    styles = {"ok": "green", "warn": "yellow", "blocker": "bold red"}
    for f in findings:
        console.print(f.line(), style=styles[f.status], markup=False)


@cli.command()
@o.source_options
@click.option("--offline", is_flag=True, help="Only the local checks: tools and support dates.")
@o.as_json
def doctor(
    profile: str | None,
    team_size: int | None,
    config_file: str | None,
    sets: tuple[str, ...],
    region: str | None,
    stack: str | None,
    directory: str | None,
    offline: bool,
    as_json: bool,
) -> None:
    """Check credentials, region, GPU offerings and quotas, pulumi, kubectl and support dates."""
    from mlplatform.stacks.cloud.doctor import run_preflight

    src = o.make_source(profile, team_size, config_file, sets, region, stack, directory)
    report = run_preflight(src.spec, cloud=not offline)
    if as_json:
        click.echo(json.dumps(_with_source(report.to_dict(), src), indent=2))
    else:
        _say_source(src)
        _print_findings(report.findings)
        n = len(report.blockers)
        click.echo(f"\n{n} blocker{'s' if n != 1 else ''}." if n else "\nReady: no blockers.")
    if report.blockers:
        sys.exit(EXIT_DOMAIN)


# -- the engine verbs (preview, up, refresh, outputs, destroy) ---------------------------------------
def _project(stack: str | None, directory: str | None, quiet: bool = False) -> Any:
    from mlplatform.stacks.cloud.engine import project_of

    src = o.make_source(stack=stack, directory=directory)
    project = project_of(src, directory)
    if not quiet:
        _say_source(src)
    return src, project


@cli.command()
@o.project_options
def preview(stack: str | None, directory: str | None) -> None:
    """Show what the engine would change (Pulumi preview via the Automation API)."""
    from mlplatform.stacks.cloud import engine

    _, project = _project(stack, directory)
    engine.preview(project)


@cli.command()
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
        _print_findings([f for f in report.findings if f.status != "ok"])
        if report.blockers:
            raise SpecError(
                "up", f"{len(report.blockers)} preflight blocker(s) above", "fix them, or pass --skip-preflight"
            )
    _confirm_or_refuse(f"Build stack {project.stack} in {project.region}?", yes, "up")
    engine.up(project)


@cli.command()
@o.project_options
def refresh(stack: str | None, directory: str | None) -> None:
    """Bring the stack's state in line with what exists in the cloud."""
    from mlplatform.stacks.cloud import engine

    _, project = _project(stack, directory)
    engine.refresh(project)


@cli.command()
@o.project_options
@o.as_json
def outputs(stack: str | None, directory: str | None, as_json: bool) -> None:
    """The stack's outputs: MLflow/Grafana URLs, registry URLs, the kubeconfig command."""
    from mlplatform.stacks.cloud import engine

    src, project = _project(stack, directory, quiet=as_json)
    rows = engine.outputs(project)
    if as_json:
        click.echo(json.dumps(_with_source(dict(rows), src), indent=2))
        return
    for key, value in rows:
        click.echo(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")


@cli.command()
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
    from mlplatform.stacks.errors import PolicyRefusal

    _, project = _project(stack, directory)
    if not orphans_only:

        def confirm(dplan: Any) -> bool:
            for label, urns in dplan.phases:
                click.echo(f"will delete, {label}: {len(urns)} resources")
            for urn in dplan.unprotected:
                click.echo(f"will delete protected: {urn.split('::')[-1]} ({urn.split('::')[-2].split('$')[-1]})")
            for urn in dplan.kept:
                click.echo(f"keeps: {urn.split('::')[-1]} ({urn.split('::')[-2].split('$')[-1]})")
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
        _confirm_or_refuse(f"Delete these {len(found)} resources?", yes, "destroy --orphans-only")
    result = orphans.delete_orphans(found, project.region)
    click.echo(f"Deleted {len(result.deleted)} orphans.")
    for orphan, reason in result.failed:
        click.echo(
            f"could not delete {orphan.kind} {orphan.id}: {reason} (run `mlplatform destroy --orphans-only` later)"
        )
    if result.failed:
        sys.exit(EXIT_DOMAIN)


# -- diff, cost, upgrade (offline) -------------------------------------------------------------------
def _cost_delta(costs: tuple[Any, Any] | None) -> dict[str, Any] | None:
    if costs is None:
        return None
    before, after = costs
    return {
        "region": after.region,
        "idle_before": round(before.idle, 2),
        "idle_after": round(after.idle, 2),
        "monthly_before": round(before.monthly, 2),
        "monthly_after": round(after.monthly, 2),
        "gaps": len(before.gaps) + len(after.gaps),
    }


@cli.command()
@click.option(
    "--from",
    "source_a",
    required=True,
    metavar="A",
    help="Profile name, stack config (YAML, or Pulumi.<stack>.yaml) or saved plan (JSON).",
)
@click.option(
    "--to",
    "source_b",
    default=None,
    metavar="B",
    help="Same kinds as --from (default: the stack of the project folder you are in).",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one value of B (repeatable).")
@o.region
@o.stack
@o.usage_option("Usage assumptions for the cost delta (default: stacks/data/usage-default.yaml).")
@o.as_json
def diff(
    source_a: str,
    source_b: str | None,
    sets: tuple[str, ...],
    region: str | None,
    stack: str | None,
    usage_file: str | None,
    as_json: bool,
) -> None:
    """Show, offline, what changes between two stacks: add, change, replace, destroy."""
    from mlplatform.stacks.analyses.cost import estimate_if_priced, load_usage
    from mlplatform.stacks.analyses.diff import diff_plans
    from mlplatform.stacks.config.source import source_for

    usage = load_usage(usage_file)
    if source_b is None:
        b = o.make_source(sets=sets, region=region, stack=stack)
        if b.kind != "project":
            from mlplatform.stacks.errors import UsageError

            raise UsageError(
                "--to",
                "not in a project folder, so there is no stack to compare with",
                "pass --to PROFILE|FILE, or run it in the folder `mlplatform init` made",
            )
    else:
        b = source_for(source_b, sets, region, stack, "--to")
    a = source_for(source_a, (), region, stack or (b.stack if b.kind == "project" else None), "--from")
    plan_a, plan_b = a.plan(), b.plan()
    result = diff_plans(plan_a, plan_b, source_a, source_b or b.label)
    before, after = estimate_if_priced(plan_a, a.region, usage), estimate_if_priced(plan_b, b.region, usage)
    costs = (before, after) if before and after else None
    if as_json:
        data = result.to_dict()
        data["cost"] = _cost_delta(costs)
        data["from_source"] = a.to_dict()
        click.echo(json.dumps(_with_source(data, b), indent=2, default=str))
        return
    from mlplatform.cli.render import print_diff

    _say_source(b)
    click.echo(f"compared with: {a.describe()}")
    print_diff(result, costs)
    if costs is None:
        click.echo(f"No cost delta: no price file for {a.region if before is None else b.region}.")


@cli.command()
@o.source_options
@o.saved_plan
@o.usage_option("Usage assumptions (default: stacks/data/usage-default.yaml, which documents each one).")
@click.option(
    "--live-prices",
    is_flag=True,
    help="Ask the AWS Price List API (needs AWS credentials) for the "
    "prices this stack uses, instead of the shipped price file.",
)
@o.as_json
def cost(
    profile: str | None,
    team_size: int | None,
    config_file: str | None,
    sets: tuple[str, ...],
    region: str | None,
    stack: str | None,
    directory: str | None,
    plan_file: str | None,
    usage_file: str | None,
    live_prices: bool,
    as_json: bool,
) -> None:
    """Monthly cost per resource and component: idle, with usage, and the price of a GPU-hour."""
    from mlplatform.stacks.analyses.cost import (
        PriceBook,
        estimate,
        fetch_live_prices,
        load_prices,
        load_usage,
        needed_prices,
    )
    from mlplatform.stacks.errors import SpecError

    src = o.make_source(profile, team_size, config_file, sets, region, stack, directory, plan_file)
    usage = load_usage(usage_file)
    the_plan, the_region = src.plan(), src.region
    missed: list[str] = []
    if live_prices:
        try:
            book = load_prices(the_region)
        except SpecError:
            book = PriceBook({"region": the_region, "snapshot_date": "live", "prices": {}, "sources": {}})
        book, missed = fetch_live_prices(book, needed_prices(the_plan, the_region, usage))
        report = estimate(the_plan, the_region, usage, prices=book)
    else:
        report = estimate(the_plan, the_region, usage)
    if as_json:
        data = report.to_dict()
        if live_prices:
            data["live_prices_unanswered"] = missed
        click.echo(json.dumps(_with_source(data, src), indent=2, default=str))
        return
    from mlplatform.cli.render import print_cost

    _say_source(src)
    print_cost(report)
    if missed:
        click.echo(f"Price List API had no single answer for: {', '.join(missed)}")


@cli.command()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(["pragmatic", "growth", "full"]),
    help="The profile to move the stack to.",
)
@o.config_option("The stack config (YAML with `profile:` and sections, like examples/existing-vpc/stack.yaml).")
@click.option(
    "--stack-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The Pulumi stack file (Pulumi.<stack>.yaml with mlplatform:profile).",
)
@o.directory
@o.stack
@click.option("--yes", is_flag=True, help="Write without asking.")
@click.option("--dry-run", is_flag=True, help="Show the diff and the cost delta; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (writes only with --yes).")
def upgrade(
    to: str,
    config_file: str | None,
    stack_file: str | None,
    directory: str | None,
    stack: str | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Move a stack to another profile: diff, cost delta, refuse data loss (exit 3), rewrite the config."""
    import shutil

    from mlplatform.stacks.errors import PolicyRefusal, SpecError, UsageError
    from mlplatform.stacks.project.upgrade import apply, next_steps, prepare

    if as_json and not (yes or dry_run):
        raise UsageError(
            "--json", "writes only with --yes", "add --yes to write, or --dry-run to only show the upgrade"
        )
    files = [f for f in (stack_file, config_file) if f]
    sources = [o.make_source(config_file=f, stack=stack) for f in files] or [
        o.make_source(stack=stack, directory=directory)
    ]
    if sources[0].stack_file is None:
        raise SpecError(
            "--dir",
            f"{directory or '.'} has no Pulumi.yaml",
            "run it in the project folder `mlplatform init` made, or pass --config FILE",
        )
    up = prepare(sources, to)
    if not as_json:
        _say_source(sources[0])
    if up.noop:
        if as_json:
            click.echo(
                json.dumps(_with_source({"from": to, "to": to, "written": [], "noop": True}, sources[0]), indent=2)
            )
        else:
            click.echo(f"The stack is already on profile {to}: nothing to do.")
        return
    costs = (up.cost_before, up.cost_after) if up.cost_before and up.cost_after else None
    data: dict[str, Any] = _with_source(
        {
            "from": up.current.profile,
            "to": to,
            "diff": up.diff.to_dict(),
            "refused": up.refused,
            "cost": _cost_delta(costs),
            "dry_run": dry_run,
        },
        sources[0],
    )
    if not as_json:
        from mlplatform.cli.render import print_diff

        print_diff(up.diff, costs)
    if up.refused:
        if as_json:
            click.echo(json.dumps({**data, "written": []}, indent=2, default=str))
        raise PolicyRefusal(
            "upgrade",
            f"{up.current.profile} -> {to} refused: it would lose data or fail halfway; nothing was written",
            "a change that needs this is a separate, explicit step (snapshot "
            "first, then set the value in your config and run preview), never part of a profile upgrade",
            up.refused,
        )
    if dry_run:
        if as_json:
            click.echo(json.dumps({**data, "written": []}, indent=2, default=str))
        else:
            click.echo(
                f"--dry-run: nothing written ({', '.join(str(s.file) for s in sources)} would get profile {to})."
            )
        return
    if not as_json:
        _confirm_or_refuse(f"Write profile {to} into {', '.join(str(s.file) for s in sources)}?", yes, "upgrade")
    written = apply(up)
    steps = next_steps(up, engine_found=shutil.which("pulumi") is not None)
    if as_json:
        click.echo(
            json.dumps(
                {**data, "written": [{"file": str(f), "backup": str(b)} for f, b in written], "next_steps": steps},
                indent=2,
                default=str,
            )
        )
        return
    for f, b in written:
        click.echo(f"wrote {f} (profile: {to}); the previous file is {b}")
    click.echo("Nothing has changed in the cloud yet. Next:")
    for s in steps:
        click.echo(f"  {s}")


# -- team add | list | remove (edit the stack config, offline diff of that team) ---------------------
@cli.group()
def team() -> None:
    """Self-serve team spaces: add, list or remove a team in the stack config (offline)."""


def team_options(verb: str) -> Any:
    def deco(fn: Any) -> Any:
        fn = o.stack(fn)
        fn = o.directory(fn)
        return o.config_option(
            f"The stack config to {verb}: a stack file (teams:) or Pulumi.<stack>.yaml "
            "(mlplatform:teams); default: the project's."
        )(fn)

    return deco


def _team_source(config_file: str | None, directory: str | None, stack: str | None) -> Any:
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


def _print_team_change(src: Any, change: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_with_source(change.to_dict(), src), indent=2, default=str))
        return
    from mlplatform.cli.render import print_diff

    _say_source(src)
    print_diff(change.diff)
    verb = {"add": "added", "remove": "removed"}[change.action]
    if change.written:
        click.echo(f"{change.path}: {verb} team {change.team}; nothing else in the file changed.")
    else:
        click.echo(f"--dry-run: {change.path} not written (it would have {verb} team {change.team}).")
    for k in change.kept:
        click.echo(f"kept: {k}")
    for n in change.notes:
        click.echo(f"note: {n}")
    if change.other_changes:
        click.echo(
            f"warning: {len(change.other_changes)} resources outside the team change too: "
            + ", ".join(u.split("::")[-1] for u in change.other_changes)
        )
    click.echo("Nothing has changed in the cloud: run `mlplatform preview` then `mlplatform up` to apply it.")


@team.command("add")
@click.argument("name")
@click.option("--gpu-quota", type=int, default=0, show_default=True, help="Most GPUs the team's pods request at once.")
@click.option("--cpu-quota", type=int, default=None, help="Most CPU cores the team's pods request (default 8).")
@click.option("--memory-gib", type=int, default=None, help="Most memory (GiB) the team's pods request (default 32).")
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
        name, gpu_quota=gpu_quota, cpu_quota=cpu_quota, principals=principals, memory_quota_gib=memory_gib
    )
    src = _team_source(config_file, directory, stack)
    _print_team_change(src, add_team(src, entry, write=not dry_run), as_json)


@team.command("list")
@team_options("read")
@o.as_json
def team_list(config_file: str | None, directory: str | None, stack: str | None, as_json: bool) -> None:
    """The teams of the stack config, with their quotas (defaults filled in)."""
    src = _team_source(config_file, directory, stack)
    rows = [t.model_dump() for t in src.spec.teams]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _say_source(src)
    if not rows:
        click.echo("No teams. Add one with `mlplatform team add NAME --gpu-quota N`.")
        return
    from rich.table import Table

    table = Table(title="teams")
    for col in ("team", "GPUs", "CPUs", "memory", "PVCs", "principals", "runners"):
        table.add_column(col)
    for r in rows:
        runners = ", ".join(k for k in ("cpu", "gpu") if (r["runners"] or {}).get(k)) or "-"
        table.add_row(
            r["name"],
            str(r["gpu_quota"]),
            str(r["cpu_quota"]),
            f"{r['memory_quota_gib']} GiB",
            str(r["pvc_quota"]),
            str(len(r["principals"])),
            runners,
        )
    from mlplatform.cli.render import console_for

    console_for().print(table)


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
    _print_team_change(src, remove_team(src, name, write=not dry_run), as_json)


# -- CI/CD: generated GitHub Actions workflows ---------------------------------------------------
@cli.group()
def ci() -> None:
    """CI/CD: GitHub Actions workflows that run on the stack's runners."""


_ci_evidence.register(ci)  # the commands the workflows call: evidence-predicate, merged-pull, released-models


@ci.command("render")
@o.source_options
@click.option(
    "--out",
    default=".github/workflows",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder the workflows are written to.",
)
@click.option("--force", is_flag=True, help="Overwrite workflows that exist with other content.")
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
    profile: str | None,
    team_size: int | None,
    config_file: str | None,
    sets: tuple[str, ...],
    region: str | None,
    stack: str | None,
    directory: str | None,
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

    src = o.make_source(profile, team_size, config_file, sets, region, stack, directory)
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
        click.echo(
            json.dumps(
                _with_source({"written": [str(p) for p in written], "unchanged": [str(p) for p in unchanged]}, src),
                indent=2,
            )
        )
        return
    _say_source(src)
    for p in written:
        click.echo(f"wrote {p}")
    for p in unchanged:
        click.echo(f"unchanged {p}")
    if not src.spec.runners.enabled:
        click.echo("runners.enabled is false: no train-evaluate.yml (it runs on the stack's runners).")


# -- check (offline policy) ------------------------------------------------------------------------
def _print_report(report: Any, src: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"Policy check of profile [bold]{report.profile}[/]: built-in rules"
        + "".join(f", {s.name}" for s in report.scanners if s.status == "ran")
        + "\n"
    )
    color = {"high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
    for f in report.findings:
        sev = f"[dim]{f.severity:<6}[/]" if f.waived else f"[{color.get(f.severity, 'white')}]{f.severity:<6}[/]"
        console.print(f"{sev} {escape(f.rule)}  [bold]{escape(f.name)}[/]: {escape(f.message)}")
        console.print(f"       [green]waived:[/] {escape(f.waived)}" if f.waived else f"       fix: {escape(f.fix)}")
    console.print()
    for run in report.scanners:
        if run.status == "ran":
            console.print(
                f"{run.name}: {run.passed} passed, {run.failed} failed, {run.skipped} skipped ({run.message})"
            )
        else:
            console.print(f"[yellow]{run.name}: {run.status}[/] - {escape(run.message)}")
    for w in report.unused_waivers:
        if w.origin == "config":  # a profile's waiver goes unused when your config fixed the finding
            console.print(
                f"[yellow]warning:[/] waiver {escape(w.rule)} for {escape(w.resource)!r} matched nothing; "
                "remove it from your config"
            )
    c = report.counts()
    console.print("Findings: " + ", ".join(f"{sev} {n['open']} open / {n['waived']} waived" for sev, n in c.items()))
    high = len(report.blocking())
    if high:
        console.print(
            f"[bold red]check failed:[/] {high} unwaived high finding(s); fix them or waive each "
            "with a reason under `waivers:` in the stack config"
        )
    else:
        console.print("[bold green]check passed:[/] no unwaived high finding")


@cli.command()
@o.source_options
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Check a saved plan (`mlplatform plan --json --out FILE`) instead of planning.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option(
    "--sarif",
    "sarif_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the findings as SARIF 2.1.0 (GitHub code scanning) to this file.",
)
@click.option("--force", is_flag=True, help="Overwrite --sarif if it exists.")
@click.option("--no-scanners", is_flag=True, help="Only the built-in rules: skip checkov and kubernetes-validate.")
def check(
    profile: str | None,
    team_size: int | None,
    config_file: str | None,
    sets: tuple[str, ...],
    region: str | None,
    stack: str | None,
    directory: str | None,
    plan_file: str | None,
    as_json: bool,
    sarif_file: str | None,
    force: bool,
    no_scanners: bool,
) -> None:
    """Check, offline, a stack's security and reliability: built-in rules, checkov, kubernetes-validate.

    Exits 3 when a high finding is not waived. Waive a finding in the stack config:
    `waivers: [{rule: ..., resource: ..., reason: ...}]`.
    """
    from mlplatform.stacks.analyses.check import check as run_check
    from mlplatform.stacks.analyses.check import stack_waivers
    from mlplatform.stacks.files import write_atomic
    from mlplatform.stacks.project.serving_check import serving_findings

    src = o.make_source(profile, team_size, config_file, sets, region, stack, directory, plan_file)
    if not as_json:
        _say_source(src)
    progress = _progress("check: planning and scanning") if not as_json else None
    try:
        report = run_check(
            src.plan(),
            stack_waivers(src.spec),
            region=src.region,
            scanners=not no_scanners,
            extra=[] if src.kind == "plan" else serving_findings(src.spec, src.stack, src.plan()),
        )
    finally:
        if progress is not None:
            progress.stop()
    if sarif_file:
        artifact = str(src.file) if src.file else "Pulumi.yaml"
        write_atomic(sarif_file, json.dumps(report.to_sarif(artifact), indent=2) + "\n", force=force, what="--sarif")
    if as_json:
        click.echo(json.dumps(_with_source(report.to_dict(), src), indent=2))
    else:
        _print_report(report, src)
    if report.exit_code:
        sys.exit(report.exit_code)


def _progress(message: str) -> Any:
    """A spinner on stderr while a slow step runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    status = Console(stderr=True).status(message)
    status.start()
    return status


from mlplatform.cli.evidence import evidence as _evidence  # noqa: E402 - evidence record|log|at|verify

cli.add_command(_evidence)
from mlplatform.cli.commands.serve import serve as _serve  # noqa: E402 - serve render|status|rollback

cli.add_command(_serve)


def main() -> None:
    """The `mlplatform` command. The cyclic collector stays off for the process (`stacks/runtime.py`), and
    on the way out the heap is frozen: the interpreter's last collection at exit would otherwise walk
    every object of the SDKs once more (about 0.6 s after a plan, `benchmarks/plan_speed.py`)."""
    import gc

    gc.disable()
    try:
        cli(prog_name="mlplatform")
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()

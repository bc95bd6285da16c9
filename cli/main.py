"""The `mlplatform` command line: parses options, calls `mlplatform.stacks`, formats the answer.

Imports of Pulumi and the stack code happen inside the commands, so `mlplatform --help` stays fast.
Exit codes: 0 ok, 1 domain error (one red line naming the key and the fix), 2 usage, 3 policy refusal.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import click

from mlplatform.cli import ci_evidence as _ci_evidence

EXIT_DOMAIN = 1
EXIT_POLICY = 3


def _fail(message: str, code: int = EXIT_DOMAIN) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}", markup=True)
    sys.exit(code)


def domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the domain's errors into one red line on stderr and exit code 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mlplatform.components._common import ValidationError
        from mlplatform.stacks.config.spec import SpecError

        try:
            return fn(*args, **kwargs)
        except (SpecError, ValidationError) as e:
            _fail(str(e).replace("[", "\\["))

    return wrapper


def spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose a stack: profile or team size, config file, --set, region."""
    fn = click.option("--region", default=None, help="AWS region (default: the profile's, us-east-1).")(fn)
    fn = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                      help="Override one value, e.g. --set network.az_count=3 (repeatable).")(fn)
    fn = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                      help="Your stack config (YAML, same keys as a profile).")(fn)
    fn = click.option("--team-size", type=int, default=None,
                      help="People on the ML team: picks the profile (1-5 pragmatic, 6-20 growth, 21+ full).")(fn)
    fn = click.option("--profile", "-p", default=None, help="pragmatic, growth or full.")(fn)
    return fn


def one_profile_choice(profile: str | None, team_size: int | None) -> None:
    """--profile and --team-size both pick the profile: giving both is a usage error (exit 2)."""
    if profile is not None and team_size is not None:
        raise click.UsageError("--profile and --team-size both pick the profile: give one of them")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlplatform")
def cli() -> None:
    """mlplatform: your team's ML platform on AWS + Kubernetes, as Pulumi components.

    Offline verbs (profiles, plan) need no cloud, no credentials and no pulumi CLI.
    """


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def profiles(as_json: bool) -> None:
    """List the profiles: team size, components and key sizes."""
    from mlplatform.stacks.config.profiles import profile_rows

    rows = profile_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mlplatform profiles", show_lines=True)
    for col in ("profile", "team size", "components", "key sizes"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(f"[bold]{r['profile']}[/]", r["team_size"], "\n".join(r["components"]),
                      "\n".join(f"{k}: {v}" for k, v in r["sizes"].items()))
    Console().print(table)


@cli.command()
@spec_options
@click.option("--stack", default="dev", show_default=True, help="Stack name (prefixes physical names).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (the plan --json contract).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Also write the JSON plan (with --format terraform-plan/k8s-yaml: only that export) to this file.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--format", "fmt", type=click.Choice(["tree", "json", "terraform-plan", "k8s-yaml"]), default="tree",
              show_default=True, help="json = --json; terraform-plan: Terraform plan JSON (checkov, OPA/conftest, "
              "Infracost); k8s-yaml: the Kubernetes objects as multi-document YAML.")
@domain_errors
def plan(profile: str | None, team_size: int | None, config_file: str | None, sets: tuple[str, ...],
         region: str | None, stack: str, as_json: bool, out: str | None, force: bool, fmt: str) -> None:
    """Show, offline, every resource a stack would create."""
    from mlplatform.stacks.files import write_atomic
    from mlplatform.stacks.program import plan as make_plan
    from mlplatform.stacks.config.spec import resolve_spec

    one_profile_choice(profile, team_size)
    spec, source = resolve_spec(profile, team_size, config_file, sets, region, stack=stack)
    result = make_plan(spec, stack=stack)
    if fmt in ("terraform-plan", "k8s-yaml"):
        from mlplatform.stacks.plan import export

        text = (export.terraform_plan_json(result, spec.region) + "\n" if fmt == "terraform-plan"
                else export.k8s_yaml(result))
        if out:
            write_atomic(out, text, force=force)
            click.echo(f"{fmt} written to {out}.")
        else:
            click.echo(text, nl=False)
        return
    as_json = as_json or fmt == "json"
    if out:
        write_atomic(out, result.to_json() + "\n", force=force)
    if as_json:
        click.echo(result.to_json())
        return
    from mlplatform.cli.render import print_plan

    if source:
        click.echo(f"Stack config: {source}")
    print_plan(result, spec, stack)
    if out:
        click.echo(f"Plan written to {out}.")


# -- bootstrap and the engine verbs (init, doctor, preview, up, refresh, outputs, destroy) -------
def _stack_of(directory: str, stack: str | None) -> str:
    """--stack, else the project's only Pulumi.<stack>.yaml, else dev."""
    from pathlib import Path

    if stack:
        return stack
    found = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in Path(directory).glob("Pulumi.*.yaml"))
    return found[0] if len(found) == 1 else "dev"


def _confirm_or_refuse(question: str, yes: bool, what: str) -> None:
    """--yes, or an interactive yes; without a terminal and without --yes: refuse (exit 3)."""
    if yes:
        return
    if not sys.stdin.isatty():
        _fail(f"{what}: needs confirmation and there is no terminal to ask; pass --yes", EXIT_POLICY)
    if not click.confirm(question, default=False):
        _fail(f"{what}: not confirmed, nothing was changed", EXIT_POLICY)


def aws_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """AWS API failures (no credentials, access denied) as one red line, exit 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return fn(*args, **kwargs)
        except NoCredentialsError:
            _fail("aws credentials: none found; run `aws configure` or `aws sso login`, or set AWS_PROFILE")
        except (ClientError, BotoCoreError) as e:
            _fail(f"aws: {str(e).splitlines()[0]}".replace("[", "\\["))

    return wrapper


def _print_findings(findings: list[Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    styles = {"ok": "green", "warn": "yellow", "blocker": "bold red"}
    for f in findings:
        console.print(f.line(), style=styles[f.status], markup=False)


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--team-size", type=int, default=None, help="People on the ML team: picks the profile.")
@click.option("--profile", "-p", default=None, help="pragmatic, growth or full (instead of --team-size).")
@click.option("--region", default=None, help="AWS region (default us-east-1).")
@click.option("--stack", default=None, help="Stack name (default dev); prefixes every resource name.")
@click.option("--backend", type=click.Choice(["local", "s3"]), default=None,
              help="Where Pulumi keeps state: local (a folder in the project, for trying it) or s3.")
@click.option("--state-bucket", default=None, help="s3 backend: bucket to create or adopt "
              "(default mlplatform-state-<account>-<region>).")
@click.option("--secrets", type=click.Choice(["kms", "passphrase"]), default=None,
              help="How stack secrets are encrypted (default: kms with s3, passphrase with local).")
@click.option("--kms-alias", default=None, help="KMS alias for --secrets kms (default alias/mlplatform-state).")
@click.option("--github-org", default=None, help="GitHub organization the CI runners register with.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one value in the stack config, e.g. --set network.existing.vpc_id=vpc-... (repeatable).")
@click.option("--non-interactive", is_flag=True, help="Ask nothing: flags and defaults only.")
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
@domain_errors
@aws_errors
def init(directory: str, team_size: int | None, profile: str | None, region: str | None, stack: str | None,
         backend: str | None, state_bucket: str | None, secrets: str | None, kms_alias: str | None,
         github_org: str | None, sets: tuple[str, ...], non_interactive: bool, force: bool) -> None:
    """Create the team's Pulumi project in DIRECTORY (default: here)."""
    import shlex
    from pathlib import Path

    from mlplatform.stacks.project.init import InitOptions, init_project, questionary_ask

    opts = InitOptions(directory=Path(directory), stack=stack, profile=profile, team_size=team_size, region=region,
                       backend=backend, state_bucket=state_bucket, secrets=secrets, kms_alias=kms_alias,  # type: ignore[arg-type]
                       sets=sets, github_org=github_org, force=force)
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
    click.echo(f"\nStack {result.stack}: profile {result.spec.profile}, region {result.spec.region}. Next:\n"
               f"  {cd}mlplatform {shlex.join(result.plan_args)}\n"
               "  mlplatform doctor && mlplatform preview && mlplatform up")


@cli.command()
@spec_options
@click.option("--dir", "directory", default=".", type=click.Path(file_okay=False),
              help="Project folder: its Pulumi.<stack>.yaml is the stack checked (unless --profile/--config/--set).")
@click.option("--stack", default=None, help="Stack of the project folder (default: its only one, or dev).")
@click.option("--offline", is_flag=True, help="Only the local checks: tools and support dates.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
@aws_errors
def doctor(profile: str | None, team_size: int | None, config_file: str | None, sets: tuple[str, ...],
           region: str | None, directory: str, stack: str | None, offline: bool, as_json: bool) -> None:
    """Check credentials, region, GPU offerings and quotas, pulumi, kubectl and support dates."""
    from pathlib import Path

    from mlplatform.stacks.project.init import read_stack_config, spec_from_config
    from mlplatform.stacks.cloud.doctor import run_preflight
    from mlplatform.stacks.config.spec import load_spec

    stack = _stack_of(directory, stack)
    from_project = (Path(directory) / f"Pulumi.{stack}.yaml").is_file() and not (profile or team_size or config_file or sets)
    if from_project:
        cfg = read_stack_config(directory, stack)
        if region:
            cfg["aws:region"] = region
        spec = spec_from_config(cfg)
    else:
        spec = load_spec(profile=profile, team_size=team_size, config_file=config_file, sets=sets, region=region)
    report = run_preflight(spec, cloud=not offline)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_findings(report.findings)
        n = len(report.blockers)
        click.echo(f"\n{n} blocker{'s' if n != 1 else ''}." if n else "\nReady: no blockers.")
    if report.blockers:
        sys.exit(EXIT_DOMAIN)


def engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--stack", default=None, help="Stack (default: the project's only one, or dev).")(fn)
    fn = click.option("--dir", "directory", default=".", type=click.Path(file_okay=False),
                      help="The project folder made by `mlplatform init`.")(fn)
    return fn


def _project(directory: str, stack: str | None) -> Any:
    from mlplatform.stacks.cloud.engine import load_project

    return load_project(directory, _stack_of(directory, stack))


@cli.command()
@engine_options
@domain_errors
def preview(directory: str, stack: str | None) -> None:
    """Show what the engine would change (Pulumi preview via the Automation API)."""
    from mlplatform.stacks.cloud import engine as workspace

    workspace.preview(_project(directory, stack))


@cli.command()
@engine_options
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@click.option("--skip-preflight", is_flag=True, help="Don't run the doctor checks first.")
@domain_errors
@aws_errors
def up(directory: str, stack: str | None, yes: bool, skip_preflight: bool) -> None:
    """Build or update the stack (after the doctor checks)."""
    from mlplatform.stacks.cloud import engine as workspace
    from mlplatform.stacks.project.init import spec_from_config
    from mlplatform.stacks.cloud.doctor import run_preflight

    project = _project(directory, stack)
    workspace.require_deployable(project)
    workspace.require_pulumi()  # one line saying what to install, before the longer preflight
    workspace.require_credentials(project.region)
    if not skip_preflight:
        report = run_preflight(spec_from_config(project.config))
        _print_findings([f for f in report.findings if f.status != "ok"])
        if report.blockers:
            _fail(f"up: {len(report.blockers)} preflight blocker(s) above; fix them, or pass --skip-preflight")
    _confirm_or_refuse(f"Build stack {project.stack} in {project.region}?", yes, "up")
    workspace.up(project)


@cli.command()
@engine_options
@domain_errors
def refresh(directory: str, stack: str | None) -> None:
    """Bring the stack's state in line with what exists in the cloud."""
    from mlplatform.stacks.cloud import engine as workspace

    workspace.refresh(_project(directory, stack))


@cli.command()
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
def outputs(directory: str, stack: str | None, as_json: bool) -> None:
    """The stack's outputs: MLflow/Grafana URLs, registry URLs, the kubeconfig command."""
    from mlplatform.stacks.cloud import engine as workspace

    rows = workspace.outputs(_project(directory, stack))
    if as_json:
        click.echo(json.dumps(dict(rows), indent=2))
        return
    for key, value in rows:
        click.echo(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")


@cli.command()
@engine_options
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
@click.option("--purge", is_flag=True, help="Also delete the database, buckets and registries.")
@click.option("--no-sweep", is_flag=True, help="Skip the orphan sweep afterwards.")
@click.option("--orphans-only", is_flag=True, help="Only sweep leftovers tagged for this stack (no pulumi needed).")
@domain_errors
@aws_errors
def destroy(directory: str, stack: str | None, yes: bool, purge: bool, no_sweep: bool, orphans_only: bool) -> None:
    """Tear the stack down in a safe order; data stays unless --purge; then sweep orphans."""
    from mlplatform.stacks.cloud import engine as workspace, orphans

    project = _project(directory, stack)
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
                _fail("destroy: needs confirmation and there is no terminal to ask; pass --yes", EXIT_POLICY)
            return click.prompt(f"Type the stack name ({project.stack}) to destroy it", default="") == project.stack

        dplan, _ = workspace.destroy(project, purge, confirm)
        if dplan.kept:
            click.echo(f"Kept {len(dplan.kept)} resources (data and what it needs); `destroy --purge` deletes them.")
        if no_sweep:
            return
    found = orphans.find_orphans(project.region, project.stack)
    if not found:
        click.echo(f"No orphans tagged for stack {project.stack} in {project.region}.")
        return
    for o in found:
        click.echo(f"orphan {o.kind}: {o.id} {o.name}".rstrip())
    if orphans_only:
        _confirm_or_refuse(f"Delete these {len(found)} resources?", yes, "destroy --orphans-only")
    result = orphans.delete_orphans(found, project.region)
    click.echo(f"Deleted {len(result.deleted)} orphans.")
    for o, reason in result.failed:
        click.echo(f"could not delete {o.kind} {o.id}: {reason} (run `mlplatform destroy --orphans-only` later)")
    if result.failed:
        sys.exit(EXIT_DOMAIN)


# -- diff, cost, upgrade (offline) -------------------------------------------------------------------
def _plan_from(source: str, sets: tuple[str, ...], region: str | None, stack: str, what: str) -> tuple[Any, str]:
    """A Plan and its region from a profile name, a stack config (YAML) or a saved plan (JSON)."""
    from pathlib import Path

    from mlplatform.stacks.analyses.diff import infer_region
    from mlplatform.stacks.plan.offline import Plan
    from mlplatform.stacks.program import plan as make_plan
    from mlplatform.stacks.config.spec import PROFILES, SpecError, load_spec
    from mlplatform.stacks.project.upgrade import read_config

    if source in PROFILES:
        spec = load_spec(profile=source, sets=sets, region=region)
        return make_plan(spec, stack=stack), spec.region
    p = Path(source)
    if not p.is_file():
        raise SpecError(what, f"{source!r} is neither a profile nor a file",
                        f"give {', '.join(PROFILES)}, a stack config (YAML) or a saved plan (`mlplatform plan --json --out`)")
    if p.suffix == ".json":
        if sets:
            raise SpecError("--set", f"cannot change the saved plan {p.name}", "give a profile or a config file as --to")
        try:
            saved = Plan.from_dict(json.loads(p.read_text()))
        except (ValueError, KeyError, TypeError) as e:
            raise SpecError(what, f"{p} is not a saved plan ({type(e).__name__})",
                            "write one with `mlplatform plan --json --out FILE`") from None
        return saved, region or infer_region(saved) or "us-east-1"
    spec = read_config(p, what=what).spec(sets=sets, region=region)
    return make_plan(spec, stack=stack), spec.region


@cli.command()
@click.option("--from", "source_a", required=True, metavar="A",
              help="Profile name, stack config (YAML, or Pulumi.<stack>.yaml) or saved plan (JSON).")
@click.option("--to", "source_b", required=True, metavar="B", help="Same kinds as --from.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one value of B (repeatable).")
@click.option("--region", default=None, help="Region for profiles and configs (default: their own).")
@click.option("--stack", default="dev", show_default=True, help="Stack name (prefixes physical names).")
@click.option("--usage", "usage_file", type=click.Path(dir_okay=False), default=None,
              help="Usage assumptions for the cost delta (default: stacks/data/usage-default.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
def diff(source_a: str, source_b: str, sets: tuple[str, ...], region: str | None, stack: str,
         usage_file: str | None, as_json: bool) -> None:
    """Show, offline, what changes between two stacks: add, change, replace, destroy."""
    from mlplatform.stacks.analyses.cost import estimate_if_priced, load_usage
    from mlplatform.stacks.analyses.diff import diff_plans

    usage = load_usage(usage_file)
    plan_a, region_a = _plan_from(source_a, (), region, stack, "--from")
    plan_b, region_b = _plan_from(source_b, sets, region, stack, "--to")
    result = diff_plans(plan_a, plan_b, source_a, source_b)
    before, after = estimate_if_priced(plan_a, region_a, usage), estimate_if_priced(plan_b, region_b, usage)
    costs = (before, after) if before and after else None
    if as_json:
        data = result.to_dict()
        data["cost"] = _cost_delta(costs)
        click.echo(json.dumps(data, indent=2, default=str))
        return
    from mlplatform.cli.render import print_diff

    print_diff(result, costs)
    if costs is None:
        click.echo(f"No cost delta: no price file for {region_a if before is None else region_b}.")


def _cost_delta(costs: tuple[Any, Any] | None) -> dict[str, Any] | None:
    if costs is None:
        return None
    before, after = costs
    return {"region": after.region, "idle_before": round(before.idle, 2), "idle_after": round(after.idle, 2),
            "monthly_before": round(before.monthly, 2), "monthly_after": round(after.monthly, 2),
            "gaps": len(before.gaps) + len(after.gaps)}


@cli.command()
@spec_options
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), default=None,
              help="A saved plan (`mlplatform plan --json --out`) instead of a profile/config.")
@click.option("--stack", default="dev", show_default=True, help="Stack name (prefixes physical names).")
@click.option("--usage", "usage_file", type=click.Path(dir_okay=False), default=None,
              help="Usage assumptions (default: stacks/data/usage-default.yaml, which documents each one).")
@click.option("--live-prices", is_flag=True, help="Ask the AWS Price List API (needs AWS credentials) for the "
              "prices this stack uses, instead of the shipped price file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
@aws_errors
def cost(profile: str | None, team_size: int | None, config_file: str | None, sets: tuple[str, ...],
         region: str | None, plan_file: str | None, stack: str, usage_file: str | None, live_prices: bool,
         as_json: bool) -> None:
    """Monthly cost per resource and component: idle, with usage, and the price of a GPU-hour."""
    from mlplatform.stacks.analyses.cost import PriceBook, estimate, fetch_live_prices, load_prices, load_usage, needed_prices
    from mlplatform.stacks.config.spec import SpecError

    if plan_file and (profile or team_size or config_file or sets):
        raise SpecError("--plan", "a saved plan is already decided", "drop --profile/--team-size/--config/--set")
    usage = load_usage(usage_file)
    if plan_file:
        the_plan, the_region = _plan_from(plan_file, (), region, stack, "--plan")
    else:
        from mlplatform.stacks.program import plan as make_plan
        from mlplatform.stacks.config.spec import load_spec

        spec = load_spec(profile=profile, team_size=team_size, config_file=config_file, sets=sets, region=region)
        the_plan, the_region = make_plan(spec, stack=stack), spec.region
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
        click.echo(json.dumps(data, indent=2, default=str))
        return
    from mlplatform.cli.render import print_cost

    print_cost(report)
    if missed:
        click.echo(f"Price List API had no single answer for: {', '.join(missed)}")


@cli.command()
@click.option("--to", "to", required=True, type=click.Choice(["pragmatic", "growth", "full"]),
              help="The profile to move the stack to.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="The stack config (YAML with `profile:` and sections, like examples/existing-vpc/stack.yaml).")
@click.option("--stack-file", type=click.Path(dir_okay=False), default=None,
              help="The Pulumi stack file (Pulumi.<stack>.yaml with mlplatform:profile).")
@click.option("--dir", "directory", default=".", type=click.Path(file_okay=False),
              help="Project folder whose Pulumi.<stack>.yaml is used when neither file is given.")
@click.option("--stack", default=None, help="Stack name (default: from the Pulumi.<stack>.yaml, or dev).")
@click.option("--yes", is_flag=True, help="Write without asking.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (needs --yes to write).")
@domain_errors
def upgrade(to: str, config_file: str | None, stack_file: str | None, directory: str, stack: str | None,
            yes: bool, as_json: bool) -> None:
    """Move a stack to another profile: diff, cost delta, refuse data loss (exit 3), rewrite the config."""
    import shutil
    from pathlib import Path

    from mlplatform.stacks.config.spec import SpecError
    from mlplatform.stacks.project.upgrade import apply, next_steps, prepare, read_config

    configs = [read_config(f) for f in (stack_file, config_file) if f]
    if not configs:
        name = _stack_of(directory, stack)
        found = Path(directory) / f"Pulumi.{name}.yaml"
        if not found.is_file():
            raise SpecError("--stack-file", f"no {found}",
                            "pass --config stack.yaml and/or --stack-file Pulumi.<stack>.yaml, or --dir PROJECT")
        configs = [read_config(found)]
    up = prepare(configs, to, stack)
    if up.noop:
        click.echo(f"The stack is already on profile {to}: nothing to do.")
        return
    costs = (up.cost_before, up.cost_after) if up.cost_before and up.cost_after else None
    data: dict[str, Any] = {}
    if as_json:
        data = {"from": up.current.profile, "to": to, "diff": up.diff.to_dict(), "refused": up.refused,
                "cost": _cost_delta(costs)}
    else:
        from mlplatform.cli.render import print_diff

        print_diff(up.diff, costs)
    if up.refused:
        if as_json:
            click.echo(json.dumps({**data, "written": []}, indent=2, default=str))
        from rich.console import Console

        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] upgrade {up.current.profile} -> {to} refused: it would lose data or fail halfway; "
                  "nothing was written", markup=True)
        for reason in up.refused:
            err.print(f"  - {reason}", markup=False)
        err.print("A change that needs this is a separate, explicit step (snapshot first, then set the value in "
                  "your config and run preview), never part of a profile upgrade.", markup=False)
        sys.exit(EXIT_POLICY)
    if not as_json:
        _confirm_or_refuse(f"Write profile {to} into {', '.join(str(c.path) for c in up.configs)}?", yes, "upgrade")
    elif not yes:
        raise click.UsageError("--json writes only with --yes: add --yes, or drop --json to confirm at the prompt")
    written = apply(up)
    steps = next_steps(up, engine_found=shutil.which("pulumi") is not None)
    if as_json:
        click.echo(json.dumps({**data, "written": [{"file": str(f), "backup": str(b)} for f, b in written],
                               "next_steps": steps}, indent=2, default=str))
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


def team_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--stack", default=None, help="Stack name (default: from Pulumi.<stack>.yaml, or dev).")(fn)
    fn = click.option("--dir", "directory", default=".", type=click.Path(file_okay=False),
                      help="Project folder whose Pulumi.<stack>.yaml is edited when --config is not given.")(fn)
    fn = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                      help="The stack config to edit: a stack file (teams:) or Pulumi.<stack>.yaml (mlplatform:teams).")(fn)
    return fn


def _team_config(config_file: str | None, directory: str, stack: str | None) -> str:
    from pathlib import Path

    from mlplatform.stacks.config.spec import SpecError

    if config_file:
        return config_file
    found = Path(directory) / f"Pulumi.{_stack_of(directory, stack)}.yaml"
    if not found.is_file():
        raise SpecError("--config", f"no {found}", "pass --config FILE (a stack config or Pulumi.<stack>.yaml), "
                        "or run it in the project folder `mlplatform init` made")
    return str(found)


def _print_team_change(change: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(change.to_dict(), indent=2, default=str))
        return
    from mlplatform.cli.render import print_diff

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
        click.echo(f"warning: {len(change.other_changes)} resources outside the team change too: "
                   + ", ".join(u.split("::")[-1] for u in change.other_changes))
    click.echo("Nothing has changed in the cloud: run `mlplatform preview` then `mlplatform up` to apply it.")


@team.command("add")
@click.argument("name")
@click.option("--gpu-quota", type=int, default=0, show_default=True, help="Most GPUs the team's pods request at once.")
@click.option("--cpu-quota", type=int, default=None, help="Most CPU cores the team's pods request (default 8).")
@click.option("--memory-gib", type=int, default=None, help="Most memory (GiB) the team's pods request (default 32).")
@click.option("--principal", "principals", multiple=True, metavar="ARN",
              help="IAM role/user ARN of a team member, mapped to the team's Kubernetes group (repeatable).")
@team_options
@click.option("--dry-run", is_flag=True, help="Show the diff, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
def team_add(name: str, gpu_quota: int, cpu_quota: int | None, memory_gib: int | None, principals: tuple[str, ...],
             config_file: str | None, directory: str, stack: str | None, dry_run: bool, as_json: bool) -> None:
    """Add team NAME to the stack config, then show the offline diff of its resources."""
    from mlplatform.stacks.project.team import add_team, new_team_entry

    entry = new_team_entry(name, gpu_quota=gpu_quota, cpu_quota=cpu_quota, principals=principals,
                           memory_quota_gib=memory_gib)
    change = add_team(_team_config(config_file, directory, stack), entry, stack=stack, write=not dry_run)
    _print_team_change(change, as_json)


@team.command("list")
@team_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
def team_list(config_file: str | None, directory: str, stack: str | None, as_json: bool) -> None:
    """The teams of the stack config, with their quotas (defaults filled in)."""
    from mlplatform.stacks.project.team import list_teams

    rows = list_teams(_team_config(config_file, directory, stack))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No teams. Add one with `mlplatform team add NAME --gpu-quota N`.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="teams")
    for col in ("team", "GPUs", "CPUs", "memory", "PVCs", "principals", "runners"):
        table.add_column(col)
    for r in rows:
        runners = ", ".join(k for k in ("cpu", "gpu") if (r["runners"] or {}).get(k)) or "-"
        table.add_row(r["name"], str(r["gpu_quota"]), str(r["cpu_quota"]), f"{r['memory_quota_gib']} GiB",
                      str(r["pvc_quota"]), str(len(r["principals"])), runners)
    Console().print(table)


@team.command("remove")
@click.argument("name")
@team_options
@click.option("--dry-run", is_flag=True, help="Show the diff, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
def team_remove(name: str, config_file: str | None, directory: str, stack: str | None, dry_run: bool,
                as_json: bool) -> None:
    """Remove team NAME from the stack config; its S3 prefix and ECR repositories are kept."""
    from mlplatform.stacks.project.team import remove_team

    change = remove_team(_team_config(config_file, directory, stack), name, stack=stack, write=not dry_run)
    _print_team_change(change, as_json)


# -- CI/CD: generated GitHub Actions workflows ---------------------------------------------------
@cli.group()
def ci() -> None:
    """CI/CD: GitHub Actions workflows that run on the stack's runners."""


_ci_evidence.register(ci)  # the commands the workflows call: evidence-predicate, merged-pull, released-models


@ci.command("render")
@spec_options
@click.option("--stack", default="dev", show_default=True, help="Stack name (its runners' runs-on labels).")
@click.option("--out", default=".github/workflows", show_default=True, type=click.Path(file_okay=False),
              help="Folder the workflows are written to.")
@click.option("--force", is_flag=True, help="Overwrite workflows that exist with other content.")
@click.option("--project-dir", default=".", show_default=True, help="The Pulumi project folder in the repository.")
@click.option("--branch", default="main", show_default=True, help="Branch that deploys and retrains.")
@click.option("--secrets", type=click.Choice(["kms", "passphrase"]), default="kms", show_default=True,
              help="How the stack's secrets are encrypted (passphrase: the PULUMI_CONFIG_PASSPHRASE secret).")
@click.option("--model-name", default="model", show_default=True, help="MLflow registered model and OCI tag prefix.")
@click.option("--metric", default="val_loss", show_default=True, help="Metric that decides promotion.")
@click.option("--higher-is-better", is_flag=True, help="A higher --metric is better (default: lower).")
@click.option("--train-command", default="python training/train.py", show_default=True,
              help="The training command (logs to MLflow).")
@click.option("--data-path", "data_paths", multiple=True, metavar="GLOB",
              help="A push touching these paths retrains (repeatable; default data/** and training/**).")
@click.option("--approval", type=click.Choice(["pull-request", "environment"]), default="pull-request",
              show_default=True, help="How a better model is approved: merging its release pull request (every "
              "GitHub plan), or the model-promotion environment's required reviewers (Enterprise or public).")
@click.option("--model-owner", "model_owners", multiple=True, metavar="OWNER",
              help="CODEOWNERS owner of models/ whose review approves a release (@org/team, @user; repeatable).")
@click.option("--codeowners", "codeowners", default=None, type=click.Path(dir_okay=False),
              help="The CODEOWNERS file to add the models/ entry to (default: beside --out, .github/CODEOWNERS).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@domain_errors
def ci_render(profile: str | None, team_size: int | None, config_file: str | None, sets: tuple[str, ...],
              region: str | None, stack: str, out: str, force: bool, project_dir: str, branch: str, secrets: str,
              model_name: str, metric: str, higher_is_better: bool, train_command: str, data_paths: tuple[str, ...],
              approval: str, model_owners: tuple[str, ...], codeowners: str | None, as_json: bool) -> None:
    """Write the stack's workflows (platform, train-evaluate, model-publish, model-review) and the models/
    CODEOWNERS entry (offline)."""
    from mlplatform.stacks.config.spec import resolve_spec
    from mlplatform.stacks.project.ci import WorkflowOptions, render_workflows, write_render

    spec, _source = resolve_spec(profile, team_size, config_file, sets, region, stack=stack)
    options = WorkflowOptions(stack=stack, project_dir=project_dir, branch=branch, secrets=secrets,  # type: ignore[arg-type]
                              model_name=model_name, metric=metric, greater_is_better=higher_is_better,
                              train_command=train_command, approval=approval,  # type: ignore[arg-type]
                              model_owners=list(model_owners),
                              **({"data_paths": list(data_paths)} if data_paths else {}))
    written, unchanged, removed = write_render(render_workflows(spec, options), out, owners=options.model_owners,
                                               codeowners=codeowners, force=force)
    for p in removed:
        click.echo(f"removed {p} (not part of this render)", err=as_json)
    if as_json:
        click.echo(json.dumps({"written": [str(p) for p in written], "unchanged": [str(p) for p in unchanged]},
                              indent=2))
        return
    for p in written:
        click.echo(f"wrote {p}")
    for p in unchanged:
        click.echo(f"unchanged {p}")
    if not spec.runners.enabled:
        click.echo("runners.enabled is false: no train-evaluate.yml (it runs on the stack's runners).")


# -- check (offline policy) ------------------------------------------------------------------------
def _print_report(report: Any, spec: Any, source: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    console.print(f"Policy check of profile [bold]{report.profile}[/]" + (f" ({escape(source)})" if source else "")
                  + ": built-in rules" + "".join(f", {s.name}" for s in report.scanners if s.status == "ran") + "\n")
    color = {"high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
    for f in report.findings:
        sev = f"[dim]{f.severity:<6}[/]" if f.waived else f"[{color.get(f.severity, 'white')}]{f.severity:<6}[/]"
        console.print(f"{sev} {escape(f.rule)}  [bold]{escape(f.name)}[/]: {escape(f.message)}")
        console.print(f"       [green]waived:[/] {escape(f.waived)}" if f.waived else f"       fix: {escape(f.fix)}")
    console.print()
    for run in report.scanners:
        if run.status == "ran":
            console.print(f"{run.name}: {run.passed} passed, {run.failed} failed, {run.skipped} skipped ({run.message})")
        else:
            console.print(f"[yellow]{run.name}: {run.status}[/] - {escape(run.message)}")
    for w in report.unused_waivers:
        if w.origin == "config":  # a profile's waiver goes unused when your config fixed the finding
            console.print(f"[yellow]warning:[/] waiver {escape(w.rule)} for {escape(w.resource)!r} matched nothing; "
                          "remove it from your config")
    c = report.counts()
    console.print("Findings: " + ", ".join(f"{sev} {n['open']} open / {n['waived']} waived" for sev, n in c.items()))
    high = len(report.blocking())
    if high:
        console.print(f"[bold red]check failed:[/] {high} unwaived high finding(s); fix them or waive each "
                      "with a reason under `waivers:` in the stack config")
    else:
        console.print("[bold green]check passed:[/] no unwaived high finding")


@cli.command()
@spec_options
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), default=None,
              help="Check a saved plan (`mlplatform plan --json --out FILE`) instead of planning.")
@click.option("--stack", default="dev", show_default=True, help="Stack name (prefixes physical names).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--sarif", "sarif_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the findings as SARIF 2.1.0 (GitHub code scanning) to this file.")
@click.option("--force", is_flag=True, help="Overwrite --sarif if it exists.")
@click.option("--no-scanners", is_flag=True, help="Only the built-in rules: skip checkov and kubernetes-validate.")
@domain_errors
def check(profile: str | None, team_size: int | None, config_file: str | None, sets: tuple[str, ...],
          region: str | None, plan_file: str | None, stack: str, as_json: bool, sarif_file: str | None,
          force: bool, no_scanners: bool) -> None:
    """Check, offline, a stack's security and reliability: built-in rules, checkov, kubernetes-validate.

    Exits 3 when a high finding is not waived. Waive a finding in the stack config:
    `waivers: [{rule: ..., resource: ..., reason: ...}]`.
    """
    from mlplatform.stacks.files import write_atomic
    from mlplatform.stacks.program import plan as make_plan
    from mlplatform.stacks.analyses.check import check as run_check
    from mlplatform.stacks.analyses.check import read_plan, stack_waivers
    from mlplatform.stacks.config.spec import resolve_spec

    saved = read_plan(plan_file) if plan_file else None
    if saved is not None and not (profile or team_size or config_file):
        profile = saved.profile or None
    one_profile_choice(profile, team_size)
    spec, source = resolve_spec(profile, team_size, config_file, sets, region, stack=stack)
    if saved is not None:
        from mlplatform.stacks.plan.export import plan_region

        result, where = saved, region or plan_region(saved)
    else:
        result, where = make_plan(spec, stack=stack), spec.region
    report = run_check(result, stack_waivers(spec), region=where, scanners=not no_scanners)
    if sarif_file:
        artifact = config_file or source or plan_file or "Pulumi.yaml"
        write_atomic(sarif_file, json.dumps(report.to_sarif(artifact), indent=2) + "\n", force=force, what="--sarif")
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report, spec, source or plan_file)
    if report.exit_code:
        sys.exit(report.exit_code)


from mlplatform.cli.evidence import evidence as _evidence  # noqa: E402 - evidence record|log|at|verify

cli.add_command(_evidence)


def main() -> None:
    cli(prog_name="mlplatform")


if __name__ == "__main__":  # pragma: no cover
    main()

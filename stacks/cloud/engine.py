"""The engine verbs through Pulumi's Automation API: preview, up, refresh, outputs, destroy.

A project folder made by `mlplatform init` (Pulumi.yaml + Pulumi.<stack>.yaml) is opened as a
`LocalWorkspace`; the stack is created on first use with the project's secrets provider, and the
provider plugins are installed at the versions of the installed Python SDKs (pulumi-aws,
pulumi-kubernetes, pulumi-random) before the first operation, so the engine never picks another.

Engine events stream into `Progress`: a live view of the resources in flight, a line per finished
resource, then a Terraform-style summary line (`Plan: 3 to add, 1 to change, 0 to destroy.`).

`destroy` is a safe teardown in phases: the Kubernetes objects that own AWS load balancers (Services,
Ingresses, Helm releases other than the controllers), then Karpenter NodePools/EC2NodeClasses (so
nodes drain while Karpenter still runs), then node groups, then the rest. The data — databases, S3
buckets, ECR registries and what they need (their KMS keys, configuration, the subnets a database
lives in) — stays unless `purge`, and is listed. Afterwards the orphan sweep (stacks/cloud/orphans.py)
removes what Kubernetes controllers left behind with the stack's ownership tags.

Missing `pulumi` CLI, credentials or passphrase: one-line `EngineError` naming what to install or set.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..config.spec import SpecError
from ..plan.offline import DATA_TYPES
from ..source import StackSource
from .doctor import AWS_LOGIN, PULUMI_INSTALL, aws_client

# Python SDK distribution -> provider plugin name.
PROVIDER_SDKS = {"pulumi_aws": "aws", "pulumi_kubernetes": "kubernetes", "pulumi_random": "random"}

# Helm charts whose controllers must outlive the objects they clean up.
CONTROLLER_CHARTS = ("aws-load-balancer-controller", "karpenter", "cluster-autoscaler")


class EngineError(SpecError):
    """The engine can't run or failed; one line naming what to install, set or fix."""


# -- prerequisites ------------------------------------------------------------------------------
def require_pulumi(which: Callable[[str], str | None] = shutil.which) -> str:
    path = which("pulumi")
    if path is None:
        raise EngineError("pulumi", "the Pulumi CLI is not on PATH", PULUMI_INSTALL)
    return path


def require_credentials(region: str) -> None:
    import boto3

    if boto3.session.Session(region_name=region).get_credentials() is None:
        raise EngineError("aws credentials", "none found", AWS_LOGIN)


def pinned_plugins() -> dict[str, str]:
    """Provider plugin -> version, from the installed Python SDKs (the versions the program was written for)."""
    return {plugin: metadata.version(dist) for dist, plugin in PROVIDER_SDKS.items()}


def missing_plugins(installed: list[tuple[str, str | None]]) -> dict[str, str]:
    """The pinned plugins not among `installed` (name, version) pairs."""
    have = {(n, (v or "").lstrip("v")) for n, v in installed}
    return {n: v for n, v in pinned_plugins().items() if (n, v) not in have}


# -- the project folder -------------------------------------------------------------------------
@dataclass
class Project:
    directory: Path
    stack: str
    name: str
    backend_url: str | None
    secrets_provider: str | None  # None: passphrase
    config: dict[str, Any]

    @property
    def region(self) -> str:
        return str(self.config.get("aws:region", "us-east-1"))

    @property
    def local_backend(self) -> bool:
        return (self.backend_url or "").startswith("file://")


def project_of(source: StackSource, directory: str | Path | None = None) -> Project:
    """The engine's view of a StackSource: it must be a project folder's stack (Pulumi.yaml + Pulumi.<stack>.yaml)."""
    if (
        source.project is None
        or not source.project.exists
        or source.stack_file is None
        or source.stack_file.kind != "pulumi"
    ):
        d = Path(directory) if directory is not None else Path(".")
        raise EngineError("--dir", f"{d} has no Pulumi.yaml", f"run `mlplatform init {d}` first, or pass --dir PROJECT")
    return Project(
        directory=source.project.directory.resolve(),
        stack=source.stack,
        name=source.project.name,
        backend_url=source.project.backend_url,
        secrets_provider=source.secrets_provider,
        config=source.stack_file.config,
    )


def load_project(directory: str | Path, stack: str | None = None) -> Project:
    """The project folder's stack, read through StackSource (the one reader of stack files)."""
    from ..source import stack_source

    return project_of(stack_source(stack=stack, directory=directory), directory)


def engine_env(project: Project, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the Pulumi CLI; a passphrase-encrypted stack needs PULUMI_CONFIG_PASSPHRASE(_FILE)."""
    environ = os.environ if environ is None else environ
    env = {"PULUMI_SKIP_UPDATE_CHECK": "true"}
    if project.secrets_provider in (None, "passphrase"):
        if "PULUMI_CONFIG_PASSPHRASE" not in environ and "PULUMI_CONFIG_PASSPHRASE_FILE" not in environ:
            raise EngineError(
                "PULUMI_CONFIG_PASSPHRASE",
                "not set, and this stack's secrets use a passphrase",
                "export PULUMI_CONFIG_PASSPHRASE=... (keep it in your password manager)",
            )
    return env


def open_stack(project: Project) -> Any:
    """The Automation API stack for `project` (created on first use), with the pinned plugins installed."""
    from pulumi import automation as auto

    require_pulumi()
    require_credentials(project.region)
    env = engine_env(project)
    if project.local_backend:
        (project.directory / project.backend_url.removeprefix("file://")).mkdir(exist_ok=True)  # type: ignore[union-attr]
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(project.directory), env_vars=env, secrets_provider=project.secrets_provider
    )
    try:
        stack = auto.create_or_select_stack(stack_name=project.stack, work_dir=str(project.directory), opts=opts)
        ws = stack.workspace
        for name, version in missing_plugins(
            [(p.name, p.version) for p in ws.list_plugins() if p.kind == "resource"]
        ).items():
            ws.install_plugin(name, f"v{version}")
    except auto.errors.CommandError as e:
        raise EngineError("pulumi", _first_line(str(e)), "see `pulumi about` in the project folder") from None
    return stack


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("code:", "stdout:", "stderr:")):
            return line.removeprefix("error: ")
    return text.strip()[:200]


# -- event rendering ----------------------------------------------------------------------------
SYMBOLS = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "delete": ("-", "red"),
    "replace": ("+-", "magenta"),
    "create-replacement": ("++", "magenta"),
    "delete-replaced": ("--", "magenta"),
    "read": (">", "cyan"),
    "refresh": ("~", "cyan"),
    "import": ("=", "cyan"),
}
DONE = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted original",
    "read": "read",
    "refresh": "refreshed",
    "import": "imported",
}
PLANNED = {
    "create": "to create",
    "update": "to update",
    "delete": "to delete",
    "replace": "to replace",
    "create-replacement": "to create replacement",
    "delete-replaced": "to delete original",
    "read": "to read",
    "refresh": "to refresh",
    "import": "to import",
}


def short_urn(urn: str) -> tuple[str, str]:
    """(type, name) of a URN."""
    parts = urn.split("::")
    return (parts[-2].split("$")[-1], parts[-1]) if len(parts) >= 2 else ("", urn)


def change_counts(changes: Mapping[str, int]) -> tuple[int, int, int]:
    """(add, change, destroy) as Terraform counts them: a replacement is one add and one destroy."""
    c = {str(getattr(k, "value", k)): int(v) for k, v in changes.items()}
    add = c.get("create", 0) + c.get("import", 0) + c.get("replace", 0)
    return add, c.get("update", 0), c.get("delete", 0) + c.get("replace", 0)


def summary_line(verb: str, changes: Mapping[str, int]) -> str:
    add, change, destroy = change_counts(changes)
    if verb == "preview":
        if not (add or change or destroy):
            return "No changes. Your infrastructure matches the configuration."
        return f"Plan: {add} to add, {change} to change, {destroy} to destroy."
    if verb == "up":
        return f"Apply complete! Resources: {add} added, {change} changed, {destroy} destroyed."
    if verb == "refresh":
        return f"Refresh complete! Resources: {change} changed, {destroy} gone from the cloud."
    return f"Destroy complete! Resources: {destroy} destroyed."


@dataclass
class Progress:
    """Consumes Automation API engine events: live view, a line per finished resource, diagnostics."""

    verb: str
    console: Any = None  # rich Console; None: a default one
    in_flight: dict[str, tuple[str, float]] = field(default_factory=dict)  # urn -> (op, started)
    done: Counter = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changes: dict[str, int] | None = None
    lines: list[str] = field(default_factory=list)
    _live: Any = None

    def __post_init__(self) -> None:
        if self.console is None:
            from rich.console import Console

            self.console = Console(highlight=False)

    # rich Live around the operation: `with progress: stack.up(on_event=progress)`
    def __enter__(self) -> Progress:
        from rich.live import Live

        self._live = Live(self.render(), console=self.console, refresh_per_second=4, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def _print(self, text: str, style: str = "") -> None:
        self.lines.append(text)
        self.console.print(text, style=style or None, markup=False, highlight=False)

    def __call__(self, event: Any) -> None:
        now = time.monotonic()
        if event.resource_pre_event is not None:
            md = event.resource_pre_event.metadata
            op = str(md.op.value)
            if op != "same":
                self.in_flight[md.urn] = (op, now)
                if self.verb == "preview":
                    self._finish(md.urn, op, now)
        elif event.res_outputs_event is not None:
            md = event.res_outputs_event.metadata
            op = str(md.op.value)
            if op != "same" and self.verb != "preview":
                self._finish(md.urn, op, now)
        elif event.res_op_failed_event is not None:
            md = event.res_op_failed_event.metadata
            self.in_flight.pop(md.urn, None)
            self.failed.append(md.urn)
            type_, name = short_urn(md.urn)
            self._print(f"x {type_} {name} failed", "bold red")
        elif event.diagnostic_event is not None:
            d = event.diagnostic_event
            msg = d.message.strip()
            where = f"{short_urn(d.urn)[1]}: " if d.urn else ""
            if d.severity == "error" and msg:
                self.errors.append(where + msg.splitlines()[0])
            elif d.severity == "warning" and msg:
                self.warnings.append(where + msg.splitlines()[0])
        elif event.summary_event is not None:
            self.changes = {
                str(getattr(k, "value", k)): int(v) for k, v in event.summary_event.resource_changes.items()
            }
        if self._live is not None:
            self._live.update(self.render())

    def _finish(self, urn: str, op: str, now: float) -> None:
        _, started = self.in_flight.pop(urn, (op, now))
        self.done[op] += 1
        type_, name = short_urn(urn)
        symbol, style = SYMBOLS.get(op, ("*", ""))
        if self.verb == "preview":
            self._print(f"{symbol} {type_} {name} {PLANNED.get(op, op)}", style)
        else:
            self._print(f"{symbol} {type_} {name} {DONE.get(op, op)} ({now - started:.0f}s)", style)

    def render(self) -> Any:
        """The live part: what is in flight now, and the counts so far."""
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        now = time.monotonic()
        for urn, (op, started) in list(self.in_flight.items())[:12]:
            type_, name = short_urn(urn)
            table.add_row(f"[dim]{op}[/]", type_, name, f"{now - started:.0f}s")
        if len(self.in_flight) > 12:
            table.add_row("", f"... and {len(self.in_flight) - 12} more", "", "")
        counts = ", ".join(f"{n} {DONE.get(op, op)}" for op, n in sorted(self.done.items())) or "starting"
        table.add_row("", f"[bold]{self.verb}[/]: {counts}", "", "")
        return table

    def finish(self) -> str:
        """Print diagnostics and the summary line; return the summary line."""
        for w in dict.fromkeys(self.warnings):
            self._print(f"warning: {w}", "yellow")
        for e in dict.fromkeys(self.errors):
            self._print(f"error: {e}", "red")
        line = summary_line(self.verb, self.changes if self.changes is not None else dict(self.done))
        self._print("")
        self._print(line, "bold")
        return line


def _run(verb: str, call: Callable[..., Any], progress: Progress, **kwargs: Any) -> Any:
    from pulumi import automation as auto

    try:
        with progress:
            result = call(on_event=progress, color="never", **kwargs)
    except auto.errors.CommandError as e:
        progress.finish()
        reason = progress.errors[0] if progress.errors else _first_line(str(e))
        raise EngineError(verb, f"failed: {reason}", "fix the cause above and run it again") from None
    progress.finish()
    return result


# -- verbs --------------------------------------------------------------------------------------
def require_deployable(project: Project) -> None:
    """Refuse (one SpecError) a stack the engine must not build: invalid config, or runners enabled
    without their GitHub App secret. Offline and instant, so it runs before anything else."""
    from ..config.spec import spec_from_stack_config
    from .secrets_check import check_deployable

    check_deployable(spec_from_stack_config(project.config), project.config)


def preview(project: Project, console: Any = None) -> Progress:
    require_deployable(project)
    stack = open_stack(project)
    progress = Progress("preview", console)
    _run("preview", stack.preview, progress, diff=False)
    return progress


def up(project: Project, console: Any = None) -> Progress:
    require_deployable(project)
    stack = open_stack(project)
    progress = Progress("up", console)
    _run("up", stack.up, progress)
    return progress


def refresh(project: Project, console: Any = None) -> Progress:
    stack = open_stack(project)
    progress = Progress("refresh", console)
    _run("refresh", stack.refresh, progress)
    return progress


OUTPUT_ORDER = ("mlflow_url", "grafana_url", "repository_urls", "artifact_bucket", "kubeconfig_command")


def format_outputs(outputs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(key, value) rows, the URLs people open first; secrets (the kubeconfig) masked."""
    keys = [k for k in OUTPUT_ORDER if k in outputs] + sorted(k for k in outputs if k not in OUTPUT_ORDER)
    rows = []
    for k in keys:
        v = outputs[k]
        secret = bool(getattr(v, "secret", False))
        value = getattr(v, "value", v)
        rows.append((k, "[secret]" if secret else value))
    return rows


def outputs(project: Project) -> list[tuple[str, Any]]:
    return format_outputs(open_stack(project).outputs())


# -- destroy ------------------------------------------------------------------------------------
def _deps(r: Mapping[str, Any]) -> set[str]:
    out = set(r.get("dependencies") or [])
    for urns in (r.get("propertyDependencies") or {}).values():
        out |= set(urns or [])
    if r.get("parent"):
        out.add(r["parent"])
    if r.get("provider"):
        out.add(str(r["provider"]).rsplit("::", 1)[0])
    return out


def kept_urns(resources: Sequence[Mapping[str, Any]], purge: bool) -> list[str]:
    """What `destroy` keeps (in state order): the data resources, their own configuration (same-service
    resources that depend on them: bucket policy, public access block, lifecycle rules...), and,
    transitively, everything those depend on (KMS keys, the subnets a database lives in, parents)."""
    if purge:
        return []
    by_urn = {r["urn"]: r for r in resources}
    roots = {r["urn"] for r in resources if r.get("type") in DATA_TYPES}  # data: kept with what it needs
    for r in resources:
        service = str(r.get("type", "")).split("/")[0] + "/"
        if any(by_urn[u]["type"].startswith(service) for u in _deps(r) & roots if u in by_urn):
            roots.add(r["urn"])
    todo, keep = list(roots), set()
    while todo:
        urn = todo.pop()
        if urn in keep or urn not in by_urn:
            continue
        keep.add(urn)
        todo += _deps(by_urn[urn])
    return [r["urn"] for r in resources if r["urn"] in keep]


def _chart(r: Mapping[str, Any]) -> str:
    inputs = r.get("inputs") or {}
    return str(inputs.get("chart", "")).rsplit("/", 1)[-1]


def teardown_phases(resources: Sequence[Mapping[str, Any]], keep: list[str]) -> list[tuple[str, list[str]]]:
    """Ordered (label, urns) phases of a destroy; the kept resources and the root stack are in none."""
    kept = set(keep)
    live = [
        r
        for r in resources
        if r["urn"] not in kept
        and r.get("type") != "pulumi:pulumi:Stack"
        and not str(r.get("type", "")).startswith("pulumi:providers:")
    ]

    def is_lb_owner(r: Mapping[str, Any]) -> bool:
        t = r["type"]
        if t in ("kubernetes:core/v1:Service", "kubernetes:networking.k8s.io/v1:Ingress"):
            return True
        return t.startswith("kubernetes:helm.sh/") and _chart(r) not in CONTROLLER_CHARTS

    def is_karpenter(r: Mapping[str, Any]) -> bool:
        return r["type"].startswith(("kubernetes:karpenter.sh/", "kubernetes:karpenter.k8s.aws/"))

    phases = [
        ("load balancer owners (Services, Ingresses, Helm releases)", [r["urn"] for r in live if is_lb_owner(r)]),
        ("Karpenter node pools", [r["urn"] for r in live if is_karpenter(r)]),
        ("node groups", [r["urn"] for r in live if r["type"] == "aws:eks/nodeGroup:NodeGroup"]),
    ]
    placed = {u for _, urns in phases for u in urns}
    phases.append(("the rest (cluster, network, IAM)", [r["urn"] for r in live if r["urn"] not in placed]))
    return [(label, urns) for label, urns in phases if urns]


def unprotect(deployment: Mapping[str, Any], keep: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A copy of a stack export with `protect` cleared on every resource not kept; and those URNs."""
    import copy

    out = copy.deepcopy(dict(deployment))
    kept, changed = set(keep), []
    for r in out.get("resources") or []:
        if r.get("protect") and r["urn"] not in kept:
            r["protect"] = False
            changed.append(r["urn"])
    return out, changed


@dataclass
class DestroyPlan:
    phases: list[tuple[str, list[str]]]
    kept: list[str]
    unprotected: list[str]  # protected resources this destroy removes (the user confirms them)


def plan_destroy(resources: Sequence[Mapping[str, Any]], purge: bool) -> DestroyPlan:
    keep = kept_urns(resources, purge)
    _, unprot = unprotect({"resources": [dict(r) for r in resources]}, keep)
    return DestroyPlan(phases=teardown_phases(resources, keep), kept=keep, unprotected=unprot)


def stack_resources(stack: Any) -> tuple[Any, list[dict[str, Any]]]:
    state = stack.export_stack()
    return state, list((state.deployment or {}).get("resources") or [])


def destroy(
    project: Project, purge: bool, confirm: Callable[[DestroyPlan], bool], console: Any = None
) -> tuple[DestroyPlan, list[Progress]]:
    """Ordered teardown (see the module docstring). `confirm(plan)` is asked before anything is deleted."""
    from pulumi import automation as auto

    stack = open_stack(project)
    state, resources = stack_resources(stack)
    dplan = plan_destroy(resources, purge)
    if not confirm(dplan):
        raise EngineError("destroy", "not confirmed, nothing was deleted", "type the stack name, or pass --yes")
    if dplan.unprotected:
        new, _ = unprotect(state.deployment or {}, dplan.kept)
        stack.import_stack(auto.Deployment(version=state.version, deployment=new))
    if purge:
        _lift_db_deletion_protection(resources, project.region)
    runs = []
    for label, urns in dplan.phases:
        progress = Progress("destroy", console)
        progress._print(f"-- {label}", "bold")
        _run("destroy", stack.destroy, progress, target=urns, target_dependents=True)
        runs.append(progress)
    return dplan, runs


def _lift_db_deletion_protection(resources: Sequence[Mapping[str, Any]], region: str) -> None:
    """--purge: RDS refuses to delete an instance with deletion protection on; turn it off first."""
    rds = None
    for r in resources:
        if r.get("type") == "aws:rds/instance:Instance" and (r.get("outputs") or {}).get("deletionProtection"):
            rds = rds or aws_client("rds", region)
            rds.modify_db_instance(
                DBInstanceIdentifier=r["outputs"].get("identifier", r.get("id")),
                DeletionProtection=False,
                ApplyImmediately=True,
            )

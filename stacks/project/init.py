"""`mlplatform init`: from nothing to a team's Pulumi project.

Answers (flags, or questions when interactive) become a validated StackSpec first; then every file
is rendered from the jinja2 templates in `stacks/templates/init/` into memory; then all of them are
written atomically: each goes to a temporary file in the folder, and only when every one is written
are they renamed into place (a failed rename puts back what was there). So a refusal or an error
leaves nothing half-written, a file that differs is never overwritten without `force`, and a second
identical run writes nothing.

The stack file holds `aws:region`, `mlplatform:profile` and one `mlplatform:<section>` key per
override, exactly what `mlplatform.stacks.program.spec_from_pulumi_config` reads.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

import yaml

from mlplatform.components.merge import deep_merge

from ..cloud.state_backend import (
    DEFAULT_KMS_ALIAS,
    LOCAL_STATE_DIR,
    default_bucket_name,
    ensure_s3_backend,
    kms_secrets_provider,
    local_backend_url,
    s3_backend_url,
)
from ..config.regions import AZ_COUNT
from ..config.spec import (
    SECTIONS,
    SpecError,
    StackSpec,
    apply_set,
    load_spec,
    profile_defaults,
    profile_for_team_size,
)
from ..files import replace_all

PROJECT = "mlplatform"  # Pulumi project name when no folder names it (`project_name`): part of every URN
STACK_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")  # stack names prefix physical names (`ml-<stack>`)
TEMPLATES = {  # rendered file -> template
    "Pulumi.yaml": "Pulumi.yaml.j2",
    "Pulumi.{stack}.yaml": "Pulumi.stack.yaml.j2",
    "__main__.py": "__main__.py.j2",
    "requirements.txt": "requirements.txt.j2",
    ".gitignore": "gitignore.j2",
    "README.md": "README.md.j2",
}


@dataclass
class InitOptions:
    """What `init` needs; None means "ask" (interactive) or the default (non-interactive)."""

    directory: Path = Path(".")
    stack: str | None = None
    profile: str | None = None
    team_size: int | None = None
    region: str | None = None
    backend: Literal["local", "s3"] | None = None
    state_bucket: str | None = None
    secrets: Literal["kms", "passphrase"] | None = None  # default: kms with s3, passphrase with local
    kms_alias: str | None = None
    sets: tuple[str, ...] = ()
    existing_vpc: dict[str, Any] | None = None  # {vpc_id, private_subnet_ids, public_subnet_ids}
    existing_cluster: str | None = None
    existing_monitoring: dict[str, str] | None = None  # {namespace, release}
    github_org: str | None = None
    force: bool = False


@dataclass
class InitResult:
    directory: Path
    stack: str
    spec: StackSpec
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    backend_changes: list[str] = field(default_factory=list)
    plan_args: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def no_op(self) -> bool:
        return not self.written and not self.backend_changes


# -- questions ----------------------------------------------------------------------------------
Ask = Callable[..., Any]  # ask(kind, message, default=None, choices=None) with kind text|select|confirm


def questionary_ask(kind: str, message: str, default: Any = None, choices: list[str] | None = None) -> Any:
    import questionary

    if kind == "select":
        q = questionary.select(message, choices=choices or [], default=default)
    elif kind == "confirm":
        q = questionary.confirm(message, default=bool(default))
    else:
        q = questionary.text(message, default="" if default is None else str(default))
    answer = q.ask()
    if answer is None:  # Ctrl-C
        raise SpecError("init", "cancelled, nothing was written", "run it again, or pass --non-interactive")
    return answer


def _ids(text: str) -> list[str]:
    return [s for s in re.split(r"[,\s]+", text.strip()) if s]


def ask_missing(opts: InitOptions, ask: Ask) -> InitOptions:
    """Fill what the flags left open by asking; flags always win."""
    if opts.profile is None and opts.team_size is None:
        question = "How many people are on the ML team?"
        while True:
            raw = str(ask("text", question, default=3)).strip()
            if raw.isdigit() and int(raw) >= 1:
                opts.team_size = int(raw)
                break
            question = f"{raw!r} is not a team size (a whole number, 1 or more). How many people are on the ML team?"
    if opts.region is None:
        opts.region = ask("select", "AWS region", default="us-east-1", choices=sorted(AZ_COUNT))
    if opts.stack is None:
        opts.stack = str(ask("text", "Stack name (prefixes every resource name)", default="dev")).strip()
    if opts.backend is None:
        opts.backend = ask("select", "Where should Pulumi keep the state?", default="local", choices=["local", "s3"])
    if opts.existing_vpc is None and ask("confirm", "Adopt an existing VPC instead of creating one?", default=False):
        opts.existing_vpc = {
            "vpc_id": str(ask("text", "VPC id (vpc-...)")).strip(),
            "private_subnet_ids": _ids(ask("text", "Private subnet ids (comma-separated)")),
            "public_subnet_ids": _ids(ask("text", "Public subnet ids (comma-separated, may be empty)")),
        }
    if opts.existing_cluster is None and ask("confirm", "Adopt an existing EKS cluster?", default=False):
        opts.existing_cluster = str(ask("text", "EKS cluster name")).strip()
    if opts.existing_monitoring is None and ask(
        "confirm", "Adopt an existing Prometheus (kube-prometheus-stack)?", default=False
    ):
        opts.existing_monitoring = {
            "namespace": str(ask("text", "Its namespace", default="monitoring")).strip(),
            "release": str(ask("text", "Its Helm release name", default="kube-prometheus-stack")).strip(),
        }
    if opts.github_org is None:
        opts.github_org = str(ask("text", "GitHub organization for the CI runners (empty: none)", default="")).strip()
    return opts


# -- answers -> stack config --------------------------------------------------------------------
def overrides_of(opts: InitOptions, profile: str) -> dict[str, Any]:
    """The `mlplatform:<section>` overrides the answers make (same shape as a profile file).

    A `--set` lands on the profile's values (so `gpu.pools.0.max=4` can index the profile's list) and
    the override keeps the whole second-level key it changed (`gpu.pools`: the full list).
    """
    over: dict[str, Any] = {}
    if opts.existing_vpc:
        over = deep_merge(
            over,
            {"network": {"existing": {k: v for k, v in opts.existing_vpc.items() if v or k != "public_subnet_ids"}}},
        )
    if opts.existing_cluster:
        over = deep_merge(over, {"cluster": {"existing": {"name": opts.existing_cluster}}})
    if opts.existing_monitoring:
        over = deep_merge(over, {"monitoring": {"existing": dict(opts.existing_monitoring)}})
    if opts.github_org:
        org = opts.github_org.strip().removeprefix("https://github.com/").strip("/")
        over = deep_merge(over, {"runners": {"github_config_url": f"https://github.com/{org}"}})
    full = deep_merge(profile_defaults(profile), over)
    for s in opts.sets:
        path = s.split("=", 1)[0].split(".")
        if path[0] in ("profile", "team_size", "region"):
            raise SpecError("--set", f"{path[0]} cannot be set this way", f"use --{path[0].replace('_', '-')}")
        if path[0] not in (*SECTIONS, "tags"):
            raise SpecError(
                s.split("=", 1)[0],
                "unknown key",
                "remove it or check its spelling against stacks/profiles/pragmatic.yaml",
            )
        full = apply_set(full, s)
        section = full[path[0]]
        changed = {path[0]: {path[1]: section[path[1]]} if len(path) > 1 and isinstance(section, dict) else section}
        over = deep_merge(over, changed)
    return over


def stack_config(spec: StackSpec, team_size: int | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The `config:` map of Pulumi.<stack>.yaml."""
    cfg: dict[str, Any] = {"aws:region": spec.region, "mlplatform:profile": spec.profile}
    if team_size is not None:
        cfg["mlplatform:team_size"] = team_size
    for section in (*SECTIONS, "tags"):
        if section in overrides:
            cfg[f"mlplatform:{section}"] = overrides[section]
    return cfg


def plan_args(spec: StackSpec, stack: str, team_size: int | None, overrides: dict[str, Any]) -> list[str]:
    """`mlplatform plan` arguments for the rendered stack, run inside the project folder: `plan` reads
    `Pulumi.<stack>.yaml` there, so the command stays true when the stack file is edited later."""
    return ["plan", "--stack", stack]


# -- rendering and writing ----------------------------------------------------------------------
def mlplatform_version() -> str:
    return metadata.version("mlplatform")


@dataclass(frozen=True)
class Requirement:
    """The requirements.txt line for mlplatform, how the generated README describes it, and a warning when
    the line is not what is installed here (a local folder is no reference a teammate or CI can install)."""

    line: str
    pinned_to: str
    warning: str | None = None


def requirement_of(version: str, direct_url: str | None) -> Requirement:
    """From the installed distribution's version and its PEP 610 `direct_url.json` (None: from an index)."""
    import json

    release = Requirement(f"mlplatform=={version}", version)
    try:
        info = json.loads(direct_url) if direct_url else {}
    except ValueError:
        info = {}
    url = str(info.get("url", ""))
    vcs = info.get("vcs_info")
    if vcs:
        ref = vcs.get("commit_id") or vcs.get("requested_revision")  # the commit: what was really installed
        sub = info.get("subdirectory")
        line = (
            f"mlplatform @ {vcs.get('vcs', 'git')}+{url}"
            + (f"@{ref}" if ref else "")
            + (f"#subdirectory={sub}" if sub else "")
        )
        return Requirement(line, f"{url}@{ref}" if ref else url)
    if url.startswith(("http://", "https://")) and "archive_info" in info:
        return Requirement(f"mlplatform @ {url}", url)
    if url.startswith("file://"):
        return Requirement(
            release.line,
            version,
            f"requirements.txt pins mlplatform=={version}, but this mlplatform was installed from the local "
            f"folder {url}, which no teammate or CI can install: publish {version} to your package index, or "
            f"replace the line with a git reference (mlplatform @ git+https://<your repository>@<commit>)",
        )
    return release


def requirement_info() -> Requirement:
    """`requirement_of` for the mlplatform installed here."""
    found = list(metadata.distributions(name="mlplatform")) or [metadata.distribution("mlplatform")]
    dist = next(
        (d for d in found if d.read_text("direct_url.json")), found[0]
    )  # the installed one, not an egg-info beside it
    return requirement_of(dist.version, dist.read_text("direct_url.json"))


PROJECT_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def project_name(directory: Path) -> str:
    """The Pulumi project name for a folder: its name in the characters Pulumi allows (alphanumerics,
    hyphens, underscores, periods), so two projects in one backend do not collide; `mlplatform` if none is left."""
    name = PROJECT_NAME_RE.sub("-", directory.resolve().name).strip("-.")
    return name[:100] or PROJECT


def render(
    stack: str,
    spec: StackSpec,
    team_size: int | None,
    overrides: dict[str, Any],
    backend_url: str,
    secrets_provider: str | None,
    title: str,
    project: str = PROJECT,
) -> dict[str, str]:
    """Every project file, rendered in memory: {relative path: text}."""
    import jinja2

    folder = resources.files("mlplatform.stacks").joinpath("templates", "init")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda n: folder.joinpath(n).read_text()),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    config = stack_config(spec, team_size, overrides)
    req = requirement_info()
    ctx = {
        "project": project,
        "stack": stack,
        "profile": spec.profile,
        "region": spec.region,
        "version": mlplatform_version(),
        "requirement": req.line,
        "requirement_pinned_to": req.pinned_to,
        "backend_url": backend_url,
        "secrets_provider": secrets_provider,
        "local_backend": backend_url.startswith("file://"),
        "state_dir": LOCAL_STATE_DIR,
        "team_title": title,
        "config_yaml": yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=100).rstrip("\n"),
        "plan_command": "mlplatform " + shlex.join(plan_args(spec, stack, team_size, overrides)),
    }
    return {path.format(stack=stack): env.get_template(tpl).render(**ctx) for path, tpl in TEMPLATES.items()}


def _existing(directory: Path, files: dict[str, str]) -> dict[str, str]:
    out = {}
    for name in files:
        p = directory / name
        if p.is_dir():
            raise SpecError(
                "DIR", f"{p} is a folder, a file of that name is needed", "move it away or choose another folder"
            )
        if p.exists():
            try:
                out[name] = p.read_text()
            except (OSError, UnicodeDecodeError):
                out[name] = ""  # unreadable: treat as different
    return out


def conflicts(directory: Path, files: dict[str, str]) -> list[str]:
    """Files that exist with other content (they need --force)."""
    have = _existing(directory, files)
    return [n for n in files if n in have and have[n] != files[n]]


def write_all(directory: Path, files: dict[str, str], force: bool = False) -> tuple[list[str], list[str]]:
    """Write `files` into `directory` all or nothing: (written, unchanged)."""
    have = _existing(directory, files)
    differ = [n for n in files if n in have and have[n] != files[n]]
    if differ and not force:
        raise SpecError(
            "DIR",
            f"{directory} already has {', '.join(differ)}",
            "pass --force to overwrite them, or choose another folder",
        )
    todo = [n for n in files if have.get(n) != files[n]]
    unchanged = [n for n in files if n not in todo]
    if not todo:
        return [], unchanged
    replace_all(directory, {n: files[n] for n in todo}, have, "DIR")
    return todo, unchanged


# -- the whole init -----------------------------------------------------------------------------
def resolve(opts: InitOptions) -> tuple[InitOptions, StackSpec, dict[str, Any]]:
    """Defaults for what is still open, then the validated spec and overrides."""
    opts.stack = opts.stack or "dev"
    if not STACK_RE.match(opts.stack):
        raise SpecError(
            "--stack",
            f"{opts.stack!r} is not a valid stack name",
            "use 1-20 lowercase letters, digits and hyphens, starting with a letter",
        )
    opts.backend = opts.backend or "local"
    if opts.secrets is None:
        opts.secrets = "kms" if opts.backend == "s3" else "passphrase"
    if opts.secrets == "kms" and opts.backend == "local":
        raise SpecError("--secrets", "kms needs the s3 backend", "pass --backend s3, or --secrets passphrase")
    if opts.kms_alias and not opts.kms_alias.startswith("alias/"):
        opts.kms_alias = f"alias/{opts.kms_alias}"
    if opts.team_size is not None and opts.profile is None:
        opts.profile = profile_for_team_size(opts.team_size)
    overrides = overrides_of(opts, opts.profile or "pragmatic")
    spec = load_spec(
        profile=opts.profile, team_size=opts.team_size, region=opts.region or "us-east-1", overrides=overrides
    )
    return opts, spec, overrides


def validate_rendered(text: str, path: Path) -> StackSpec:
    """The stack file init is about to write, read back by the code every command reads it with
    (StackFile + resolve_stack_config): whatever init writes, plan accepts."""
    from ..config.spec import resolve_stack_config
    from ..config.stackfile import parse_yaml

    data = parse_yaml(text, path, "init")
    return resolve_stack_config(dict(data.get("config") or {})).spec


def init_project(
    opts: InitOptions, ask: Ask | None = None, preflight: Callable[[StackSpec], Any] | None = None
) -> InitResult:
    """Render and write the project. `ask`: fill open answers interactively. With the s3 backend,
    `preflight(spec)` runs first (blockers refuse), then the bucket and key are created or adopted
    only once the folder is known to take the files."""
    if ask is not None:
        opts = ask_missing(opts, ask)
    opts, spec, overrides = resolve(opts)
    stack = opts.stack or "dev"
    directory = Path(opts.directory)
    title = f"{directory.resolve().name} ML platform".strip()
    result = InitResult(
        directory=directory, stack=stack, spec=spec, plan_args=plan_args(spec, stack, opts.team_size, overrides)
    )

    backend_url, provider, bucket = local_backend_url(), None, None
    if opts.backend == "s3":
        from ..cloud.doctor import aws_client, run_preflight

        report = (preflight or (lambda s: run_preflight(s, tools=False)))(spec)
        if report.blockers:
            first = report.blockers[0]
            more = f" (+{len(report.blockers) - 1} more: run `mlplatform doctor`)" if len(report.blockers) > 1 else ""
            raise SpecError(first.check, first.detail + more, first.fix or "run `mlplatform doctor`")
        bucket = opts.state_bucket or default_bucket_name(
            aws_client("sts", spec.region).get_caller_identity()["Account"], spec.region
        )
        backend_url = s3_backend_url(bucket, spec.region)
        if opts.secrets == "kms":
            provider = kms_secrets_provider(opts.kms_alias or DEFAULT_KMS_ALIAS, spec.region)

    files = render(stack, spec, opts.team_size, overrides, backend_url, provider, title, project_name(directory))
    result.warnings += [w for w in (requirement_info().warning,) if w]
    spec = validate_rendered(files[f"Pulumi.{stack}.yaml"], directory / f"Pulumi.{stack}.yaml")
    result.spec = spec
    differ = conflicts(directory, files)
    if differ and not opts.force:  # refuse before anything is created in the cloud
        raise SpecError(
            "DIR",
            f"{directory} already has {', '.join(differ)}",
            "pass --force to overwrite them, or choose another folder",
        )
    if opts.backend == "s3":
        backend = ensure_s3_backend(spec.region, bucket=bucket, kms_alias=opts.kms_alias, use_kms=opts.secrets == "kms")
        result.backend_changes = list(backend.changes)
    result.written, result.unchanged = write_all(directory, files, force=opts.force)
    return result

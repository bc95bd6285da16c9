"""StackSource: the one way a command gets its stack's spec and Plan.

Built from the options every command shares (`--profile --team-size --config --set --stack --dir`,
`--region`, and a saved plan where a command takes one) and from the folder you stand in:

- a saved plan (`--plan FILE`): that plan, its own stack and region (options that would change it
  are refused);
- `--config FILE`: that file (a Pulumi stack file `Pulumi.<stack>.yaml` names its stack; a plain
  config is stack `--stack`, default dev);
- in a Pulumi project (a `Pulumi.yaml` in `--dir`, default the current folder): the stack is
  `--stack`, else the only `Pulumi.<stack>.yaml` there; several and no `--stack` is a usage error
  listing them. `--region` and `--set` are applied over the stack file (its other values kept);
  `--profile`/`--team-size` are refused: the file names its profile (`upgrade` changes it);
- outside a project (no such folder is an error; a folder that is not a project is outside): the profile (`--profile`, else the one `--team-size` picks, else pragmatic) and
  `--set`s, stack `--stack` (default dev).

The source knows which values the user set (`resolved.user`, `overrides()`) and what was adjusted
(`notices`), and says in one line what was read (`describe()`); `--json` outputs carry `to_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config.spec import PROFILES, Resolved, StackSpec, resolve, resolve_stack_config
from .config.stackfile import ProjectFile, StackFile, find_project, is_stack_file
from .errors import SpecError, UsageError

if TYPE_CHECKING:
    from .plan.offline import Plan

DEFAULT_STACK = "dev"


@dataclass
class StackSource:
    """What a command acts on: the stack, the file it came from, its validated spec."""

    kind: str  # "project" | "config" | "profile" | "plan"
    stack: str
    resolved: Resolved
    file: Path | None = None  # the stack file / config / saved plan read
    project: ProjectFile | None = None
    stack_file: StackFile | None = None
    saved_plan: Plan | None = None  # for kind "plan"
    sets: tuple[str, ...] = ()
    _plan: Plan | None = field(default=None, repr=False)

    # -- what it is ------------------------------------------------------------------------------
    @property
    def spec(self) -> StackSpec:
        return self.resolved.spec

    @property
    def region(self) -> str:
        return self.saved_plan.region if self.saved_plan is not None else self.spec.region

    @property
    def profile(self) -> str:
        return (self.saved_plan.profile or self.spec.profile) if self.saved_plan is not None else self.spec.profile

    @property
    def notices(self) -> list[str]:
        return list(self.resolved.notices)

    def overrides(self) -> list[str]:
        return [] if self.saved_plan is not None else [k for k in self.resolved.overrides() if k != "region"]

    @property
    def backend_url(self) -> str | None:
        return self.project.backend_url if self.project else None

    @property
    def secrets_provider(self) -> str | None:
        """The stack file's `secretsprovider` (None: a passphrase, Pulumi's default)."""
        return self.stack_file.secrets_provider if self.stack_file else None

    @property
    def label(self) -> str:
        """Where it came from, for messages: `Pulumi.prod.yaml`, `profile growth`, `plan.json`."""
        if self.file is not None:
            return self.file.name
        origin = {"option": "--profile", "team size": "--team-size", "default": "default profile"}
        return origin.get(self.resolved.profile_from, "profile")

    def describe(self) -> str:
        """`Stack prod (Pulumi.prod.yaml): profile growth, region eu-west-1, 3 overrides`."""
        n = len(self.overrides())
        tail = "" if self.kind == "plan" else f", {n} override{'s' if n != 1 else ''}"
        return f"Stack {self.stack} ({self.label}): profile {self.profile}, region {self.region}{tail}"

    def to_dict(self) -> dict[str, Any]:
        """The `source` object of every `--json` output."""
        return {
            "kind": self.kind,
            "stack": self.stack,
            "file": str(self.file.resolve()) if self.file else None,
            "profile": self.profile,
            "profile_from": self.resolved.profile_from if self.kind != "plan" else "plan",
            "region": self.region,
            "overrides": self.overrides(),
            "notices": self.notices,
        }

    # -- what it makes -----------------------------------------------------------------------------
    @property
    def project_name(self) -> str:
        """The Pulumi project's name (part of every URN, as the engine makes them); `mlplatform` outside one."""
        return (self.project.name if self.project is not None else "") or "mlplatform"

    def plan(self) -> Plan:
        """The stack's Plan (the saved one, or made offline once)."""
        if self.saved_plan is not None:
            return self.saved_plan
        if self._plan is None:
            from mlplatform.components._common import ValidationError

            from .program import plan

            try:
                self._plan = plan(self.spec, stack=self.stack, project=self.project_name)
            except ValidationError as e:  # a component's own check: named by the stack's key path
                raise SpecError(key_path(self.spec, e.field), e.problem, e.fix) from None
        return self._plan

    def with_profile(self, profile: str) -> StackSource:
        """The same stack at another profile, every value the user set kept (what `upgrade` diffs to)."""
        if self.stack_file is not None and self.stack_file.kind == "pulumi":
            res = resolve_stack_config(self.stack_file.config, self.sets, profile=profile)
        elif self.stack_file is not None:
            res = resolve(
                profile=profile,
                sets=self.sets,
                overrides={k: v for k, v in self.stack_file.data.items() if k not in ("profile", "team_size")},
            )
        else:
            res = resolve(profile=profile, sets=self.sets, overrides=self.resolved.user, region=self.spec.region)
        return StackSource(self.kind, self.stack, res, self.file, self.project, self.stack_file, sets=self.sets)


def key_path(spec: StackSpec, field_name: str) -> str:
    """A component's field (`pools[gpu].instance_types`) as the stack's key path (`gpu.pools.0.instance_types`)."""
    import re

    m = re.match(r"^pools\[([^\]]+)\](.*)$", field_name)
    if m:
        names = [p.name for p in spec.gpu.pools]
        if m.group(1) in names:
            return f"gpu.pools.{names.index(m.group(1))}{m.group(2)}"
    return field_name


def project_stack(project: ProjectFile, stack: str | None, what: str = "--stack") -> Path:
    """The stack file of a project: `--stack`'s, else the only one; several or none is an error."""
    have = project.stacks()
    d = project.directory
    if stack:
        p = d / f"Pulumi.{stack}.yaml"
        if not p.is_file():
            raise SpecError(
                what,
                f"{d} has no Pulumi.{stack}.yaml",
                f"pass --stack {' or --stack '.join(have)}" if have else f"run `mlplatform init {d} --stack {stack}`",
            )
        return p
    if not have:
        raise SpecError(
            "--dir",
            f"{d} has a Pulumi.yaml but no Pulumi.<stack>.yaml",
            f"run `mlplatform init {d}` there, or pass --config FILE",
        )
    if len(have) > 1:
        raise UsageError(
            "--stack",
            f"{d} has {len(have)} stacks ({', '.join(have)})",
            f"pick one with --stack {' or --stack '.join(have)}",
        )
    return d / f"Pulumi.{have[0]}.yaml"


def stack_source(
    profile: str | None = None,
    team_size: int | None = None,
    config_file: str | Path | None = None,
    sets: tuple[str, ...] | list[str] = (),
    stack: str | None = None,
    directory: str | Path | None = None,
    region: str | None = None,
    plan_file: str | Path | None = None,
    plan_option: str = "--plan",
    config_option: str = "--config",
) -> StackSource:
    """The StackSource the shared options and the current folder describe (see the module docstring)."""
    from .plan.offline import read_saved_plan

    sets = tuple(sets)
    if profile is not None and team_size is not None:
        raise UsageError("--profile", "--profile and --team-size both pick the profile", "give one of them")
    if directory is not None and not Path(directory).is_dir():
        raise SpecError("--dir", f"no folder {directory}", "pass the project folder `mlplatform init` made")
    if plan_file is not None:
        given = [
            o
            for o, v in (
                ("--profile", profile),
                ("--team-size", team_size),
                ("--config", config_file),
                ("--set", sets),
                ("--region", region),
            )
            if v
        ]
        if given:
            raise SpecError(
                plan_option,
                f"a saved plan is already decided ({', '.join(given)} cannot change it)",
                f"drop {', '.join(given)}, or plan again without {plan_option}",
            )
        saved = read_saved_plan(plan_file, plan_option)
        res = resolve(profile=saved.profile if saved.profile in PROFILES else None, region=saved.region)
        return StackSource("plan", stack or saved.stack, res, file=Path(plan_file), saved_plan=saved)
    if config_file is not None:
        p = Path(config_file)
        if is_stack_file(p):
            sf = StackFile.read(p, what=config_option)
            if stack and stack != sf.stack:
                raise UsageError(
                    "--stack",
                    f"{p.name} is the file of stack {sf.stack}, not {stack}",
                    f"drop --stack, or pass --config Pulumi.{stack}.yaml",
                )
            res = _resolve_file(sf, profile, team_size, region, sets)
            return StackSource(
                "config",
                sf.stack or DEFAULT_STACK,
                res,
                file=p,
                stack_file=sf,
                project=find_project(p.parent),
                sets=sets,
            )
        sf = StackFile.read(p, what=config_option)
        res = resolve(
            profile=profile, team_size=team_size, config_file=None, sets=sets, region=region, overrides=sf.data
        )
        if profile is None and team_size is None and sf.data.get("profile"):
            res.profile_from = "file"
        return StackSource("config", stack or DEFAULT_STACK, res, file=p, stack_file=sf, sets=sets)
    project = find_project(directory if directory is not None else ".")
    if project is not None:
        path = project_stack(project, stack)
        sf = StackFile.read(path, what=str(path.name))
        res = _resolve_file(sf, profile, team_size, region, sets)
        return StackSource(
            "project", sf.stack or DEFAULT_STACK, res, file=path, project=project, stack_file=sf, sets=sets
        )
    res = resolve(profile=profile, team_size=team_size, sets=sets, region=region)
    return StackSource("profile", stack or DEFAULT_STACK, res, sets=sets)


def _resolve_file(
    sf: StackFile, profile: str | None, team_size: int | None, region: str | None, sets: tuple[str, ...]
) -> Resolved:
    if profile or team_size:
        raise SpecError(
            sf.what if sf.what.startswith("--") else "--profile",
            f"{sf.path} is a Pulumi stack file; it names its own profile",
            "drop --profile/--team-size, or change it with `mlplatform upgrade --profile PROFILE`",
        )
    try:
        return resolve_stack_config(sf.config, sets, profile=profile, team_size=team_size, region=region)
    except SpecError as e:
        if sf.path.name in str(e):
            raise
        raise type(e)(f"{sf.path.name}: {e.key}", e.problem, e.fix) from None


def source_for(
    value: str,
    sets: tuple[str, ...] = (),
    region: str | None = None,
    stack: str | None = None,
    what: str = "--from",
    directory: str | Path | None = None,
) -> StackSource:
    """One side of `diff`: a profile name, a stack config (YAML, or Pulumi.<stack>.yaml), or a saved plan (JSON).
    A profile named inside a project (`directory`, default the current folder) takes its stack's name and region."""
    if value in PROFILES:
        project = find_project(directory if directory is not None else ".")
        return (
            stack_source(profile=value, sets=sets, region=region, stack=stack, directory=None)
            if project is None
            else _profile_in_project(project, value, sets, region, stack)
        )
    p = Path(value)
    if not p.is_file():
        raise SpecError(
            what,
            f"{value!r} is neither a profile nor a file",
            f"give {', '.join(PROFILES)}, a stack config (YAML) or a saved plan (`mlplatform plan --json --out`)",
        )
    if p.suffix == ".json":
        if sets:
            raise SpecError(
                "--set", f"cannot change the saved plan {p.name}", f"give a profile or a config file as {what}"
            )
        return stack_source(plan_file=p, region=None, plan_option=what, stack=stack)
    try:
        return stack_source(
            config_file=p, sets=sets, region=region, stack=stack if not is_stack_file(p) else None, config_option=what
        )
    except SpecError as e:
        if str(p) in str(e) or p.name in str(e):
            raise
        raise type(e)(f"{what} {p}: {e.key}", e.problem, e.fix) from None


def _profile_in_project(
    project: ProjectFile, profile: str, sets: tuple[str, ...], region: str | None, stack: str | None
) -> StackSource:
    """A bare profile named inside a project: that profile for the project's stack name and region."""
    here = StackFile.read(project_stack(project, stack))
    res = resolve(profile=profile, sets=sets, region=region or here.config.get("aws:region"))
    return StackSource("profile", here.stack or DEFAULT_STACK, res, project=project)

"""Safe profile upgrades: diff the stack at its current profile against the target, refuse data loss,
then rewrite the profile in the stack's config file.

A stack's config is either an mlplatform stack file (`profile: pragmatic` plus profile sections, like
`examples/existing-vpc/stack.yaml`) or a Pulumi stack file (`Pulumi.<stack>.yaml`, whose `config:`
holds `mlplatform:profile`, `mlplatform:<section>` and `aws:region`). Both plans are made offline
with the user's overrides kept, so the diff is the one the upgrade would cause.

The upgrade is refused (`UpgradeRefused`, exit code 3 in the CLI) when any stateful resource
(`diff.STATEFUL_TYPES`) would be replaced or deleted, would change its cloud name, or would lose
`protect`. A change that truly needs that (a database engine's major version, a new KMS key) is
not a profile change: it is a separate step the user takes on purpose (snapshot, then set the
value explicitly in the config, then `preview`), never a side effect of `upgrade`.

Writing is atomic (temporary file + rename) and the previous file is kept as `<file>.bak`. The
engine is not run here: `next_steps()` says exactly what to run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analyses.cost import CostReport, estimate_if_priced
from ..analyses.diff import PlanDiff, diff_plans
from ..files import write_atomic
from ..config.spec import PROFILES, SpecError, StackSpec, load_spec, read_yaml_file, spec_from_stack_config

PULUMI_PREFIX = "mlplatform:"


class UpgradeRefused(Exception):
    """The upgrade would lose data; `reasons` lists each stateful resource at risk."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


@dataclass
class StackConfig:
    """One config file of a stack and what it says."""

    path: Path
    kind: str  # "stack" (mlplatform stack file) or "pulumi" (Pulumi.<stack>.yaml)
    data: dict[str, Any]

    @property
    def stack(self) -> str | None:
        """The stack name a Pulumi stack file is for (`Pulumi.<stack>.yaml`)."""
        if self.kind != "pulumi":
            return None
        return self.path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]

    @property
    def profile(self) -> str | None:
        if self.kind == "pulumi":
            return (self.data.get("config") or {}).get(f"{PULUMI_PREFIX}profile")
        return self.data.get("profile")

    def spec(self, profile: str | None = None, sets: tuple[str, ...] = (), region: str | None = None) -> StackSpec:
        """The StackSpec this file describes, at `profile` (and `region`) instead of its own when given."""
        if self.kind == "stack":
            return load_spec(profile=profile, config_file=self.path, sets=sets, region=region)
        cfg = dict(self.data.get("config") or {})
        if profile:
            cfg[f"{PULUMI_PREFIX}profile"] = profile
        if region:
            cfg["aws:region"] = region
        return spec_from_stack_config(cfg, sets)


def read_config(path: str | Path, what: str | None = None) -> StackConfig:
    """Read a stack file or a Pulumi stack file (told apart by the `Pulumi.<stack>.yaml` name).

    `what` names the option the path came from in errors (default: --stack-file / --config)."""
    p = Path(path)
    kind = "pulumi" if p.name.startswith("Pulumi.") and p.name.count(".") >= 2 else "stack"
    data = read_yaml_file(p, what=what or ("--stack-file" if kind == "pulumi" else "--config"))
    if kind == "pulumi" and not isinstance(data.get("config", {}), dict):
        raise SpecError("--stack-file", f"{p} has no `config:` mapping", "point it at a Pulumi.<stack>.yaml file")
    return StackConfig(p, kind, data)


@dataclass
class UpgradePlan:
    """Everything `upgrade` shows before it writes."""

    configs: list[StackConfig]
    stack: str
    current: StackSpec
    target: StackSpec
    diff: PlanDiff
    cost_before: CostReport | None  # None: no price file for the region
    cost_after: CostReport | None

    @property
    def noop(self) -> bool:
        return self.current.profile == self.target.profile

    @property
    def refused(self) -> list[str]:
        return self.diff.unsafe() + self.diff.blockers()


def prepare(configs: list[StackConfig], to: str, stack: str | None = None) -> UpgradePlan:
    """Plan the stack at its current profile and at `to` (user overrides kept) and diff them.

    The first config is the one the engine reads (the Pulumi stack file when both are given).
    """
    from ..program import plan

    if to not in PROFILES:
        raise SpecError("--to", f"unknown profile {to!r}", f"use one of {', '.join(PROFILES)}")
    if not configs:
        raise SpecError("--config", "no stack config given", "pass --config stack.yaml and/or --stack-file Pulumi.<stack>.yaml")
    main = configs[0]
    stack = stack or main.stack or "dev"
    current, target = main.spec(), main.spec(profile=to)
    for other in configs[1:]:
        # Every file is rewritten, so every file must describe the stack that was diffed.
        if other.spec() != current:
            raise SpecError(str(other.path.name), f"describes a different stack than {main.path.name} "
                            f"(profile {other.spec().profile} vs {current.profile}, or other values)",
                            "make the two files agree, or upgrade each with its own command")
    before, after = plan(current, stack=stack), plan(target, stack=stack)
    d = diff_plans(before, after, f"{current.profile} ({main.path.name})", f"{to} ({main.path.name})")
    return UpgradePlan(configs, stack, current, target, d, estimate_if_priced(before, current.region),
                       estimate_if_priced(after, target.region))


def check(up: UpgradePlan) -> None:
    """Raise UpgradeRefused when the upgrade would replace, delete, rename or unprotect stateful resources."""
    if up.refused:
        raise UpgradeRefused(up.refused)


def rewrite_profile(path: Path, kind: str, to: str) -> Path:
    """Set the profile in one config file, keeping the user's comments and layout; returns the backup.

    Round-trips the YAML with ruamel.yaml, keeps the old file as `<file>.bak`, and replaces the file
    atomically. Refuses (SpecError) when anything but the profile would change in meaning.
    """
    import yaml as pyyaml
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    original = path.read_text()
    _, indent, seq_offset = load_yaml_guess_indent(original)
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=indent, sequence=indent, offset=seq_offset)
    doc = rt.load(original)
    if kind == "pulumi":
        cfg = doc["config"]
        key = f"{PULUMI_PREFIX}profile"
        if key in cfg:
            cfg[key] = to
        else:
            cfg.insert(1 if "aws:region" in cfg else 0, key, to)
    elif "profile" in doc:
        doc["profile"] = to
    else:
        doc.insert(0, "profile", to)
    out = io.StringIO()
    rt.dump(doc, out)
    text = out.getvalue()

    expect = pyyaml.safe_load(original) or {}
    if kind == "pulumi":
        expect["config"][f"{PULUMI_PREFIX}profile"] = to
    else:
        expect["profile"] = to
    if pyyaml.safe_load(text) != expect:  # pragma: no cover - a ruamel round-trip bug would land here
        raise SpecError(str(path), "rewriting the profile would change other values", "edit the profile by hand")
    mode = path.stat().st_mode & 0o777
    backup = path.with_name(path.name + ".bak")
    write_atomic(backup, original, force=True, what=str(backup))
    backup.chmod(mode)
    write_atomic(path, text, force=True, what=str(path))
    path.chmod(mode)  # the temporary file was private; the config keeps the user's permissions
    return backup


def apply(up: UpgradePlan) -> list[tuple[Path, Path]]:
    """Check, then write the target profile into every config; returns (file, backup) pairs."""
    check(up)
    return [(c.path, rewrite_profile(c.path, c.kind, up.target.profile)) for c in up.configs]


def next_steps(up: UpgradePlan, engine_found: bool) -> list[str]:
    """What to run after the config was rewritten (the engine makes the real changes)."""
    steps = []
    for c in up.configs:
        if c.kind == "pulumi":
            folder = c.path.parent
            steps.append(f"mlplatform preview --dir {folder} --stack {up.stack}   "
                         f"(or: cd {folder} && pulumi preview --diff --stack {up.stack}); check it matches this diff")
            steps.append(f"mlplatform up --dir {folder} --stack {up.stack}")
        else:
            steps.append(f"mlplatform plan --config {c.path}   (offline re-check); then `pulumi preview --diff "
                         f"--stack {up.stack}` and `pulumi up --stack {up.stack}` in the project that reads {c.path}")
    if not engine_found:
        steps.append("the pulumi CLI is not on PATH here: run the engine steps where it is installed and logged in "
                     "to your state backend")
    return steps

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

Writing goes through the one stack-file writer (config/stackfile.py): exactly the profile line
changes, atomically, and the previous file is kept as `<file>.bak` (never over an older, different backup). The
engine is not run here: `next_steps()` says exactly what to run.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..analyses.cost import CostReport, estimate_if_priced
from ..analyses.diff import PlanDiff, diff_plans
from ..config.spec import PROFILES, TEAM_SIZE_BANDS, SpecError, StackSpec
from ..config.stackfile import StackFile, is_stack_file
from ..errors import PolicyRefusal
from ..source import StackSource, stack_source


class UpgradeRefused(PolicyRefusal):
    """The upgrade would lose data; `reasons` lists each stateful resource at risk (exit 3)."""

    def __init__(self, reasons: list[str], change: str = "", document: dict[str, Any] | None = None):
        super().__init__(
            "upgrade",
            f"{change + ' ' if change else ''}refused: it would lose data or fail halfway; nothing was written",
            "a change that needs this is a separate, explicit step (snapshot first, then set the value "
            "in your config and run preview), never part of a profile upgrade",
            reasons,
            document,
        )


@dataclass
class UpgradePlan:
    """Everything `upgrade` shows before it writes."""

    sources: list[StackSource]
    stack: str
    current: StackSpec
    target: StackSpec
    diff: PlanDiff
    cost_before: CostReport | None  # None: no price file for the region
    cost_after: CostReport | None
    notes: list[str] = field(default_factory=list)  # what `apply` changed besides the profile line

    @property
    def noop(self) -> bool:
        return self.current.profile == self.target.profile

    @property
    def refused(self) -> list[str]:
        return self.diff.unsafe() + self.diff.blockers()


def prepare(sources: list[StackSource], to: str, usage: dict[str, Any] | None = None) -> UpgradePlan:
    """Plan the stack at its current profile and at `to` (every value the user set kept) and diff them.

    The first source is the one the engine reads (the Pulumi stack file when both are given).
    """
    if to not in PROFILES:
        raise SpecError("--profile", f"unknown profile {to!r}", f"use one of {', '.join(PROFILES)}")
    if not sources:
        raise SpecError(
            "--config", "no stack config given", "pass --config stack.yaml and/or --config Pulumi.<stack>.yaml"
        )
    main = sources[0]
    current, target_src = main.spec, main.with_profile(to)
    target = target_src.spec
    for other in sources[1:]:
        # Every file is rewritten, so every file must describe the stack that was diffed.
        if other.spec != current:
            raise SpecError(
                str(other.file.name if other.file else "--config"),
                "describes a different stack than "
                f"{main.label} (profile {other.spec.profile} vs {current.profile}, or other values)",
                "make the two files agree, or upgrade each with its own command",
            )
    if current.profile == to:
        return UpgradePlan(
            sources, main.stack, current, target, PlanDiff(main.label, main.label, [], 0, []), None, None
        )
    before, after = main.plan(), target_src.plan()
    d = diff_plans(before, after, f"{current.profile} ({main.label})", f"{to} ({main.label})")
    return UpgradePlan(
        sources,
        main.stack,
        current,
        target,
        d,
        estimate_if_priced(before, current.region, usage),
        estimate_if_priced(after, target.region, usage),
    )


def check(up: UpgradePlan) -> None:
    """Raise UpgradeRefused when the upgrade would replace, delete, rename or unprotect stateful resources."""
    if up.refused:
        raise UpgradeRefused(up.refused, f"{up.current.profile} -> {up.target.profile}")


def _band(profile: str) -> tuple[int, int | None]:
    return next((lo, hi) for name, lo, hi in TEAM_SIZE_BANDS if name == profile)


def _retitled_header(text: str, old: str, new: str) -> str:
    """The file's leading comment block (what `init` writes above `config:`) naming `new` where it named
    `old` (`stacks/profiles/<old>.yaml`, "profile <old>"); every other line, comments included, is kept."""
    lines = text.splitlines(keepends=True)
    word = re.compile(rf"(?<![\w-]){re.escape(old)}(?![\w-])")
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("#"):
            break
        lines[i] = word.sub(new, line)
    return "".join(lines)


def edited_text(sf: StackFile, target: str) -> tuple[str, list[str]]:
    """The stack file's text at profile `target`, and a note per other line it changes: a `team_size` outside
    the target's band becomes the band's smallest size (else it would describe the old profile), and the
    header comment names the new profile."""
    old, notes = sf.profile, []
    text = sf.set_value("profile", target)
    size = sf.get("team_size")
    lo, hi = _band(target)
    if isinstance(size, int) and not isinstance(size, bool) and not (size >= lo and (hi is None or size <= hi)):
        sf = StackFile(sf.path, sf.kind, text, yaml.safe_load(text) or {}, sf.what)
        text = sf.set_value("team_size", lo)
        band = f"{lo}-{hi}" if hi else f"{lo}+"
        notes.append(
            f"{sf.path.name}: {sf.key_of('team_size')} {size} -> {lo} ({target} is for teams of {band}; "
            "set your team's real size there)"
        )
    if old:
        retitled = _retitled_header(text, old, target)
        if retitled != text:
            text = retitled
            notes.append(f"{sf.path.name}: header comment now describes profile {target}")
    return text, notes


def apply(up: UpgradePlan) -> list[tuple[Path, Path | None]]:
    """Check, then write the target profile into every file (the profile line, a stale team size, the
    header comment; the old file kept as a backup); returns (file, backup) pairs. All texts are edited
    before the first is written; `up.notes` says what else changed."""
    check(up)
    edits = []
    for s in up.sources:
        if s.stack_file:
            text, notes = edited_text(s.stack_file, up.target.profile)
            edits.append((s.stack_file, text))
            up.notes += notes
    return [(sf.path, sf.save(text, backup=True)) for sf, text in edits]


def upgrade_sources(
    files: list[str],
    stack: str | None = None,
    directory: str | None = None,
    sets: tuple[str, ...] = (),
    region: str | None = None,
) -> list[StackSource]:
    """The stack files `upgrade` reads and rewrites: the given ones (a Pulumi stack file first), else the
    project's stack in `directory`; they must be stack files (a profile alone has nothing to rewrite).
    `sets` and `region` change the stack on both sides of the diff (what-if: they are not written)."""
    files = sorted(files, key=lambda f: not is_stack_file(Path(f)))  # the file the engine reads first
    sources = [stack_source(config_file=f, stack=stack, sets=sets, region=region) for f in files] or [
        stack_source(stack=stack, directory=directory, sets=sets, region=region)
    ]
    if sources[0].stack_file is None:
        raise SpecError(
            "--dir",
            f"{directory or '.'} has no Pulumi.yaml",
            "run it in the project folder `mlplatform init` made, or pass --config FILE",
        )
    return sources


def next_steps(up: UpgradePlan, engine_found: bool | None = None) -> list[str]:
    """What to run after the config was rewritten (the engine makes the real changes); `engine_found`:
    whether the pulumi CLI is on PATH (default: look)."""
    if engine_found is None:
        engine_found = shutil.which("pulumi") is not None
    steps = []
    for s in up.sources:
        c = s.stack_file
        if c is None:
            continue
        if c.kind == "pulumi":
            folder = c.path.parent
            steps.append(
                f"mlplatform preview --dir {folder} --stack {up.stack}   "
                f"(or: cd {folder} && pulumi preview --diff --stack {up.stack}); check it matches this diff"
            )
            steps.append(f"mlplatform up --dir {folder} --stack {up.stack}")
        else:
            steps.append(
                f"mlplatform plan --config {c.path}   (offline re-check); then `pulumi preview --diff "
                f"--stack {up.stack}` and `pulumi up --stack {up.stack}` in the project that reads {c.path}"
            )
    if not engine_found:
        steps.append(
            "the pulumi CLI is not on PATH here: run the engine steps where it is installed and logged in "
            "to your state backend"
        )
    return steps

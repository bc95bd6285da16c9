"""`mlplatform team add|list|remove`: edit the `teams:` list of a stack config, then diff that team.

A stack config is an mlplatform stack file (`teams:` at the top) or a Pulumi stack file
(`Pulumi.<stack>.yaml`, `mlplatform:teams:` under `config:`), read and written only through the
StackSource's stack file (config/stackfile.py: a splice located with ruamel.yaml's marks), so every
byte outside the added or removed team entry stays as it was (comments, quoting, blank lines, other
teams): `team add` then `team remove` gives the file back byte for byte. The first team adds the `teams:` key; removing the last one removes the key.
(A file that says `teams: []` gets a block list, and loses the key with its last team.)

Before anything is written, the new config is validated as a whole (name, duplicates, quotas, the GPU
quota total against the pools' GPU limits) and both stacks are planned offline; the diff shown is the
team's own resources. Writing is atomic (temporary file + rename, the file's mode kept). Removing a
team deletes its Kubernetes namespace (every object in it, volume claims included), RBAC, access
entries and IAM role, and never its data: the S3 prefix and the ECR repositories stay (`kept`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analyses.diff import PlanDiff, diff_plans
from ..config.spec import IAM_PRINCIPAL, TEAM_NAME, SpecError, StackSpec
from ..config.stackfile import StackFile, check_writable, parse_yaml
from ..source import StackSource

TEAM_TYPE = "mlplatform:teams:TeamSpace"


@dataclass
class TeamChange:
    """What `add_team` / `remove_team` did (or, with `written` False, would do)."""

    path: Path
    action: str  # "add" | "remove"
    team: str
    diff: PlanDiff  # the team's own resources only
    other_changes: list[str] = field(default_factory=list)  # URNs outside the team that would change (none expected)
    kept: list[str] = field(default_factory=list)  # data a removal leaves in place
    notes: list[str] = field(default_factory=list)
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "action": self.action,
            "team": self.team,
            "written": self.written,
            "diff": self.diff.to_dict(),
            "other_changes": self.other_changes,
            "kept": self.kept,
            "notes": self.notes,
        }


# -- add / remove ---------------------------------------------------------------------------------
def new_team_entry(
    name: str,
    gpu_quota: int = 0,
    cpu_quota: int | None = None,
    principals: list[str] | tuple[str, ...] = (),
    memory_quota_gib: int | None = None,
    pvc_quota: int | None = None,
    storage_quota_gib: int | None = None,
    runners: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The `teams:` entry `team add` writes; checks the name and the quotas first."""
    from mlplatform.components._common import ValidationError
    from mlplatform.components.team_space import check_team_name

    if not isinstance(name, str) or not TEAM_NAME.match(name):
        raise SpecError(
            "NAME",
            f"{name!r} is not a DNS-1123 label of at most 30 characters",
            "use lowercase letters, digits and '-', starting and ending with a letter or digit (like vision)",
        )
    try:
        check_team_name(name, "NAME")
    except ValidationError as e:
        raise SpecError(e.field, e.problem, e.fix) from None
    for option, value in (
        ("--gpu-quota", gpu_quota),
        ("--cpu-quota", cpu_quota),
        ("--memory-gib", memory_quota_gib),
        ("--pvc-quota", pvc_quota),
        ("--storage-gib", storage_quota_gib),
    ):
        if value is not None and value < 0:
            raise SpecError(option, f"{value} is negative", "use 0 or more")
    for arn in principals:
        if not re.match(IAM_PRINCIPAL, arn):
            raise SpecError(
                "--principal",
                f"{arn!r} is not an IAM role or user ARN",
                "use arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>)",
            )
    if len(set(principals)) != len(principals):
        raise SpecError("--principal", "a principal is given twice", "give each principal once")
    entry: dict[str, Any] = {"name": name, "gpu_quota": gpu_quota}
    if cpu_quota is not None:
        entry["cpu_quota"] = cpu_quota
    if memory_quota_gib is not None:
        entry["memory_quota_gib"] = memory_quota_gib
    for key, value in (("pvc_quota", pvc_quota), ("storage_quota_gib", storage_quota_gib)):
        if value is not None:
            entry[key] = value
    if principals:
        entry["principals"] = list(principals)
    sets = {kind: _min_max(f"--{kind}-runners", text) for kind, text in (runners or {}).items() if text}
    if sets:
        entry["runners"] = sets
    return entry


def _min_max(option: str, text: str) -> dict[str, int]:
    """`MIN:MAX` (`0:4`) -> {min, max}, for a team's runner scale set."""
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if m is None:
        raise SpecError(option, f"{text!r} is not MIN:MAX", f"write it like {option} 0:2 (runners at least, at most)")
    low, high = int(m.group(1)), int(m.group(2))
    if high < low:
        raise SpecError(option, f"the most ({high}) is below the least ({low})", f"write it like {option} 0:2")
    return {"min": low, "max": high}


def _team_diff(
    path: Path, before: StackSpec, after: StackSpec, team: str, stack: str, to_label: str
) -> tuple[PlanDiff, list[str]]:
    """The offline diff of the team's own resources, and the URNs of any other change."""
    from ..program import base_name, plan

    old, new = plan(before, stack=stack), plan(after, stack=stack)
    full = diff_plans(old, new, path.name, to_label)
    component = f"{base_name(stack)}-team-{team}"
    roots = {r.urn for r in (*old.resources, *new.resources) if r.type == TEAM_TYPE and r.name == component}
    parents = {r.urn: r.parent for r in (*old.resources, *new.resources)}

    def in_team(urn: str | None) -> bool:
        while urn:
            if urn in roots:
                return True
            urn = parents.get(urn)
        return False

    mine = [c for c in full.resources if in_team(c.urn)]
    others = [c.urn for c in full.resources if not in_team(c.urn)]
    return PlanDiff(full.from_label, full.to_label, mine, full.unchanged, full.unknown_types), others


def _spec_of(src: StackSource, sf: StackFile, new_text: str) -> StackSpec:
    """The spec of the edited file, validated through the same code as every command."""
    from ..config.spec import resolve, resolve_stack_config

    data = parse_yaml(new_text, sf.path, sf.what)
    if sf.kind == "pulumi":
        return resolve_stack_config(dict(data.get("config") or {})).spec
    return resolve(overrides=data).spec


def add_team(src: StackSource, entry: dict[str, Any], write: bool = True) -> TeamChange:
    """Append `entry` to the stack file's teams, validate the whole stack, diff the team, then write."""
    sf = src.stack_file
    assert sf is not None
    before = src.spec
    name = entry["name"]
    if any(t.name == name for t in before.teams):
        raise SpecError(
            "NAME",
            f"team {name!r} already exists in {sf.path}",
            "pick another name, or `mlplatform team remove` it first",
        )
    new_text = sf.add_item("teams", entry)
    if write:
        check_writable(sf.path, sf.what)  # refused before the plans, not after them
    after = _spec_of(src, sf, new_text)
    d, others = _team_diff(sf.path, before, after, name, src.stack, f"{sf.path.name} + team {name}")
    change = TeamChange(sf.path, "add", name, d, others)
    if write:
        sf.save(new_text)
        change.written = True
    return change


def remove_team(src: StackSource, name: str, write: bool = True) -> TeamChange:
    """Remove a team from the stack file, diff it (its resources go), then write; its data is kept."""
    sf = src.stack_file
    assert sf is not None
    before = src.spec
    new_text = sf.remove_item("teams", name)
    if write:
        check_writable(sf.path, sf.what)
    after = _spec_of(src, sf, new_text)
    stack_name = src.stack
    d, others = _team_diff(sf.path, before, after, name, stack_name, f"{sf.path.name} - team {name}")
    bucket = before.registry.bucket_name or (before.registry.existing.bucket_name if before.registry.existing else None)
    kept = [
        f"s3://{bucket or '<artifact bucket>'}/teams/{name}/ (objects stay in the bucket)",
        f"ECR repositories {before.registry.repository_prefix}/{stack_name}/teams/{name}/* (images stay)",
    ]
    notes = [
        f"namespace {name} is deleted with everything in it, PersistentVolumeClaims (and their volumes) included; "
        "copy what must stay to s3 first"
    ]
    change = TeamChange(sf.path, "remove", name, d, others, kept=kept, notes=notes)
    if write:
        sf.save(new_text)
        change.written = True
    return change

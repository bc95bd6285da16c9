"""`mlplatform team add|list|remove`: edit the `teams:` list of a stack config, then diff that team.

A stack config is an mlplatform stack file (`teams:` at the top) or a Pulumi stack file
(`Pulumi.<stack>.yaml`, `mlplatform:teams:` under `config:`). The edit is a text splice located with
ruamel.yaml's line and column marks, so every byte outside the added or removed team entry stays as
it was (comments, quoting, blank lines, other teams): `team add` then `team remove` gives the file
back byte for byte. The first team adds the `teams:` key; removing the last one removes the key.
(A file that says `teams: []` gets a block list, and loses the key with its last team.)

Before anything is written, the new config is validated as a whole (name, duplicates, quotas, the GPU
quota total against the pools' GPU limits) and both stacks are planned offline; the diff shown is the
team's own resources. Writing is atomic (temporary file + rename, the file's mode kept). Removing a
team deletes its Kubernetes namespace (every object in it, volume claims included), RBAC, access
entries and IAM role, and never its data: the S3 prefix and the ECR repositories stay (`kept`).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..analyses.diff import PlanDiff, diff_plans
from ..files import write_atomic
from ..config.spec import IAM_PRINCIPAL, TEAM_NAME, SpecError, StackSpec, load_spec
from .upgrade import PULUMI_PREFIX, StackConfig, read_config

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
        return {"file": str(self.path), "action": self.action, "team": self.team, "written": self.written,
                "diff": self.diff.to_dict(), "other_changes": self.other_changes, "kept": self.kept,
                "notes": self.notes}


# -- reading --------------------------------------------------------------------------------------
def _key(kind: str) -> str:
    return f"{PULUMI_PREFIX}teams" if kind == "pulumi" else "teams"


def _spec(kind: str, path: Path, data: dict[str, Any]) -> StackSpec:
    if kind == "stack":
        return load_spec(overrides=data)
    return StackConfig(path, kind, data).spec()


def _stack_name(cfg: StackConfig, stack: str | None) -> str:
    return stack or cfg.stack or "dev"


def list_teams(config: str | Path) -> list[dict[str, Any]]:
    """The teams a stack config declares, defaults filled in (as the program will build them)."""
    cfg = read_config(config)
    return [t.model_dump() for t in cfg.spec().teams]


# -- the text splice ------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        super().increase_indent(flow, False)


def _significant(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, col: int, items_at_col: bool) -> int:
    """Index just past the block that starts on line `start` at column `col`: up to the next
    significant line indented at most `col` (with `items_at_col`, `- ` lines at `col` still belong to
    it: an indentless list under a key). Trailing blank and comment lines belong to what follows."""
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not _significant(line):
            continue
        ind = _indent(line)
        is_item = line.lstrip(" ").startswith("- ") or line.strip() == "-"
        if ind < col or (ind == col and not (items_at_col and is_item)):
            end = i
            break
    while end > start + 1 and not _significant(lines[end - 1]):
        end -= 1
    return end


def _render_item(entry: dict[str, Any], dash_col: int, key_col: int, nl: str) -> str:
    body = yaml.dump(entry, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096).splitlines()
    out = [" " * dash_col + "-" + " " * (key_col - dash_col - 1) + body[0]]
    out += [" " * key_col + line for line in body[1:]]
    return nl.join(out) + nl


def _load_rt(text: str, path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML().load(text)
    except YAMLError as e:
        raise SpecError("--config", f"{path} is not valid YAML ({str(e).splitlines()[0]})", "fix the YAML syntax") from None


def _container(doc: Any, kind: str, path: Path) -> Any:
    from ruamel.yaml.comments import CommentedMap

    node = doc.get("config") if kind == "pulumi" and isinstance(doc, CommentedMap) else doc
    if not isinstance(node, CommentedMap) or not node:
        where = "its `config:` mapping" if kind == "pulumi" else "its top level"
        raise SpecError("--config", f"{path}: {where} is not a mapping of keys", "point --config at a stack config")
    return node


def _teams_seq(container: Any, key: str, path: Path) -> Any:
    """The `teams` sequence node (None when the key is absent or empty); refuses flow style."""
    from ruamel.yaml.comments import CommentedSeq

    if key not in container or container[key] is None:
        return None
    seq = container[key]
    if not isinstance(seq, CommentedSeq):
        raise SpecError(key, f"{path}: must be a list of teams", "write it as `- name: ...` entries")
    if len(seq) and seq.fa.flow_style():
        raise SpecError(key, f"{path}: the list is written in flow style ([...])",
                        "write it as a block list (`- name: ...` lines) so `team` can edit it, or edit it by hand")
    return seq if len(seq) else None


def _spliced_add(text: str, kind: str, path: Path, entry: dict[str, Any]) -> str:
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    doc = _load_rt(text, path)
    container, key = _container(doc, kind, path), _key(kind)
    seq = _teams_seq(container, key, path)
    if seq is not None:
        line, key_col = seq.lc.item(len(seq) - 1)
        dash_col = lines[line].rfind("-", 0, key_col)
        if dash_col < 0 or lines[line][dash_col + 1:key_col].strip():
            raise SpecError(key, f"{path}: cannot find where the last team entry starts", "add the team by hand")
        at = _block_end(lines, line, dash_col, items_at_col=False)
        return "".join(lines[:at]) + _render_item(entry, dash_col, key_col, nl) + "".join(lines[at:])
    if key in container:  # `teams: []`: the key line becomes a block list
        kline, kcol = container.lc.key(key)
        at = _block_end(lines, kline, kcol, items_at_col=True)
        block = " " * kcol + f"{key}:{nl}" + _render_item(entry, kcol + 2, kcol + 4, nl)
        return "".join(lines[:kline]) + block + "".join(lines[at:])
    _, kcol = container.lc.key(next(iter(container)))  # the new key lines up with the others
    if kind == "pulumi":
        cline, ccol = doc.lc.key("config")
        at = _block_end(lines, cline, ccol, items_at_col=False)
    else:  # after the last significant line (trailing comments stay last)
        at = max((i + 1 for i, ln in enumerate(lines) if _significant(ln)), default=0)
    block = " " * kcol + f"{key}:{nl}" + _render_item(entry, kcol + 2, kcol + 4, nl)
    before = "".join(lines[:at])
    if before and not before.endswith("\n"):  # a file without a final newline keeps not having one
        return before + nl + block[: -len(nl)] + "".join(lines[at:])
    return before + block + "".join(lines[at:])


def _spliced_remove(text: str, kind: str, path: Path, team: str) -> str:
    lines = text.splitlines(keepends=True)
    doc = _load_rt(text, path)
    container, key = _container(doc, kind, path), _key(kind)
    seq = _teams_seq(container, key, path)
    names = [item.get("name") if hasattr(item, "get") else None for item in (seq or [])]
    if team not in names:
        raise SpecError("team", f"no team {team!r} in {path}",
                        f"teams there: {', '.join(map(str, names))}" if names else "it lists no teams")
    i = names.index(team)
    if len(seq) == 1:  # the last team: the key goes too
        kline, kcol = container.lc.key(key)
        start, end = kline, _block_end(lines, kline, kcol, items_at_col=True)
    else:
        line, key_col = seq.lc.item(i)
        dash_col = lines[line].rfind("-", 0, key_col)
        if dash_col < 0 or lines[line][dash_col + 1:key_col].strip():
            raise SpecError(key, f"{path}: cannot find where team {team!r} starts", "remove the team by hand")
        start, end = line, _block_end(lines, line, dash_col, items_at_col=False)
    removed = "".join(lines[start:end])
    before, after = "".join(lines[:start]), "".join(lines[end:])
    if not after and not removed.endswith("\n") and before.endswith("\n"):
        before = before[:-2] if before.endswith("\r\n") else before[:-1]
    return before + after


def _expect(data: dict[str, Any], kind: str, teams: list[Any]) -> dict[str, Any]:
    """`data` with its teams list replaced (the key dropped when empty)."""
    import copy

    out = copy.deepcopy(data)
    node = out.setdefault("config", {}) if kind == "pulumi" else out
    if teams:
        node[_key(kind)] = teams
    else:
        node.pop(_key(kind), None)
    return out


# -- add / remove ---------------------------------------------------------------------------------
def new_team_entry(name: str, gpu_quota: int = 0, cpu_quota: int | None = None,
                   principals: list[str] | tuple[str, ...] = (), memory_quota_gib: int | None = None) -> dict[str, Any]:
    """The `teams:` entry `team add` writes; checks the name and the quotas first."""
    from mlplatform.components._common import ValidationError
    from mlplatform.components.team_space import check_team_name

    if not isinstance(name, str) or not TEAM_NAME.match(name):
        raise SpecError("NAME", f"{name!r} is not a DNS-1123 label of at most 30 characters",
                        "use lowercase letters, digits and '-', starting and ending with a letter or digit (like vision)")
    try:
        check_team_name(name, "NAME")
    except ValidationError as e:
        raise SpecError(e.field, e.problem, e.fix) from None
    for option, value in (("--gpu-quota", gpu_quota), ("--cpu-quota", cpu_quota), ("--memory-gib", memory_quota_gib)):
        if value is not None and value < 0:
            raise SpecError(option, f"{value} is negative", "use 0 or more")
    for arn in principals:
        if not re.match(IAM_PRINCIPAL, arn):
            raise SpecError("--principal", f"{arn!r} is not an IAM role or user ARN",
                            "use arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>)")
    if len(set(principals)) != len(principals):
        raise SpecError("--principal", "a principal is given twice", "give each principal once")
    entry: dict[str, Any] = {"name": name, "gpu_quota": gpu_quota}
    if cpu_quota is not None:
        entry["cpu_quota"] = cpu_quota
    if memory_quota_gib is not None:
        entry["memory_quota_gib"] = memory_quota_gib
    if principals:
        entry["principals"] = list(principals)
    return entry


def _team_diff(cfg: StackConfig, before: StackSpec, after: StackSpec, team: str, stack: str,
               to_label: str) -> tuple[PlanDiff, list[str]]:
    """The offline diff of the team's own resources, and the URNs of any other change."""
    from ..program import base_name, plan

    old, new = plan(before, stack=stack), plan(after, stack=stack)
    full = diff_plans(old, new, cfg.path.name, to_label)
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


def _write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
    write_atomic(path, text, force=True, what=str(path))
    os.chmod(path, mode)


def _check(new_text: str, expect: dict[str, Any], path: Path) -> None:
    if (yaml.safe_load(io.StringIO(new_text)) or {}) != expect:  # pragma: no cover - a splice bug would land here
        raise SpecError(str(path), "the edit would change other values", "edit the teams list by hand")


def add_team(config: str | Path, entry: dict[str, Any], stack: str | None = None, write: bool = True) -> TeamChange:
    """Append `entry` to the config's teams, validate the whole stack, diff the team, then write."""
    cfg = read_config(config)
    path, text = cfg.path, cfg.path.read_text()
    before = cfg.spec()
    name = entry["name"]
    if any(t.name == name for t in before.teams):
        raise SpecError("NAME", f"team {name!r} already exists in {path}",
                        "pick another name, or `mlplatform team remove` it first")
    node = (cfg.data.get("config") or {}) if cfg.kind == "pulumi" else cfg.data
    current = list(node.get(_key(cfg.kind)) or [])
    new_text = _spliced_add(text, cfg.kind, path, entry)
    expect = _expect(cfg.data, cfg.kind, [*current, entry])
    _check(new_text, expect, path)
    after = _spec(cfg.kind, path, expect)
    stack_name = _stack_name(cfg, stack)
    d, others = _team_diff(cfg, before, after, name, stack_name, f"{path.name} + team {name}")
    change = TeamChange(path, "add", name, d, others)
    if write:
        _write(path, new_text)
        change.written = True
    return change


def remove_team(config: str | Path, name: str, stack: str | None = None, write: bool = True) -> TeamChange:
    """Remove a team from the config, diff it (its resources go), then write; its data is kept."""
    cfg = read_config(config)
    path, text = cfg.path, cfg.path.read_text()
    before = cfg.spec()
    new_text = _spliced_remove(text, cfg.kind, path, name)
    node = (cfg.data.get("config") or {}) if cfg.kind == "pulumi" else cfg.data
    remaining = [t for t in (node.get(_key(cfg.kind)) or []) if not (isinstance(t, dict) and t.get("name") == name)]
    expect = _expect(cfg.data, cfg.kind, remaining)
    _check(new_text, expect, path)
    after = _spec(cfg.kind, path, expect)
    stack_name = _stack_name(cfg, stack)
    d, others = _team_diff(cfg, before, after, name, stack_name, f"{path.name} - team {name}")
    bucket = before.registry.bucket_name or (before.registry.existing.bucket_name if before.registry.existing else None)
    kept = [f"s3://{bucket or '<artifact bucket>'}/teams/{name}/ (objects stay in the bucket)",
            f"ECR repositories {before.registry.repository_prefix}/{stack_name}/teams/{name}/* (images stay)"]
    notes = [f"namespace {name} is deleted with everything in it, PersistentVolumeClaims (and their volumes) included; "
             "copy what must stay to s3 first"]
    change = TeamChange(path, "remove", name, d, others, kept=kept, notes=notes)
    if write:
        _write(path, new_text)
        change.written = True
    return change

"""Offline diff of two Plans: what the engine would add, change, replace and destroy.

Resources are matched by URN, or by an alias the new resource declares (a rename the engine
follows, not a delete + create). A resource only in the new plan is an add, only in the old one a
delete. A resource in both is an update when its inputs differ (listed as property paths with old
and new values, secrets masked), and a replace when a changed input is create-only for its type
(`stacks/analyses/replacements.py`), is listed in its `replace_on_changes`, or takes the id of a resource
that is itself replaced. Changes under a path in the new resource's `ignore_changes` are not
updates: the engine leaves them alone (they are listed in the resource's notes).

Stateful resources (STATEFUL_TYPES: cluster, database, buckets, registries, KMS keys) are marked;
replacing or deleting one is data loss, reported apart from disruption (a replaced node group, a
restarted database), which costs minutes of downtime but keeps the data.

This is a prediction from a curated table: the engine's preview asks the providers themselves and
has the final word. What the offline diff cannot see: changes only the cloud knows (drift), values
that are secret on both sides, and aliases that move a resource to another parent.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..plan.offline import SECRET, STATEFUL_TYPES, Plan, PlannedResource
from .replacements import rule_for

# DESIGN "stateful resources": no profile upgrade may replace or delete them.

ENGINE_NOTE = (
    "Predicted offline from each provider's create-only properties; the engine has the final word: "
    "run `pulumi preview --diff` (or `mlplatform preview`) before `up`."
)

CREATE, UPDATE, REPLACE, DELETE = "create", "update", "replace", "delete"
_SUMMARY_WORD = {CREATE: "add", UPDATE: "change", REPLACE: "replace", DELETE: "destroy"}
_MISSING = object()
_SENSITIVE = re.compile(r"password|passwd|secret|token|private_?key|kubeconfig|credential", re.I)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class PropertyChange:
    """One changed input. `old`/`new` are None when absent on that side (see `kind`)."""

    path: str
    kind: str  # "add" | "delete" | "update"
    old: Any = None
    new: Any = None
    replaces: bool = False


@dataclass
class ResourceChange:
    """What happens to one resource."""

    op: str  # create | update | replace | delete
    urn: str
    type: str
    name: str
    stateful: bool
    protect_old: bool | None = None
    protect_new: bool | None = None
    physical_old: str | None = None
    physical_new: str | None = None
    changes: list[PropertyChange] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)
    disruption: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def data_loss(self) -> bool:
        return self.stateful and self.op in (REPLACE, DELETE)


# Sizes AWS can grow but never shrink in place: a smaller value fails the update mid-`up`.
# (RDS: "you can't reduce the amount of storage for a DB instance", Amazon RDS User Guide, storage.)
SHRINK_REFUSED: dict[str, dict[str, str]] = {
    "aws:rds/instance:Instance": {"allocatedStorage": "set database.allocated_storage_gib in your config"},
}


@dataclass
class PlanDiff:
    """All changes between two plans, in the new plan's order (deletes last)."""

    from_label: str
    to_label: str
    resources: list[ResourceChange]
    unchanged: int
    unknown_types: list[str] = field(default_factory=list)

    def count(self, op: str) -> int:
        return sum(1 for r in self.resources if r.op == op)

    @property
    def summary(self) -> dict[str, int]:
        return {word: self.count(op) for op, word in _SUMMARY_WORD.items()}

    def summary_line(self) -> str:
        s = self.summary
        return (
            f"Plan: {s['add']} to add, {s['change']} to change, {s['replace']} to replace, {s['destroy']} to destroy."
        )

    @property
    def empty(self) -> bool:
        return not self.resources

    @property
    def data_loss(self) -> list[ResourceChange]:
        """Stateful resources that would be replaced or deleted."""
        return [r for r in self.resources if r.data_loss]

    @property
    def disruptions(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.disruption]

    def unsafe(self) -> list[str]:
        """Why this change is not a safe upgrade, one line per stateful resource at risk (empty: safe)."""
        out = []
        for r in self.resources:
            if not r.stateful:
                continue
            if r.op == REPLACE:
                out.append(
                    f"{r.type} {r.name} would be REPLACED (new empty resource) because of "
                    f"{', '.join(r.replace_reasons)}"
                )
            elif r.op == DELETE:
                out.append(f"{r.type} {r.name} would be DELETED ({r.urn})")
            elif r.op == UPDATE and r.protect_old and not r.protect_new:
                out.append(f"{r.type} {r.name} would lose its `protect` option")
            elif r.op == UPDATE and r.physical_old != r.physical_new:
                out.append(f"{r.type} {r.name} would change its cloud name {r.physical_old} -> {r.physical_new}")
        return out

    def blockers(self) -> list[str]:
        """Changes AWS refuses in place (no data lost, but `up` would stop halfway): one line each."""
        out = []
        for r in self.resources:
            for c in r.changes:
                if (
                    r.op == UPDATE
                    and c.path in SHRINK_REFUSED.get(r.type, ())
                    and isinstance(c.old, (int, float))
                    and isinstance(c.new, (int, float))
                    and c.new < c.old
                ):
                    out.append(
                        f"{r.type} {r.name}: {c.path} cannot shrink ({c.old} -> {c.new}); AWS refuses it "
                        f"halfway through `up` (keep {c.old}: {SHRINK_REFUSED[r.type][c.path]})"
                    )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_label,
            "to": self.to_label,
            "summary": self.summary,
            "summary_line": self.summary_line(),
            "unchanged": self.unchanged,
            "resources": [{**asdict(r), "data_loss": r.data_loss} for r in self.resources],
            "data_loss": [r.urn for r in self.data_loss],
            "disruption": [{"urn": r.urn, "what": r.disruption} for r in self.disruptions],
            "unknown_types": self.unknown_types,
            "note": ENGINE_NOTE,
        }


# -- property paths ------------------------------------------------------------------------------
def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = str(key)
    if _IDENT.match(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def _norm(path: str) -> str:
    """`rules[0].bucket` -> `rules.bucket`; `tags["a:b"]` -> `tags.a:b` (for matching rule paths)."""
    path = re.sub(r"\[\d+\]", "", path)
    return re.sub(r'\["([^"]*)"\]', r".\1", path)


def _is_scalar_list(v: Any) -> bool:
    return isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v)


def _json(text: str) -> Any:
    """The JSON object or array a string holds (IAM and lifecycle policies), else None."""
    if text[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def property_changes(old: Any, new: Any, path: str = "") -> list[PropertyChange]:
    """Leaf-level differences between two input trees (mappings recursed, lists of objects by index)."""
    if old == new:
        return []
    if old is _MISSING:
        return [PropertyChange(path, "add", None, new)]
    if new is _MISSING:
        return [PropertyChange(path, "delete", old, None)]
    if isinstance(old, str) and isinstance(new, str) and _json(old) is not None and _json(new) is not None:
        return property_changes(_json(old), _json(new), path)  # a policy document: show what changed inside
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[PropertyChange] = []
        for k in sorted(set(old) | set(new), key=str):
            out += property_changes(old.get(k, _MISSING), new.get(k, _MISSING), _join(path, k))
        return out
    if isinstance(old, list) and isinstance(new, list) and not (_is_scalar_list(old) and _is_scalar_list(new)):
        out = []
        for i in range(max(len(old), len(new))):
            out += property_changes(
                old[i] if i < len(old) else _MISSING, new[i] if i < len(new) else _MISSING, _join(path, i)
            )
        return out
    return [PropertyChange(path, "update", old, new)]


def _get(value: Any, dotted: str) -> Any:
    """The value under a normalized dotted path (lists are searched element-wise)."""
    if not dotted:
        return value
    head, _, rest = dotted.partition(".")
    if isinstance(value, list):
        found = [_get(v, dotted) for v in value]
        found = [f for f in found if f is not _MISSING]
        return found or _MISSING
    if isinstance(value, dict) and head in value:
        return _get(value[head], rest)
    return _MISSING


def _touches(change: PropertyChange, rule_path: str) -> bool:
    """Does this leaf change alter the value at `rule_path` (or under it)?"""
    p = _norm(change.path)
    if p == rule_path or p.startswith(rule_path + "."):
        return True
    if rule_path.startswith(p + "."):  # a whole block added/removed: does it hold the rule path?
        rel = rule_path[len(p) + 1 :]
        before = _get(change.old, rel) if change.old is not None else _MISSING
        after = _get(change.new, rel) if change.new is not None else _MISSING
        return before != after
    return False


def _mask(type_: str, change: PropertyChange) -> PropertyChange:
    sensitive = bool(_SENSITIVE.search(change.path)) or (
        type_ == "kubernetes:core/v1:Secret" and _norm(change.path).split(".")[0] in ("data", "stringData")
    )
    if not sensitive:
        return change

    def hide(v: Any) -> Any:
        return None if v is None else SECRET

    return PropertyChange(change.path, change.kind, hide(change.old), hide(change.new), change.replaces)


def physical_name(r: PlannedResource) -> str | None:
    """The cloud name from the inputs, or None when the engine auto-names it from the URN."""
    rule = rule_for(r.type)
    if rule is None or rule.physical is None:
        return None
    v = _get(r.inputs, rule.physical)
    return None if v is _MISSING else str(v)


# -- cascades: a replaced resource gets a new id, so create-only inputs holding it change too ----
def _identity(r: PlannedResource, region: str) -> set[str]:
    """Strings a dependent's inputs hold when they take this resource's id, ARN or name."""
    import pulumi

    from ..plan.mocks import PlanMocks

    rid, state = PlanMocks(region).new_resource(
        pulumi.runtime.MockResourceArgs(
            typ=r.type, name=r.name, inputs=dict(r.inputs), provider="", resource_id="", custom=r.custom
        )
    )
    out = {rid} if rid else set()
    for key in (
        "id",
        "arn",
        "name",
        "keyId",
        "bucket",
        "repositoryUrl",
        "endpoint",
        "address",
        "url",
        "nodeGroupName",
        "identifier",
    ):
        if isinstance(state.get(key), str) and state[key]:
            out.add(state[key])
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _references(value: Any, identity: set[str]) -> bool:
    for s in _strings(value):
        for ident in identity:
            if s == ident or (len(ident) >= 12 and ident in s):
                return True
    return False


# -- disruption ------------------------------------------------------------------------------------
def _changed(rc: ResourceChange, *prefixes: str) -> list[PropertyChange]:
    return [c for c in rc.changes if any(_norm(c.path) == p or _norm(c.path).startswith(p + ".") for p in prefixes)]


def _disruption(rc: ResourceChange, old: PlannedResource | None, new: PlannedResource | None) -> list[str]:
    out: list[str] = []
    t = rc.type
    if t == "aws:eks/nodeGroup:NodeGroup":
        if rc.op == REPLACE:
            order = (
                "the new group is created first (auto-named), then the old one drained"
                if new is None or physical_name(new) is None
                else "named group: the new one cannot take the old name while it exists, so it needs "
                "deleteBeforeReplace and its capacity is gone until the new group is ready"
            )
            out.append(f"node group replaced: its nodes are drained and their pods rescheduled; {order}")
        elif rc.op == DELETE:
            out.append("node group deleted: its pods are evicted")
        elif rc.op == UPDATE and new is not None:  # an update has a new state
            if _changed(rc, "version", "releaseVersion", "launchTemplate.version"):
                out.append(
                    "nodes are rolled (new AMI or launch template version), "
                    f"{(new.inputs.get('updateConfig') or {}).get('maxUnavailable', 1)} at a time"
                )
            for c in _changed(rc, "scalingConfig.desiredSize"):
                if isinstance(c.old, int) and isinstance(c.new, int) and c.new < c.old:
                    out.append(f"scales in from {c.old} to {c.new} nodes: pods on removed nodes are rescheduled")
    elif t == "aws:rds/instance:Instance" and rc.op == UPDATE:
        when = (
            "at the next maintenance window (applyImmediately is false)"
            if new is not None and new.inputs.get("applyImmediately") is False
            else "immediately"
        )
        for c in _changed(rc, "instanceClass"):
            out.append(
                f"database restarts to change instance class {c.old} -> {c.new} (minutes of downtime; "
                f"a Multi-AZ instance fails over instead, about a minute), {when}"
            )
        for c in _changed(rc, "multiAz"):
            out.append(
                f"Multi-AZ {json.dumps(c.old)} -> {json.dumps(c.new)}: AWS builds (or drops) the standby "
                f"from a snapshot; expect higher latency while it syncs, {when}"
            )
        for c in _changed(rc, "engineVersion"):
            out.append(f"database engine upgrade {c.old} -> {c.new}: the database restarts (downtime), {when}")
    elif t == "aws:eks/cluster:Cluster" and rc.op == UPDATE and _changed(rc, "version"):
        out.append("control-plane upgrade (the API stays available); node groups and add-ons follow")
    elif t == "aws:ec2/natGateway:NatGateway" and rc.op in (REPLACE, DELETE):
        out.append(
            "outbound internet from the private subnets routed through it stops until routes point "
            "to a working NAT gateway"
        )
    elif t == "pulumi:providers:kubernetes" and rc.op == REPLACE:
        out.append("the Kubernetes provider is replaced: every Kubernetes object it manages is replaced too")
    elif t == "kubernetes:helm.sh/v3:Release" and rc.op == REPLACE:
        out.append("the Helm release is uninstalled and installed again: its workloads restart")
    elif t == "aws:eks/addon:Addon" and rc.op == REPLACE:
        out.append("the add-on is removed and installed again")
    return out


# -- the diff ------------------------------------------------------------------------------------
def alias_urns(r: PlannedResource) -> list[str]:
    """The former URNs a resource's aliases name: URN aliases as given, and name/type aliases (same
    parent, stack and project) derived from its URN. Aliases to another parent are not derived."""
    out: list[str] = []
    head, _, name = r.urn.rpartition("::")
    prefix, _, qualified = head.rpartition("::")
    for a in r.aliases:
        if isinstance(a, str):
            out.append(a)
        elif isinstance(a, dict) and not set(a) - {"name", "type"}:
            q = qualified
            if a.get("type"):
                q = f"{qualified.rpartition('$')[0]}${a['type']}" if "$" in qualified else a["type"]
            out.append(f"{prefix}::{q}::{a.get('name') or name}")
    return out


def _ignored(change: PropertyChange, r: PlannedResource) -> bool:
    return any(_touches(change, _norm(p)) for p in r.ignore_changes)


def _change(op: str, old: PlannedResource | None, new: PlannedResource | None) -> ResourceChange:
    """The change `op` of a resource from `old` to `new` (None: not in that plan), with no property
    change yet; it is named and typed as the new plan has it, else as the old one."""
    r = new if new is not None else old
    assert r is not None  # a change has a resource on one side at least
    return ResourceChange(
        op,
        r.urn,
        r.type,
        r.name,
        r.type in STATEFUL_TYPES,
        protect_old=old.protect if old is not None else None,
        protect_new=new.protect if new is not None else None,
        physical_old=physical_name(old) if old is not None else None,
        physical_new=physical_name(new) if new is not None else None,
    )


def diff_plans(old: Plan, new: Plan, from_label: str = "old", to_label: str = "new") -> PlanDiff:
    """Compare two plans by URN or alias (see the module docstring)."""
    before, after = dict(old.by_urn()), new.by_urn()
    renamed: dict[str, str] = {}  # new URN -> the old URN its alias names
    for r in new.resources:
        if r.urn in before:
            continue
        for a in alias_urns(r):
            if a in before and a not in after and a not in renamed.values():
                renamed[r.urn] = a
                before[r.urn] = before[a]
                break
    changes: dict[str, ResourceChange] = {}
    unknown: set[str] = set()
    unchanged = 0

    for r in new.resources:
        if r.urn not in before:
            changes[r.urn] = _change(CREATE, None, r)
            continue
        o = before[r.urn]
        props: list[PropertyChange] = []
        ignored: list[PropertyChange] = []
        for c in property_changes(o.inputs, r.inputs):
            (ignored if _ignored(c, r) else props).append(_mask(r.type, c))
        rc = _change(UPDATE, o, r)
        rc.changes = props
        if r.urn in renamed:
            rc.notes.append(f"renamed from {renamed[r.urn]} (alias): the engine keeps the resource")
        if ignored:
            rc.notes.append(
                "ignoreChanges: the engine leaves "
                + ", ".join(sorted({c.path for c in ignored}))
                + " as the cloud has it"
            )
        if r.custom and rule_for(r.type) is None:
            unknown.add(r.type)
            if props:
                rc.notes.append("type not in the create-only table: a replacement cannot be predicted")
        rule = rule_for(r.type) if r.custom else None
        if rule is not None:
            for c in props:
                hit = [p for p in rule.paths if _touches(c, p)]
                hit += [p for p in rule.removed if _touches(c, p) and c.kind == "delete"]
                if hit:
                    c.replaces = True
                    rc.replace_reasons.append(_norm(c.path))
            if rule.note and rc.replace_reasons:
                rc.notes.append(rule.note)
        for c in props:
            forced = [p for p in r.replace_on_changes if p == "*" or _touches(c, _norm(p))]
            if forced and not c.replaces:
                c.replaces = True
                rc.replace_reasons.append(f"{_norm(c.path)} (replaceOnChanges)")
        if r.type != o.type and r.urn not in renamed:
            rc.replace_reasons.append("type")
        if o.provider and r.provider and o.provider != r.provider:
            rc.notes.append(f"provider changes {o.provider} -> {r.provider}: the engine may replace it")
        # (A plan saved before providers were recorded has none: no change is read into that.)
        option_changed = (
            o.protect,
            o.retain_on_delete,
            o.ignore_changes,
            o.replace_on_changes,
            o.delete_before_replace,
            o.custom_timeouts,
        ) != (
            r.protect,
            r.retain_on_delete,
            r.ignore_changes,
            r.replace_on_changes,
            r.delete_before_replace,
            r.custom_timeouts,
        ) or bool(o.provider and r.provider and o.provider != r.provider)
        if rc.replace_reasons:
            rc.op = REPLACE
        elif not props and not option_changed:
            unchanged += 1
            continue
        changes[r.urn] = rc

    for o in old.resources:
        if o.urn not in after and o.urn not in renamed.values():
            rc = _change(DELETE, o, None)
            if o.protect:
                rc.notes.append("protected: the engine refuses to delete it until `protect` is removed")
            if o.retain_on_delete:
                rc.notes.append("retainOnDelete: the engine forgets it but leaves it in the cloud")
            changes[o.urn] = rc

    _cascade(new, before, changes, new.region)

    ordered = [changes[r.urn] for r in new.resources if r.urn in changes]
    ordered += [changes[o.urn] for o in old.resources if o.urn in changes and o.urn not in after]
    for rc in ordered:
        rc.disruption = _disruption(rc, before.get(rc.urn), after.get(rc.urn))
        new_r = after.get(rc.urn)
        if rc.op == REPLACE and new_r is not None and new_r.delete_before_replace:
            rc.notes.append("deleteBeforeReplace: the old resource is deleted before the new one exists")
    return PlanDiff(from_label, to_label, ordered, unchanged, sorted(unknown))


def _cascade(new: Plan, before: dict[str, PlannedResource], changes: dict[str, ResourceChange], region: str) -> None:
    """A replaced resource gets a new id: dependents holding it in a create-only input are replaced too."""
    idents: dict[str, set[str]] = {}
    by_urn = new.by_urn()
    grew = True
    while grew:
        grew = False
        replaced = [u for u, c in changes.items() if c.op == REPLACE]
        for r in new.resources:
            rc = changes.get(r.urn)
            if r.urn not in before or (rc is not None and rc.op == REPLACE) or not r.custom:
                continue
            rule = rule_for(r.type)
            if rule is None:
                continue
            for dep in replaced:
                if dep not in r.depends_on:
                    continue
                if dep not in idents:
                    idents[dep] = _identity(by_urn[dep], region)
                paths = [p for p in rule.paths if _references(_get(r.inputs, p), idents[dep])]
                if not paths:
                    continue
                if rc is None:
                    rc = changes[r.urn] = _change(UPDATE, before[r.urn], r)
                rc.op = REPLACE
                dep_name = changes[dep].name
                rc.replace_reasons += [f"{p} (takes the id of replaced {dep_name})" for p in paths]
                grew = True
                break

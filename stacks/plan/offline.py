"""The offline Plan: run a Pulumi program in-process under the SDK's mock monitor and record it.

Every resource the program registers is recorded as the engine would receive it: URN, type, name,
parent, inputs (secrets masked), and every resource option the engine sees, which the mock's
`new_resource` never does: protect, retain_on_delete, dependencies, ignore_changes,
replace_on_changes, delete_before_replace, custom_timeouts, aliases and the explicit provider. Each run happens in a fresh `contextvars.Context`, so two
plans in one process share no Pulumi state (settings, config, root stack).

The Plan is the spine that plan, diff, cost, policy and export read.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi._types as pulumi_types
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from ..runtime import paused_gc
from .mocks import PlanMocks

# The one list of stateful resource types: replacing or deleting one loses data or identity (diff
# flags them, policy wants them protected, upgrade refuses to lose them). DATA_TYPES are the ones
# `destroy` keeps unless --purge (with what they need); the cluster and the keys go with the stack.
DATA_TYPES = frozenset(
    {
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:ecr/repository:Repository",
        "aws:efs/fileSystem:FileSystem",
        "aws:dynamodb/table:Table",
    }
)
STATEFUL_TYPES = DATA_TYPES | frozenset({"aws:eks/cluster:Cluster", "aws:kms/key:Key"})

SECRET = "[secret]"
UNKNOWN = "[unknown]"
_SIG = rpc._special_sig_key


@dataclass(frozen=True)
class PlannedResource:
    """One resource as the engine would register it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    depends_on: list[str] = field(default_factory=list)
    # Input paths the engine leaves alone after creation (Pulumi `ignoreChanges`, e.g.
    # "scalingConfig.desiredSize"), and those whose change forces a replacement.
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    # {"create"|"update"|"delete": "30m"} as given; {} = the provider's defaults.
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    # Former identities: an old URN (str), or {"name", "type", "parent", "stack", "project", "noParent"}.
    aliases: list[Any] = field(default_factory=list)
    # URN of the explicit provider (None: the default provider of its package).
    provider: str | None = None


@dataclass
class Plan:
    """Everything one program run registers, in tree order, plus its stack outputs."""

    profile: str
    resources: list[PlannedResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    stack: str = "dev"
    region: str = "us-east-1"

    def by_urn(self) -> dict[str, PlannedResource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def children(self, urn: str | None) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == urn]

    def find(self, name_or_urn: str, what: str = "--show") -> PlannedResource:
        """The resource with this URN, else the one of this `Type::name` (`NodeGroup::ml-dev-system`), else
        the one with this name (several of that name: refused, listing their `Type::name`s to pick from)."""
        from ..errors import SpecError, UsageError

        x = name_or_urn
        exact = [r for r in self.resources if r.urn == x]
        typed = [r for r in self.resources if "::" in x and (r.urn.endswith(f":{x}") or r.urn.endswith(f"${x}"))]
        named = exact or typed or [r for r in self.resources if r.name == x]
        if len(named) == 1:
            return named[0]
        if named:
            raise UsageError(
                what,
                f"{len(named)} resources are named {x!r}",
                "give TYPE::NAME (or the URN), one of: "
                + ", ".join(f"{r.type.rsplit(':', 1)[-1]}::{r.name}" for r in named),
            )
        near = sorted({r.name for r in self.resources if name_or_urn.lower() in r.name.lower()})[:5]
        raise SpecError(
            what,
            f"no resource named {name_or_urn!r} in the plan of stack {self.stack}",
            f"did you mean {' or '.join(near)}?" if near else "see the names with `mlplatform plan`",
        )

    def to_dict(self) -> dict[str, Any]:
        """The `plan --json` contract."""
        return {
            "profile": self.profile,
            "stack": self.stack,
            "region": self.region,
            "resources": [asdict(r) for r in self.resources],
            "outputs": self.outputs,
            "warnings": self.warnings,
            "summary": {"add": len(self.resources)},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        resources = [
            PlannedResource(
                urn=r["urn"],
                type=r["type"],
                name=r["name"],
                parent=r.get("parent"),
                custom=bool(r.get("custom", True)),
                inputs=r.get("inputs") or {},
                protect=bool(r.get("protect", False)),
                retain_on_delete=bool(r.get("retain_on_delete", False)),
                depends_on=list(r.get("depends_on") or []),
                ignore_changes=list(r.get("ignore_changes") or []),
                replace_on_changes=list(r.get("replace_on_changes") or []),
                delete_before_replace=bool(r.get("delete_before_replace", False)),
                custom_timeouts=dict(r.get("custom_timeouts") or {}),
                aliases=list(r.get("aliases") or []),
                provider=r.get("provider"),
            )
            for r in data["resources"]
        ]
        plan = cls(
            profile=data.get("profile", ""),
            resources=resources,
            outputs=data.get("outputs") or {},
            warnings=list(data.get("warnings") or []),
            stack=str(data.get("stack") or "dev"),
        )
        plan.region = str(data.get("region") or _region_of_older_plan(plan))
        return plan


_ARN_REGION = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-gov)?-[a-z]+-\d):")
_ZONE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d)[a-z]$")


def _region_of_older_plan(plan: Plan) -> str:
    """A plan saved before plans carried their region: the region its ARNs and zone names name most."""
    counts: dict[str, int] = {}

    def strings(v: Any) -> Any:
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)

    for r in plan.resources:
        for s in strings(r.inputs):
            m = _ZONE.match(s) or _ARN_REGION.search(s)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else "us-east-1"


def read_saved_plan(path: str | Path, what: str = "--plan") -> Plan:
    """The one reader of a plan saved by `mlplatform plan --json --out FILE`; problems are one line naming the file."""
    from ..errors import SpecError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            what, f"no file {p}", "check the path, or write one with `mlplatform plan --json --out FILE`"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(what, f"cannot read {p}: {getattr(e, 'strerror', None) or e}", "check the path") from None
    fix = "give a file written by `mlplatform plan --json --out FILE`"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(what, f"{p} is not JSON (line {e.lineno}: {e.msg}), so not a saved plan", fix) from None
    missing = (
        "it is not an object"
        if not isinstance(data, dict)
        else "it has no `resources` list"
        if not isinstance(data.get("resources"), list)
        else None
    )
    if missing is None:
        try:
            return Plan.from_dict(data)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            key = f" `{e.args[0]}`" if isinstance(e, KeyError) and e.args else ""
            missing = f"a resource lacks{key or ' a field a plan has'}" if isinstance(e, KeyError) else str(e)
    raise SpecError(what, f"{p} is JSON but not a saved plan: {missing}", fix) from None


def _plain(value: Any) -> Any:
    """A protobuf-decoded property value with secrets masked and references made readable."""
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == rpc._special_secret_sig:
            return SECRET
        if sig == rpc._special_resource_sig:
            return value.get("urn")
        if sig == rpc._special_output_value_sig:
            if value.get("secret"):
                return SECRET
            return _plain(value["value"]) if "value" in value else UNKNOWN
        if sig == rpc._special_asset_sig:
            return {"asset": value.get("path") or value.get("uri") or "<text>"}
        if sig == rpc._special_archive_sig:
            return {"archive": value.get("path") or value.get("uri") or "<assets>"}
        # A protobuf Struct is a map: its iteration order follows the string hash (PYTHONHASHSEED), so the
        # same stack would give different bytes run to run. Keys are sorted: their order carries no meaning.
        return {k: _plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each registration request as a PlannedResource."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[PlannedResource] = []
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine leaves the root stack out of its children's qualified type; so do we.
        if "::pulumi:pulumi:Stack::" in parent:
            parent = ""
        return super().make_urn(parent, type_, name)

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        record = PlannedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent if request.parent and "::pulumi:pulumi:Stack::" not in request.parent else None,
            custom=bool(request.custom),
            inputs=_plain(json_format.MessageToDict(request.object)),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            depends_on=sorted(set(request.dependencies)),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
            custom_timeouts={
                k: v
                for k, v in (
                    ("create", request.customTimeouts.create),
                    ("update", request.customTimeouts.update),
                    ("delete", request.customTimeouts.delete),
                )
                if v
            },
            aliases=_aliases(request),
            provider=_provider_urn(request.provider),
        )
        with self._lock:
            self.records.append(record)
        rid, state = self.mocks.new_resource(
            pulumi.runtime.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=rpc.deserialize_properties(request.object),
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        # The engine marks the outputs a provider schema calls secret (a generated password's
        # `result`); the SDK lists them in additionalSecretOutputs, so do the same here.
        for key in request.additionalSecretOutputs:
            if key in state:
                state[key] = pulumi.Output.secret(state[key])
        obj = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, rid, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid, object=obj)


def _provider_urn(ref: str) -> str | None:
    """`<urn>::<id>` (a provider reference) -> the provider's URN."""
    if not ref:
        return None
    return ref.rsplit("::", 1)[0] if ref.count("::") > 3 else ref


def _aliases(request: Any) -> list[Any]:
    out: list[Any] = list(request.aliasURNs)
    for alias in request.aliases:
        if alias.urn:
            out.append(alias.urn)
        else:
            spec = json_format.MessageToDict(alias.spec)
            parent = spec.pop("parentUrn", None)
            if parent and "::pulumi:pulumi:Stack::" not in parent:
                spec["parent"] = parent
            out.append(spec)
    unique: list[Any] = []  # the SDK sends a provider type's own aliases once per registration path
    for a in out:
        if a not in unique:
            unique.append(a)
    return unique


def _tree_order(records: list[PlannedResource]) -> list[PlannedResource]:
    """Depth-first, parents before children, siblings by (type, name): stable across runs."""
    kids: dict[str | None, list[PlannedResource]] = {}
    known = {r.urn for r in records}
    for r in records:
        kids.setdefault(r.parent if r.parent in known else None, []).append(r)
    out: list[PlannedResource] = []

    def walk(parent: str | None) -> None:
        for r in sorted(kids.get(parent, []), key=lambda r: (r.type, r.name)):
            out.append(r)
            walk(r.urn)

    walk(None)
    return out


def run_offline(
    program: Callable[[], Any],
    *,
    region: str,
    profile: str = "",
    project: str = "mlplatform",
    stack: str = "dev",
    config: dict[str, Any] | None = None,
) -> Plan:
    """Run `program` under the mock monitor and return its Plan.

    `config` is the stack's configuration as `{"project:key": value}` (what `pulumi config` holds);
    `aws:region` is set from `region` unless given.
    """
    cfg = {"aws:region": region, **(config or {})}

    def _run() -> Plan:
        pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in cfg.items()})
        monitor = RecordingMonitor(PlanMocks(region))
        log = _CollectingLogger()
        pulumi.runtime.set_mocks(
            monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=log
        )
        _sync_await(run_pulumi_func(program))
        root = pulumi.runtime.get_root_resource()
        outputs = {k: _resolve_output(v) for k, v in sorted(getattr(root, "outputs", {}).items())}
        return Plan(
            profile=profile,
            resources=_tree_order(monitor.records),
            outputs=outputs,
            warnings=list(dict.fromkeys(log.warnings)),
            stack=stack,
            region=region,
        )

    with paused_gc(), _sdk_type_hints_memoised():
        return contextvars.Context().run(_run)


@contextlib.contextmanager
def _sdk_type_hints_memoised() -> Iterator[None]:
    """While a plan runs, the Pulumi SDK's property types of a class are computed once per class.

    The SDK (3.223) resolves a class's property type hints (`typing.get_type_hints` per property) every
    time it serialises an instance: ~7,700 times in the `full` plan, a quarter of the plan's time, for a
    few hundred classes whose properties never change while a program runs. Its callers only read the
    dict. Where the SDK no longer has the function, nothing is changed; the original is back afterwards.
    tests/test_determinism.py holds a plan made with the memo to the plan made without it, byte for byte."""
    original = getattr(pulumi_types, "_types_from_py_properties", None)
    if original is None:
        yield
        return
    pulumi_types._types_from_py_properties = functools.cache(original)
    try:
        yield
    finally:
        pulumi_types._types_from_py_properties = original


class _CollectingLogger(logging.Logger):
    """Keeps what the program says with `pulumi.log.warn` (the engine would show it) for the Plan."""

    def __init__(self) -> None:
        super().__init__("mlplatform.plan", level=logging.WARNING)
        self.warnings: list[str] = []

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        text = str(msg)
        if " is deprecated" not in text and " has been deprecated" not in text:  # provider SDK chatter
            self.warnings.append(text)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.warnings.append(f"error: {msg}")


def _resolve_output(value: Any) -> Any:
    out = pulumi.Output.from_input(value)
    if _sync_await(out.is_secret()):
        return SECRET
    return _plain(json.loads(json.dumps(_sync_await(out.future()), default=str)))

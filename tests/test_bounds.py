"""One definition per bound: a component used on its own (its Args, then its own checks) and the CLI's
path (`stacks.config.spec.validate` on a profile with that `--set`) accept and refuse exactly the same
values, around every bound of every section the spec builds from a component's Args.

Validation only: nothing is planned (the component's `_validate` is what it runs before any child)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import annotated_types as at
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AliasChoices, BaseModel

from mlplatform.components import cluster, evidence_ledger, metadata_store, monitoring
from mlplatform.components.args.ci_runners import RunnerScale
from mlplatform.components.args.evidence_ledger import EvidenceLedgerArgs
from mlplatform.components.gpu_node_pool import component as gpu_node_pool
from mlplatform.components._common import ValidationError
from mlplatform.components.args import Section
from mlplatform.components.args.gpu_node_pool import GpuNodePoolArgs, GpuPool
from mlplatform.components.args.metadata_store import MetadataStoreArgs, MlflowSettings
from mlplatform.components.args.monitoring import MonitoringArgs
from mlplatform.components.args.team_space import TeamSpaceArgs
from mlplatform.components.args.network import NetworkArgs
from mlplatform.stacks.config.spec import StackSpec, apply_set, profile_defaults, validate
from mlplatform.stacks.errors import SpecError

_P = profile_defaults("pragmatic")
# A team, for its quotas' bounds; GPU oversubscription on, because whether the teams' GPU quotas fit the
# stack's pools is the stack's check (spec._check_teams, tested with `team add`), which a TeamSpace used
# on its own cannot make: it knows no pools.
# Queueing on, so that the teams' queue settings (which need it: a stack rule) meet only their bounds.
PROFILE = {**_P, "gpu": {**_P["gpu"], "oversubscribe_gpus": True}, "teams": [{"name": "vision"}],
           "queueing": {**_P["queueing"], "enabled": True}}
# The same profile with an on-demand GPU pool: there each pool bound is the binding one (a spot-first
# managed pool also needs room for two groups, which refuses max 1 on both sides alike).
# Likewise one system node (min = count = 1), so count's, min's and max's lower bounds are each reachable.
ON_DEMAND = {
    **PROFILE,
    "gpu": {**PROFILE["gpu"], "pools": [{**PROFILE["gpu"]["pools"][0], "capacity": "on-demand"}]},
    "cluster": {**PROFILE["cluster"], "system_nodes": {**PROFILE["cluster"]["system_nodes"], "count": 1, "min": 1}},
}


def _bounds(model: type[BaseModel], name: str) -> list[int]:
    """The numeric bounds pydantic enforces on a field (ge/le/gt/lt)."""
    out = []
    for m in model.model_fields[name].metadata:
        for attr in ("ge", "le", "gt", "lt"):
            if isinstance(getattr(m, attr, None), int) and isinstance(m, (at.Ge, at.Le, at.Gt, at.Lt)):
                out.append(getattr(m, attr))
    return out


def _bounded_fields(model: type[BaseModel], path: str) -> list[tuple[str, type[BaseModel], str]]:
    """(spec key path, the model that declares the field, field name) of every bounded field below `model`."""
    found = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias.choices[0] if isinstance(info.validation_alias, AliasChoices) else None
        key = alias if isinstance(alias, str) else name  # what a stack's config writes (`min` of a RunnerScale)
        here = f"{path}.{key}" if path else key
        if _bounds(model, name):
            owner = next(c for c in model.__mro__ if name in getattr(c, "__annotations__", {}))
            found.append((here, owner, name))
        ann = info.annotation
        is_list = getattr(ann, "__origin__", None) is list
        for sub in (ann,) if is_list else (ann, *getattr(ann, "__args__", ())):  # X, X | None, list[X]
            if getattr(sub, "__origin__", None) is list:
                item = sub.__args__[0]
                if isinstance(item, type) and issubclass(item, BaseModel):
                    found += _bounded_fields(item, f"{here}.0")
            elif isinstance(sub, type) and issubclass(sub, BaseModel):
                found += _bounded_fields(sub, here)
    return found


# -- the component side of each section the spec builds from a component's Args ---------------------
DB_WIRING = dict(vpc_id="vpc-1", private_subnet_ids=["subnet-a", "subnet-b"], client_security_group_id="sg-1")
WIRING = dict(cluster_name="ml", oidc_provider_arn="arn", oidc_issuer_url="https://oidc", subnet_ids=["s-1", "s-2"])


def _gpu_pool(field: str, value: Any, base: dict[str, Any]) -> None:
    pool = {**base["gpu"]["pools"][0], field: value}
    args = GpuNodePoolArgs(**WIRING, region="us-east-1", pools=[GpuPool(**pool)])
    gpu_node_pool._validate("ml", args)


def _gpu(field: str, value: Any, base: dict[str, Any]) -> None:
    g = base["gpu"]
    args = GpuNodePoolArgs(**WIRING, region="us-east-1", mechanism=g["mechanism"], pools=g["pools"], **{field: value})
    gpu_node_pool._validate("ml", args)


def _network(field: str, value: Any, base: dict[str, Any]) -> None:
    NetworkArgs(**{**base["network"], field: value})  # Network checks nothing more before its children


def _evidence(field: str, value: Any, base: dict[str, Any]) -> None:
    settings = {k: v for k, v in base["evidence"].items() if k != "observer"}
    evidence_ledger._validate("ml", EvidenceLedgerArgs(**{**settings, field: value}))


def _database(field: str, value: Any, base: dict[str, Any]) -> None:
    args = MetadataStoreArgs(registry=None, **{**base["database"], field: value})
    metadata_store._validate_database(args.model_copy(update=DB_WIRING))


def _mlflow(field: str, value: Any, base: dict[str, Any]) -> None:
    settings = {k: base["mlflow"][k] for k in MlflowSettings.model_fields if k in base["mlflow"]}
    MetadataStoreArgs(registry=None, **{**settings, field: value})  # the rest of _validate needs a registry


def _team(field: str, value: Any, base: dict[str, Any]) -> None:
    from mlplatform.components.args.queueing import TeamQueueSettings
    from mlplatform.components.queueing import TeamQueue

    if field in TeamQueueSettings.model_fields:  # the team's queue settings: Queueing's TeamQueue takes them
        TeamQueue(team="vision", namespace="vision", **{field: value})
        return
    TeamSpaceArgs(team="vision", registry=None, ecr_repository_prefix="mlplatform/dev", **{field: value})


def _queueing(field: str, value: Any, base: dict[str, Any]) -> None:
    from mlplatform.components.queueing import Flavor, QueueingArgs

    QueueingArgs(**{**base.get("queueing", {}), field: value}, flavors=[Flavor(name="gpu", gpus=2)])


def _runner_scale(where: str) -> Callable[[str, Any, dict[str, Any]], None]:
    def build(field: str, value: Any, base: dict[str, Any]) -> None:
        node: Any = base
        for part in where.split("."):
            node = node[int(part)] if isinstance(node, list) else (node or {}).get(part)
        key = {"min_runners": "min", "max_runners": "max"}[field]
        RunnerScale(**{**(node or {}), key: value})  # CiRunners / TeamSpace take it as built

    return build


def _system_nodes(field: str, value: Any, base: dict[str, Any]) -> None:
    n = {**base["cluster"]["system_nodes"], field: value}
    args = cluster.ClusterArgs(
        vpc_id="vpc-1", private_subnet_ids=["subnet-a", "subnet-b"], system_node_instance_type=n["instance_type"],
        system_node_count=n["count"], system_node_min=n["min"], system_node_max=n["max"],
        system_node_disk_gib=n["disk_gib"], system_node_scaled_by=n["scaled_by"],
    )
    cluster._validate("ml", args)


def _serving(field: str, value: Any, base: dict[str, Any]) -> None:
    from mlplatform.components.args.serving import ModelServingArgs

    ModelServingArgs(prometheus_address="http://prometheus:9090", **{**base["serving"], field: value})
def _drift(field: str, value: Any, base: dict[str, Any]) -> None:
    from mlplatform.components.drift import DriftArgs

    args = MonitoringArgs(drift=DriftArgs(**{**base["monitoring"].get("drift", {}), field: value}))
    monitoring._validate("ml", args)


def _monitoring(field: str, value: Any, base: dict[str, Any]) -> None:
    monitoring._validate("ml", MonitoringArgs(**{**base["monitoring"], field: value}))


@dataclass
class ComponentSide:
    prefix: str  # the spec key path of the section (".0" for a list's first item)
    component: Callable[[str, Any, dict[str, Any]], None]


SECTIONS = {
    "gpu.pools.0": ComponentSide("gpu.pools.0", _gpu_pool),
    "gpu": ComponentSide("gpu", _gpu),
    "monitoring": ComponentSide("monitoring", _monitoring),
    "monitoring.drift": ComponentSide("monitoring.drift", _drift),
    "network": ComponentSide("network", _network),
    "evidence": ComponentSide("evidence", _evidence),
    "database": ComponentSide("database", _database),
    "mlflow": ComponentSide("mlflow", _mlflow),
    "teams.0": ComponentSide("teams.0", _team),
    "queueing": ComponentSide("queueing", _queueing),
    "cluster.system_nodes": ComponentSide("cluster.system_nodes", _system_nodes),
    "serving": ComponentSide("serving", _serving),
    **{w: ComponentSide(w, _runner_scale(w)) for w in ("runners.cpu", "runners.gpu", "teams.0.runners.cpu",
                                                         "teams.0.runners.gpu")},
}

# Bounded spec fields whose section is not (yet) built from a component's Args: their bounds are the
# spec's alone, or still written twice (each listed with where the other copy is).
NOT_YET_FROM_ARGS = {
    "registry.keep_tagged_images": "components/artifact_registry.py _validate",
    "registry.noncurrent_version_days": "components/artifact_registry.py _validate",
    "review.due_days": "spec only (no component: the review workflow reads it)",
    "team_size": "spec only (picks the profile)",
    "serving.prediction_retention_days": "components/artifact_registry.py _validate (prediction_retention_days)",
    # serving.models is a map by model name: the spec reuses components/serving/prediction_log.PredictionLogArgs
    # for each value, but its key path holds the name, which this test cannot set.
    "serving.models.log_sample": "components/serving/prediction_log.py PredictionLogArgs (the same model)",
}

# Sections that are a mapping of user-named entries (`serving.models.<name>`): each entry is a components.args
# model, so its bounds are declared once; the spec-vs-component agreement below walks sections by key path.
DICT_SECTIONS = ("serving.models", "serving.models.analysis")

FIELDS = _bounded_fields(StackSpec, "")


def _section(path: str) -> ComponentSide | None:
    prefix = path.rsplit(".", 1)[0]
    return SECTIONS.get(prefix)


def test_every_bounded_field_is_declared_once_by_a_component_args_model():
    for path, owner, _ in FIELDS:
        if _section(path) is not None or path.rsplit(".", 1)[0] in DICT_SECTIONS:
            assert issubclass(owner, Section) and owner.__module__.startswith("mlplatform.components.args"), path
        else:
            assert path in NOT_YET_FROM_ARGS, f"{path}: a new bound in the spec; declare it on the component's Args"
    assert {p for p, _, _ in FIELDS if _section(p)} >= {
        "gpu.pools.0.min", "gpu.pools.0.max", "gpu.pools.0.gpu_limit", "gpu.pools.0.disk_gib",
        "gpu.idle_minutes", "gpu.cpu_batch_vcpu_limit", "monitoring.retention_days", "monitoring.storage_gib",
        "monitoring.prometheus_replicas", "monitoring.prometheus_memory_mib", "network.az_count",
        "evidence.retention_days", "database.backup_retention_days", "database.allocated_storage_gib",
        "mlflow.replicas", "teams.0.gpu_quota", "teams.0.cpu_quota",
        "runners.cpu.max", "teams.0.runners.gpu.min", "cluster.system_nodes.min",
    }


SHARED = [(path, owner, name) for path, owner, name in FIELDS if _section(path) is not None]


def _around(bounds: list[int]) -> st.SearchStrategy[Any]:
    near = sorted({b + d for b in bounds for d in (-1, 0, 1)})
    return st.one_of(
        st.sampled_from(near),
        st.integers(min_value=min(near) - 3, max_value=max(near) + 3),
        st.sampled_from(["x", "", 1.5, True, None, [1], {"a": 1}]),
    )


def _spec_accepts(path: str, value: Any, base: dict[str, Any]) -> bool:
    try:
        validate(apply_set(base, f"{path}={json.dumps(value)}"))
    except SpecError:
        return False
    return True


def _component_accepts(path: str, name: str, value: Any, base: dict[str, Any]) -> bool:
    sec = _section(path)
    assert sec is not None
    try:
        sec.component(name, value, base)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("base", [PROFILE, ON_DEMAND], ids=["pragmatic", "on-demand-pool"])
@pytest.mark.parametrize("path, owner, name", SHARED, ids=[p for p, _, _ in SHARED])
def test_component_and_spec_accept_and_refuse_the_same_values(path, owner, name, base):
    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=_around(_bounds(owner, name)))
    def agree(value: Any) -> None:
        assert _component_accepts(path, name, value, base) == _spec_accepts(path, value, base), (path, value)

    agree()
    if base is not ON_DEMAND:
        return
    # Each bound itself is accepted and one step past it refused, on both sides.
    for m in owner.model_fields[name].metadata:
        for attr, inside, outside in (("ge", 0, -1), ("gt", 1, 0), ("le", 0, 1), ("lt", -1, 0)):
            b = getattr(m, attr, None)
            if isinstance(b, int) and isinstance(m, (at.Ge, at.Le, at.Gt, at.Lt)):
                assert _spec_accepts(path, b + inside, base) and _component_accepts(path, name, b + inside, base), b
                assert not _spec_accepts(path, b + outside, base)
                assert not _component_accepts(path, name, b + outside, base)

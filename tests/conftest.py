"""Shared test helpers: run programs offline under the Pulumi mock monitor."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from mlplatform.stacks.plan import Plan, run_offline


def plan_of(program: Callable[[], Any], region: str = "us-east-1", **kw: Any) -> Plan:
    """Run `program` (which creates resources) offline and return its Plan."""
    return run_offline(program, region=region, **kw)


@pytest.fixture
def offline() -> Callable[..., Plan]:
    return plan_of


def one(plan: Plan, type_: str, name: str | None = None):
    """The single resource of `type_` (and `name`, when given) in `plan`; fails loudly otherwise."""
    found = [r for r in plan.resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def k8s_objects(plan: Plan) -> list[dict]:
    """The Kubernetes objects a plan creates (not Helm releases, not providers), as manifests."""
    out = []
    for r in plan.resources:
        if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh"):
            manifest = {k: v for k, v in r.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec", "data",
                                                                   "stringData", "rules", "roleRef", "subjects",
                                                                   "type", "immutable")}
            out.append(manifest)
    return out


def helm_values(plan: Plan, chart: str) -> list[dict]:
    """The `values` of every Helm release of `chart` in the plan."""
    return [r.inputs.get("values", {}) for r in plan.resources
            if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart", "").rsplit("/", 1)[-1] == chart]


def assert_valid_k8s(manifest: dict, strict: bool = True) -> None:
    """kubernetes-validate (a validator we did not write) against the pinned Kubernetes version."""
    import kubernetes_validate

    from mlplatform.components.versions import KUBERNETES_VERSION

    kubernetes_validate.validate(manifest, f"{KUBERNETES_VERSION}.0", strict=strict)

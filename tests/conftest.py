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

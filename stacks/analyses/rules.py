"""The registry of `mlplatform check`'s own rules: policy.py and chart_rules.py register with `@rule`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..config.rules import RULE_IDS
from ..plan.offline import Plan, PlannedResource

# (resource, message, fix) per problem, or (resource, message, fix, severity) where the severity depends on the stack.
Check = Callable[[Plan], Iterable[tuple[PlannedResource, str, str] | tuple[PlannedResource, str, str, str]]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    check: Check


REGISTERED: dict[str, Rule] = {}


def rule(id_: str, severity: str, title: str) -> Callable[[Check], Check]:
    """Register a rule: the function yields (resource, message, fix) per problem. Its id must be listed in
    stacks/config/rules.py (the stack config's waivers are checked against that list)."""
    if id_ not in RULE_IDS:
        raise RuntimeError(f"rule {id_!r} is not listed in stacks/config/rules.py RULE_IDS; add it there")

    def register(fn: Check) -> Check:
        REGISTERED[id_] = Rule(id_, severity, title, fn)
        return fn

    return register

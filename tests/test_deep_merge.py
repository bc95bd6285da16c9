"""The one deep merge (components/merge.py) and the three ways its callers need it."""

from __future__ import annotations

import pulumi
import pytest

from mlplatform.components.helm_values import with_user_values
from mlplatform.components.merge import deep_merge
from mlplatform.stacks.config.chart_facts import schema_errors
from mlplatform.stacks.config.spec import load_spec
from mlplatform.stacks.errors import SpecError


def test_mappings_merge_and_lists_are_replaced():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    out = deep_merge(base, {"a": {"y": [3]}, "c": 2})
    assert out == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}  # the base is not changed


def test_a_mapping_replaces_a_scalar_and_a_scalar_a_mapping():
    assert deep_merge({"a": 1}, {"a": {"x": 1}}) == {"a": {"x": 1}}
    assert deep_merge({"a": {"x": 1}}, {"a": 1}) == {"a": 1}
    assert deep_merge(None, {"a": 1}) == {"a": 1}


def test_null_is_kept_unless_it_deletes():
    """A stack config's `null` and a Helm value's `null` are values; Helm's coalesce with a chart's
    defaults deletes the key (what chart_facts.schema_errors validates)."""
    assert deep_merge({"a": {"x": 1, "y": 2}}, {"a": {"x": None}}) == {"a": {"x": None, "y": 2}}
    assert deep_merge({"a": {"x": 1, "y": 2}}, {"a": {"x": None}}, null_deletes=True) == {"a": {"y": 2}}


def test_stack_config_null_reaches_pydantic_and_is_refused():
    """profile + config: `null` for a field that takes a number is refused, not replaced by the default."""
    with pytest.raises(SpecError, match="monitoring.retention_days"):
        load_spec("pragmatic", overrides={"monitoring": {"retention_days": None}})


def test_helm_null_deletes_a_chart_default_for_the_schema_check():
    """A null over a chart default leaves the schema check with the key gone (Helm's coalesce), not with
    a null the schema would refuse: mlflow's `serverHost` is a string, optional; `replicaCount` required."""
    assert schema_errors("mlflow", {"serverHost": None}) == []
    assert schema_errors("mlflow", {"serverHost": 1}) != []
    assert schema_errors("mlflow", {"replicaCount": None}) == ["(values): 'replicaCount' is a required property"]


@pulumi.runtime.test
def test_an_output_base_is_merged_once_known():
    values = pulumi.Output.from_input({"a": {"x": 1}, "b": 1})
    merged = with_user_values("mlflow", values, {"a": {"y": 2}})

    def check(v):
        assert v == {"a": {"x": 1, "y": 2}, "b": 1}

    return merged.apply(check)

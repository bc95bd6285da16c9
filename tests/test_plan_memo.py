"""The suite's plan memo (tests/conftest.py) gives what a fresh plan gives, and nobody's edits leak."""

from __future__ import annotations

from conftest import PLAN_MEMO
from mlplatform.stacks import program
from mlplatform.stacks.config.spec import load_spec


def test_every_plan_call_goes_through_the_memo():
    assert program.plan is PLAN_MEMO


def test_a_remembered_plan_is_the_plan_a_fresh_run_gives():
    spec = load_spec("pragmatic", sets=["network.az_count=3"])
    first = program.plan(spec, stack="memo")
    hits = PLAN_MEMO.hits
    again = program.plan(load_spec("pragmatic", sets=["network.az_count=3"]), stack="memo")
    assert PLAN_MEMO.hits == hits + 1
    fresh = PLAN_MEMO.real(spec, stack="memo")
    assert again.to_json() == fresh.to_json() == first.to_json()


def test_a_caller_changing_its_plan_changes_no_other_callers():
    spec = load_spec("pragmatic")
    mine = program.plan(spec, stack="memo-edit")
    mine.resources.clear()
    assert program.plan(spec, stack="memo-edit").resources


def test_another_stack_name_or_value_is_another_plan():
    a = program.plan(load_spec("pragmatic"), stack="memo-a")
    b = program.plan(load_spec("pragmatic"), stack="memo-b")
    c = program.plan(load_spec("pragmatic", sets=["network.az_count=3"]), stack="memo-a")
    assert {r.urn for r in a.resources} != {r.urn for r in b.resources}
    assert len(c.resources) > len(a.resources)

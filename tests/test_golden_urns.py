"""Golden URNs: a rename of any resource in any profile or example needs an alias (tests/golden_urns.py)."""

from __future__ import annotations

import json

import pytest

from golden_urns import GOLDEN, PROFILES, example_plans, profile_plan, urns

EXPECTED = json.loads(GOLDEN.read_text())
NAMES = [*PROFILES, "examples/existing-vpc", "examples/custom-program"]

HOW = ("a changed URN is a resource the engine deletes and re-creates (state, data and all). For a rename, "
       "keep the old URN in the resource's `opts=pulumi.ResourceOptions(aliases=[...])`, as pulumi-eks does; "
       "then, for an intended change, rebuild the list with `python tests/golden_urns.py` and review its diff")


@pytest.fixture(scope="module")
def examples():
    return example_plans()


def test_golden_file_covers_every_profile_and_example():
    assert sorted(EXPECTED) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_urns_are_unchanged(name, examples, profile_plans):
    plan = profile_plans[name] if name in PROFILES else examples[name]
    got, want = set(urns(plan)), set(EXPECTED[name])
    gone, new = sorted(want - got), sorted(got - want)
    lines = [f"{name}: {len(gone)} URN(s) gone, {len(new)} new"]
    lines += [f"  - {u}" for u in gone] + [f"  + {u}" for u in new]
    assert not gone and not new, "\n".join(lines) + "\n" + HOW


def test_profile_plans_of_the_cli_and_of_main_have_the_same_urns(profile_plans):
    """The golden list is built from `main()` under stack config; the CLI's `plan` must agree with it."""
    for p in PROFILES:
        assert urns(profile_plans[p]) == urns(profile_plan(p)), p

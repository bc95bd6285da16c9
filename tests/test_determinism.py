"""The same stack gives the same bytes: `plan --json`, the terraform-plan export and the k8s YAML.

Python's string hash is seeded per process (PYTHONHASHSEED), and anything ordered by it (a protobuf
map's iteration, a set) changes from run to run. Each seed below is a separate process, as two users'
runs are.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_SCRIPT = """
import hashlib, sys
from mlplatform.stacks.config.spec import load_spec
from mlplatform.stacks.program import plan
from mlplatform.stacks.plan import export
p = plan(load_spec(sys.argv[1]))
for text in (p.to_json(), export.terraform_plan_json(p, p.region), export.k8s_yaml(p)):
    print(hashlib.sha256(text.encode()).hexdigest())
"""


def _digests(profile: str, seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, profile], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


@pytest.mark.parametrize("profile", ["growth"])
def test_same_stack_same_bytes_across_hash_seeds(profile: str) -> None:
    first, second = _digests(profile, "1"), _digests(profile, "2")
    assert len(first) == 3
    for what, a, b in zip(("plan --json", "terraform-plan", "k8s-yaml"), first, second, strict=True):
        assert a == b, f"{what} differs between two runs of the same stack"



def test_the_sdk_type_memo_changes_no_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline runner memoises the Pulumi SDK's property types per class while a plan runs
    (stacks/plan/offline.py): the plan is the same byte for byte without it, and the SDK is left as it was."""
    import contextlib

    import pulumi._types as pulumi_types

    from mlplatform.stacks.config.spec import load_spec
    from mlplatform.stacks.plan import export, offline
    from mlplatform.stacks.program import build

    spec = load_spec("full")
    memoised: list[bool] = []

    def program() -> None:
        memoised.append(hasattr(pulumi_types._types_from_py_properties, "cache_info"))
        build(spec, "sdk-memo")

    def run() -> list[str]:
        p = offline.run_offline(program, region=spec.region, profile=spec.profile, stack="sdk-memo")
        return [p.to_json(), export.terraform_plan_json(p, p.region), export.k8s_yaml(p)]

    with_memo = run()
    assert not hasattr(pulumi_types._types_from_py_properties, "cache_info"), "the SDK's function is not restored"
    monkeypatch.setattr(offline, "_sdk_type_hints_memoised", contextlib.nullcontext)
    assert run() == with_memo
    assert memoised == [True, False]

"""Upstream is the reference: the stack's controller policies against what the controllers publish.

`stacks/data/upstream-iam.json` holds, per controller, every statement of its own published policy
(derived from shared/upstream-iam/ by `python -m mlplatform.stacks.facts.upstream_iam`). For each
upstream Allow statement and each of its actions, the stack's policy (as the growth plan registers it)
must grant the action on resources inside upstream's, with at least upstream's conditions, or list the
action in `components/iam_upstream.LEFT_OUT` with its reason. And the stack grants nothing upstream
does not. The data file is compared with ../shared (or $MLPLATFORM_SHARED) when that is present.
"""

from __future__ import annotations

import fnmatch
import json

import pytest

from mlplatform.stacks.facts.charts import shared_dir

from mlplatform.components.iam_upstream import LEFT_OUT, QUEUE_SENDERS_LEFT_OUT
from mlplatform.components.gpu_node_pool import INTERRUPTION_EVENTS
from mlplatform.stacks.facts import upstream_iam
from mlplatform.stacks.plan.mocks import ACCOUNT_ID
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import load_spec

FACTS = json.loads(upstream_iam.DATA_FILE.read_text())
SHARED = shared_dir()
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


@pytest.fixture(scope="module")
def growth():
    return plan(load_spec("growth"))


def _list(v):
    return v if isinstance(v, list) else [v]


def _policy(p, name: str) -> list[dict]:
    [r] = [r for r in p.of_type(ROLE_POLICY) if r.name == name]
    return json.loads(r.inputs["policy"])["Statement"]


def _arn(p, type_: str, name: str) -> str:
    [r] = [r for r in p.resources if r.type == type_ and r.name == name]
    return r.inputs.get("arn") or ""


def _substitutions(p) -> dict[str, str]:
    """Upstream's CloudFormation placeholders, filled in with the growth stack's values."""
    cluster = next(r for r in p.of_type("aws:eks/cluster:Cluster")).inputs["name"]
    statements = {s.get("Sid"): s for s in _policy(p, "ml-dev-karpenter")}
    return {"${ClusterName}": cluster, "${AWS::Region}": "us-east-1", "${AWS::Partition}": "aws",
            "${AWS::AccountId}": ACCOUNT_ID, "${AWS::URLSuffix}": "amazonaws.com",
            "${KarpenterNodeRole.Arn}": statements["AllowPassingInstanceRole"]["Resource"],
            "${KarpenterInterruptionQueue.Arn}": statements["AllowInterruptionQueueActions"]["Resource"]}


def _fill(value, subs: dict[str, str]):
    if isinstance(value, str):
        for k, v in subs.items():
            value = value.replace(k, v)
        return value
    if isinstance(value, list):
        return [_fill(v, subs) for v in value]
    if isinstance(value, dict):
        return {_fill(k, subs): _fill(v, subs) for k, v in value.items()}
    return value


def _conditions_cover(ours: dict, theirs: dict) -> bool:
    """Does `ours` require at least what `theirs` does (same keys, values a subset of upstream's)?"""
    for op, keys in theirs.items():
        for key, values in keys.items():
            mine = (ours.get(op) or {}).get(key)
            if mine is None:
                return False
            mine = [str(v).lower() if isinstance(v, bool) else str(v) for v in _list(mine)]
            if not set(mine) <= set(values):
                return False
    return True


def _inside(ours: list[str], theirs: list[str]) -> bool:
    return all(any(fnmatch.fnmatchcase(r, t) for t in theirs) for r in ours)


def uncovered(statements: list[dict], upstream: list[dict], subs: dict[str, str], left_out: dict[str, str]) -> list[str]:
    """Every upstream action the stack neither grants (resources inside, conditions at least upstream's)
    nor lists as left out, as `Sid: action`."""
    missing = []
    for u in upstream:
        if u["effect"] != "Allow":
            continue
        resources, conditions = _fill(u["resources"], subs), _fill(u["conditions"], subs)
        for action in u["actions"]:
            if action in left_out:
                continue
            if not any(s["Effect"] == "Allow" and action in _list(s["Action"])
                       and _inside(_list(s["Resource"]), resources)
                       and _conditions_cover(s.get("Condition") or {}, conditions) for s in statements):
                missing.append(f"{u['sid'] or u['policy']}: {action}")
    return missing


CONTROLLERS = {"karpenter": "ml-dev-karpenter", "aws-load-balancer-controller": "ml-dev-lb-controller"}


@pytest.mark.parametrize("controller", sorted(CONTROLLERS))
def test_every_upstream_action_is_granted_with_its_conditions_or_left_out_with_a_reason(growth, controller):
    ours = _policy(growth, CONTROLLERS[controller])
    missing = uncovered(ours, FACTS[controller]["statements"], _substitutions(growth), LEFT_OUT[controller])
    assert missing == [], f"{controller}: grant these as upstream does, or list them in components/iam_upstream.py"
    assert all(reason.strip() for reason in LEFT_OUT[controller].values())


@pytest.mark.parametrize("controller", sorted(CONTROLLERS))
def test_the_stack_grants_nothing_upstream_does_not(growth, controller):
    upstream = {a for s in FACTS[controller]["statements"] for a in s["actions"]}
    ours = {a for s in _policy(growth, CONTROLLERS[controller]) for a in _list(s["Action"])}
    assert ours - upstream == set()
    # Left out means left out: none of those is granted after all.
    assert ours & set(LEFT_OUT[controller]) == set()


def test_the_check_fails_when_an_upstream_action_or_condition_is_dropped(growth):
    """The comparison can fail: drop one action, then one condition, from the real policy."""
    ours = _policy(growth, "ml-dev-lb-controller")
    upstream, subs = FACTS["aws-load-balancer-controller"]["statements"], _substitutions(growth)
    dropped = [{**s, "Action": [a for a in _list(s["Action"]) if a != "elasticloadbalancing:SetRulePriorities"]}
               for s in ours]
    assert uncovered(dropped, upstream, subs, {}) == ["iam_policy.json: elasticloadbalancing:SetRulePriorities"]
    unconditioned = [{k: v for k, v in s.items() if k != "Condition"} if s["Sid"] == "CreateTaggedLoadBalancers" else s
                     for s in ours]
    assert sorted(uncovered(unconditioned, upstream, subs, {})) == [
        "iam_policy.json: elasticloadbalancing:CreateLoadBalancer", "iam_policy.json: elasticloadbalancing:CreateTargetGroup"]
    broader = [{**s, "Resource": "*"} if s["Sid"] == "Targets" else s for s in ours]
    assert len(uncovered(broader, upstream, subs, {})) == 2


def test_karpenter_interruption_events_and_queue_senders(growth):
    upstream = sorted(e["detail-type"][0] for e in FACTS["karpenter"]["interruption_events"])
    assert sorted(p["detail-type"][0] for p in INTERRUPTION_EVENTS.values()) == upstream
    [queue_policy] = [r for r in growth.of_type("aws:sqs/queuePolicy:QueuePolicy")]
    allow = next(s for s in json.loads(queue_policy.inputs["policy"])["Statement"] if s["Effect"] == "Allow")
    upstream_senders = set(FACTS["karpenter"]["queue_policy"][0]["principal"]["Service"])
    assert upstream_senders - set(_list(allow["Principal"]["Service"])) == set(QUEUE_SENDERS_LEFT_OUT)


def test_facts_name_their_upstream_source():
    for controller in CONTROLLERS:
        source = FACTS[controller]["source"]
        assert source["repository"] and source["path"] and len(source["commit"]) == 40


def test_data_file_is_what_the_script_derives_from_shared():
    if SHARED is None or not (SHARED / upstream_iam.FOLDER).is_dir():
        pytest.skip(f"{SHARED or '../shared'}/{upstream_iam.FOLDER} is absent (set MLPLATFORM_SHARED to compare the facts with it)")
    assert upstream_iam.render(upstream_iam.derive(SHARED)) == upstream_iam.DATA_FILE.read_text(), (
        "stacks/data/upstream-iam.json is stale: run python -m mlplatform.stacks.facts.upstream_iam --shared <shared>")

"""Issue 14 on the profiles' plans: what the first real `up` and the upgrades rely on.

Models never expire, the retraining tag is the one tag that moves, `up` and cluster-autoscaler never
fight over a node group's size, extended support is never billed by default, pragmatic -> growth can
create its access entry, and a re-created stack's final snapshot does not collide.
"""

from __future__ import annotations

import json
import re

import pytest

from mlplatform.components._common import AUTOSCALED_TAG
from mlplatform.stacks.analyses import policy
from mlplatform.stacks.analyses.diff import diff_plans
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import PROFILES, SpecError, load_spec

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"


@pytest.fixture(scope="module")
def plans():
    return {p: plan(load_spec(p)) for p in PROFILES}


def _lifecycle(p, repo_suffix):
    [r] = [r for r in p.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy") if r.inputs["repository"].endswith(repo_suffix)]
    return json.loads(r.inputs["policy"])["rules"]


@pytest.mark.parametrize("profile", PROFILES)
def test_no_rule_expires_a_tagged_model_and_images_keep_their_releases(plans, profile):
    models = _lifecycle(plans[profile], "/models")
    assert [r["selection"]["tagStatus"] for r in models] == ["untagged"]
    keep = load_spec(profile).registry.keep_tagged_images
    images = {r["selection"]["tagStatus"]: r["selection"] for r in _lifecycle(plans[profile], "/images")}
    assert images["tagged"]["countNumber"] == keep and images["tagged"]["countType"] == "imageCountMoreThan"
    assert "any" not in images


@pytest.mark.parametrize("profile", PROFILES)
def test_the_retraining_tag_is_the_one_tag_that_moves(plans, profile):
    p, tag = plans[profile], load_spec(profile).retraining.image_tag
    repos = {r.inputs["name"].rsplit("/", 1)[1]: r.inputs for r in p.of_type("aws:ecr/repository:Repository")}
    assert repos["models"]["imageTagMutability"] == "IMMUTABLE"
    assert repos["images"]["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repos["images"]["imageTagMutabilityExclusionFilters"] == [{"filter": tag, "filterType": "WILDCARD"}]
    [job] = [r for r in p.resources if r.name.endswith("-retrain") and r.type.startswith("kubernetes:")]
    text = json.dumps(job.inputs)
    assert f'/images:{tag}"' in text and '"imagePullPolicy": "Always"' in text


def test_a_new_retraining_tag_moves_with_the_job():
    p = plan(load_spec("pragmatic", overrides={"retraining": {"image_tag": "nightly"}}))
    [images] = [r for r in p.of_type("aws:ecr/repository:Repository") if r.inputs["name"].endswith("/images")]
    assert images.inputs["imageTagMutabilityExclusionFilters"] == [{"filter": "nightly", "filterType": "WILDCARD"}]
    with pytest.raises(SpecError, match=r"^retraining.image_tag: "):
        load_spec("pragmatic", overrides={"retraining": {"image_tag": "bad tag"}})


@pytest.mark.parametrize("profile", PROFILES)
def test_up_and_the_autoscaler_never_own_the_same_size(plans, profile):
    p = plans[profile]
    groups = p.of_type(NODE_GROUP)
    system = [g for g in groups if g.name.endswith("-system")]
    assert len(system) == 1 and system[0].ignore_changes == []  # recorded as the engine sees them
    tagged = {d for t in p.of_type("aws:autoscaling/tag:Tag") if t.inputs["tag"]["key"] == AUTOSCALED_TAG
              for d in t.depends_on}
    for g in groups:
        autoscaled = g.urn in tagged
        assert autoscaled == (g not in system)
        assert ("scalingConfig.desiredSize" in g.ignore_changes) == autoscaled
    assert policy.evaluate(p, [policy.RULES_BY_ID["node-group-desired-size"]]) == []
    release = [r for r in p.of_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("-cluster-autoscaler")]
    if release:
        assert AUTOSCALED_TAG in release[0].inputs["values"]["autoDiscovery"]["tags"]


def test_the_system_group_can_be_given_to_the_autoscaler():
    p = plan(load_spec("pragmatic", overrides={"cluster": {"system_nodes": {"scaled_by": "cluster-autoscaler"}}}))
    [system] = [g for g in p.of_type(NODE_GROUP) if g.name.endswith("-system")]
    assert system.ignore_changes == ["scalingConfig.desiredSize"]
    assert policy.evaluate(p, [policy.RULES_BY_ID["node-group-desired-size"]]) == []
    with pytest.raises(SpecError, match=r"^cluster.system_nodes.scaled_by: cluster-autoscaler runs only with"):
        load_spec("growth", overrides={"cluster": {"system_nodes": {"scaled_by": "cluster-autoscaler"}}})


@pytest.mark.parametrize("profile", PROFILES)
def test_extended_support_is_never_billed_by_default(plans, profile):
    [cluster] = plans[profile].of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["upgradePolicy"] == {"supportType": "STANDARD"}


def test_pragmatic_to_growth_creates_an_access_entry_eks_does_not_already_hold(plans):
    """EKS makes the EC2_LINUX entry of a managed node group's role itself, and one IAM principal has
    one access entry per cluster. Pulumi creates before it deletes, so growth's entry must be for a role
    no managed node group of pragmatic (still running while it is created) uses."""
    old, new = plans["pragmatic"], plans["growth"]

    def role_arns(p):
        return {g.inputs["nodeRoleArn"] for g in p.of_type(NODE_GROUP)}

    entries = [e for e in new.of_type(ACCESS_ENTRY) if e.inputs.get("type") == "EC2_LINUX"]
    assert len(entries) == 1
    assert entries[0].inputs["principalArn"] not in role_arns(old) | role_arns(new)
    d = diff_plans(old, new)
    assert next(r for r in d.resources if r.urn == entries[0].urn).op == "create"
    # In no profile does the stack make an entry EKS already made for a managed group's role.
    for p in (old, new, plans["full"]):
        assert {e.inputs["principalArn"] for e in p.of_type(ACCESS_ENTRY)} & role_arns(p) == set()


@pytest.mark.parametrize("profile", PROFILES)
def test_final_snapshot_is_unique_per_creation(plans, profile):
    [db] = plans[profile].of_type("aws:rds/instance:Instance")
    assert re.fullmatch(rf"{db.inputs['identifier']}-final-[0-9a-f]{{8}}", db.inputs["finalSnapshotIdentifier"])
    [suffix] = [r for r in plans[profile].of_type("random:index/randomId:RandomId") if r.name.endswith("-final-snapshot")]
    assert suffix.urn in db.depends_on


@pytest.mark.parametrize("pair", [("pragmatic", "growth"), ("growth", "full")])
def test_upgrades_lose_no_data(plans, pair):
    d = diff_plans(plans[pair[0]], plans[pair[1]])
    assert d.data_loss == [] and d.unsafe() == []

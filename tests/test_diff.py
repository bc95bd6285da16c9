"""Offline diff: adds, updates, predicted replacements and deletes; stateful resources; the table."""

from __future__ import annotations

import importlib
import inspect
import json
import re

import pulumi
import pulumi_aws as aws
import pytest

from conftest import plan_of
from mlplatform.stacks.analyses.diff import STATEFUL_TYPES, diff_plans, physical_name, property_changes
from mlplatform.stacks.plan.offline import SECRET, Plan, PlannedResource
from mlplatform.stacks.program import plan
from mlplatform.stacks.analyses.replacements import AWS, KUBERNETES_KINDS, rule_for
from mlplatform.stacks.config.spec import PROFILES, load_spec

URN = "urn:pulumi:dev::mlplatform::"


def res(type_: str, name: str, inputs: dict, **kw) -> PlannedResource:
    return PlannedResource(urn=f"{URN}{type_}::{name}", type=type_, name=name, parent=None, custom=True,
                           inputs=inputs, **kw)


# A configuration that switches on the optional parts (teams with runners, admin access entries), so
# the table checks see every resource type a stack can hold, not only the defaults'.
FULL_FEATURED = {
    "teams": [{"name": "vision", "gpu_quota": 1, "principals": ["arn:aws:iam::123456789012:role/vision"],
               "runners": {"cpu": {"min": 0, "max": 2}, "gpu": {"min": 0, "max": 1}}}],
    "runners": {"github_config_url": "https://github.com/acme"},
    "cluster": {"admin_principal_arns": ["arn:aws:iam::123456789012:role/admin"]},
}


@pytest.fixture(scope="module")
def plans(profile_plans):
    return profile_plans


@pytest.fixture(scope="module")
def featured_plans():
    return {p: plan(load_spec(p, overrides=FULL_FEATURED)) for p in PROFILES}


def test_identical_plans_have_an_empty_diff(plans):
    d = diff_plans(plans["growth"], plans["growth"])
    assert d.empty and d.resources == [] and d.unchanged == len(plans["growth"].resources)
    assert d.summary_line() == "Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy."
    assert d.unsafe() == [] and d.data_loss == []


def test_adds_updates_and_deletes_with_property_paths():
    sg = "aws:ec2/securityGroup:SecurityGroup"
    old = Plan("a", [
        res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"team": "a", "mlplatform:stack": "dev"}}),
        res("aws:iam/role:Role", "gone", {"assumeRolePolicy": "{}"}),
        res(sg, "sg", {"vpcId": "vpc-1", "ingress": [{"fromPort": 443, "cidrBlocks": ["10.0.0.0/16"]}]}),
    ])
    new = Plan("b", [
        res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "enableDnsSupport": True,
                                       "tags": {"team": "b", "mlplatform:stack": "dev"}}),
        res(sg, "sg", {"vpcId": "vpc-1", "ingress": [{"fromPort": 8443, "cidrBlocks": ["10.0.0.0/16"]}]}),
        res("aws:ec2/subnet:Subnet", "new", {"cidrBlock": "10.0.1.0/24"}),
    ])
    d = diff_plans(old, new, "a", "b")
    ops = {r.name: r.op for r in d.resources}
    assert ops == {"vpc": "update", "sg": "update", "new": "create", "gone": "delete"}
    vpc = next(r for r in d.resources if r.name == "vpc")
    assert [(c.path, c.kind, c.old, c.new) for c in vpc.changes] == [
        ("enableDnsSupport", "add", None, True), ("tags.team", "update", "a", "b")]
    sg_change = next(r for r in d.resources if r.name == "sg").changes
    assert [(c.path, c.old, c.new, c.replaces) for c in sg_change] == [("ingress[0].fromPort", 443, 8443, False)]
    assert d.summary == {"add": 1, "change": 2, "replace": 0, "destroy": 1}
    assert d.summary_line() == "Plan: 1 to add, 2 to change, 0 to replace, 1 to destroy."
    assert d.unchanged == 0


def test_map_keys_that_are_not_identifiers_are_quoted():
    changes = property_changes({"tags": {"kubernetes.io/role/elb": "1"}}, {"tags": {"kubernetes.io/role/elb": "2"}})
    assert [c.path for c in changes] == ['tags["kubernetes.io/role/elb"]']


def test_policy_documents_are_diffed_inside():
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    wider = json.loads(json.dumps(policy))
    wider["Statement"][0]["Action"] = ["s3:GetObject", "s3:PutObject"]
    changes = property_changes({"policy": json.dumps(policy)}, {"policy": json.dumps(wider)})
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("policy.Statement[0].Action", "s3:GetObject", ["s3:GetObject", "s3:PutObject"])]


def test_create_only_change_is_a_predicted_replacement_and_stateful_is_data_loss():
    bucket = "aws:s3/bucket:Bucket"
    old = Plan("a", [res(bucket, "artifacts", {"bucket": "team-artifacts", "forceDestroy": False}, protect=True)])
    new = Plan("b", [res(bucket, "artifacts", {"bucket": "team-artifacts-v2", "forceDestroy": False}, protect=True)])
    d = diff_plans(old, new)
    (r,) = d.resources
    assert r.op == "replace" and r.replace_reasons == ["bucket"] and r.changes[0].replaces
    assert r.stateful and r.data_loss and d.data_loss == [r]
    assert r.physical_old == "team-artifacts" and r.physical_new == "team-artifacts-v2"
    assert d.summary_line() == "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy."
    assert len(d.unsafe()) == 1 and "REPLACED" in d.unsafe()[0] and "bucket" in d.unsafe()[0]


def test_in_place_change_of_a_stateful_resource_is_not_data_loss():
    bucket = "aws:s3/bucket:Bucket"
    old = Plan("a", [res(bucket, "artifacts", {"forceDestroy": False, "tags": {"a": "1"}}, protect=True)])
    new = Plan("b", [res(bucket, "artifacts", {"forceDestroy": False, "tags": {"a": "2"}}, protect=True)])
    (r,) = diff_plans(old, new).resources
    assert r.op == "update" and r.stateful and not r.data_loss


def test_losing_protect_or_deleting_a_stateful_resource_is_unsafe():
    key = "aws:kms/key:Key"
    protected = Plan("a", [res(key, "k", {"enableKeyRotation": True}, protect=True)])
    unprotected = Plan("b", [res(key, "k", {"enableKeyRotation": True}, protect=False)])
    d = diff_plans(protected, unprotected)
    assert [r.op for r in d.resources] == ["update"]
    assert d.unsafe() == ["aws:kms/key:Key k would lose its `protect` option"]
    gone = diff_plans(protected, Plan("c", []))
    assert gone.summary["destroy"] == 1 and "DELETED" in gone.unsafe()[0]
    assert "protected: the engine refuses" in gone.resources[0].notes[0]


def test_removal_only_rule_eks_encryption():
    eks = "aws:eks/cluster:Cluster"
    base = {"name": "ml-dev", "version": "1.33", "encryptionConfig": {"resources": ["secrets"]}}
    upgraded = Plan("b", [res(eks, "eks", {**base, "version": "1.34"}, protect=True)])
    without = Plan("c", [res(eks, "eks", {k: v for k, v in base.items() if k != "encryptionConfig"}, protect=True)])
    old = Plan("a", [res(eks, "eks", base, protect=True)])
    (up,) = diff_plans(old, upgraded).resources
    assert up.op == "update" and up.disruption == [
        "control-plane upgrade (the API stays available); node groups and add-ons follow"]
    (rm,) = diff_plans(old, without).resources
    assert rm.op == "replace" and rm.replace_reasons == ["encryptionConfig"] and rm.data_loss


def test_secrets_are_masked():
    db = "aws:rds/instance:Instance"
    old = Plan("a", [res(db, "db", {"password": "hunter2-old", "username": "mlflow", "masterPassword": SECRET})])
    new = Plan("b", [res(db, "db", {"password": "hunter2-new", "username": "mlflow", "masterPassword": SECRET})])
    (r,) = diff_plans(old, new).resources
    assert [(c.path, c.old, c.new) for c in r.changes] == [("password", SECRET, SECRET)]
    assert "hunter2" not in json.dumps(diff_plans(old, new).to_dict())
    secret = "kubernetes:core/v1:Secret"
    k_old = Plan("a", [res(secret, "s", {"metadata": {"name": "db"}, "stringData": {"url": "postgres://a"}})])
    k_new = Plan("b", [res(secret, "s", {"metadata": {"name": "db"}, "stringData": {"url": "postgres://b"}})])
    (k,) = diff_plans(k_old, k_new).resources
    assert k.op == "replace" and k.changes[0].old == SECRET and k.changes[0].new == SECRET


def test_disruption_is_reported_apart_from_data_loss():
    db, ng = "aws:rds/instance:Instance", "aws:eks/nodeGroup:NodeGroup"
    old = Plan("a", [res(db, "db", {"instanceClass": "db.t4g.micro", "multiAz": False, "applyImmediately": False},
                         protect=True),
                     res(ng, "system", {"instanceTypes": ["t3.large"], "scalingConfig": {"desiredSize": 2}})])
    new = Plan("b", [res(db, "db", {"instanceClass": "db.t4g.medium", "multiAz": True, "applyImmediately": False},
                         protect=True),
                     res(ng, "system", {"instanceTypes": ["m6i.large"], "scalingConfig": {"desiredSize": 3}})])
    d = diff_plans(old, new)
    rds, nodes = d.resources
    assert rds.op == "update" and not rds.data_loss and d.data_loss == [] and d.unsafe() == []
    assert any("restarts to change instance class db.t4g.micro -> db.t4g.medium" in x and "maintenance window" in x
               for x in rds.disruption)
    assert any(x.startswith("Multi-AZ false -> true") for x in rds.disruption)
    assert nodes.op == "replace" and nodes.replace_reasons == ["instanceTypes"] and not nodes.stateful
    assert "created first" in nodes.disruption[0]
    assert {r.urn for r in d.disruptions} == {rds.urn, nodes.urn}


def test_replacement_cascades_to_dependents_holding_its_id():
    """A new KMS key spec replaces the key; the repository encrypted with it must be replaced too."""
    def program(spec: str):
        def run():
            key = aws.kms.Key("key", customer_master_key_spec=spec, opts=pulumi.ResourceOptions(protect=True))
            aws.ecr.Repository("images", name="team/images", encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=key.arn)],
                opts=pulumi.ResourceOptions(protect=True))
            aws.ecr.LifecyclePolicy("images", repository="team/images", policy="{}")
        return run

    before, after = plan_of(program("SYMMETRIC_DEFAULT")), plan_of(program("HMAC_256"))
    d = diff_plans(before, after)
    ops = {r.type: r.op for r in d.resources}
    assert ops == {"aws:kms/key:Key": "replace", "aws:ecr/repository:Repository": "replace"}
    repo = next(r for r in d.resources if r.type == "aws:ecr/repository:Repository")
    assert repo.replace_reasons == ["encryptionConfigurations (takes the id of replaced key)"]
    assert len(d.unsafe()) == 2 and all("REPLACED" in x for x in d.unsafe())


def test_unknown_types_are_listed_not_guessed():
    t = "tls:index/privateKey:PrivateKey"
    d = diff_plans(Plan("a", [res(t, "k", {"algorithm": "RSA"})]), Plan("b", [res(t, "k", {"algorithm": "ED25519"})]))
    assert d.unknown_types == [t] and d.resources[0].op == "update"
    assert "cannot be predicted" in d.resources[0].notes[0]


def test_plans_know_their_stack_and_region_and_older_saved_plans_still_load(plans):
    assert (plans["pragmatic"].stack, plans["pragmatic"].region) == ("dev", "us-east-1")
    eu = plan(load_spec("pragmatic", region="eu-central-1"), stack="prod")
    data = eu.to_dict()
    assert (data["stack"], data["region"]) == ("prod", "eu-central-1")
    older = {k: v for k, v in data.items() if k not in ("stack", "region")}  # saved before plans carried them
    again = Plan.from_dict(older)
    assert again.region == "eu-central-1" and again.stack == "dev" and again.resources == eu.resources
    cluster = next(r for r in plans["pragmatic"].resources if r.type == "aws:eks/cluster:Cluster")
    assert physical_name(cluster) == "ml-dev"
    bucket = next(r for r in plans["pragmatic"].resources if r.type == "aws:s3/bucket:Bucket")
    assert physical_name(bucket) == bucket.inputs.get("bucket")  # None: auto-named from the (stable) URN


# -- the create-only table -------------------------------------------------------------------------
def test_every_type_in_every_profile_plan_is_in_the_create_only_table(plans, featured_plans):
    """Grows with the stack: a component adding a new resource type fails here until it has a rule."""
    every = [*plans.items(), *featured_plans.items()]
    missing = sorted({(p, r.type) for p, pl in every for r in pl.resources if r.custom and not rule_for(r.type)})
    assert missing == [], f"add these types to stacks/analyses/replacements.py (with their 'forces new' source): {missing}"
    planned = {r.type for _, pl in every for r in pl.resources}
    assert STATEFUL_TYPES & planned <= set(AWS)  # every stateful type a plan holds has its replacement rule


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


@pytest.mark.parametrize("type_", sorted(AWS))
def test_aws_rules_name_real_inputs_and_cite_sources(type_):
    """Each path is an argument of the installed pulumi_aws resource; each entry cites docs + schema."""
    rule = AWS[type_]
    _, module, cls = type_.split(":")
    resource = getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), cls)
    params = set(inspect.signature(resource._internal_init).parameters)
    for path in (*rule.paths, *rule.removed, *([rule.physical] if rule.physical else [])):
        assert _snake(path.split(".")[0]) in params, f"{type_}: {path} is not an input"
    assert rule.source.startswith("https://www.pulumi.com/registry/packages/aws/api-docs/")
    assert "hashicorp/terraform-provider-aws internal/service/" in rule.source and ".go" in rule.source


def test_kubernetes_rules_follow_the_provider():
    assert rule_for("kubernetes:core/v1:Namespace").paths == ("metadata.name", "metadata.namespace")
    assert "roleRef" in rule_for("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").paths
    assert rule_for("kubernetes:karpenter.sh/v1:NodePool").paths == ("metadata.name", "metadata.namespace")
    assert rule_for("kubernetes:helm.sh/v3:Release").paths == ("name", "namespace")
    assert rule_for("pulumi:providers:kubernetes").paths == ("clusterIdentifier",)
    assert all(k.count(":") == 1 for k in KUBERNETES_KINDS)
    assert rule_for("aws:made/up:Thing") is None and rule_for("kubernetes:helm.sh/v4:Chart") is None


# -- CLI ---------------------------------------------------------------------------------------------
def run(*args: str):
    from click.testing import CliRunner

    from mlplatform.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_diff_profiles_for_people_and_json():
    res = run("diff", "--from", "pragmatic", "--to", "growth")
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert "+- aws:eks/nodeGroup:NodeGroup  ml-dev-system  replace (instanceTypes, subnetIds)" in out
    assert '~ instanceTypes:   (forces replacement)\n          - "t3a.medium"\n          + "m6i.large"' in out
    assert "Data loss: none" in out and "Disruption (downtime, no data loss):" in out
    assert "Monthly cost (us-east-1): idle $" in out and "the engine has the final word" in out
    data = json.loads(run("diff", "--from", "pragmatic", "--to", "growth", "--json").stdout)
    s = data["summary"]
    assert out.rstrip().splitlines()[-2] == (
        f"Plan: {s['add']} to add, {s['change']} to change, {s['replace']} to replace, {s['destroy']} to destroy.")
    assert data["data_loss"] == [] and data["cost"]["idle_after"] > data["cost"]["idle_before"]
    eks = next(r for r in data["resources"] if r["type"] == "aws:eks/cluster:Cluster")
    assert eks["stateful"] and eks["op"] == "update" and not eks["data_loss"]


def test_cli_diff_saved_plan_config_and_set(tmp_path):
    saved = tmp_path / "plan.json"
    assert run("plan", "--profile", "pragmatic", "--json", "--out", str(saved)).exit_code == 0
    same = run("diff", "--from", str(saved), "--to", "pragmatic")
    assert same.exit_code == 0 and "No changes." in same.stdout
    assert "Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy." in same.stdout
    cfg = tmp_path / "stack.yaml"
    cfg.write_text("profile: pragmatic\ndatabase:\n  instance_class: db.t4g.small\n")
    data = json.loads(run("diff", "--from", str(saved), "--to", str(cfg), "--set", "tags.team=vision", "--json").stdout)
    db = next(r for r in data["resources"] if r["type"] == "aws:rds/instance:Instance")
    assert {"path": "instanceClass", "kind": "update", "old": "db.t4g.micro", "new": "db.t4g.small",
            "replaces": False} in db["changes"]
    assert all(any(c["path"] == "tags.team" for c in r["changes"]) for r in data["resources"]
               if r["type"] == "aws:s3/bucket:Bucket")
    bad = run("diff", "--from", "pragmatic", "--to", str(saved), "--set", "tags.team=x")
    assert bad.exit_code == 1 and "--set: cannot change the saved plan plan.json" in bad.stderr
    missing = run("diff", "--from", "enterprise", "--to", "growth")
    assert missing.exit_code == 1 and "--from: 'enterprise' is neither a profile nor a file" in missing.stderr


def test_cli_diff_without_a_price_file_still_diffs():
    res = run("diff", "--from", "pragmatic", "--to", "growth", "--region", "ap-south-1")
    assert res.exit_code == 0, res.stderr
    assert "Plan: " in res.stdout and "No cost delta: no price file for ap-south-1." in res.stdout
    data = json.loads(run("diff", "--from", "pragmatic", "--to", "growth", "--region", "ap-south-1", "--json").stdout)
    assert data["cost"] is None and data["summary"]["replace"] >= 1


# -- resource options the engine sees (Plan records them) ----------------------------------------
NG = "aws:eks/nodeGroup:NodeGroup"


def test_ignored_paths_are_not_updates():
    """The engine leaves an ignore_changes path as the cloud has it: no update, no scale-in disruption."""
    old = Plan("a", [res(NG, "gpu", {"scalingConfig": {"minSize": 0, "desiredSize": 2, "maxSize": 2}})])
    new = Plan("b", [res(NG, "gpu", {"scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 2}},
                         ignore_changes=["scalingConfig.desiredSize"])])
    d = diff_plans(old, new)
    [rc] = d.resources
    assert rc.op == "update" and rc.changes == [] and rc.disruption == []  # only the option changed
    assert any("ignoreChanges" in n and "scalingConfig.desiredSize" in n for n in rc.notes)
    same = diff_plans(Plan("a", new.resources), new)
    assert same.empty
    # Without the option the same change scales nodes in.
    plain = diff_plans(old, Plan("b", [res(NG, "gpu", {"scalingConfig": {"minSize": 0, "desiredSize": 0, "maxSize": 2}})]))
    assert plain.resources[0].disruption and "scales in" in plain.resources[0].disruption[0]


def test_replace_on_changes_and_delete_before_replace():
    t = "aws:iam/role:Role"
    old = Plan("a", [res(t, "r", {"description": "a"})])
    new = Plan("b", [res(t, "r", {"description": "b"}, replace_on_changes=["description"], delete_before_replace=True)])
    [rc] = diff_plans(old, new).resources
    assert rc.op == "replace" and rc.replace_reasons == ["description (replaceOnChanges)"]
    assert any("deleteBeforeReplace" in n for n in rc.notes)


def test_an_alias_is_a_rename_not_a_delete_and_create():
    t = "aws:iam/role:Role"
    old = Plan("a", [res(t, "old-name", {"description": "x"})])
    by_name = Plan("b", [res(t, "new-name", {"description": "x"}, aliases=[{"name": "old-name"}])])
    by_urn = Plan("b", [res(t, "new-name", {"description": "x"}, aliases=[f"{URN}{t}::old-name"])])
    for new in (by_name, by_urn):
        d = diff_plans(old, new)
        assert d.summary_line() == "Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy."
    no_alias = diff_plans(old, Plan("b", [res(t, "new-name", {"description": "x"})]))
    assert no_alias.summary_line() == "Plan: 1 to add, 0 to change, 0 to replace, 1 to destroy."


def test_plan_json_carries_the_options_and_reads_them_back(plans):
    data = plans["pragmatic"].to_dict()
    gpu = [r for r in data["resources"] if r["type"] == NG and "-gpu-" in r["name"]]
    assert gpu and all(r["ignore_changes"] == ["scalingConfig.desiredSize"] for r in gpu)
    system = next(r for r in data["resources"] if r["type"] == NG and r["name"].endswith("-system"))
    assert system["ignore_changes"] == []  # `up` owns the system group's size (cluster.system_nodes.scaled_by)
    for key in ("replace_on_changes", "delete_before_replace", "custom_timeouts", "aliases", "provider"):
        assert all(key in r for r in data["resources"])
    helm = next(r for r in data["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release")
    assert helm["provider"].endswith("$pulumi:providers:kubernetes::ml-dev-k8s")  # the cluster's provider
    back = Plan.from_dict(json.loads(json.dumps(data)))
    assert back.resources == plans["pragmatic"].resources


def test_a_stack_planned_with_max_per_group_sees_its_gpu_groups_shrink_in_place(tmp_path):
    """Before issue 23, each of a spot-first pool's two node groups had maxSize: max (2 x max nodes). A
    saved plan of that shape diffed against today's: two in-place updates of scalingConfig.maxSize,
    nothing replaced, no data loss; the output says what changed."""
    saved = tmp_path / "before.json"
    assert run("plan", "--profile", "pragmatic", "--json", "--out", str(saved)).exit_code == 0
    data = json.loads(saved.read_text())
    gpu = [r for r in data["resources"] if r["type"] == NG and r["inputs"].get("labels", {}).get("mlplatform.io/gpu")]
    assert len(gpu) == 2
    for r in gpu:
        r["inputs"]["scalingConfig"]["maxSize"] = 2  # what the previous release planned for max: 2
    saved.write_text(json.dumps(data))
    out = json.loads(run("diff", "--from", str(saved), "--to", "pragmatic", "--json").stdout)
    assert out["summary"] == {"add": 0, "change": 2, "replace": 0, "destroy": 0}
    changed = {r["name"]: r["changes"] for r in out["resources"] if r["op"] != "same"}
    assert changed == {
        name: [{"path": "scalingConfig.maxSize", "kind": "update", "old": 2, "new": 1, "replaces": False}]
        for name in ("ml-dev-gpu-spot", "ml-dev-gpu-ondemand")
    }
    assert out["data_loss"] == []
    text = run("diff", "--from", str(saved), "--to", "pragmatic").stdout
    assert "~ aws:eks/nodeGroup:NodeGroup  ml-dev-gpu-spot\n      ~ scalingConfig.maxSize: 2 => 1" in text
    assert "Data loss: none" in text and "Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy." in text

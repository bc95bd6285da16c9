"""The Terraform plan JSON and Kubernetes YAML exports of a Plan."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml
from click.testing import CliRunner

from conftest import plan_of
from mlplatform.cli.main import cli
from mlplatform.stacks.plan import export
from mlplatform.stacks.plan.offline import Plan, PlannedResource

PROFILES = ("pragmatic", "growth", "full")


@pytest.fixture(scope="module")
def plans(profile_plans):
    return profile_plans


def _change(tf: dict, address: str) -> dict:
    (rc,) = [r for r in tf["resource_changes"] if r["address"] == address]
    return rc["change"]


@pytest.mark.parametrize("pulumi_name,tf_name", [
    ("httpPutResponseHopLimit", "http_put_response_hop_limit"),
    ("ipv6CidrBlock", "ipv6_cidr_block"),
    ("serverlessV2ScalingConfiguration", "serverless_v2_scaling_configuration"),
    ("s3Import", "s3_import"),
    ("dbName", "db_name"),
    ("bucket", "bucket"),
])
def test_snake_case(pulumi_name, tf_name):
    assert export.snake_case(pulumi_name) == tf_name


@pytest.mark.parametrize("profile", PROFILES)
def test_every_aws_type_of_every_profile_is_mapped(plans, profile):
    """Fails when a component adds an aws:* (or random:*) type the table lacks: add it to TF_TYPES."""
    assert export.unmapped_types(plans[profile]) == []


def test_an_unmapped_type_is_reported_and_guessed():
    p = Plan(profile="", resources=[PlannedResource("urn:x", "aws:sagemaker/domain:Domain", "d", None, True, {})])
    assert export.unmapped_types(p) == ["aws:sagemaker/domain:Domain"]
    tf = export.terraform_plan(p)
    assert tf["resource_changes"][0]["address"] == "aws_sagemaker_domain.d"
    assert tf["mlplatform"]["unmapped_types"] == ["aws:sagemaker/domain:Domain"]


def test_type_names_that_do_not_follow_the_module():
    for token, tf_type in {"aws:rds/instance:Instance": "aws_db_instance", "aws:ec2/vpc:Vpc": "aws_vpc",
                           "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
                           "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
                           "aws:autoscaling/tag:Tag": "aws_autoscaling_group_tag"}.items():
        assert export.terraform_type(token) == tf_type


def test_plan_json_layout(plans):
    p = plans["full"]
    tf = export.terraform_plan(p, "us-east-1")
    assert tf["format_version"] == "1.2" and tf["terraform_version"].count(".") == 2
    planned = tf["planned_values"]["root_module"]["resources"]
    changes = tf["resource_changes"]
    exported = [r for r in p.resources if r.custom and r.type.startswith(("aws:", "random:"))]
    assert len(planned) == len(changes) == len(exported) > 100
    assert [r["address"] for r in planned] == [r["address"] for r in changes]
    assert len({r["address"] for r in planned}) == len(planned)
    for r, c in zip(planned, changes):
        assert r["mode"] == "managed" and r["address"] == f"{r['type']}.{r['name']}"
        assert r["provider_name"] == "registry.terraform.io/hashicorp/aws" or r["type"].startswith("random_")
        assert c["change"]["actions"] == ["create"] and c["change"]["before"] is None
        assert c["change"]["after"] == r["values"]
    assert not any(r["type"].startswith(("kubernetes", "mlplatform")) for r in planned)
    assert set(tf["mlplatform"]["urns"].values()) == {r.urn for r in exported}
    assert tf["configuration"]["provider_config"]["aws"]["expressions"]["region"]["constant_value"] == "us-east-1"


def test_properties_use_terraform_names_and_blocks_are_lists(plans):
    tf = export.terraform_plan(plans["full"])
    lt = _change(tf, "aws_launch_template.ml-dev-system")["after"]
    assert lt["metadata_options"] == [{"http_endpoint": "enabled", "http_tokens": "required",
                                       "http_put_response_hop_limit": 1}]
    assert lt["block_device_mappings"][0]["ebs"][0]["encrypted"] == "true"
    # maps stay maps, their keys untouched, at any depth
    assert lt["tags"]["mlplatform:managed-by"] == "mlplatform" and lt["tags_all"] == lt["tags"]
    assert lt["tag_specifications"][0]["tags"] == lt["tags"]
    sse = _change(tf, "aws_s3_bucket_server_side_encryption_configuration.ml-dev-artifacts")["after"]
    assert sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert sse["rule"][0]["bucket_key_enabled"] is True
    repo = _change(tf, "aws_ecr_repository.ml-dev-images")["after"]
    assert repo["image_scanning_configuration"] == [{"scan_on_push": True}]
    assert repo["encryption_configuration"][0]["encryption_type"] == "KMS" and "encryption_configurations" not in repo
    oidc = _change(tf, "aws_iam_openid_connect_provider.ml-dev-oidc")["after"]
    assert oidc["client_id_list"] == ["sts.amazonaws.com"]
    eks = _change(tf, "aws_eks_cluster.ml-dev-eks")["after"]
    assert eks["encryption_config"][0]["resources"] == ["secrets"]
    assert eks["encryption_config"][0]["provider"][0]["key_arn"].startswith("arn:aws:kms:")
    assert eks["vpc_config"][0]["endpoint_private_access"] is True
    db = _change(tf, "aws_db_instance.ml-dev-metadata")["after"]
    assert db["storage_encrypted"] is True and db["publicly_accessible"] is False
    group = _change(tf, "aws_db_parameter_group.ml-dev-metadata")["after"]
    assert {"name": "rds.force_ssl", "value": "1"}.items() <= group["parameter"][0].items()
    ng = _change(tf, "aws_eks_node_group.ml-dev-system")["after"]
    assert ng["labels"] == {"mlplatform.io/pool": "system"} and ng["scaling_config"][0]["desired_size"] == 3


def test_renamed_repeated_blocks():
    def program():
        aws.eks.NodeGroup("ng", cluster_name="c", node_role_arn="arn:aws:iam::1:role/n", subnet_ids=["s"],
                          scaling_config={"min_size": 0, "max_size": 1, "desired_size": 0},
                          taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}])
        aws.ec2.RouteTable("rt", vpc_id="vpc-1", routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}])
        aws.s3.BucketLifecycleConfiguration("lc", bucket="b", rules=[{
            "id": "r", "status": "Enabled", "transitions": [{"days": 30, "storage_class": "GLACIER"}]}])
    tf = export.terraform_plan(plan_of(program))
    assert _change(tf, "aws_eks_node_group.ng")["after"]["taint"][0]["effect"] == "NO_SCHEDULE"
    assert _change(tf, "aws_route_table.rt")["after"]["route"][0]["gateway_id"] == "igw-1"
    rule = _change(tf, "aws_s3_bucket_lifecycle_configuration.lc")["after"]["rule"][0]
    assert rule["transition"] == [{"days": 30, "storage_class": "GLACIER"}]


def test_secrets_are_left_out_and_marked_sensitive(plans):
    tf = export.terraform_plan(plans["pragmatic"])
    db = _change(tf, "aws_db_instance.ml-dev-metadata")
    assert "password" not in db["after"] and db["after_sensitive"]["password"] is True
    text = json.dumps(tf)
    assert "[secret]" not in text and "[unknown]" not in text


def test_unknown_values_go_to_after_unknown():
    p = Plan(profile="", resources=[PlannedResource("urn:q", "aws:sqs/queue:Queue", "q", None, True,
                                                    {"name": "[unknown]", "tags": {"a": "b"},
                                                     "policy": "{}", "kmsMasterKeyId": "[secret]"})])
    change = export.terraform_plan(p)["resource_changes"][0]["change"]
    assert change["after"] == {"tags": {"a": "b"}, "policy": "{}", "tags_all": {"a": "b"}}
    assert change["after_unknown"] == {"name": True}
    assert change["after_sensitive"] == {"kms_master_key_id": True}


def test_references_link_resources_like_terraform_configuration(plans):
    tf = export.terraform_plan(plans["growth"])
    conf = {r["address"]: r["expressions"] for r in tf["configuration"]["root_module"]["resources"]}
    assert conf["aws_s3_bucket_public_access_block.ml-dev-artifacts"]["bucket"]["references"] == [
        "aws_s3_bucket.ml-dev-artifacts.id", "aws_s3_bucket.ml-dev-artifacts"]
    db = conf["aws_db_instance.ml-dev-metadata"]
    assert db["parameter_group_name"]["references"][0] == "aws_db_parameter_group.ml-dev-metadata.name"
    assert db["kms_key_id"]["references"][0].startswith("aws_kms_key.")
    assert "identifier" not in db  # a literal that equals the subnet group's name is not a reference
    # The mock names a role and a queue alike; the role policy's role is the role.
    assert conf["aws_iam_role_policy.ml-dev-karpenter"]["role"]["references"] == [
        "aws_iam_role.ml-dev-karpenter.id", "aws_iam_role.ml-dev-karpenter"]


def test_duplicate_names_keep_distinct_addresses():
    def program():
        class C(pulumi.ComponentResource):
            def __init__(self, type_, name):
                super().__init__(type_, name)
                aws.kms.Key("key", opts=pulumi.ResourceOptions(parent=self))
        C("test:x:A", "a")  # one name under two component types: two URNs, one Terraform name
        C("test:x:B", "b")
    addresses = list(export.addresses(plan_of(program)).values())
    assert len(set(addresses)) == 2 and addresses[0] == "aws_kms_key.key"


# -- Kubernetes YAML -----------------------------------------------------------------------------
def test_k8s_yaml_is_every_kubernetes_object(plans):
    p = plans["growth"]
    text = export.k8s_yaml(p)
    docs = list(yaml.safe_load_all(text))
    objects = [r for r in p.resources if r.type.startswith("kubernetes:") and r.custom
               and not r.type.startswith("kubernetes:helm.sh")]
    assert len(docs) == len(objects) > 5
    assert text.count("\n---\n") + 1 == len(docs) and text.startswith("---\n# urn: urn:pulumi:")
    for d in docs:
        assert list(d)[:3] == ["apiVersion", "kind", "metadata"] and d["metadata"]["name"]
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "EC2NodeClass", "NodePool"} <= kinds and "Release" not in kinds


def test_k8s_yaml_leaves_secrets_out_and_names_auto_named_objects():
    def program():
        k8s.core.v1.Secret("db", metadata={"namespace": "ml"}, string_data={"password": "p"})
    text = export.k8s_yaml(plan_of(program))
    (doc,) = yaml.safe_load_all(text)
    assert doc == {"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "ml", "name": "db"}}
    assert "# stringData: a Pulumi secret, not exported" in text
    assert "# metadata.name: Pulumi auto-names this object (db-<suffix>)" in text


def test_k8s_object_ids_match_checkov():
    assert export.k8s_object_id({"kind": "CronJob", "metadata": {"name": "retrain", "namespace": "retraining"}}) \
        == "CronJob.retraining.retrain"
    assert export.k8s_object_id({"kind": "Namespace", "metadata": {"name": "ml"}}) == "Namespace.default.ml"


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_plan_formats(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["plan", "-p", "pragmatic", "--format", "terraform-plan"], catch_exceptions=False)
    assert res.exit_code == 0
    tf = json.loads(res.stdout)
    assert tf["format_version"] == "1.2" and any(r["type"] == "aws_eks_cluster" for r in tf["resource_changes"])
    out = tmp_path / "k8s.yaml"
    res = runner.invoke(cli, ["plan", "-p", "pragmatic", "--format", "k8s-yaml", "--out", str(out)],
                        catch_exceptions=False)
    assert res.exit_code == 0 and res.stdout.splitlines()[1:] == [f"k8s-yaml written to {out}."]
    assert all(d["kind"] for d in yaml.safe_load_all(out.read_text()))
    res = runner.invoke(cli, ["plan", "-p", "pragmatic", "--format", "json"], catch_exceptions=False)
    assert json.loads(res.stdout)["profile"] == "pragmatic"
    res = runner.invoke(cli, ["plan", "--format", "hcl"])
    assert res.exit_code == 2

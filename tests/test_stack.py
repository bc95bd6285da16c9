"""Every profile synthesizes offline; the plan --json contract; wiring between components."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from conftest import one
from mlplatform.stacks.plan.offline import SECRET, run_offline
from mlplatform.stacks.program import main, plan
from mlplatform.stacks.config.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plans(profile_plans):
    return profile_plans


@pytest.mark.parametrize("profile", ["pragmatic", "growth", "full"])
def test_every_profile_has_the_core_resources(plans, profile):
    p = plans[profile]
    types = {r.type for r in p.resources}
    for t in ("aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
              "aws:ecr/repository:Repository", "aws:s3/bucket:Bucket", "aws:kms/key:Key"):
        assert t in types, f"{profile} lacks {t}"
    data = json.loads(p.to_json())
    assert data["profile"] == profile and data["summary"]["add"] == len(data["resources"])


def test_nat_gateways_per_profile(plans):
    assert len(plans["pragmatic"].of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert len(plans["growth"].of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert len(plans["full"].of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert not plans["pragmatic"].of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert plans["full"].of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert plans["full"].of_type("aws:ec2/flowLog:FlowLog") and not plans["growth"].of_type("aws:ec2/flowLog:FlowLog")


def test_system_nodes_per_profile(plans):
    for profile, (count, itype) in {"pragmatic": (2, "t3a.medium"), "growth": (3, "m6i.large"),
                                    "full": (3, "m6i.xlarge")}.items():
        (ng,) = [r for r in plans[profile].of_type("aws:eks/nodeGroup:NodeGroup") if r.name == "ml-dev-system"]
        assert ng.inputs["scalingConfig"]["desiredSize"] == count
        assert ng.inputs["instanceTypes"] == [itype]


def test_stateful_resources_are_protected_with_stable_names(plans):
    names = {}
    for profile, p in plans.items():
        stateful = [r for r in p.resources if r.type in (
            "aws:eks/cluster:Cluster", "aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:ecr/repository:Repository")]
        assert stateful and all(r.protect for r in stateful), profile
        names[profile] = sorted(r.urn for r in stateful)
    assert names["pragmatic"] == names["growth"] == names["full"]


def test_cluster_is_wired_to_the_network(plans):
    p = plans["pragmatic"]
    eks = one(p, "aws:eks/cluster:Cluster")
    private = [r for r in p.of_type("aws:ec2/subnet:Subnet") if "private" in r.name]
    assert len(eks.inputs["vpcConfig"]["subnetIds"]) == len(private) == 2
    assert all(any(s.urn == d for d in eks.depends_on) for s in private)


def test_secrets_never_in_clear(plans):
    for p in plans.values():
        assert p.outputs["kubeconfig"] == SECRET
        text = p.to_json()
        assert "BEGIN RSA PRIVATE KEY" not in text and "get-token" not in json.dumps(p.outputs)


def test_stack_outputs(plans):
    out = plans["pragmatic"].outputs
    assert out["cluster_name"] == "ml-dev" and out["vpc_id"].startswith("vpc-")
    assert set(out["repository_urls"]) == {"images", "models"}
    assert out["repository_urls"]["models"].endswith(".dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/models")
    assert out["kubeconfig_command"] == "aws eks update-kubeconfig --region us-east-1 --name ml-dev"


def test_region_and_overrides_flow_into_resources():
    p = plan(load_spec("pragmatic", region="eu-west-1", sets=["network.az_count=3",
                                                             "cluster.public_access_cidrs=[198.51.100.0/24]"]))
    subnets = p.of_type("aws:ec2/subnet:Subnet")
    assert sorted({s.inputs["availabilityZone"] for s in subnets}) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    eks = one(p, "aws:eks/cluster:Cluster")
    assert eks.inputs["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_pulumi_config_drives_the_same_program():
    """`main()` under stack config gives the same Plan as `plan()` of the equivalent spec."""
    config = {"mlplatform:profile": "growth", "mlplatform:network": {"az_count": 2},
              "mlplatform:tags": {"team": "vision"}}
    from_config = run_offline(main, region="eu-west-1", profile="growth", stack="dev", project="mlplatform",
                              config=config)
    spec = load_spec("growth", region="eu-west-1", sets=["network.az_count=2", "tags.team=vision"])
    assert from_config.to_dict() == plan(spec).to_dict()


def test_example_existing_vpc_adopts_and_creates_no_network():
    spec = load_spec(config_file=ROOT / "examples/existing-vpc/stack.yaml")
    p = plan(spec)
    network = one(p, "mlplatform:network:Network")
    assert p.children(network.urn) == []  # adopted: the Network creates nothing
    assert not p.of_type("aws:ec2/vpc:Vpc") and not p.of_type("aws:ec2/subnet:Subnet")
    eks = one(p, "aws:eks/cluster:Cluster")
    assert eks.inputs["vpcConfig"]["subnetIds"] == ["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"]
    assert p.outputs["vpc_id"] == "vpc-0a1b2c3d4e5f60718"
    assert one(p, "aws:s3/bucket:Bucket", "ml-dev-artifacts").inputs["tags"]["cost-center"] == "ml-research"


def test_example_existing_vpc_pulumi_config_matches_its_yaml():
    import yaml

    cfg = yaml.safe_load((ROOT / "examples/existing-vpc/Pulumi.dev.yaml").read_text())["config"]
    region = cfg.pop("aws:region")
    from_config = run_offline(main, region=region, profile="pragmatic", config=cfg)
    from_yaml = plan(load_spec(config_file=ROOT / "examples/existing-vpc/stack.yaml"))
    assert from_config.to_dict() == from_yaml.to_dict()


def test_example_custom_program_synthesizes():
    path = ROOT / "examples/custom-program/__main__.py"
    p = run_offline(lambda: runpy.run_path(str(path)), region="eu-west-1", stack="dev", project="custom-ml-program")
    assert {r.type for r in p.resources if not r.custom} == {"mlplatform:network:Network",
                                                             "mlplatform:registry:ArtifactRegistry"}
    assert not p.of_type("aws:eks/cluster:Cluster")
    repos = sorted(r.inputs["name"] for r in p.of_type("aws:ecr/repository:Repository"))
    assert repos == ["vision/models", "vision/trainer"]
    assert p.outputs["vpc_id"].startswith("vpc-")


def test_full_profile_adopting_a_vpc_adds_nothing_to_it_and_says_so():
    spec = load_spec("full", config_file=ROOT / "examples/existing-vpc/stack.yaml")
    p = plan(spec)
    assert not p.of_type("aws:ec2/flowLog:FlowLog") and not p.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert [w for w in p.warnings if w.startswith("network.")] == [
        "network.flow_logs and network.vpc_endpoints: not added to the adopted VPC "
        "vpc-0a1b2c3d4e5f60718; its owners manage those"]

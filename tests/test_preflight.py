"""Preflight (`mlplatform doctor`): each check passes and fails on constructed cases.

AWS checks run against a real moto server process: its EC2 data (regions, zones, instance type
offerings per zone, vCPUs) is AWS's own. moto has no EC2 Service Quotas, so the quota decision is
fed moto's real GetServiceQuota response shape with the value set per case.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import boto3
import pytest
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.stacks.cloud import doctor as preflight
from mlplatform.stacks.cloud.doctor import (
    Finding,
    QuotaNeed,
    check_cloud,
    check_credentials,
    check_region,
    check_support_dates,
    check_tools,
    gpu_offerings,
    judge_offerings,
    judge_quota,
    quota_needs,
    read_quota,
    stack_zones,
    vcpus_of,
)
from mlplatform.stacks.config.spec import load_spec


def unchecked(region: str, **overrides):
    """A spec as a user may write it, without the offline checks `load_spec` runs first (the GPU table, the
    adopted VPC's shape): doctor's own judgement on real zone data is what these tests look at."""
    from mlplatform.components.merge import deep_merge
    from mlplatform.stacks.config.spec import StackSpec, profile_defaults

    return StackSpec.model_validate({**deep_merge(profile_defaults("pragmatic"), overrides), "region": region})


def spec_with_pools(region: str, *pools: dict, **more):
    return unchecked(region, gpu={"pools": list(pools)}, **more)


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


# -- credentials, region, zones -------------------------------------------------------------------
def test_credentials_ok_and_missing(aws, monkeypatch):
    ok, account = check_credentials(boto3.client("sts", region_name="us-east-1"))
    assert ok.status == "ok" and account == "123456789012" and "123456789012" in ok.detail
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    missing, account = check_credentials(boto3.session.Session().client("sts", region_name="us-east-1"))
    assert account is None
    assert missing.line() == ("blocker credentials: no AWS credentials found; fix: run `aws configure` or "
                              "`aws sso login`, or set AWS_PROFILE")


def test_region_must_exist(aws):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    assert check_region(ec2, "eu-north-1").status == "ok"
    bad = check_region(ec2, "moon-1")
    assert bad.status == "blocker" and bad.detail == "'moon-1' is not an AWS region"


def test_zones_are_the_first_available_or_the_adopted_subnets(aws):
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    zones, f = stack_zones(ec2, load_spec(profile="growth", region="eu-west-1"))
    assert zones == ["eu-west-1a", "eu-west-1b", "eu-west-1c"] and f.status == "ok"

    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
               for i, z in enumerate(["eu-west-1b", "eu-west-1c"])]
    adopted = load_spec(region="eu-west-1", overrides={"network": {"existing": {
        "vpc_id": vpc, "private_subnet_ids": subnets}}})
    assert stack_zones(ec2, adopted)[0] == ["eu-west-1b", "eu-west-1c"]
    # Two well-formed ids (an adopted VPC needs 2 private subnets, ExistingVpc's own rule) that AWS does not have.
    gone = unchecked("eu-west-1", network={"existing": {"vpc_id": vpc, "private_subnet_ids": [
        "subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}})
    zones, f = stack_zones(ec2, gone)
    assert zones == [] and f.status == "blocker" and "network.existing.private_subnet_ids" in f.fix


# -- GPU offerings ----------------------------------------------------------------------------------
def test_gpu_offerings_pass_warn_and_block_on_real_zone_data(aws):
    # eu-west-1a/b offer g5.xlarge; g6.xlarge isn't in eu-west-1; p4d.24xlarge only in eu-west-1c.
    spec = spec_with_pools("eu-west-1",
                           {"name": "ok", "instance_types": ["g5.xlarge"]},
                           {"name": "fallback", "instance_types": ["g6.xlarge", "g5.xlarge"]},
                           {"name": "big", "instance_types": ["p4d.24xlarge"], "max": 1})
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    zones, _ = stack_zones(ec2, spec)
    assert zones == ["eu-west-1a", "eu-west-1b"]
    offered = gpu_offerings(ec2, ["g5.xlarge", "g6.xlarge", "p4d.24xlarge"], zones)
    assert offered == {"g5.xlarge": {"eu-west-1a", "eu-west-1b"}, "g6.xlarge": set(), "p4d.24xlarge": set()}
    f = by_check(judge_offerings(spec, zones, offered))
    assert f["gpu pool ok"].status == "ok"
    assert f["gpu pool fallback"].status == "warn"
    assert f["gpu pool fallback"].detail == ("g6.xlarge not offered in 2 of the zones (g6.xlarge in 0); "
                                             "the pool uses g5.xlarge")
    assert f["gpu pool big"].status == "blocker"
    assert f["gpu pool big"].detail == "no instance type is offered in 2 of eu-west-1a, eu-west-1b (p4d.24xlarge in 0)"
    assert f["gpu pool big"].fix.startswith("set gpu.pools.2.instance_types to types this region offers")


def test_a_type_in_one_zone_only_is_not_enough(aws):
    # eu-north-1: g5.xlarge in 1b and 1c; with zones 1a, 1b that is one zone.
    spec = spec_with_pools("eu-north-1", {"name": "gpu", "instance_types": ["g5.xlarge"]})
    ec2 = boto3.client("ec2", region_name="eu-north-1")
    zones, _ = stack_zones(ec2, spec)
    f = judge_offerings(spec, zones, gpu_offerings(ec2, ["g5.xlarge"], zones))[0]
    assert f.status == "blocker" and "(g5.xlarge in 1)" in f.detail


# -- quotas -----------------------------------------------------------------------------------------
class QuotaAnswers:
    """Service Quotas answering like moto does (its real response shape), with a value per quota code."""

    def __init__(self, template: dict, values: dict[str, float]):
        self.template, self.values, self.asked = template, values, []

    def get_service_quota(self, ServiceCode: str, QuotaCode: str) -> dict:  # noqa: N803 (boto3 names)
        self.asked.append((ServiceCode, QuotaCode))
        if QuotaCode not in self.values:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "NoSuchResourceException", "Message": "none"}}, "GetServiceQuota")
        return {"Quota": {**self.template, "ServiceCode": ServiceCode, "QuotaCode": QuotaCode,
                          "Value": self.values[QuotaCode]}}

    get_aws_default_service_quota = get_service_quota


@pytest.fixture
def quota_shape(aws) -> dict:
    """moto's real GetServiceQuota answer (a VPC quota: moto has no EC2 quotas)."""
    answer = boto3.client("service-quotas", region_name="us-east-1").get_service_quota(
        ServiceCode="vpc", QuotaCode="L-F678F1CE")
    assert isinstance(answer["Quota"]["Value"], float)
    return answer["Quota"]


def test_moto_has_no_ec2_quota_so_the_check_warns(aws):
    quotas = boto3.client("service-quotas", region_name="us-east-1")
    assert read_quota(quotas, "L-DB2E81BA") is None
    f = judge_quota(QuotaNeed("L-DB2E81BA", "On-Demand G and VT instances", 8), None, "us-east-1")
    assert f.status == "warn" and "could not read 'On-Demand G and VT instances'" in f.detail


def test_quota_covers_the_pools_max_or_blocks(aws, quota_shape):
    spec = spec_with_pools("us-east-1", {"name": "gpu", "instance_types": ["g6.xlarge", "g6.2xlarge"], "max": 3,
                                         "capacity": "on-demand"})
    ec2 = boto3.client("ec2", region_name="us-east-1")
    zones, _ = stack_zones(ec2, spec)
    offered = gpu_offerings(ec2, ["g6.xlarge", "g6.2xlarge"], zones)
    vcpus = vcpus_of(ec2, ["g6.xlarge", "g6.2xlarge"])
    assert vcpus == {"g6.xlarge": 4, "g6.2xlarge": 8}
    [need] = quota_needs(spec, vcpus, offered, zones).values()
    assert (need.code, need.vcpus, need.stuck) == ("L-DB2E81BA", 24, ["gpu"])  # 3 nodes x 8 vCPUs

    enough = read_quota(QuotaAnswers(quota_shape, {"L-DB2E81BA": 32.0}), need.code)
    assert judge_quota(need, enough, "us-east-1").status == "ok"
    low = judge_quota(need, read_quota(QuotaAnswers(quota_shape, {"L-DB2E81BA": 4.0}), need.code), "us-east-1")
    assert low.status == "blocker"
    assert low.detail == ("'On-Demand G and VT instances' is 4 vCPUs, the pools need up to 24 "
                          "(gpu: 3 x g6.2xlarge (8 vCPUs))")
    assert "--quota-code L-DB2E81BA --desired-value 24 --region us-east-1" in low.fix


def test_a_spot_first_pools_max_is_split_between_the_spot_and_on_demand_quotas(aws):
    # gpu.pools[].max is the pool's total: a managed spot-first pool of max 3 is a spot group of 2 and
    # an on-demand group of 1 (components.args.gpu_node_pool.group_sizes), each against its own quota.
    spec = spec_with_pools("us-east-1", {"name": "gpu", "instance_types": ["g6.2xlarge"], "max": 3})
    ec2 = boto3.client("ec2", region_name="us-east-1")
    zones, _ = stack_zones(ec2, spec)
    needs = quota_needs(spec, vcpus_of(ec2, ["g6.2xlarge"]), gpu_offerings(ec2, ["g6.2xlarge"], zones), zones)
    assert {c: (n.vcpus, n.parts) for c, n in needs.items()} == {
        "L-3819A6DF": (16, ["gpu: 2 x g6.2xlarge (8 vCPUs)"]),  # spot G and VT
        "L-DB2E81BA": (8, ["gpu: 1 x g6.2xlarge (8 vCPUs)"]),  # on-demand G and VT
    }


def test_spot_pools_need_the_spot_quota_and_mixed_pools_can_fall_back(aws, quota_shape):
    spec = spec_with_pools("us-east-1",
                           {"name": "spot", "instance_types": ["g5.xlarge"], "max": 2, "capacity": "spot"},
                           {"name": "multi", "instance_types": ["g6e.12xlarge", "p4d.24xlarge"], "max": 2,
                            "capacity": "on-demand"})
    ec2 = boto3.client("ec2", region_name="us-east-1")
    zones, _ = stack_zones(ec2, spec)
    types = ["g5.xlarge", "g6e.12xlarge", "p4d.24xlarge"]
    needs = quota_needs(spec, vcpus_of(ec2, types), gpu_offerings(ec2, types, zones), zones)
    assert {c: n.vcpus for c, n in needs.items()} == {"L-3819A6DF": 8, "L-DB2E81BA": 96, "L-417A185B": 192}
    # New accounts often have P = 0: the multi pool can still use g6e, so that only warns.
    answers = QuotaAnswers(quota_shape, {"L-3819A6DF": 8.0, "L-DB2E81BA": 96.0, "L-417A185B": 0.0})
    f = {c: judge_quota(n, read_quota(answers, c), "us-east-1") for c, n in needs.items()}
    assert [f[c].status for c in ("L-3819A6DF", "L-DB2E81BA", "L-417A185B")] == ["ok", "ok", "warn"]
    assert "can fall back" in f["L-417A185B"].detail
    assert ("ec2", "L-417A185B") in answers.asked


def test_check_cloud_end_to_end_on_moto(aws):
    good = by_check(check_cloud(load_spec(profile="pragmatic", region="us-east-1")))
    assert [good[c].status for c in ("credentials", "region", "zones", "gpu pool gpu")] == ["ok"] * 4
    assert good["quota L-DB2E81BA"].status == "warn"  # moto can't tell the value
    bad = check_cloud(load_spec(profile="pragmatic", region="us-west-1"))  # no g6/g5 in us-west-1
    assert [f.check for f in bad if f.status == "blocker"] == ["gpu pool gpu"]


# -- tools ------------------------------------------------------------------------------------------
def fake_tools(found: dict[str, str]):
    """which() and run() for a PATH holding `found` (command -> its version output)."""
    def which(cmd: str):
        return f"/usr/bin/{cmd}" if cmd in found else None

    def run(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 0, stdout=found[cmd[0]], stderr="")
    return which, run


def test_tools():
    kubectl = json.dumps({"clientVersion": {"gitVersion": "v1.35.1"}})
    which, run = fake_tools({"pulumi": "v3.272.0", "kubectl": kubectl})
    assert [(f.check, f.status) for f in check_tools(which, run, "1.35")] == [("pulumi", "ok"), ("kubectl", "ok")]

    which, run = fake_tools({})
    f = by_check(check_tools(which, run, "1.35"))
    assert f["pulumi"].line() == ("blocker pulumi: the pulumi CLI is not on PATH; fix: install the Pulumi CLI: "
                                  "curl -fsSL https://get.pulumi.com | sh (or brew install pulumi)")
    assert f["kubectl"].status == "warn"

    which, run = fake_tools({"pulumi": "v3.0.0", "kubectl": json.dumps({"clientVersion": {"gitVersion": "v1.31.0"}})})
    f = by_check(check_tools(which, run, "1.35"))
    assert f["pulumi"].status == "blocker" and "is older than" in f["pulumi"].detail
    assert f["kubectl"].status == "warn" and f["kubectl"].fix == "install kubectl 1.35"


# -- support dates ----------------------------------------------------------------------------------
@pytest.mark.parametrize("today,status,text", [
    (dt.date(2026, 11, 23), "ok", "EKS 1.35 is in standard support until 2027-03-27"),
    (dt.date(2027, 1, 15), "warn", "EKS 1.35 leaves standard support on 2027-03-27 (in 71 days)"),
    (dt.date(2027, 4, 1), "warn", "EKS 1.35 left standard support on 2027-03-27: extended support is billed extra"),
])
def test_eks_support_dates(today, status, text):
    f = by_check(check_support_dates(load_spec(), today))["eks version"]
    assert f.status == status and f.detail.startswith(text)


def test_postgres_and_unknown_versions():
    f = by_check(check_support_dates(load_spec(sets=['cluster.kubernetes_version="1.99"']), dt.date(2026, 11, 23)))
    assert f["postgres version"].status == "ok" and "2030-02-28" in f["postgres version"].detail
    assert f["eks version"].status == "warn" and "no end-of-standard-support date known" in f["eks version"].detail
    late = by_check(check_support_dates(load_spec(), dt.date(2030, 3, 1)))["postgres version"]
    assert late.status == "warn" and "left standard support on 2030-02-28" in late.detail


# -- the command ------------------------------------------------------------------------------------
@pytest.fixture
def tools_ok(monkeypatch):
    monkeypatch.setattr(preflight, "check_tools", lambda **kw: [Finding("pulumi", "ok", "pulumi 3.272.0")])


def doctor(*args: str):
    return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)


def test_doctor_ok_exits_0(aws, tools_ok, tmp_path):
    res = doctor("--dir", str(tmp_path), "--region", "us-east-1")
    assert res.exit_code == 0, res.output
    assert "ok      credentials: account 123456789012" in res.stdout and "Ready: no blockers." in res.stdout


def test_doctor_gpu_type_not_offered_exits_1(aws, tools_ok, tmp_path):
    res = doctor("--dir", str(tmp_path), "--region", "us-west-1")
    assert res.exit_code == 1
    [line] = [x for x in res.stdout.splitlines() if x.startswith("blocker")]
    assert line.startswith("blocker gpu pool gpu: no instance type is offered in 2 of us-west-1a, us-west-1b "
                           "(g6.xlarge in 0, g5.xlarge in 0); fix: set gpu.pools.0.instance_types")
    assert res.stdout.rstrip().endswith("1 blocker.")


def test_doctor_quota_too_low_exits_1(aws, tools_ok, tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "read_quota", lambda client, code: 3.0)
    res = doctor("--dir", str(tmp_path), "--json")
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    # pragmatic's spot-first pool (max 2 nodes of 4 vCPUs) is 1 spot + 1 on-demand node at most.
    blockers = {f["check"]: f["detail"] for f in data["findings"] if f["status"] == "blocker"}
    assert set(blockers) == {"quota L-DB2E81BA", "quota L-3819A6DF"}
    assert all("is 3 vCPUs, the pools need up to 4" in d for d in blockers.values())


def test_doctor_unknown_region_is_one_line(tmp_path):
    res = doctor("--dir", str(tmp_path), "--region", "moon-1")
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "error: region: 'moon-1' is not an AWS region mlplatform knows; use one like us-east-1, us-west-2, "
        "eu-west-1, eu-central-1"]


def test_doctor_reads_the_project_stack_file(aws, tools_ok, tmp_path):
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  aws:region: us-west-1\n  mlplatform:profile: pragmatic\n")
    res = doctor("--dir", str(tmp_path))
    assert res.exit_code == 1 and "us-west-1a" in res.stdout  # the project's region, not the default

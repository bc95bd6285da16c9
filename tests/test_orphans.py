"""The orphan sweep against a real moto server process: tagged leftovers go, nothing else is touched."""

from __future__ import annotations

import boto3
import pytest

from mlplatform.stacks.cloud.orphans import Orphan, delete_orphans, find_orphans

REGION = "eu-west-1"
OURS = {"mlplatform:managed-by": "mlplatform", "mlplatform:stack": "dev"}
NOT_OURS = [
    {},  # untagged
    {"mlplatform:managed-by": "mlplatform", "mlplatform:stack": "prod"},  # another stack
    {"mlplatform:stack": "dev"},  # missing the managed-by tag
    {"mlplatform:managed-by": "someone-else", "mlplatform:stack": "dev"},
]


def tag_list(tags: dict, key: str = "Key", value: str = "Value") -> list[dict]:
    return [{key: k, value: v} for k, v in tags.items()]


@pytest.fixture
def leftovers(aws):
    """One of each kind tagged for stack dev (plus two security groups that reference each other),
    and the same kinds with each of NOT_OURS' tag sets."""
    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    made: dict[str, dict[str, list[str]]] = {"ours": {}, "theirs": {}}

    def one_of_each(tags: dict, who: str, n: int) -> None:
        spec = [{"ResourceType": "{}", "Tags": tag_list(tags)}] if tags else []
        ts = lambda kind: [{**spec[0], "ResourceType": kind}] if spec else []  # noqa: E731
        got = made[who]
        sg = ec2.create_security_group(GroupName=f"sg-{who}-{n}", Description="x", VpcId=vpc,
                                       TagSpecifications=ts("security-group"))["GroupId"]
        eni = ec2.create_network_interface(SubnetId=subnets[0], TagSpecifications=ts("network-interface"),
                                           Description=f"eni {who} {n}")["NetworkInterface"]["NetworkInterfaceId"]
        inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnets[0],
                                 TagSpecifications=ts("instance"))["Instances"][0]["InstanceId"]
        lb = elbv2.create_load_balancer(Name=f"lb-{who}-{n}", Subnets=subnets, Type="application",
                                        **({"Tags": tag_list(tags)} if tags else {}))["LoadBalancers"][0]["LoadBalancerArn"]
        logs.create_log_group(logGroupName=f"/mlplatform/{who}/{n}", **({"tags": tags} if tags else {}))
        for kind, ident in (("security-group", sg), ("network-interface", eni), ("instance", inst),
                            ("load-balancer", lb), ("log-group", f"/mlplatform/{who}/{n}")):
            got.setdefault(kind, []).append(ident)

    one_of_each(OURS, "ours", 0)
    # a second pair of our security groups, referencing each other (as controllers make them)
    a, b = (ec2.create_security_group(GroupName=f"sg-ours-ref-{x}", Description="x", VpcId=vpc,
                                      TagSpecifications=[{"ResourceType": "security-group",
                                                          "Tags": tag_list(OURS)}])["GroupId"] for x in "ab")
    for src, dst in ((a, b), (b, a)):
        ec2.authorize_security_group_ingress(GroupId=dst, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": src}]}])
    made["ours"]["security-group"] += [a, b]
    for n, tags in enumerate(NOT_OURS):
        one_of_each(tags, "theirs", n)
    return made


def as_set(orphans: list[Orphan]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for o in orphans:
        out.setdefault(o.kind, set()).add(o.id)
    return out


def test_finds_exactly_the_tagged_leftovers(leftovers):
    found = find_orphans(REGION, "dev")
    assert as_set(found) == {k: set(v) for k, v in leftovers["ours"].items()}
    kinds = [o.kind for o in found]
    assert kinds == sorted(kinds, key=["instance", "load-balancer", "network-interface", "security-group",
                                       "log-group"].index)  # deletion order
    assert find_orphans(REGION, "staging") == []


def test_sweep_deletes_them_and_nothing_untagged(leftovers):
    result = delete_orphans(find_orphans(REGION, "dev"), REGION)
    assert result.failed == []
    assert as_set(result.deleted) == {k: set(v) for k, v in leftovers["ours"].items()}
    assert find_orphans(REGION, "dev") == []

    ec2 = boto3.client("ec2", region_name=REGION)
    theirs = leftovers["theirs"]
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    assert all(states[i] == "running" for i in theirs["instance"])
    assert all(states[i] == "terminated" for i in leftovers["ours"]["instance"])
    assert {g["GroupId"] for g in ec2.describe_security_groups(GroupIds=theirs["security-group"])["SecurityGroups"]} \
        == set(theirs["security-group"])
    assert len(ec2.describe_network_interfaces(NetworkInterfaceIds=theirs["network-interface"])["NetworkInterfaces"]) == 4
    lbs = boto3.client("elbv2", region_name=REGION).describe_load_balancers()["LoadBalancers"]
    assert {lb["LoadBalancerArn"] for lb in lbs} == set(theirs["load-balancer"])
    groups = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    assert {g["logGroupName"] for g in groups} == set(theirs["log-group"])


def test_what_aws_refuses_is_reported_not_raised(aws):
    ghost = Orphan("security-group", "sg-0123456789abcdef0", "gone")
    result = delete_orphans([ghost], REGION)
    assert result.deleted == [] and result.failed[0][0] == ghost
    assert result.failed[0][1].startswith("InvalidGroup.NotFound")


def test_destroy_orphans_only_command(aws, tmp_path):
    from click.testing import CliRunner

    from mlplatform.cli.main import cli
    from mlplatform.stacks.project.init import InitOptions, init_project

    init_project(InitOptions(directory=tmp_path, region=REGION))
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ours = ec2.create_security_group(GroupName="k8s-elb-leftover", Description="x", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": tag_list(OURS)}])["GroupId"]
    theirs = ec2.create_security_group(GroupName="keep", Description="x", VpcId=vpc)["GroupId"]

    run = lambda *a: CliRunner().invoke(cli, ["destroy", "--dir", str(tmp_path), "--orphans-only", *a])  # noqa: E731
    refused = run()
    assert refused.exit_code == 3 and f"orphan security-group: {ours} k8s-elb-leftover" in refused.stdout
    assert "needs confirmation and there is no terminal to ask; pass --yes" in refused.stderr
    done = run("--yes")
    assert done.exit_code == 0 and "Deleted 1 orphans." in done.stdout
    left = {g["GroupId"] for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]}
    assert ours not in left and theirs in left
    out = run("--yes").stdout.splitlines()
    assert out[0].startswith("Stack dev (Pulumi.dev.yaml): ") and out[-1] == f"No orphans tagged for stack dev in {REGION}."

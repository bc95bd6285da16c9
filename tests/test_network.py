"""Network component: created VPC layouts, NAT modes, flow logs, endpoints, adoption and validation."""

from __future__ import annotations

import ipaddress
import itertools
import json

import pulumi
import pytest

from mlplatform.components._common import ValidationError
from mlplatform.components.network import ExistingVpc, Network, NetworkArgs, subnet_cidrs
from mlplatform.stacks.config.regions import availability_zones

from conftest import one, plan_of

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
EIP = "aws:ec2/eip:Eip"
RT = "aws:ec2/routeTable:RouteTable"
RTA = "aws:ec2/routeTableAssociation:RouteTableAssociation"
IGW = "aws:ec2/internetGateway:InternetGateway"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SG = "aws:ec2/securityGroup:SecurityGroup"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

OUTPUTS = ("vpc_id", "vpc_cidr_block", "public_subnet_ids", "private_subnet_ids", "availability_zones")


def network(region: str = "us-east-1", **kw):
    """Plan of one Network named `net` whose outputs are exported under their attribute names."""
    def program():
        net = Network("net", NetworkArgs(**kw))
        for key in OUTPUTS:
            pulumi.export(key, getattr(net, key))
    return plan_of(program, region=region)


def subnets(plan, kind: str):
    return sorted((r for r in plan.of_type(SUBNET) if r.name.startswith(f"net-{kind}-")), key=lambda r: r.name)


def private_tables(plan):
    return sorted((r for r in plan.of_type(RT) if r.name.startswith("net-private-")), key=lambda r: r.name)


def association(plan, subnet_name: str):
    return one(plan, RTA, subnet_name)


def table_of(plan, subnet):
    """The route table a subnet is associated with, by the association's dependencies."""
    deps = association(plan, subnet.name).depends_on
    assert subnet.urn in deps
    tables = [r for r in plan.of_type(RT) if r.urn in deps]
    assert len(tables) == 1
    return tables[0]


def default_route(table):
    return [r for r in table.inputs.get("routes", []) if r.get("cidrBlock") == "0.0.0.0/0"]


# -- default: 2 zones, one NAT ------------------------------------------------------------------
def test_default_two_zones_one_nat():
    plan = network()
    vpc = one(plan, VPC)
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] is True and vpc.inputs["enableDnsSupport"] is True

    public, private = subnets(plan, "public"), subnets(plan, "private")
    assert [s.inputs["availabilityZone"] for s in public] == ["us-east-1a", "us-east-1b"]
    assert [s.inputs["availabilityZone"] for s in private] == ["us-east-1a", "us-east-1b"]
    assert len(plan.of_type(SUBNET)) == 4

    nat = one(plan, NAT)
    eip = one(plan, EIP)
    assert eip.inputs["domain"] == "vpc"
    assert nat.inputs["connectivityType"] == "public"
    assert public[0].urn in nat.depends_on and eip.urn in nat.depends_on
    assert one(plan, IGW).urn in nat.depends_on  # NAT waits for the internet gateway

    # Public subnets route to the internet gateway; both private subnets to the one NAT.
    igw = one(plan, IGW)
    for s in public:
        table = table_of(plan, s)
        assert table.name == "net-public"
        assert len(default_route(table)) == 1 and igw.urn in table.depends_on
        assert "natGatewayId" not in default_route(table)[0]
    tables = private_tables(plan)
    assert len(tables) == 1
    for s in private:
        assert table_of(plan, s).name == "net-private-0"
    assert len(default_route(tables[0])) == 1 and nat.urn in tables[0].depends_on
    assert "gatewayId" not in default_route(tables[0])[0]


def test_subnet_cidrs_fit_inside_the_vpc_and_do_not_overlap():
    plan = network(az_count=3, region="us-east-2")
    vpc_net = ipaddress.ip_network("10.0.0.0/16")
    nets = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in plan.of_type(SUBNET)]
    assert len(nets) == 6
    assert all(n.subnet_of(vpc_net) for n in nets)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(nets, 2))
    # Private subnets are the large ones (EKS pods take VPC IPs).
    assert {s.inputs["cidrBlock"] for s in subnets(plan, "private")} == {"10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"}
    assert all(ipaddress.ip_network(s.inputs["cidrBlock"]).prefixlen == 22 for s in subnets(plan, "public"))


def test_subnet_layout_is_stable_as_zones_are_added_and_fits_six_zones_in_a_slash_20():
    pub2, priv2 = subnet_cidrs("10.0.0.0/16", 2)
    pub3, priv3 = subnet_cidrs("10.0.0.0/16", 3)
    assert pub3[:2] == pub2 and priv3[:2] == priv2
    pub6, priv6 = subnet_cidrs("10.8.0.0/20", 6)
    nets = [ipaddress.ip_network(c) for c in pub6 + priv6]
    assert len(set(nets)) == 12 and all(n.subnet_of(ipaddress.ip_network("10.8.0.0/20")) for n in nets)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(nets, 2))


def test_no_subnet_maps_public_ips():
    plan = network(az_count=3)
    assert len(plan.of_type(SUBNET)) == 6
    for s in plan.of_type(SUBNET):
        assert s.inputs["mapPublicIpOnLaunch"] is False, s.name


def test_default_security_group_is_locked_down():
    plan = network()
    dsg = one(plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert dsg.inputs["ingress"] == [] and dsg.inputs["egress"] == []
    assert one(plan, VPC).urn in dsg.depends_on


def test_every_taggable_resource_carries_ownership_and_user_tags():
    plan = network(flow_logs=True, vpc_endpoints=True, tags={"team": "ml"})
    untaggable = {RTA, ROLE_POLICY}
    aws = [r for r in plan.resources if r.custom and r.type not in untaggable]
    assert {r.type for r in aws} == {VPC, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", IGW, SUBNET, RT, EIP,
                                     NAT, LOG_GROUP, ROLE, FLOW_LOG, SG, ENDPOINT}
    for r in aws:
        assert r.inputs["tags"]["mlplatform:managed-by"] == "mlplatform", r.name
        assert r.inputs["tags"]["mlplatform:component"] == "net", r.name
        assert r.inputs["tags"]["team"] == "ml", r.name


# -- subnet tags for EKS, Karpenter and the load balancer controller ----------------------------
def test_cluster_tags_on_subnets():
    plan = network(cluster_name="ml-prod")
    for s in subnets(plan, "public"):
        t = s.inputs["tags"]
        assert t["kubernetes.io/role/elb"] == "1"
        assert t["kubernetes.io/cluster/ml-prod"] == "shared"
        assert "kubernetes.io/role/internal-elb" not in t and "karpenter.sh/discovery" not in t
    for s in subnets(plan, "private"):
        t = s.inputs["tags"]
        assert t["kubernetes.io/role/internal-elb"] == "1"
        assert t["kubernetes.io/cluster/ml-prod"] == "shared"
        assert t["karpenter.sh/discovery"] == "ml-prod"
        assert "kubernetes.io/role/elb" not in t


def test_without_cluster_name_no_cluster_tags():
    plan = network()
    for s in plan.of_type(SUBNET):
        keys = set(s.inputs["tags"])
        assert not any(k.startswith("kubernetes.io/cluster/") for k in keys), s.name
        assert "karpenter.sh/discovery" not in keys
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in subnets(plan, "public"))


# -- NAT modes ------------------------------------------------------------------------------------
def test_per_az_three_zones_one_nat_each():
    plan = network(az_count=3, nat_gateways="per_az", region="us-east-2")
    nats = sorted(plan.of_type(NAT), key=lambda r: r.name)
    assert len(nats) == 3 and len(plan.of_type(EIP)) == 3
    public, private = subnets(plan, "public"), subnets(plan, "private")
    for nat, pub in zip(nats, public):  # NAT i sits in zone i's public subnet
        assert pub.urn in nat.depends_on
    assert len({n.inputs["subnetId"] for n in nats}) == 3
    assert len({n.inputs["allocationId"] for n in nats}) == 3

    tables = private_tables(plan)
    assert len(tables) == 3
    routed_nats = []
    for s in private:
        table = table_of(plan, s)
        route = default_route(table)
        assert len(route) == 1
        nat = [n for n in nats if n.urn in table.depends_on]
        assert len(nat) == 1 and route[0]["natGatewayId"]
        # zone i's private subnet uses zone i's NAT
        assert nat[0].name == s.name.replace("private", "nat")
        routed_nats.append(route[0]["natGatewayId"])
    assert len(set(routed_nats)) == 3


def test_no_nat():
    plan = network(nat_gateways="none")
    assert plan.of_type(NAT) == [] and plan.of_type(EIP) == []
    tables = private_tables(plan)
    assert len(tables) == 1
    for s in subnets(plan, "private"):
        table = table_of(plan, s)
        assert table.inputs["routes"] == []
        assert default_route(table) == []
    # The public side still reaches the internet (load balancers).
    assert len(default_route(one(plan, RT, "net-public"))) == 1


# -- flow logs ------------------------------------------------------------------------------------
def test_flow_logs_on():
    plan = network(flow_logs=True, flow_log_retention_days=90)
    group = one(plan, LOG_GROUP)
    assert group.inputs["retentionInDays"] == 90

    role = one(plan, ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    # Only flow logs of this account may assume it (confused-deputy guard).
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                      "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]

    policy = one(plan, ROLE_POLICY)
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert len(statements) == 1
    st = statements[0]
    assert st["Effect"] == "Allow"
    assert sorted(st["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert st["Resource"][0].startswith("arn:aws:logs:us-east-1:123456789012:log-group:net-flow-logs")
    assert st["Resource"] == [st["Resource"][0], st["Resource"][0] + ":*"]
    assert "*" not in st["Resource"]  # scoped to the one group, never everything

    flow = one(plan, FLOW_LOG)
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestinationType"] == "cloud-watch-logs"
    assert flow.inputs["logDestination"] == st["Resource"][0]
    assert flow.inputs["iamRoleArn"].startswith("arn:aws:iam::123456789012:role/net-flow-logs")
    assert flow.inputs["vpcId"].startswith("vpc-")
    assert policy.urn in flow.depends_on  # the role may write before the flow log starts


def test_flow_logs_default_retention_30():
    assert one(network(flow_logs=True), LOG_GROUP).inputs["retentionInDays"] == 30


def test_flow_logs_off_by_default():
    plan = network()
    for type_ in (FLOW_LOG, LOG_GROUP, ROLE, ROLE_POLICY):
        assert plan.of_type(type_) == []


# -- VPC endpoints --------------------------------------------------------------------------------
def test_vpc_endpoints_on():
    plan = network(az_count=3, nat_gateways="per_az", vpc_endpoints=True, cidr_block="10.20.0.0/16",
                   region="eu-west-1")
    s3 = one(plan, ENDPOINT, "net-s3")
    assert s3.inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"
    assert s3.inputs["vpcEndpointType"] == "Gateway"
    tables = private_tables(plan)
    assert len(s3.inputs["routeTableIds"]) == 3
    assert all(t.urn in s3.depends_on for t in tables)
    assert one(plan, RT, "net-public").urn not in s3.depends_on

    sg = one(plan, SG)
    assert sg.inputs["ingress"] == [{"protocol": "tcp", "fromPort": 443, "toPort": 443,
                                     "cidrBlocks": ["10.20.0.0/16"], "description": "HTTPS from the VPC CIDR"}]
    assert sg.inputs["egress"] == []

    private_urns = {s.urn for s in subnets(plan, "private")}
    public_urns = {s.urn for s in subnets(plan, "public")}
    services = {}
    for ep in plan.of_type(ENDPOINT):
        if ep.name == "net-s3":
            continue
        services[ep.name] = ep.inputs["serviceName"]
        assert ep.inputs["vpcEndpointType"] == "Interface"
        assert ep.inputs["privateDnsEnabled"] is True
        assert len(ep.inputs["subnetIds"]) == 3
        assert private_urns <= set(ep.depends_on) and not public_urns & set(ep.depends_on)
        assert sg.urn in ep.depends_on and len(ep.inputs["securityGroupIds"]) == 1
    assert services == {"net-ecr-api": "com.amazonaws.eu-west-1.ecr.api",
                        "net-ecr-dkr": "com.amazonaws.eu-west-1.ecr.dkr",
                        "net-sts": "com.amazonaws.eu-west-1.sts"}


def test_vpc_endpoints_off_by_default():
    plan = network()
    assert plan.of_type(ENDPOINT) == [] and plan.of_type(SG) == []


# -- outputs --------------------------------------------------------------------------------------
def test_outputs_of_a_created_network():
    plan = network(az_count=3, region="us-east-2", cidr_block="172.16.0.0/18")
    out = plan.outputs
    assert out["vpc_id"].startswith("vpc-")
    assert out["vpc_cidr_block"] == "172.16.0.0/18"
    assert out["availability_zones"] == ["us-east-2a", "us-east-2b", "us-east-2c"]
    assert len(out["private_subnet_ids"]) == 3 and len(out["public_subnet_ids"]) == 3
    assert all(s.startswith("subnet-") for s in out["private_subnet_ids"] + out["public_subnet_ids"])
    assert not set(out["private_subnet_ids"]) & set(out["public_subnet_ids"])
    # Private subnet ids are what the interface endpoints (and later EKS) are placed in, in zone order.
    assert subnets(plan, "private")[0].inputs["availabilityZone"] == "us-east-2a"


def test_given_availability_zones_replace_the_lookup():
    plan = network(az_count=2, availability_zones=["us-east-1c", "us-east-1d", "us-east-1f"])
    assert [s.inputs["availabilityZone"] for s in subnets(plan, "private")] == ["us-east-1c", "us-east-1d"]
    assert plan.outputs["availability_zones"] == ["us-east-1c", "us-east-1d"]


# -- adopt ----------------------------------------------------------------------------------------
def test_adopt_creates_nothing_and_exposes_the_ids():
    existing = ExistingVpc(vpc_id="vpc-0123456789abcdef0",
                           private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
                           public_subnet_ids=["subnet-0bbbbbbbbbbbbbbb1"])
    plan = network(existing=existing, cluster_name="ml")
    assert [r.type for r in plan.resources] == ["mlplatform:network:Network"]
    assert not any(r.custom for r in plan.resources)
    out = plan.outputs
    assert out["vpc_id"] == "vpc-0123456789abcdef0"
    assert out["private_subnet_ids"] == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    assert out["public_subnet_ids"] == ["subnet-0bbbbbbbbbbbbbbb1"]
    assert out["vpc_cidr_block"] == "10.0.0.0/16"  # read from AWS (the mock's getVpc answer)
    assert out["availability_zones"] and set(out["availability_zones"]) <= set(availability_zones("us-east-1"))


# -- validation -----------------------------------------------------------------------------------
GOOD_EXISTING = dict(vpc_id="vpc-0123456789abcdef0",
                     private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"])


# Bounds and formats are refused as NetworkArgs is built (components/args/network.py: the same
# models the stack spec's network section uses); the messages are pydantic's for plain bounds.
@pytest.mark.parametrize("kw, field, text", [
    (dict(az_count=0), "az_count", "is 0, but EKS needs subnets in at least 2 availability zones"),
    (dict(az_count=1), "az_count", "is 1, but EKS needs subnets in at least 2 availability zones"),
    (dict(az_count=7), "az_count", "input should be less than or equal to 6; use a value <= 6"),
    (dict(cidr_block="10.0.0.0/8"), "cidr_block", "prefix /8 of 10.0.0.0/8 is outside /16../20"),
    (dict(cidr_block="10.0.0.0/24"), "cidr_block", "prefix /24 of 10.0.0.0/24 is outside /16../20"),
    (dict(cidr_block="10.0.0.1/16"), "cidr_block", "'10.0.0.1/16' is not an IPv4 network"),
    (dict(cidr_block="not-a-cidr"), "cidr_block", "'not-a-cidr' is not an IPv4 network"),
    (dict(cidr_block="fd00::/48"), "cidr_block", "'fd00::/48' is IPv6"),
    (dict(nat_gateways="two"), "nat_gateways", "input should be 'single', 'per_az' or 'none'"),
    (dict(flow_log_retention_days=45), "flow_log_retention_days", "45 is not a retention CloudWatch Logs accepts"),
    (dict(cluster_name="-bad"), "cluster_name", "'-bad' is not a valid EKS cluster name"),
    (dict(availability_zones=["us-east-1a"]), "availability_zones", "names 1 zone(s) but az_count is 2"),
    (dict(availability_zones=["us-east-1a", "us-east-1a"]), "availability_zones", "must be distinct zone names"),
    (dict(existing=dict(vpc_id="vpc-0123456789abcdef0", private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1"])),
     "existing.private_subnet_ids", "has 1 subnet(s); EKS needs at least 2"),
    (dict(existing=dict(**{**GOOD_EXISTING, "vpc_id": "vpc-xyz"})), "existing.vpc_id", "'vpc-xyz' is not a VPC id"),
    (dict(existing=dict(**{**GOOD_EXISTING, "vpc_id": "subnet-0123456789abcdef0"})), "existing.vpc_id",
     "is not a VPC id"),
    (dict(existing=dict(**{**GOOD_EXISTING, "public_subnet_ids": ["sn-1"]})), "existing.public_subnet_ids",
     "'sn-1' not subnet id(s)"),
    (dict(existing=dict(**{**GOOD_EXISTING, "public_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1"]})), "existing",
     "subnet-0aaaaaaaaaaaaaaa1 listed as both private and public"),
    (dict(existing=dict(**GOOD_EXISTING), flow_logs=True), "existing",
     "flow_logs would create resources in an adopted VPC"),
])
def test_validation_errors(kw, field, text):
    with pytest.raises(ValidationError) as err:
        network(**kw)
    assert err.value.field == field
    message = str(err.value)
    assert message.startswith(f"{field}: ") and text in message
    assert "; " in message and "\n" not in message  # one line: problem; fix


def test_validation_message_names_the_fix():
    with pytest.raises(ValidationError, match=r"^az_count: input should be less than or equal to 6; use a value <= 6$"):
        network(az_count=7)
    with pytest.raises(ValidationError, match=r"; list at least 3 zones or lower az_count$"):
        network(az_count=3, availability_zones=["us-east-1a", "us-east-1b"])


def test_more_zones_than_the_region_has():
    # us-west-1 offers 2 zones.
    with pytest.raises(ValidationError, match=r"^az_count: is 3 but the region has 2 available zone\(s\) "
                                              r"\(us-west-1a, us-west-1b\); set az_count to at most 2$"):
        network(az_count=3, region="us-west-1")


def test_validation_happens_before_anything_is_registered():
    recorded = []

    def program():
        try:
            Network("net", NetworkArgs(cidr_block="10.0.0.0/8"))
        except ValidationError:
            recorded.append("raised")

    plan = plan_of(program)
    assert recorded == ["raised"] and plan.resources == []

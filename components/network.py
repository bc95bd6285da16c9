"""Network: the VPC the platform runs in, created or adopted.

Created: a VPC over `az_count` availability zones, one public and one private subnet per zone, an
internet gateway, NAT gateway(s) for the private subnets' egress, optional VPC flow logs and optional
S3/ECR/STS endpoints. Nothing is public by default: no subnet hands out public IPs, the VPC's default
security group has no rules, and only load balancers and NAT gateways (on Elastic IPs) face the internet.

Adopted (`existing=ExistingVpc(...)`): nothing is created in AWS; the ids are checked and exposed as the
same outputs, with the VPC's CIDR and the private subnets' zones read from AWS.

Subnet layout (stable when `az_count` grows, so adding a zone never moves an existing subnet): the VPC
CIDR is cut into eight equal blocks. Zone i's private subnet is block i (a /19 of a /16: room for EKS
pod IPs); zone i's public subnet is the i-th eighth of the last block (a /22 of a /16: load balancers
and NAT gateways). Block 6 is left free for later use.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from ._common import ValidationError, child, policy_json, tags

NatMode = Literal["single", "per_az", "none"]
NAT_MODES = ("single", "per_az", "none")
MAX_AZS = 6
# The retention periods CloudWatch Logs accepts (0 = never expire).
LOG_RETENTION_DAYS = (
    0,
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
# Interface endpoints (resource-name suffix -> service suffix): image pulls and IRSA credentials stay
# inside the VPC. ECR image layers come from S3, through the gateway endpoint.
INTERFACE_ENDPOINTS = {"ecr-api": "ecr.api", "ecr-dkr": "ecr.dkr", "sts": "sts"}

_VPC_ID = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")


@dataclass
class ExistingVpc:
    """A VPC and subnets that already exist; the Network adopts them and creates nothing.

    Fields:
        vpc_id (str): the VPC's id, `vpc-` + 8 or 17 hex digits.
        private_subnet_ids (list[str]): at least 2 private subnets (in different zones, for EKS), where
            nodes and the database go.
        public_subnet_ids (list[str], default []): public subnets for internet-facing load balancers;
            empty when the VPC has none.
    """

    vpc_id: str
    private_subnet_ids: list[str]
    public_subnet_ids: list[str] = field(default_factory=list)


@dataclass
class NetworkArgs:
    """Inputs of a Network.

    Fields:
        az_count (int, default 2): availability zones to span, 1..6. The zones are the first `az_count`
            the region reports as available (or of `availability_zones`, when given).
        availability_zones (list[str] | None, default None): zone names to use instead of asking AWS;
            needs at least `az_count` distinct names.
        cidr_block (str, default "10.0.0.0/16"): the VPC's IPv4 CIDR, prefix /16 to /20.
        nat_gateways ("single" | "per_az" | "none", default "single"): one NAT gateway in the first
            zone (cheapest), one per zone (egress survives a zone outage), or none (private subnets get
            no route to the internet; pair with `vpc_endpoints`).
        flow_logs (bool, default False): record all VPC traffic (ACCEPT and REJECT) to a CloudWatch log
            group through a role that may only write to that group.
        flow_log_retention_days (int, default 30): days the flow-log group keeps records; one of the
            periods CloudWatch Logs accepts (0 = forever).
        vpc_endpoints (bool, default False): an S3 gateway endpoint on the private route tables and
            ECR API, ECR Docker and STS interface endpoints (private DNS) in the private subnets, behind
            a security group admitting HTTPS from the VPC CIDR only.
        cluster_name (str | None, default None): the EKS cluster that uses the subnets; tags them
            `kubernetes.io/cluster/<name>: shared`, and the private ones `karpenter.sh/discovery: <name>`.
            Public subnets are always tagged `kubernetes.io/role/elb: 1`, private ones
            `kubernetes.io/role/internal-elb: 1` (load balancer subnet discovery).
        existing (ExistingVpc | None, default None): adopt this VPC instead of creating one; then
            nothing is created, and `flow_logs` / `vpc_endpoints` must stay off (they would need
            resources in a VPC mlplatform does not own).
        tags (dict[str, str], default {}): extra tags on every AWS resource.
    """

    az_count: int = 2
    availability_zones: list[str] | None = None
    cidr_block: str = "10.0.0.0/16"
    nat_gateways: NatMode = "single"
    flow_logs: bool = False
    flow_log_retention_days: int = 30
    vpc_endpoints: bool = False
    cluster_name: str | None = None
    existing: ExistingVpc | None = None
    tags: dict[str, str] = field(default_factory=dict)


def subnet_cidrs(cidr_block: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs for the first `az_count` zones (layout in the module docstring)."""
    blocks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(
        ipaddress.ip_network(cidr_block).subnets(prefixlen_diff=3)
    )
    private = [str(b) for b in blocks[:az_count]]
    public = [str(b) for b in list(blocks[7].subnets(prefixlen_diff=3))[:az_count]]
    return public, private


def _validate(args: NetworkArgs) -> None:
    if isinstance(args.az_count, bool) or not isinstance(args.az_count, int) or not 1 <= args.az_count <= MAX_AZS:
        raise ValidationError(
            "az_count",
            f"must be an integer from 1 to {MAX_AZS}, got {args.az_count!r}",
            "use 2 (one NAT, cheapest HA for EKS) or 3 (production)",
        )
    if args.availability_zones is not None:
        zones = list(args.availability_zones)
        if not all(isinstance(z, str) and z for z in zones) or len(set(zones)) != len(zones):
            raise ValidationError(
                "availability_zones",
                f"must be distinct zone names, got {zones!r}",
                "list each zone once, like ['us-east-1a', 'us-east-1b']",
            )
        if len(zones) < args.az_count:
            raise ValidationError(
                "availability_zones",
                f"names {len(zones)} zone(s) but az_count is {args.az_count}",
                f"list at least {args.az_count} zones or lower az_count",
            )
    try:
        net = ipaddress.ip_network(args.cidr_block, strict=True)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            "cidr_block",
            f"{args.cidr_block!r} is not an IPv4 network ({exc})",
            "use a network address with its prefix, like 10.0.0.0/16",
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValidationError("cidr_block", f"{args.cidr_block!r} is IPv6", "use an IPv4 network like 10.0.0.0/16")
    if not 16 <= net.prefixlen <= 20:
        raise ValidationError(
            "cidr_block",
            f"prefix /{net.prefixlen} of {args.cidr_block} is outside /16../20",
            "use a /16 (recommended: EKS pods take VPC IPs) down to a /20",
        )
    if args.nat_gateways not in NAT_MODES:
        raise ValidationError(
            "nat_gateways",
            f"must be one of {', '.join(NAT_MODES)}, got {args.nat_gateways!r}",
            "use 'single' (one NAT), 'per_az' (one per zone) or 'none'",
        )
    if args.flow_log_retention_days not in LOG_RETENTION_DAYS:
        raise ValidationError(
            "flow_log_retention_days",
            f"{args.flow_log_retention_days!r} is not a retention CloudWatch Logs accepts",
            f"use one of {', '.join(map(str, LOG_RETENTION_DAYS))}",
        )
    if args.cluster_name is not None and not _CLUSTER_NAME.match(str(args.cluster_name)):
        raise ValidationError(
            "cluster_name",
            f"{args.cluster_name!r} is not a valid EKS cluster name",
            "use 1-100 letters, digits, '-' or '_', starting with a letter or digit",
        )
    if not isinstance(args.tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in args.tags.items()
    ):
        raise ValidationError("tags", "must map strings to strings", "quote every tag key and value")
    if args.existing is not None:
        _validate_existing(args)


def _validate_existing(args: NetworkArgs) -> None:
    ex = args.existing
    if ex is None:  # callers check first; `ex.vpc_id` below would raise this same error
        raise AttributeError("'NoneType' object has no attribute 'vpc_id'")
    if not isinstance(ex.vpc_id, str) or not _VPC_ID.match(ex.vpc_id):
        raise ValidationError(
            "existing.vpc_id",
            f"{ex.vpc_id!r} is not a VPC id",
            "give the id from the VPC console, like vpc-0123456789abcdef0",
        )
    for fname in ("private_subnet_ids", "public_subnet_ids"):
        ids = list(getattr(ex, fname))
        bad = [s for s in ids if not isinstance(s, str) or not _SUBNET_ID.match(s)]
        if bad:
            raise ValidationError(
                f"existing.{fname}",
                f"{', '.join(map(repr, bad))} not subnet id(s)",
                "give ids like subnet-0123456789abcdef0",
            )
        if len(set(ids)) != len(ids):
            raise ValidationError(f"existing.{fname}", "lists a subnet twice", "list each subnet once")
    if len(ex.private_subnet_ids) < 2:
        raise ValidationError(
            "existing.private_subnet_ids",
            f"has {len(ex.private_subnet_ids)} subnet(s); EKS needs at least 2",
            "give private subnets in at least 2 availability zones",
        )
    both = set(ex.private_subnet_ids) & set(ex.public_subnet_ids)
    if both:
        raise ValidationError(
            "existing",
            f"{', '.join(sorted(both))} listed as both private and public",
            "list each subnet under the one role it has",
        )
    if args.flow_logs or args.vpc_endpoints:
        on = " and ".join(f for f in ("flow_logs", "vpc_endpoints") if getattr(args, f))
        raise ValidationError(
            "existing",
            f"{on} would create resources in an adopted VPC, and adopting creates nothing",
            f"set {on} to False and configure them on the existing VPC itself",
        )


class Network(pulumi.ComponentResource):
    """The platform's VPC: created from `NetworkArgs`, or adopted from `NetworkArgs.existing`.

    Outputs: `vpc_id`, `vpc_cidr_block`, `public_subnet_ids`, `private_subnet_ids` (zone order) and
    `availability_zones` (the zone names used; for an adopted VPC, its private subnets' zones).
    """

    vpc_id: pulumi.Output[str]
    vpc_cidr_block: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    availability_zones: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("mlplatform:network:Network", name, None, opts)
        if args.existing is not None:
            self._adopt(args.existing)
        else:
            self._create(name, args)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "vpc_cidr_block": self.vpc_cidr_block,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "availability_zones": self.availability_zones,
            }
        )

    # -- adopt -------------------------------------------------------------------------------
    def _adopt(self, ex: ExistingVpc) -> None:
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self.vpc_id = pulumi.Output.from_input(ex.vpc_id)
        self.vpc_cidr_block = aws.ec2.get_vpc_output(id=ex.vpc_id, opts=invoke).cidr_block
        self.public_subnet_ids = pulumi.Output.from_input(list(ex.public_subnet_ids))
        self.private_subnet_ids = pulumi.Output.from_input(list(ex.private_subnet_ids))
        zones = [aws.ec2.get_subnet_output(id=s, opts=invoke).availability_zone for s in ex.private_subnet_ids]
        self.availability_zones = pulumi.Output.all(*zones).apply(lambda zs: sorted(set(zs)))

    # -- create ------------------------------------------------------------------------------
    def _zones(self, args: NetworkArgs) -> list[str]:
        if args.availability_zones is not None:
            return list(args.availability_zones)[: args.az_count]
        found = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(parent=self)).names
        if len(found) < args.az_count:
            raise ValidationError(
                "az_count",
                f"is {args.az_count} but the region has {len(found)} available zone(s) ({', '.join(found)})",
                f"set az_count to at most {len(found)}",
            )
        return list(found)[: args.az_count]

    def _create(self, name: str, args: NetworkArgs) -> None:
        zones = self._zones(args)
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr_block, args.az_count)

        def t(**more: str) -> dict[str, str]:
            return tags(name, args.tags, **more)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            instance_tenancy="default",
            tags=t(Name=name),
            opts=child(self),
        )
        # CKV2_AWS_12: the default security group admits and sends nothing.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], tags=t(Name=f"{name}-default"), opts=child(self)
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=t(Name=name), opts=child(self))

        cluster: dict[str, str] = {}
        if args.cluster_name:
            cluster = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        public, private = [], []
        for i, zone in enumerate(zones):
            public.append(
                aws.ec2.Subnet(
                    f"{name}-public-{i}",
                    vpc_id=vpc.id,
                    cidr_block=public_cidrs[i],
                    availability_zone=zone,
                    map_public_ip_on_launch=False,
                    tags=t(Name=f"{name}-public-{zone}", **{"kubernetes.io/role/elb": "1"}, **cluster),
                    opts=child(self),
                )
            )
            discovery = {"karpenter.sh/discovery": args.cluster_name} if args.cluster_name else {}
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[i],
                    availability_zone=zone,
                    map_public_ip_on_launch=False,
                    tags=t(
                        Name=f"{name}-private-{zone}",
                        **{"kubernetes.io/role/internal-elb": "1"},
                        **cluster,
                        **discovery,
                    ),
                    opts=child(self),
                )
            )

        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=t(Name=f"{name}-public"),
            opts=child(self),
        )
        for i, subnet in enumerate(public):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=child(self)
            )

        nat_count = {"single": 1, "per_az": len(zones), "none": 0}[args.nat_gateways]
        nats = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags=t(Name=f"{name}-nat-{zones[i]}"), opts=child(self))
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=public[i].id,
                    connectivity_type="public",
                    tags=t(Name=f"{name}-nat-{zones[i]}"),
                    opts=child(self, depends_on=[igw]),
                )
            )

        # One private route table per NAT gateway (one in all when there is no NAT).
        private_rts = []
        for i in range(max(nat_count, 1)):
            routes = [aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[i].id)] if nats else []
            label = zones[i] if args.nat_gateways == "per_az" else "all"
            private_rts.append(
                aws.ec2.RouteTable(
                    f"{name}-private-{i}",
                    vpc_id=vpc.id,
                    routes=routes,
                    tags=t(Name=f"{name}-private-{label}"),
                    opts=child(self),
                )
            )
        for i, subnet in enumerate(private):
            table = private_rts[i] if args.nat_gateways == "per_az" else private_rts[0]
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}", subnet_id=subnet.id, route_table_id=table.id, opts=child(self)
            )

        if args.flow_logs:
            self._flow_logs(name, args, vpc, t)
        if args.vpc_endpoints:
            self._endpoints(name, args, vpc, private, private_rts, t)

        self.vpc_id = vpc.id
        self.vpc_cidr_block = vpc.cidr_block
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.availability_zones = pulumi.Output.from_input(zones)

    def _flow_logs(self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc, t) -> None:
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", retention_in_days=args.flow_log_retention_days, tags=t(), opts=child(self)
        )
        # Confused-deputy guard: only flow logs of this account may assume the role (EC2 user guide,
        # "IAM role for publishing flow logs to CloudWatch Logs").
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        trust = account.apply(
            lambda acct: policy_json(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": acct}},
                    }
                ]
            )
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=trust,
            description=f"VPC flow logs of {name}: write to its log group only",
            tags=t(),
            opts=child(self),
        )
        write = aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                            "Resource": [arn, f"{arn}:*"],
                        }
                    ]
                )
            ),
            opts=child(self),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            tags=t(),
            opts=child(self, depends_on=[write]),
        )

    def _endpoints(
        self,
        name: str,
        args: NetworkArgs,
        vpc: aws.ec2.Vpc,
        private: list[aws.ec2.Subnet],
        private_rts: list[aws.ec2.RouteTable],
        t,
    ) -> None:
        region = aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=t(Name=f"{name}-s3"),
            opts=child(self),
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to its interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[args.cidr_block],
                    description="HTTPS from the VPC CIDR",
                )
            ],
            egress=[],
            tags=t(Name=f"{name}-endpoints"),
            opts=child(self),
        )
        for key, service in INTERFACE_ENDPOINTS.items():
            aws.ec2.VpcEndpoint(
                f"{name}-{key}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in private],
                security_group_ids=[sg.id],
                tags=t(Name=f"{name}-{key}"),
                opts=child(self),
            )

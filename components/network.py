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

import pulumi
import pulumi_aws as aws

from ._common import ValidationError, child, policy_json, tags
from .args.network import LOG_RETENTION_DAYS as LOG_RETENTION_DAYS
from .args.network import MAX_AZS as MAX_AZS
from .args.network import NAT_MODES as NAT_MODES
from .args.network import ExistingVpc as ExistingVpc
from .args.network import NatMode as NatMode
from .args.network import NetworkArgs as NetworkArgs
from .args.network import NetworkSettings as NetworkSettings

# Interface endpoints (resource-name suffix -> service suffix): image pulls and IRSA credentials stay
# inside the VPC. ECR image layers come from S3, through the gateway endpoint.
INTERFACE_ENDPOINTS = {"ecr-api": "ecr.api", "ecr-dkr": "ecr.dkr", "sts": "sts"}


def subnet_cidrs(cidr_block: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs for the first `az_count` zones (layout in the module docstring)."""
    blocks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(
        ipaddress.ip_network(cidr_block).subnets(prefixlen_diff=3)
    )
    private = [str(b) for b in blocks[:az_count]]
    public = [str(b) for b in list(blocks[7].subnets(prefixlen_diff=3))[:az_count]]
    return public, private


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

"""The inputs of `Network` (components/network.py), Pulumi-free: the stack spec's `network:` section is
built from `NetworkSettings`, its `existing` IS `ExistingVpc`."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from . import Args, Section, ValidationError

NatMode = Literal["single", "per_az", "none"]
NAT_MODES = ("single", "per_az", "none")
MAX_AZS = 6
# EKS (CreateCluster: subnets in at least two AZs) and an RDS DB subnet group (at least two AZs) both
# refuse one zone, at `up`: a created network spans two or more.
MIN_AZS = 2
# The retention periods CloudWatch Logs accepts (0 = never expire).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    *(0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
_VPC_ID = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")


class ExistingVpc(Section):
    """A VPC and subnets that already exist; the Network adopts them and creates nothing.

    Fields:
        vpc_id (str): the VPC's id, `vpc-` + 8 or 17 hex digits.
        private_subnet_ids (list[str]): at least 2 private subnets (in different zones, for EKS), where
            nodes and the database go; each once.
        public_subnet_ids (list[str], default []): public subnets for internet-facing load balancers;
            empty when the VPC has none; none of them also private.
    """

    positional = ("vpc_id", "private_subnet_ids", "public_subnet_ids")

    vpc_id: str
    private_subnet_ids: list[str]
    public_subnet_ids: list[str] = []

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, v: str) -> str:
        if not _VPC_ID.match(v):
            raise ValidationError(
                "", f"{v!r} is not a VPC id", "give the id from the VPC console, like vpc-0123456789abcdef0"
            )
        return v

    @field_validator("private_subnet_ids", "public_subnet_ids")
    @classmethod
    def _subnets(cls, ids: list[str]) -> list[str]:
        bad = [s for s in ids if not _SUBNET_ID.match(s)]
        if bad:
            raise ValidationError(
                "", f"{', '.join(map(repr, bad))} not subnet id(s)", "give ids like subnet-0123456789abcdef0"
            )
        if len(set(ids)) != len(ids):
            raise ValidationError("", "lists a subnet twice", "list each subnet once")
        return ids

    @field_validator("private_subnet_ids")
    @classmethod
    def _two(cls, ids: list[str]) -> list[str]:
        if len(ids) < 2:
            raise ValidationError(
                "",
                f"has {len(ids)} subnet(s); EKS needs at least 2",
                "give private subnets in at least 2 availability zones",
            )
        return ids

    @model_validator(mode="after")
    def _roles(self) -> ExistingVpc:
        both = set(self.private_subnet_ids) & set(self.public_subnet_ids)
        if both:
            raise ValidationError(
                "",
                f"{', '.join(sorted(both))} listed as both private and public",
                "list each subnet under the one role it has",
            )
        return self


class NetworkSettings(Section):
    """What a user chooses of the network: the fields `NetworkArgs` and the stack's `network:` section
    share (one definition of each bound and default).

    Fields:
        az_count (int, default 2): availability zones to span, 2..6 (2: one NAT, cheapest HA for EKS;
            3: production).
        cidr_block (str, default "10.0.0.0/16"): the VPC's IPv4 CIDR, prefix /16 to /20.
        nat_gateways ("single" | "per_az" | "none", default "single"): one NAT gateway in the first
            zone (cheapest), one per zone (egress survives a zone outage), or none (private subnets get
            no route to the internet; pair with `vpc_endpoints`).
        flow_logs (bool, default False): record all VPC traffic (ACCEPT and REJECT) to a CloudWatch log
            group through a role that may only write to that group.
        vpc_endpoints (bool, default False): an S3 gateway endpoint on the private route tables and
            ECR API, ECR Docker and STS interface endpoints (private DNS) in the private subnets, behind
            a security group admitting HTTPS from the VPC CIDR only.
        existing (ExistingVpc | None, default None): adopt this VPC instead of creating one.
    """

    az_count: int = Field(2, ge=MIN_AZS, le=MAX_AZS)
    cidr_block: str = "10.0.0.0/16"
    nat_gateways: NatMode = "single"
    flow_logs: bool = False
    vpc_endpoints: bool = False
    existing: ExistingVpc | None = None

    @field_validator("cidr_block")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as exc:
            raise ValidationError(
                "", f"{v!r} is not an IPv4 network ({exc})", "use a network address with its prefix, like 10.0.0.0/16"
            ) from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise ValidationError("", f"{v!r} is IPv6", "use an IPv4 network like 10.0.0.0/16")
        if not 16 <= net.prefixlen <= 20:
            raise ValidationError(
                "",
                f"prefix /{net.prefixlen} of {v} is outside /16../20",
                "use a /16 (recommended: EKS pods take VPC IPs) down to a /20",
            )
        return v

    @field_validator("az_count", mode="before")
    @classmethod
    def _two_zones(cls, v: object) -> object:
        # before the bound check, so the refusal says why (a created network spans two or more zones)
        if isinstance(v, int) and not isinstance(v, bool) and v < MIN_AZS:
            raise ValidationError(
                "",
                f"is {v}, but EKS needs subnets in at least {MIN_AZS} availability zones "
                "(vpcConfig.subnetIds) and so does the RDS DB subnet group; AWS refuses both at `up`",
                f"use {MIN_AZS} or more zones",
            )
        return v


class NetworkArgs(NetworkSettings, Args):
    """Inputs of a Network: `NetworkSettings` (az_count, cidr_block, nat_gateways, flow_logs,
    vpc_endpoints, existing) plus:

    Fields:
        availability_zones (list[str] | None, default None): zone names to use instead of asking AWS;
            needs at least `az_count` distinct names.
        flow_log_retention_days (int, default 30): days the flow-log group keeps records; one of the
            periods CloudWatch Logs accepts (0 = forever).
        cluster_name (str | None, default None): the EKS cluster that uses the subnets; tags them
            `kubernetes.io/cluster/<name>: shared`, and the private ones `karpenter.sh/discovery: <name>`.
            Public subnets are always tagged `kubernetes.io/role/elb: 1`, private ones
            `kubernetes.io/role/internal-elb: 1` (load balancer subnet discovery).
        tags (dict[str, str], default {}): extra tags on every AWS resource.
    With `existing`, nothing is created, and `flow_logs` / `vpc_endpoints` must stay off (they would
    need resources in a VPC mlplatform does not own).
    """

    availability_zones: list[str] | None = None
    flow_log_retention_days: int = 30
    cluster_name: str | None = None
    tags: dict[str, str] = {}

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, zones: list[str] | None) -> list[str] | None:
        if zones is not None and (not all(zones) or len(set(zones)) != len(zones)):
            raise ValidationError(
                "",
                f"must be distinct zone names, got {zones!r}",
                "list each zone once, like ['us-east-1a', 'us-east-1b']",
            )
        return zones

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        if v not in LOG_RETENTION_DAYS:
            raise ValidationError(
                "",
                f"{v!r} is not a retention CloudWatch Logs accepts",
                f"use one of {', '.join(map(str, LOG_RETENTION_DAYS))}",
            )
        return v

    @field_validator("cluster_name")
    @classmethod
    def _cluster(cls, v: str | None) -> str | None:
        if v is not None and not _CLUSTER_NAME.match(v):
            raise ValidationError(
                "",
                f"{v!r} is not a valid EKS cluster name",
                "use 1-100 letters, digits, '-' or '_', starting with a letter or digit",
            )
        return v

    @model_validator(mode="after")
    def _context(self) -> NetworkArgs:
        if self.availability_zones is not None and len(self.availability_zones) < self.az_count:
            raise ValidationError(
                "availability_zones",
                f"names {len(self.availability_zones)} zone(s) but az_count is {self.az_count}",
                f"list at least {self.az_count} zones or lower az_count",
            )
        if self.existing is not None and (self.flow_logs or self.vpc_endpoints):
            on = " and ".join(f for f in ("flow_logs", "vpc_endpoints") if getattr(self, f))
            raise ValidationError(
                "existing",
                f"{on} would create resources in an adopted VPC, and adopting creates nothing",
                f"set {on} to False and configure them on the existing VPC itself",
            )
        return self

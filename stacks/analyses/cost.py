"""Monthly cost of a Plan, per resource and per component, from a price file and a usage file.

Like Infracost's breakdown, each resource gets cost lines of three kinds:
- fixed: always-on hourly prices x 730 h (EKS control plane, NAT gateways, public IPv4, nodes at
  their running count, the database instance, KMS keys, load balancers that ingresses create);
- storage: provisioned volumes priced per GB-month (node root volumes, database storage,
  persistent volumes of Helm releases);
- usage: quantities from the usage file (`stacks/data/usage-default.yaml` documents each default):
  GPU node-hours, runner-hours, NAT gigabytes, S3/ECR gigabytes, log gigabytes, backup gigabytes,
  load balancer capacity units.

Idle cost = fixed + storage with GPU pools and runner scale sets at their minimum: the bill of a
platform nobody is using. The total adds the usage lines.

Prices come from `stacks/data/prices-<region>.json` (derived from the shared snapshot
`shared/pricing/aws-prices.json`, each value with its source and date). A missing price is never
invented: that line shows `gap`, it stays out of the totals, and the report lists it;
`--live-prices` asks the AWS Price List API (boto3 `pricing`) for the prices the plan needs.

Every resource type in a plan is either priced here or listed in FREE with the reason;
`uncovered_types()` names any other (a test keeps that list empty for every profile).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mlplatform.components.conventions import CPU_BATCH_POOL as CPU_BATCH_POOL_NAME
from mlplatform.components.conventions import GPU_LABEL, POOL_LABEL, RUNNER_CHART
from mlplatform.components.quantity import GIB, QuantityError, parse_quantity

from ..config.spec import SpecError
from ..plan.offline import Plan, PlannedResource

HOURS_PER_MONTH = 730
DATA = Path(__file__).parents[1] / "data"
USAGE_DEFAULT = DATA / "usage-default.yaml"

# Types that cost nothing by themselves, with the reason shown in the report.
FREE: dict[str, str] = {
    "aws:ec2/vpc:Vpc": "VPCs are free",
    "aws:ec2/subnet:Subnet": "subnets are free",
    "aws:ec2/internetGateway:InternetGateway": "internet gateways are free (data transfer is billed per GB)",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "security groups are free",
    "aws:ec2/securityGroup:SecurityGroup": "security groups are free",
    "aws:ec2/securityGroupRule:SecurityGroupRule": "security group rules are free",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "security group rules are free",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "security group rules are free",
    "aws:ec2/routeTable:RouteTable": "route tables are free",
    "aws:ec2/route:Route": "routes are free",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "route table associations are free",
    "aws:ec2/launchTemplate:LaunchTemplate": "launch templates are free (their volumes are priced on the node group)",
    "aws:ec2/flowLog:FlowLog": "flow logs are billed as log ingestion on their log group",
    "aws:eks/addon:Addon": "EKS add-ons are free (their pods run on the nodes)",
    "aws:eks/accessEntry:AccessEntry": "EKS access entries are free",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "EKS access policies are free",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "EKS Pod Identity is free",
    "aws:iam/role:Role": "IAM is free",
    "aws:iam/rolePolicy:RolePolicy": "IAM is free",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM is free",
    "aws:iam/policy:Policy": "IAM is free",
    "aws:iam/instanceProfile:InstanceProfile": "IAM is free",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "IAM is free",
    "aws:kms/alias:Alias": "KMS aliases are free (the key is priced)",
    "aws:autoscaling/tag:Tag": "Auto Scaling group tags are free",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "ECR lifecycle policies are free",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "ECR repository policies are free",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket configuration is free (the bucket is priced)",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "bucket configuration is free (the bucket is priced)",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "bucket configuration is free (the bucket is priced)",
    "aws:s3/bucketVersioning:BucketVersioning": "bucket configuration is free (noncurrent versions count as storage)",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "bucket configuration is free (locked versions count as storage)",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "bucket configuration is free (the bucket is priced)",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "bucket configuration is free (transition requests are negligible here)",
    "aws:rds/subnetGroup:SubnetGroup": "DB subnet groups are free",
    "aws:rds/parameterGroup:ParameterGroup": "DB parameter groups are free",
    "aws:sqs/queue:Queue": "an interruption queue stays in SQS's free 1M requests/month (price notes)",
    "aws:sqs/queuePolicy:QueuePolicy": "SQS queue policies are free",
    "aws:cloudwatch/eventRule:EventRule": "rules on AWS service events are free (price notes)",
    "aws:cloudwatch/eventTarget:EventTarget": "rules on AWS service events are free (price notes)",
    "random:index/randomPassword:RandomPassword": "generated locally by Pulumi",
    "random:index/randomString:RandomString": "generated locally by Pulumi",
    "random:index/randomId:RandomId": "generated locally by Pulumi",
    "pulumi:providers:kubernetes": "a Pulumi provider, not a cloud resource",
    "pulumi:providers:aws": "a Pulumi provider, not a cloud resource",
}
_ZERO_DEFAULT = "nothing billed at these quantities (at its minimum of 0, and no usage for it in the usage file)"
_ZERO = {
    "aws:ec2/vpcEndpoint:VpcEndpoint": "gateway endpoints (S3, DynamoDB) are free",
    "kubernetes:helm.sh/v3:Release": "runs on the cluster's nodes, which are priced (no volume, no load balancer)",
    "kubernetes:networking.k8s.io/v1:Ingress": "not an ALB ingress: no AWS load balancer",
    "kubernetes:core/v1:Service": "not type LoadBalancer: no AWS load balancer",
    "kubernetes:core/v1:PersistentVolumeClaim": "no storage request",
}
_KUBERNETES_FREE = "a Kubernetes object: runs on the cluster's nodes, which are priced"
_COMPONENT_FREE = "a component: a grouping of the resources under it, which are priced"


# -- prices ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    """One looked-up price. status: ok | gap (no source) | not_offered (type not sold in the region)."""

    key: str
    value: float | None
    source: str | None
    status: str


class PriceBook:
    """The prices of one region (the content of `stacks/data/prices-<region>.json`)."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.region: str = data["region"]
        self.snapshot_date: str = data["snapshot_date"]
        self.prices: dict[str, Any] = data["prices"]
        self.sources: dict[str, str] = data["sources"]
        self.not_offered: set[str] = set(data.get("not_offered") or ())
        self.spot_discount: dict[str, Any] | None = data.get("spot_discount")

    def price(self, *path: str) -> Price:
        key = ".".join(path)
        node: Any = self.prices
        for p in path:
            node = node.get(p) if isinstance(node, dict) else None
        source = self.sources.get(key)
        if node is None and path[0] == "ec2" and len(path) == 2:
            node = (self.prices.get("ec2_all") or {}).get(path[1])
            source = self.sources.get("ec2_all") if node is not None else source
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            return Price(key, float(node), source, "ok")
        if path[0] == "ec2" and len(path) == 2 and path[1] in self.not_offered:
            return Price(key, None, None, "not_offered")
        return Price(key, None, None, "gap")

    def with_prices(self, found: dict[tuple[str, ...], tuple[float, str]]) -> PriceBook:
        """A copy with these prices set (value, source), e.g. from the Price List API."""
        data = copy.deepcopy(self.data)
        for path, (value, source) in found.items():
            node = data["prices"]
            for p in path[:-1]:
                node = node.setdefault(p, {})
            node[path[-1]] = value
            key = ".".join(path)
            data["sources"][key] = source
            data["gaps"] = [g for g in data.get("gaps", []) if g != key]
        return PriceBook(data)


def price_file(region: str) -> Path:
    return DATA / f"prices-{region}.json"


@cache
def _price_data(region: str) -> str:
    path = price_file(region)
    if not path.exists():
        shipped = sorted(p.stem.removeprefix("prices-") for p in DATA.glob("prices-*.json"))
        raise SpecError(
            "region",
            f"no price file for {region}",
            f"use one of {', '.join(shipped)}, or --live-prices to fetch {region}'s prices",
        )
    return path.read_text()


def load_prices(region: str) -> PriceBook:
    return PriceBook(json.loads(_price_data(region)))


# -- usage ---------------------------------------------------------------------------------------------
def load_usage(path: str | Path | None = None) -> dict[str, Any]:
    """The usage defaults, with the user's file (same keys) merged over them."""
    from mlplatform.components.merge import deep_merge

    from ..config.stackfile import read_yaml_file

    usage = yaml.safe_load(USAGE_DEFAULT.read_text())
    if path is None:
        return usage
    user = read_yaml_file(path, what="--usage")
    unknown = sorted(set(user) - set(usage))
    if unknown:
        raise SpecError(
            f"--usage {unknown[0]}", "unknown key", f"use the keys of {USAGE_DEFAULT.name}: {', '.join(sorted(usage))}"
        )
    _check_usage(user, usage, "--usage")
    return deep_merge(usage, user)


# Sections whose keys the user names (GPU pools by name); every value there is a number of hours.
_OPEN_USAGE_SECTIONS = ("gpu_node_hours",)


def _check_usage(user: dict[str, Any], default: dict[str, Any], where: str) -> None:
    """Each user value has the default's shape: a mapping where it is one, else a number >= 0 or a text."""
    for key, value in user.items():
        here = f"{where} {key}" if where == "--usage" else f"{where}.{key}"
        model = default.get(key)
        if isinstance(model, dict):
            if not isinstance(value, dict):
                raise SpecError(
                    here,
                    f"must be a mapping like the default's, got {value!r}",
                    f"see {USAGE_DEFAULT.name} for its keys",
                )
            if key in _OPEN_USAGE_SECTIONS:
                _check_usage(value, {k: 0 for k in value}, here)
            else:
                extra = sorted(set(value) - set(model))
                if extra:
                    raise SpecError(f"{here}.{extra[0]}", "unknown key", f"use one of {', '.join(sorted(model))}")
                _check_usage(value, model, here)
        elif isinstance(model, str):
            if not isinstance(value, str):
                raise SpecError(
                    here, f"must be text, got {value!r}", "write it like the default in " + USAGE_DEFAULT.name
                )
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SpecError(here, f"must be a number >= 0, got {value!r}", "give hours, GB or a count, like 40")


# -- the report ----------------------------------------------------------------------------------------
@dataclass
class CostLine:
    """One priced quantity of a resource. `monthly` is None when the price is a gap."""

    what: str
    kind: str  # fixed | storage | usage
    quantity: float
    unit: str
    price_key: str
    unit_price: float | None
    source: str | None
    status: str
    idle: bool

    @property
    def monthly(self) -> float | None:
        return None if self.unit_price is None else self.quantity * self.unit_price


@dataclass
class ResourceCost:
    urn: str
    type: str
    name: str
    component: str
    lines: list[CostLine] = field(default_factory=list)
    free: str | None = None

    @property
    def monthly(self) -> float:
        return sum(line.monthly or 0.0 for line in self.lines)

    @property
    def idle(self) -> float:
        return sum(line.monthly or 0.0 for line in self.lines if line.idle)

    @property
    def gaps(self) -> list[CostLine]:
        return [line for line in self.lines if line.monthly is None]


@dataclass
class GpuHour:
    """The price of one GPU-hour on one instance type of a pool."""

    pool: str
    instance_type: str
    gpus: int | None
    capacity: str
    on_demand: float | None  # $/GPU-hour
    spot_low: float | None  # $/GPU-hour at the largest observed discount
    spot_high: float | None  # ... at the smallest
    note: str = ""


@dataclass
class CostReport:
    region: str
    profile: str
    snapshot_date: str
    resources: list[ResourceCost]
    gpu_hours: list[GpuHour]
    uncovered: list[str]
    usage: dict[str, Any]

    @property
    def monthly(self) -> float:
        return sum(r.monthly for r in self.resources)

    @property
    def idle(self) -> float:
        return sum(r.idle for r in self.resources)

    @property
    def gaps(self) -> list[tuple[ResourceCost, CostLine]]:
        return [(r, line) for r in self.resources for line in r.gaps]

    @property
    def idle_gaps(self) -> list[tuple[ResourceCost, CostLine]]:
        """The unpriced lines the idle figure would include: with any, idle is a lower bound."""
        return [(r, line) for r, line in self.gaps if line.idle]

    def headline(self, idle: bool) -> str:
        """'$X/month', or 'at least $X/month (unpriced: KEY on NAME, NAME; ...)': never a total with a gap."""
        total = self.idle if idle else self.monthly
        gaps = self.idle_gaps if idle else self.gaps
        if not gaps:
            return f"${total:,.2f}/month"
        return f"at least ${total:,.2f}/month (unpriced: {unpriced_summary(gaps)})"

    def by_component(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for r in self.resources:
            c = out.setdefault(r.component, {"idle": 0.0, "monthly": 0.0})
            c["idle"] += r.idle
            c["monthly"] += r.monthly
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "profile": self.profile,
            "currency": "USD",
            "price_snapshot": self.snapshot_date,
            "idle_monthly": round(self.idle, 2),
            "monthly_with_usage": round(self.monthly, 2),
            # A gap is never summed as zero into something read as a total: the headlines say "at least".
            "idle_is_total": not self.idle_gaps,
            "monthly_with_usage_is_total": not self.gaps,
            "headline": {"idle": self.headline(idle=True), "monthly_with_usage": self.headline(idle=False)},
            "unpriced": {
                "idle": sorted({x.price_key for _, x in self.idle_gaps}),
                "monthly_with_usage": sorted({x.price_key for _, x in self.gaps}),
            },
            "by_component": {k: {kk: round(vv, 2) for kk, vv in v.items()} for k, v in self.by_component().items()},
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "component": r.component,
                    "idle_monthly": round(r.idle, 2),
                    "monthly": round(r.monthly, 2),
                    "free": r.free,
                    "lines": [
                        {
                            "what": x.what,
                            "kind": x.kind,
                            "quantity": x.quantity,
                            "unit": x.unit,
                            "price_key": x.price_key,
                            "unit_price": x.unit_price,
                            "monthly": None if x.monthly is None else round(x.monthly, 2),
                            "idle": x.idle,
                            "status": x.status,
                            "source": x.source,
                        }
                        for x in r.lines
                    ],
                }
                for r in self.resources
            ],
            "gpu_hour": [vars(g) for g in self.gpu_hours],
            "gaps": [
                {"urn": r.urn, "what": x.what, "price_key": x.price_key, "status": x.status} for r, x in self.gaps
            ],
            "uncovered_types": self.uncovered,
            "usage": self.usage,
            "notes": [
                f"{HOURS_PER_MONTH} hours a month; on-demand Linux list prices, USD, before taxes and discounts",
                "idle = fixed + storage lines with GPU pools and runners at their minimum; "
                "monthly_with_usage adds the usage file's quantities",
                "gaps are left out of every total",
            ],
        }


def unpriced_summary(gaps: list[tuple[ResourceCost, CostLine]]) -> str:
    """'ecr_gb_month on ml-dev-images, ml-dev-models; nat_gateway_gb on ml-dev-nat-0' (price key, then resources)."""
    by_key: dict[str, list[str]] = {}
    for r, line in gaps:
        names = by_key.setdefault(line.price_key, [])
        if r.name not in names:
            names.append(r.name)
    return "; ".join(f"{key} on {', '.join(names)}" for key, names in sorted(by_key.items()))


# -- pricing each resource -------------------------------------------------------------------------------
class _Ctx:
    def __init__(self, plan: Plan, prices: PriceBook, usage: dict[str, Any]):
        self.plan, self.prices, self.usage = plan, prices, usage
        self.by_urn = plan.by_urn()

    def line(self, what: str, kind: str, quantity: float, unit: str, *price_path: str, idle: bool) -> CostLine:
        p = self.prices.price(*price_path)
        return CostLine(what, kind, quantity, unit, p.key, p.value, p.source, p.status, idle)

    def deps_of_type(self, r: PlannedResource, type_: str) -> list[PlannedResource]:
        return [self.by_urn[u] for u in r.depends_on if u in self.by_urn and self.by_urn[u].type == type_]


def _gpu_count(instance_type: str) -> int | None:
    from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES

    found = GPU_INSTANCE_TYPES.get(instance_type)
    return found[0] if found else None


def _is_gpu_group(r: PlannedResource) -> bool:
    labels = r.inputs.get("labels") or {}
    return labels.get(GPU_LABEL) == "true" or any(_gpu_count(t) for t in r.inputs.get("instanceTypes") or [])


def _pool_name(r: PlannedResource) -> str:
    return (r.inputs.get("labels") or {}).get(POOL_LABEL) or r.name


def _gpu_node_hours(usage: dict[str, Any], pool: str) -> float:
    hours = usage.get("gpu_node_hours") or {}
    return float(hours.get(pool, hours.get("default", 0)))


def _node_group(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    types = r.inputs.get("instanceTypes") or ["t3.medium"]  # EKS's default type
    itype = types[0]
    scaling = r.inputs.get("scalingConfig") or {}
    disk = float(r.inputs.get("diskSize") or 20)
    for lt in ctx.deps_of_type(r, "aws:ec2/launchTemplate:LaunchTemplate"):
        for bdm in lt.inputs.get("blockDeviceMappings") or []:
            disk = float((bdm.get("ebs") or {}).get("volumeSize") or disk)
    spot = r.inputs.get("capacityType") == "SPOT"
    how = "spot, priced at on-demand (upper bound)" if spot else "on-demand"
    lines: list[CostLine] = []
    if _is_gpu_group(r):
        pool, low = _pool_name(r), int(scaling.get("minSize") or 0)
        if low:
            lines.append(
                ctx.line(
                    f"{low} x {itype} at the pool minimum ({how})",
                    "fixed",
                    low * HOURS_PER_MONTH,
                    "node-hours",
                    "ec2",
                    itype,
                    idle=True,
                )
            )
            lines.append(
                ctx.line(
                    f"{low} x {disk:g} GiB gp3 root volume",
                    "storage",
                    low * disk,
                    "GB-month",
                    "ebs_gp3_gb_month",
                    idle=True,
                )
            )
        if r.inputs.get("capacityType") != "ON_DEMAND" or not any(
            x.inputs.get("capacityType") == "SPOT" and _pool_name(x) == pool for x in ctx.plan.of_type(r.type)
        ):
            # Usage goes to the pool's first-choice group (spot when it has one).
            hours = _gpu_node_hours(ctx.usage, pool)
            if hours:
                lines.append(
                    ctx.line(
                        f"{hours:g} GPU node-hours on {itype} ({how})",
                        "usage",
                        hours,
                        "node-hours",
                        "ec2",
                        itype,
                        idle=False,
                    )
                )
                lines.append(
                    ctx.line(
                        "root volumes while those nodes run",
                        "usage",
                        hours / HOURS_PER_MONTH * disk,
                        "GB-month",
                        "ebs_gp3_gb_month",
                        idle=False,
                    )
                )
        return lines
    count = int(scaling.get("desiredSize") or scaling.get("minSize") or 0)
    lines.append(
        ctx.line(f"{count} x {itype} ({how})", "fixed", count * HOURS_PER_MONTH, "node-hours", "ec2", itype, idle=True)
    )
    lines.append(
        ctx.line(
            f"{count} x {disk:g} GiB gp3 root volume",
            "storage",
            count * disk,
            "GB-month",
            "ebs_gp3_gb_month",
            idle=True,
        )
    )
    return lines


def _karpenter_pool(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    spec = (r.inputs.get("spec") or {}).get("template", {}).get("spec", {})
    reqs = {q.get("key"): q.get("values") or [] for q in spec.get("requirements") or []}
    types = reqs.get("node.kubernetes.io/instance-type") or []
    pool = ((r.inputs.get("metadata") or {}).get("name")) or r.name
    if not types:  # a CPU batch pool: Karpenter picks c/m/r types; priced per the usage file's instance
        hours = float(ctx.usage.get("cpu_batch", {}).get("node_hours", 0))
        itype = ctx.usage.get("cpu_batch", {}).get("instance_type", "m6i.large")
        return (
            [
                ctx.line(
                    f"{hours:g} CPU batch node-hours on {itype} (on-demand)",
                    "usage",
                    hours,
                    "node-hours",
                    "ec2",
                    itype,
                    idle=False,
                )
            ]
            if hours
            else []
        )
    hours = _gpu_node_hours(ctx.usage, pool)
    return (
        [
            ctx.line(
                f"{hours:g} GPU node-hours on {types[0]} (on-demand; Karpenter starts none while idle)",
                "usage",
                hours,
                "node-hours",
                "ec2",
                types[0],
                idle=False,
            )
        ]
        if hours
        else []
    )


def _rds(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    az = "multi_az" if r.inputs.get("multiAz") else "single_az"
    cls = str(r.inputs.get("instanceClass"))
    label = "Multi-AZ" if az == "multi_az" else "single-AZ"
    engine = str(r.inputs.get("engine", "postgres"))
    table = "rds_postgres" if engine == "postgres" else f"rds_{engine}"
    storage = float(r.inputs.get("allocatedStorage") or 20)
    lines = [
        ctx.line(f"{cls} {label} instance", "fixed", HOURS_PER_MONTH, "hours", table, cls, az, idle=True),
        ctx.line(
            f"{storage:g} GB gp3 storage ({label})", "storage", storage, "GB-month", "rds_gp3_gb_month", az, idle=True
        ),
    ]
    backup = float(ctx.usage.get("rds_backup_gb_beyond_free", 0))
    if backup:
        lines.append(
            ctx.line(
                f"{backup:g} GB backups beyond the free allowance",
                "usage",
                backup,
                "GB-month",
                "rds_backup_gb_month",
                idle=False,
            )
        )
    retention = r.inputs.get("performanceInsightsRetentionPeriod")
    if r.inputs.get("performanceInsightsEnabled") and retention not in (None, 7):
        lines.append(
            ctx.line(
                f"Performance Insights {retention}-day retention",
                "fixed",
                1,
                "instance-month",
                "rds_performance_insights_month",
                idle=True,
            )
        )
    return lines


def _log_kind(r: PlannedResource, ctx: _Ctx) -> str:
    name = str(r.inputs.get("name") or "")
    if name.startswith("/aws/eks/"):
        return "eks_control_plane_gb"
    if name.startswith("/aws/rds/"):
        return "rds_gb"
    for fl in ctx.plan.of_type("aws:ec2/flowLog:FlowLog"):  # the flow log writes to this group
        if r.urn in fl.depends_on or (name and name in str(fl.inputs.get("logDestination", ""))):
            return "vpc_flow_logs_gb"
    return "other_gb"


def _log_group(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    kind = _log_kind(r, ctx)
    gb = float((ctx.usage.get("logs_gb_per_month") or {}).get(kind, 0))
    if not gb:
        return []
    retention = r.inputs.get("retentionInDays")
    stored = gb * (min(float(retention), 365.0) / 30.0 if retention else 12.0)
    return [
        ctx.line(
            f"{gb:g} GB/month ingested ({kind.removesuffix('_gb').replace('_', ' ')})",
            "usage",
            gb,
            "GB",
            "cloudwatch_logs_ingest_gb",
            idle=False,
        ),
        ctx.line(
            f"{stored:g} GB stored at steady state ({retention or 'no'}-day retention)",
            "usage",
            stored,
            "GB-month",
            "cloudwatch_logs_store_gb_month",
            idle=False,
        ),
    ]


def _nat(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    n = max(1, len(ctx.plan.of_type(r.type)))
    gb = float(ctx.usage.get("nat_gateway_gb", 0)) / n
    lines = [ctx.line("NAT gateway", "fixed", HOURS_PER_MONTH, "hours", "nat_gateway_hour", idle=True)]
    if gb:
        lines.append(
            ctx.line(
                f"{gb:g} GB processed (the usage file's total split over {n})",
                "usage",
                gb,
                "GB",
                "nat_gateway_gb",
                idle=False,
            )
        )
    return lines


def _vpc_endpoint(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    if r.inputs.get("vpcEndpointType", "Gateway") == "Gateway":
        return []  # gateway endpoints (S3, DynamoDB) are free
    zones = max(1, len(r.inputs.get("subnetIds") or []))
    return [
        ctx.line(
            f"interface endpoint in {zones} zone(s)",
            "fixed",
            zones * HOURS_PER_MONTH,
            "endpoint-hours",
            "vpc_endpoint_interface_hour",
            idle=True,
        )
    ]


def _helm_release(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    chart = str(r.inputs.get("chart", "")).rsplit("/", 1)[-1]
    values = r.inputs.get("values") or {}
    lines = [_volume_line(ctx, f"persistent volume {what}", size, count) for what, size, count in _volumes(values)]
    for where, kind in _load_balancers(values):
        lines += _load_balancer_lines(where, kind, ctx)
    if chart == RUNNER_CHART:
        lines += _runner_lines(r, values, ctx)
    return lines


def _gib(size: Any) -> float:
    """A storage quantity in GiB (EBS bills GiB-months; "1G" is 10^9 bytes); QuantityError if unreadable."""
    return float(parse_quantity(size) / GIB)


def _volume_line(ctx: _Ctx, what: str, size: Any, count: int = 1) -> CostLine:
    """A gp3 volume line; a size that is not a quantity is a gap naming it, never a $0 line."""
    try:
        gib = count * _gib(size)
    except QuantityError as e:
        return CostLine(what, "storage", 0.0, "GB-month", "ebs_gp3_gb_month", None, None, f"unreadable size: {e}", True)
    if gib < 0:  # the quantity grammar allows a sign; a volume size does not
        return CostLine(
            what, "storage", 0.0, "GB-month", "ebs_gp3_gb_month", None, None, f"negative size {size!r}", True
        )
    return ctx.line(what, "storage", gib, "GB-month", "ebs_gp3_gb_month", idle=True)


def _volumes(values: Any, path: str = "", replicas: int = 1) -> list[tuple[str, Any, int]]:
    """Persistent volumes a chart's values ask for, as (what, size, count): `persistence: {enabled, size}`
    blocks and `volumeClaimTemplate` specs (times the `replicas` next to them), skipping parts with
    `enabled: false`."""
    out: list[tuple[str, Any, int]] = []
    if isinstance(values, list):
        for i, v in enumerate(values):
            out += _volumes(v, f"{path}[{i}]", replicas)
        return out
    if not isinstance(values, dict) or values.get("enabled") is False:
        return out  # a disabled part of the chart creates no volume
    here = int(values["replicas"]) if isinstance(values.get("replicas"), int) else replicas
    for key, v in values.items():
        where = f"{path}.{key}" if path else key
        if key == "persistence" and isinstance(v, dict) and v.get("enabled") and v.get("size"):
            out.append((f"{where} ({v['size']})", v["size"], 1))
        elif key == "volumeClaimTemplate" and isinstance(v, dict):
            size = (((v.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
            if size:
                out.append((f"{where} ({here} x {size})", size, here))
        else:
            out += _volumes(v, where, here)
    return out


def _is_alb(block: dict[str, Any]) -> bool:
    annotations = block.get("annotations") or {}
    return "alb" in (block.get("className"), block.get("ingressClassName")) or any(
        str(k).startswith("alb.ingress.kubernetes.io/") for k in annotations
    )


def _load_balancers(values: Any, path: str = "") -> list[tuple[str, str]]:
    """Load balancers a chart's values ask AWS for: enabled ALB ingresses (one ALB per ingress group)
    and `type: LoadBalancer` services (an NLB with the AWS Load Balancer Controller)."""
    found: list[tuple[str, str]] = []
    groups: set[str] = set()

    def walk(v: Any, where: str) -> None:
        if isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{where}[{i}]")
            return
        if not isinstance(v, dict) or v.get("enabled") is False:
            return
        for key, x in v.items():
            here = f"{where}.{key}" if where else key
            if key == "ingress" and isinstance(x, dict) and x.get("enabled") and _is_alb(x):
                group = (x.get("annotations") or {}).get("alb.ingress.kubernetes.io/group.name")
                if group is None or group not in groups:
                    found.append((here, "alb"))
                    if group:
                        groups.add(group)
            elif key == "service" and isinstance(x, dict) and x.get("type") == "LoadBalancer":
                found.append((here, "nlb"))
            else:
                walk(x, here)

    walk(values, path)
    return found


def _load_balancer_lines(where: str, kind: str, ctx: _Ctx) -> list[CostLine]:
    lcus = float(ctx.usage.get("load_balancer_lcus", 0))
    lines = [ctx.line(f"{kind.upper()} for {where}", "fixed", HOURS_PER_MONTH, "hours", f"{kind}_hour", idle=True)]
    if lcus:
        lines.append(
            ctx.line(
                f"{lcus:g} LCU on average", "usage", lcus * HOURS_PER_MONTH, "LCU-hours", f"{kind}_lcu_hour", idle=False
            )
        )
    return lines


def _k8s_ingress(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    spec = r.inputs.get("spec") or {}
    if spec.get("ingressClassName") == "alb" or _is_alb(r.inputs.get("metadata") or {}):
        return _load_balancer_lines(f"Ingress {(r.inputs.get('metadata') or {}).get('name', r.name)}", "alb", ctx)
    return []


def _k8s_service(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    if (r.inputs.get("spec") or {}).get("type") == "LoadBalancer":
        return _load_balancer_lines(f"Service {(r.inputs.get('metadata') or {}).get('name', r.name)}", "nlb", ctx)
    return []


def _is_gpu_runner_set(r: PlannedResource) -> bool:
    values = r.inputs.get("values") or {}
    return "nvidia.com/gpu" in json.dumps(values) or GPU_LABEL in json.dumps(values) or "gpu" in r.name


def _runner_sets(plan: Plan, gpu: bool) -> list[PlannedResource]:
    return [
        r
        for r in plan.of_type("kubernetes:helm.sh/v3:Release")
        if str(r.inputs.get("chart", "")).rsplit("/", 1)[-1] == RUNNER_CHART and _is_gpu_runner_set(r) == gpu
    ]


def _runner_lines(r: PlannedResource, values: dict[str, Any], ctx: _Ctx) -> list[CostLine]:
    runners = ctx.usage.get("runners") or {}
    gpu = _is_gpu_runner_set(r)
    low = int(values.get("minRunners") or 0)
    if gpu:
        pools = _gpu_instance_types(ctx.plan)
        itype = pools[0][1] if pools else None
        total, kind = float(runners.get("gpu_runner_hours", 0)), "GPU runner"
    else:
        itype = str(runners.get("cpu_runner_instance", "m6i.large"))
        total, kind = float(runners.get("cpu_runner_hours", 0)), "CPU runner"
    if itype is None:
        return []
    n = max(1, len(_runner_sets(ctx.plan, gpu)))
    hours = total / n  # the usage file's total, split evenly over the scale sets of this kind
    lines = []
    if low:
        lines.append(
            ctx.line(
                f"{low} warm {kind}(s) (minRunners) on {itype}",
                "fixed",
                low * HOURS_PER_MONTH,
                "runner-hours",
                "ec2",
                itype,
                idle=True,
            )
        )
    if hours:
        split = f" (the usage file's {total:g} h split over {n} sets)" if n > 1 else ""
        lines.append(
            ctx.line(
                f"{hours:g} {kind}-hours on {itype}{split}", "usage", hours, "runner-hours", "ec2", itype, idle=False
            )
        )
    return lines


def _pvc(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    size = (((r.inputs.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    return [_volume_line(ctx, f"persistent volume ({size})", size)] if size else []


def _serving_quota(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
    """Always-on nodes the served models of one environment need beyond the system nodes (which are
    priced already; the capacity check holds them to fit): CPU models on the Karpenter CPU pool, priced
    as `cpu_batch.instance_type` nodes enough for their steady-state requests; GPU models as nodes of
    their GPU pool's first instance type. Rollouts briefly double this (a full-size canary)."""
    import math

    from .capacity import INSTANCE_TYPES, serving_pods

    meta = r.inputs.get("metadata") or {}
    lines: list[CostLine] = []
    pods = [p for p in serving_pods(ctx.plan) if p.release.startswith(f"{meta.get('namespace')}/")]
    cpu_pods = [p for p in pods if p.pod == CPU_BATCH_POOL_NAME]
    if cpu_pods:
        itype = str((ctx.usage.get("cpu_batch") or {}).get("instance_type", "m6i.large"))
        vcpus, mem_mib, _ = INSTANCE_TYPES.get(itype, (2, 8192, 29))
        # steady state: the quota annotation's peak is stable + canary, half of it runs between rollouts
        cpu = sum(p.cpu_m * p.replicas // 2 for p in cpu_pods)
        mem = sum(p.memory_mib * p.replicas // 2 for p in cpu_pods)
        nodes = max(math.ceil(cpu / (vcpus * 1000)), math.ceil(mem / mem_mib), 1)
        lines.append(
            ctx.line(
                f"{nodes} x {itype} always on for {len(cpu_pods)} served model(s) in {meta.get('namespace')} "
                "(CPU pool, on-demand)",
                "fixed",
                nodes * HOURS_PER_MONTH,
                "node-hours",
                "ec2",
                itype,
                idle=True,
            )
        )
    pools = {pool: itype for pool, itype, _ in reversed(_gpu_instance_types(ctx.plan))}
    for p in pods:
        if p.pod in (CPU_BATCH_POOL_NAME, "system") or p.pod not in pools:
            continue
        itype = pools[p.pod]
        model = next(m for m in _sized(r) if f"{meta.get('namespace')}/{m['model']}" == p.release)
        per_node = _gpu_count(itype) or 1
        nodes = math.ceil(model["gpu"] * model["replicas"] / per_node)
        lines.append(
            ctx.line(
                f"{nodes} x {itype} always on for {p.release} (GPU pool {p.pod}, priced on-demand)",
                "fixed",
                nodes * HOURS_PER_MONTH,
                "node-hours",
                "ec2",
                itype,
                idle=True,
            )
        )
    for p in pods:  # `serve render` gives each model its own internal ALB (the canary's weighted target groups)
        lines += _load_balancer_lines(f"the Ingress of {p.release} (mlplatform serve render)", "alb", ctx)
    return lines


def _sized(r: PlannedResource) -> list[dict[str, Any]]:
    from mlplatform.components.conventions import SERVING_POOL_ANNOTATION

    raw = ((r.inputs.get("metadata") or {}).get("annotations") or {}).get(SERVING_POOL_ANNOTATION)
    return json.loads(raw) if raw else []


def _stored_gb(usage_key: str, what: str, price_path: str) -> Callable[[PlannedResource, _Ctx], list[CostLine]]:
    """The price line of a resource storing the GB the usage assumptions give as `usage_key` (per GB-month)."""

    def lines(r: PlannedResource, ctx: _Ctx) -> list[CostLine]:
        gb = ctx.usage.get(usage_key, 0)
        return [ctx.line(f"{gb:g} GB {what}", "usage", float(gb), "GB-month", price_path, idle=False)]

    return lines


PRICED: dict[str, Callable[[PlannedResource, _Ctx], list[CostLine]]] = {
    "aws:eks/cluster:Cluster": lambda r, c: [
        c.line("EKS control plane (standard support)", "fixed", HOURS_PER_MONTH, "hours", "eks_cluster_hour", idle=True)
    ],
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": lambda r, c: [
        c.line("public IPv4 address", "fixed", HOURS_PER_MONTH, "hours", "public_ipv4_hour", idle=True)
    ],
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:kms/key:Key": lambda r, c: [c.line("KMS key", "fixed", 1, "key-months", "kms_key_month", idle=True)],
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:s3/bucket:Bucket": _stored_gb("s3_artifact_gb", "S3 Standard", "s3_standard_gb_month"),
    "aws:ecr/repository:Repository": _stored_gb("ecr_gb_per_repository", "images", "ecr_gb_month"),
    "aws:rds/instance:Instance": _rds,
    "aws:secretsmanager/secret:Secret": lambda r, c: [
        c.line("Secrets Manager secret", "fixed", 1, "secret-months", "secretsmanager_secret_month", idle=True)
    ],
    "kubernetes:helm.sh/v3:Release": _helm_release,
    "kubernetes:core/v1:PersistentVolumeClaim": _pvc,
    "kubernetes:networking.k8s.io/v1:Ingress": _k8s_ingress,
    "kubernetes:core/v1:Service": _k8s_service,
    "kubernetes:karpenter.sh/v1:NodePool": _karpenter_pool,
    "kubernetes:core/v1:ResourceQuota": _serving_quota,
}


def _coverage(r: PlannedResource) -> str | None:
    """'priced', or the reason it is free, or None when nothing here knows the type."""
    if r.type in PRICED:
        return "priced"
    if not r.custom:
        return _COMPONENT_FREE
    if r.type in FREE:
        return FREE[r.type]
    if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh/"):
        return _KUBERNETES_FREE
    return None


def uncovered_types(plan: Plan) -> list[str]:
    """Types in the plan that are neither priced nor listed as free (should be empty)."""
    return sorted({r.type for r in plan.resources if _coverage(r) is None})


def _component_of(r: PlannedResource, by_urn: dict[str, PlannedResource]) -> str:
    """`Cluster ml-dev`: the top-level component a resource belongs to."""
    top = r
    while top.parent and top.parent in by_urn:
        top = by_urn[top.parent]
    if top is r and r.custom:
        return "(no component)"
    return f"{top.type.rsplit(':', 1)[-1]} {top.name}"


def _gpu_instance_types(plan: Plan) -> list[tuple[str, str, str]]:
    """(pool, instance type, capacity) of every GPU pool in the plan, first choice first."""
    out: list[tuple[str, str, str]] = []
    for r in plan.resources:
        if r.type == "aws:eks/nodeGroup:NodeGroup" and _is_gpu_group(r):
            cap = "spot" if r.inputs.get("capacityType") == "SPOT" else "on-demand"
            out += [(_pool_name(r), t, cap) for t in r.inputs.get("instanceTypes") or []]
        elif r.type == "kubernetes:karpenter.sh/v1:NodePool":
            spec = (r.inputs.get("spec") or {}).get("template", {}).get("spec", {})
            reqs = {q.get("key"): q.get("values") or [] for q in spec.get("requirements") or []}
            pool = (r.inputs.get("metadata") or {}).get("name") or r.name
            cap = "/".join(reqs.get("karpenter.sh/capacity-type") or ["on-demand"])
            out += [(pool, t, cap) for t in reqs.get("node.kubernetes.io/instance-type") or []]
    caps: dict[tuple[str, str], list[str]] = {}
    for pool, itype, cap in out:  # a spot-first managed pool is two node groups: one row, both capacities
        known = caps.setdefault((pool, itype), [])
        known += [c for c in cap.split("/") if c not in known]
    return [(pool, itype, "/".join(sorted(c, key=lambda x: x != "spot"))) for (pool, itype), c in caps.items()]


def gpu_hour_prices(plan: Plan, prices: PriceBook) -> list[GpuHour]:
    """$/GPU-hour per pool and instance type: on-demand, and spot as the observed discount range."""
    out = []
    spot = prices.spot_discount or {}
    for pool, itype, capacity in _gpu_instance_types(plan):
        gpus = _gpu_count(itype)
        p = prices.price("ec2", itype)
        od = p.value / gpus if p.value is not None and gpus else None
        low = high = None
        note = "" if p.status == "ok" else f"on-demand price: {p.status}"
        obs = spot.get(itype)
        if od is not None and obs:
            lo_pct, hi_pct = obs["discount_pct_range"]
            low, high = od * (1 - hi_pct / 100), od * (1 - lo_pct / 100)
            note = f"spot from an observed {lo_pct}-{hi_pct}% discount (one older us-east-1 snapshot; not a promise)"
        elif od is not None:
            note = "no spot observation for this type/region in the price file"
        out.append(GpuHour(pool, itype, gpus, capacity, od, low, high, note))
    return out


def estimate(
    plan: Plan, region: str | None = None, usage: dict[str, Any] | None = None, prices: PriceBook | None = None
) -> CostReport:
    """The monthly cost report of a plan (region: the plan's own when not given)."""
    region = region or (prices.region if prices else None) or plan.region
    prices = prices or load_prices(region)
    usage = usage if usage is not None else load_usage()
    ctx = _Ctx(plan, prices, usage)
    out = []
    for r in plan.resources:
        rc = ResourceCost(r.urn, r.type, r.name, _component_of(r, ctx.by_urn))
        cover = _coverage(r)
        if cover == "priced":
            rc.lines = PRICED[r.type](r, ctx)
            if not rc.lines:
                rc.free = _ZERO.get(r.type, _ZERO_DEFAULT)
        else:
            rc.free = cover
        out.append(rc)
    return CostReport(
        prices.region,
        plan.profile,
        prices.snapshot_date,
        out,
        gpu_hour_prices(plan, prices),
        uncovered_types(plan),
        usage,
    )


def profile_idle_costs(region: str = "us-east-1", usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each profile's idle $/month in a region, as `cost --profile P --region R --json` reports it
    (for `profiles` and the README's table): the figure, whether it is a total, the unpriced keys."""
    from ..config.spec import PROFILES, load_spec
    from ..program import plan

    out = []
    for profile in PROFILES:
        report = estimate(plan(load_spec(profile, region=region)), region, usage)
        out.append(
            {
                "profile": profile,
                "region": region,
                "price_snapshot": report.snapshot_date,
                "idle_monthly": round(report.idle, 2),
                "idle_is_total": not report.idle_gaps,
                "unpriced": sorted({x.price_key for _, x in report.idle_gaps}),
                "headline": report.headline(idle=True),
            }
        )
    return out


def idle_cell(idle_monthly: float, unpriced: list[str]) -> str:
    """One cell of the README's / `profiles`' cost column: '$X/month', or 'at least $X/month (unpriced: K, ...)'."""
    if not unpriced:
        return f"${idle_monthly:,.2f}/month"
    return f"at least ${idle_monthly:,.2f}/month (unpriced: {', '.join(unpriced)})"


def estimate_if_priced(plan: Plan, region: str, usage: dict[str, Any] | None = None) -> CostReport | None:
    """`estimate`, or None when no price file exists for the region (diff and upgrade still work)."""
    if not price_file(region).exists():
        return None
    return estimate(plan, region, usage)


def needed_prices(plan: Plan, region: str, usage: dict[str, Any] | None = None) -> list[tuple[str, ...]]:
    """The price paths a plan's estimate looks up (what --live-prices asks the Price List API for)."""
    book = PriceBook({"region": region, "snapshot_date": "", "prices": {}, "sources": {}})
    report = estimate(plan, region, usage, prices=book)
    paths = {_split_key(line.price_key) for r in report.resources for line in r.lines}
    paths |= {("ec2", g.instance_type) for g in report.gpu_hours}
    return sorted(paths)


def _split_key(key: str) -> tuple[str, ...]:
    head, _, rest = key.partition(".")
    if head in ("rds_postgres",) and rest:
        cls, _, az = rest.rpartition(".")
        return (head, cls, az)
    return (head, rest) if rest else (head,)


# -- live prices: the AWS Price List API ------------------------------------------------------------------
@dataclass(frozen=True)
class PriceQuery:
    """One GetProducts request for one price path."""

    path: tuple[str, ...]
    service: str
    filters: tuple[tuple[str, str, str], ...]  # (Type, Field, Value)

    def request(self) -> dict[str, Any]:
        return {
            "ServiceCode": self.service,
            "FormatVersion": "aws_v1",
            "MaxResults": 10,
            "Filters": [{"Type": t, "Field": f, "Value": v} for t, f, v in self.filters],
        }


def _rds_gp3_storage(deployment: str) -> tuple[str, tuple[tuple[str, str, str], ...]]:
    """(service, filters) of PostgreSQL gp3 storage on RDS, for `deployment` (`Single-AZ`, `Multi-AZ`)."""
    return (
        "AmazonRDS",
        (
            ("TERM_MATCH", "volumeType", "General Purpose-GP3"),
            ("TERM_MATCH", "deploymentOption", deployment),
            ("TERM_MATCH", "databaseEngine", "PostgreSQL"),
        ),
    )


def _family_usage(service: str, family: str, usagetype: str) -> tuple[str, tuple[tuple[str, str, str], ...]]:
    """(service, filters) of the product of `family` whose usage type contains `usagetype`."""
    return service, (("TERM_MATCH", "productFamily", family), ("CONTAINS", "usagetype", usagetype))


def price_query(path: tuple[str, ...], region: str) -> PriceQuery | None:
    """The Price List API query for a price path (attribute names as the API documents them)."""
    rc = ("TERM_MATCH", "regionCode", region)

    def q(service: str, *filters: tuple[str, str, str]) -> PriceQuery:
        return PriceQuery(path, service, (rc, *filters))

    head = path[0]
    if head == "ec2" and len(path) == 2:
        return q(
            "AmazonEC2",
            ("TERM_MATCH", "instanceType", path[1]),
            ("TERM_MATCH", "operatingSystem", "Linux"),
            ("TERM_MATCH", "tenancy", "Shared"),
            ("TERM_MATCH", "preInstalledSw", "NA"),
            ("TERM_MATCH", "capacitystatus", "Used"),
            ("TERM_MATCH", "licenseModel", "No License required"),
        )
    if head == "rds_postgres" and len(path) == 3:
        return q(
            "AmazonRDS",
            ("TERM_MATCH", "instanceType", path[1]),
            ("TERM_MATCH", "databaseEngine", "PostgreSQL"),
            ("TERM_MATCH", "deploymentOption", "Multi-AZ" if path[2] == "multi_az" else "Single-AZ"),
        )
    simple: dict[tuple[str, ...], tuple[str, tuple[tuple[str, str, str], ...]]] = {
        ("eks_cluster_hour",): ("AmazonEKS", (("CONTAINS", "usagetype", "AmazonEKS-Hours:perCluster"),)),
        ("nat_gateway_hour",): _family_usage("AmazonEC2", "NAT Gateway", "NatGateway-Hours"),
        ("nat_gateway_gb",): _family_usage("AmazonEC2", "NAT Gateway", "NatGateway-Bytes"),
        ("public_ipv4_hour",): ("AmazonVPC", (("CONTAINS", "usagetype", "PublicIPv4:InUseAddress"),)),
        ("ebs_gp3_gb_month",): (
            "AmazonEC2",
            (("TERM_MATCH", "productFamily", "Storage"), ("TERM_MATCH", "volumeApiName", "gp3")),
        ),
        ("s3_standard_gb_month",): (
            "AmazonS3",
            (("TERM_MATCH", "volumeType", "Standard"), ("TERM_MATCH", "storageClass", "General Purpose")),
        ),
        ("ecr_gb_month",): ("AmazonECR", (("CONTAINS", "usagetype", "TimedStorage-ByteHrs"),)),
        ("cloudwatch_logs_ingest_gb",): _family_usage("AmazonCloudWatch", "Data Payload", "DataProcessing-Bytes"),
        ("cloudwatch_logs_store_gb_month",): _family_usage(
            "AmazonCloudWatch", "Storage Snapshot", "TimedStorage-ByteHrs"
        ),
        ("kms_key_month",): ("awskms", (("CONTAINS", "usagetype", "KMS-Keys"),)),
        ("rds_gp3_gb_month", "single_az"): _rds_gp3_storage("Single-AZ"),
        ("rds_gp3_gb_month", "multi_az"): _rds_gp3_storage("Multi-AZ"),
        ("rds_backup_gb_month",): _family_usage("AmazonRDS", "Storage Snapshot", "ChargedBackupUsage"),
        ("vpc_endpoint_interface_hour",): _family_usage("AmazonVPC", "VpcEndpoint", "VpcEndpoint-Hours"),
        ("alb_hour",): _family_usage("AWSELB", "Load Balancer-Application", "LoadBalancerUsage"),
        ("alb_lcu_hour",): _family_usage("AWSELB", "Load Balancer-Application", "LCUUsage"),
        ("nlb_hour",): _family_usage("AWSELB", "Load Balancer-Network", "LoadBalancerUsage"),
        ("nlb_lcu_hour",): _family_usage("AWSELB", "Load Balancer-Network", "LCUUsage"),
        ("secretsmanager_secret_month",): (
            "AWSSecretsManager",
            (("CONTAINS", "usagetype", "AWSSecretsManager-Secrets"),),
        ),
    }
    if path in simple:
        service, filters = simple[path]
        return q(service, *filters)
    return None


def parse_price_list(price_list: list[str]) -> float | None:
    """The USD on-demand unit price in a GetProducts answer (first tier); None when absent or ambiguous."""
    found: set[float] = set()
    for item in price_list:
        doc = json.loads(item) if isinstance(item, str) else item
        for term in (doc.get("terms") or {}).get("OnDemand", {}).values():
            dims = list((term.get("priceDimensions") or {}).values())
            first = [d for d in dims if str(d.get("beginRange", "0")) == "0"] or dims
            for d in first:
                usd = (d.get("pricePerUnit") or {}).get("USD")
                if usd is not None and float(usd) > 0:
                    found.add(round(float(usd), 10))
    return found.pop() if len(found) == 1 else None


def fetch_live_prices(
    book: PriceBook, paths: list[tuple[str, ...]], client: Any = None, today: dt.date | None = None
) -> tuple[PriceBook, list[str]]:
    """Ask the AWS Price List API (boto3 `pricing`, endpoint us-east-1) for each path.

    Returns the price book with every answered price replaced (source: the API and the date) and the
    paths that stayed unanswered (no query, no product, or products with different prices).
    """
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name="us-east-1")
    today = today or dt.date.today()
    found: dict[tuple[str, ...], tuple[float, str]] = {}
    missed: list[str] = []
    for path in paths:
        query = price_query(path, book.region)
        if query is None:
            missed.append(".".join(path))
            continue
        answer = client.get_products(**query.request())
        value = parse_price_list(answer.get("PriceList") or [])
        if value is None:
            missed.append(".".join(path))
            continue
        found[path] = (
            value,
            f"AWS Price List API pricing:GetProducts {query.service} "
            f"({', '.join(f'{f}={v}' for _, f, v in query.filters)}), fetched {today.isoformat()}",
        )
    return book.with_prices(found), missed


def estimate_live(plan: Plan, region: str, usage: dict[str, Any] | None = None) -> tuple[CostReport, list[str]]:
    """`cost --live-prices`: the estimate with every price the Price List API answers (over the shipped
    price file, or over nothing in a region without one), and the price paths it did not answer."""
    try:
        book = load_prices(region)
    except SpecError:
        book = PriceBook({"region": region, "snapshot_date": "live", "prices": {}, "sources": {}})
    book, missed = fetch_live_prices(book, needed_prices(plan, region, usage))
    return estimate(plan, region, usage, prices=book), missed

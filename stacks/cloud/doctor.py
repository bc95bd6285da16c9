"""Preflight (`mlplatform doctor`, also run by `init --backend s3` and `up`): can this stack be built here?

Each check gives one `Finding`: a status (`ok`, `warn`, `blocker`), what was found, and the fix. A
blocker means `up` would fail part-way (no credentials, a GPU type the zones don't offer, a vCPU quota
below the pools' max, no `pulumi` CLI); a warning is worth reading (an end of standard support close
by, a quota that can't be read, kubectl missing).

AWS checks use boto3 through `aws_client`, which honours `AWS_ENDPOINT_URL` (boto3 reads it natively),
so the tests run them against a moto server.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mlplatform.components.versions import (
    EKS_STANDARD_SUPPORT_END,
    KUBERNETES_VERSION,
    POSTGRES_MAJOR,
    POSTGRES_STANDARD_SUPPORT_END,
)

from ..config.spec import StackSpec

Status = Literal["ok", "warn", "blocker"]
NEAR_END_DAYS = 90  # warn this many days before a pinned version leaves standard support
MIN_GPU_ZONES = 2  # a GPU type must be offered in at least this many of the stack's zones
PULUMI_INSTALL = "install the Pulumi CLI: curl -fsSL https://get.pulumi.com | sh (or brew install pulumi)"
KUBECTL_INSTALL = "install kubectl: https://kubernetes.io/docs/tasks/tools/"
AWS_LOGIN = "run `aws configure` or `aws sso login`, or set AWS_PROFILE"

# EC2 vCPU quotas (Service Quotas, service code `ec2`): (on-demand code, spot code, name) per family.
QUOTAS = {
    "gvt": ("L-DB2E81BA", "L-3819A6DF", "G and VT instances"),
    "p": ("L-417A185B", "L-7212CCBC", "P instances"),
    "standard": ("L-1216C47A", "L-34B43A08", "Standard (A, C, D, H, I, M, R, T, Z) instances"),
}


@dataclass(frozen=True)
class Finding:
    """One preflight result: `status check: detail; fix`."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<7} {self.check}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def blockers(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "blocker"]

    @property
    def ok(self) -> bool:
        return not self.blockers

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [asdict(f) for f in self.findings]}


def aws_client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client. `endpoint_url` wins; otherwise boto3 itself honours `AWS_ENDPOINT_URL`."""
    import boto3

    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.session.Session().client(service, **kwargs)


def _error_code(e: Exception) -> str:
    return getattr(e, "response", {}).get("Error", {}).get("Code", "") if hasattr(e, "response") else ""


# -- credentials and region ---------------------------------------------------------------------
def check_credentials(sts: Any) -> tuple[Finding, str | None]:
    """STS caller identity: (finding, account id or None)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        who = sts.get_caller_identity()
    except NoCredentialsError:
        return Finding("credentials", "blocker", "no AWS credentials found", AWS_LOGIN), None
    except ClientError as e:  # AWS answered: it refused these credentials
        return Finding(
            "credentials", "blocker", f"AWS refused the credentials ({_error_code(e) or e})", AWS_LOGIN
        ), None
    except BotoCoreError as e:  # no answer at all: endpoint unreachable, DNS, proxy, timeout
        return Finding(
            "credentials",
            "blocker",
            f"could not reach AWS STS to check the credentials ({type(e).__name__}: {str(e).splitlines()[0]})",
            "check the network, proxy and AWS_ENDPOINT_URL settings, then run `mlplatform doctor` again",
        ), None
    return Finding("credentials", "ok", f"account {who['Account']} as {who['Arn']}"), who["Account"]


def check_region(ec2: Any, region: str) -> Finding:
    """The region exists and this account may use it (`describe_regions`)."""
    regions = {r["RegionName"]: r.get("OptInStatus", "") for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    if region not in regions:
        return Finding(
            "region", "blocker", f"{region!r} is not an AWS region", f"use one of {', '.join(sorted(regions)[:6])}, ..."
        )
    if regions[region] == "not-opted-in":
        return Finding(
            "region",
            "blocker",
            f"{region} is not enabled for this account",
            "enable it in the AWS console (Account > AWS Regions), or pick another region",
        )
    return Finding("region", "ok", f"{region} is enabled")


def stack_zones(ec2: Any, spec: StackSpec) -> tuple[list[str], Finding]:
    """The zones the stack uses: the adopted VPC's private subnets' zones, or the first `az_count` available."""
    from botocore.exceptions import ClientError

    existing = spec.network.existing
    if existing:
        try:
            subnets = ec2.describe_subnets(SubnetIds=list(existing.private_subnet_ids))["Subnets"]
        except ClientError as e:
            return [], Finding(
                "zones",
                "blocker",
                f"the adopted private subnets can't be read ({_error_code(e)})",
                "check network.existing.private_subnet_ids and the region",
            )
        zones = sorted({s["AvailabilityZone"] for s in subnets})
        return zones, Finding("zones", "ok", f"adopted subnets span {', '.join(zones)}")
    available = sorted(
        z["ZoneName"]
        for z in ec2.describe_availability_zones(
            Filters=[
                {"Name": "state", "Values": ["available"]},
                {"Name": "zone-type", "Values": ["availability-zone"]},
            ],
        )["AvailabilityZones"]
    )
    want = spec.network.az_count
    if len(available) < want:
        return available, Finding(
            "zones",
            "blocker",
            f"{spec.region} has {len(available)} available zones, {want} asked",
            f"set network.az_count to {len(available)} or less",
        )
    zones = available[:want]
    return zones, Finding("zones", "ok", f"{', '.join(zones)}")


# -- GPU offerings and quotas -------------------------------------------------------------------
def gpu_offerings(ec2: Any, types: list[str], zones: list[str]) -> dict[str, set[str]]:
    """instance type -> the zones among `zones` that offer it (`describe_instance_type_offerings`)."""
    offered: dict[str, set[str]] = {t: set() for t in types}
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": list(types)}, {"Name": "location", "Values": list(zones)}],
    ):
        for o in page["InstanceTypeOfferings"]:
            offered.setdefault(o["InstanceType"], set()).add(o["Location"])
    return offered


def judge_offerings(spec: StackSpec, zones: list[str], offered: dict[str, set[str]]) -> list[Finding]:
    """A pool is blocked when none of its types is offered in >= 2 of the zones; a type that isn't only warns."""
    findings = []
    for i, pool in enumerate(spec.gpu.pools):
        usable = [t for t in pool.instance_types if len(offered.get(t, set()) & set(zones)) >= MIN_GPU_ZONES]
        short = [t for t in pool.instance_types if t not in usable]
        where = ", ".join(f"{t} in {len(offered.get(t, set()) & set(zones))}" for t in short)
        if not usable:
            findings.append(
                Finding(
                    f"gpu pool {pool.name}",
                    "blocker",
                    f"no instance type is offered in {MIN_GPU_ZONES} of {', '.join(zones)} ({where})",
                    f"set gpu.pools.{i}.instance_types to types this region offers, or pick another "
                    "region (aws ec2 describe-instance-type-offerings --location-type availability-zone)",
                )
            )
        elif short:
            findings.append(
                Finding(
                    f"gpu pool {pool.name}",
                    "warn",
                    f"{', '.join(short)} not offered in {MIN_GPU_ZONES} of the zones ({where}); "
                    f"the pool uses {', '.join(usable)}",
                    f"drop {', '.join(short)} from gpu.pools.{i}.instance_types",
                )
            )
        else:
            findings.append(
                Finding(f"gpu pool {pool.name}", "ok", f"{', '.join(usable)} offered in {MIN_GPU_ZONES}+ of the zones")
            )
    return findings


def vcpus_of(ec2: Any, types: list[str]) -> dict[str, int]:
    """Default vCPUs of each instance type (`describe_instance_types`)."""
    if not types:
        return {}
    out: dict[str, int] = {}
    paginator = ec2.get_paginator("describe_instance_types")
    for page in paginator.paginate(InstanceTypes=list(types)):
        for t in page["InstanceTypes"]:
            out[t["InstanceType"]] = int(t["VCpuInfo"]["DefaultVCpus"])
    return out


def quota_family(instance_type: str) -> str:
    family = instance_type.split(".")[0]
    if family.startswith(("g", "vt")):
        return "gvt"
    if family.startswith("p"):
        return "p"
    return "standard"


@dataclass
class QuotaNeed:
    """vCPUs a quota must cover: the sum, over pools, of max nodes x the largest type of that family."""

    code: str
    name: str
    vcpus: int = 0
    parts: list[str] = field(default_factory=list)  # "gpu: 2 x g6.xlarge (4 vCPUs)"
    stuck: list[str] = field(default_factory=list)  # pools with no type outside this quota


def quota_needs(
    spec: StackSpec, vcpus: dict[str, int], offered: dict[str, set[str]], zones: list[str]
) -> dict[str, QuotaNeed]:
    """code -> QuotaNeed for the pools' usable types: a managed pool's node groups each against their
    capacity type's quota with their max size (a spot-first pool's spot and on-demand shares, which add
    up to its max); a Karpenter pool's max nodes against on-demand unless it is spot-only (Karpenter
    may start every node on-demand when spot is short)."""
    from mlplatform.components.args.gpu_node_pool import group_sizes, node_limit

    needs: dict[str, QuotaNeed] = {}
    for pool in spec.gpu.pools:
        usable = [
            t for t in pool.instance_types if t in vcpus and len(offered.get(t, set()) & set(zones)) >= MIN_GPU_ZONES
        ]
        families = {quota_family(t) for t in usable}
        if spec.gpu.mechanism == "managed":
            shares = [(kind == "SPOT", high) for kind, _, high in group_sizes(pool)]
        else:
            shares = [(pool.capacity == "spot", node_limit(pool))]
        for fam in sorted(families):
            biggest = max((t for t in usable if quota_family(t) == fam), key=lambda t: vcpus[t])
            for spot_share, nodes in shares:
                on_demand, spot, name = QUOTAS[fam]
                code = spot if spot_share else on_demand
                kind = "Spot" if spot_share else "On-Demand"
                need = needs.setdefault(code, QuotaNeed(code, f"{kind} {name}"))
                need.vcpus += nodes * vcpus[biggest]
                need.parts.append(f"{pool.name}: {nodes} x {biggest} ({vcpus[biggest]} vCPUs)")
                if families == {fam}:
                    need.stuck.append(pool.name)
    return needs


def read_quota(quotas: Any, code: str) -> float | None:
    """The applied EC2 quota value, else AWS's default for it; None when neither can be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    for call in (quotas.get_service_quota, quotas.get_aws_default_service_quota):
        try:
            return float(call(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])
        except (ClientError, BotoCoreError, KeyError):
            continue
    return None


def judge_quota(need: QuotaNeed, value: float | None, region: str) -> Finding:
    check = f"quota {need.code}"
    if value is None:
        return Finding(
            check,
            "warn",
            f"could not read '{need.name}'; the pools need up to {need.vcpus} vCPUs",
            f"check it in the Service Quotas console (EC2, {region})",
        )
    have = int(value)
    if have >= need.vcpus:
        return Finding(check, "ok", f"'{need.name}' is {have} vCPUs, the pools need up to {need.vcpus}")
    detail = f"'{need.name}' is {have} vCPUs, the pools need up to {need.vcpus} ({'; '.join(need.parts)})"
    fix = (
        f"aws service-quotas request-service-quota-increase --service-code ec2 --quota-code {need.code} "
        f"--desired-value {need.vcpus} --region {region}, or lower the pools' max"
    )
    if need.stuck:
        return Finding(check, "blocker", detail, fix)
    return Finding(check, "warn", detail + "; the pools can fall back to their other types", fix)


# -- local tools and support dates --------------------------------------------------------------
Runner = Callable[..., Any]


def _version_of(cmd: list[str], run: Runner) -> str | None:
    try:
        res = run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def check_tools(
    which: Callable[[str], str | None] = shutil.which,
    run: Runner = subprocess.run,
    kubernetes_version: str = KUBERNETES_VERSION,
) -> list[Finding]:
    """`pulumi` (blocker if missing or older than the SDK needs) and `kubectl` (warning if missing or skewed)."""
    from pulumi.automation._minimum_version import _MINIMUM_VERSION
    from semver import VersionInfo

    out = []
    if which("pulumi") is None:
        out.append(Finding("pulumi", "blocker", "the pulumi CLI is not on PATH", PULUMI_INSTALL))
    else:
        raw = _version_of(["pulumi", "version"], run)
        try:
            version = VersionInfo.parse((raw or "").removeprefix("v"))
        except ValueError:
            out.append(
                Finding("pulumi", "blocker", f"`pulumi version` did not answer a version ({raw!r})", PULUMI_INSTALL)
            )
        else:
            if version.compare(_MINIMUM_VERSION) < 0:
                out.append(
                    Finding(
                        "pulumi",
                        "blocker",
                        f"pulumi {version} is older than {_MINIMUM_VERSION}",
                        "upgrade: curl -fsSL https://get.pulumi.com | sh",
                    )
                )
            else:
                out.append(Finding("pulumi", "ok", f"pulumi {version}"))
    if which("kubectl") is None:
        out.append(
            Finding(
                "kubectl",
                "warn",
                "kubectl is not on PATH (needed to use the cluster, not to build it)",
                KUBECTL_INSTALL,
            )
        )
    else:
        raw = _version_of(["kubectl", "version", "--client", "-o", "json"], run)
        try:
            git = json.loads(raw or "")["clientVersion"]["gitVersion"]  # "v1.35.0"
            minor = int(git.lstrip("v").split(".")[1])
        except (ValueError, KeyError, IndexError, TypeError):
            out.append(Finding("kubectl", "warn", "kubectl did not report its version", KUBECTL_INSTALL))
        else:
            want = int(kubernetes_version.split(".")[1])
            if abs(minor - want) > 1:
                out.append(
                    Finding(
                        "kubectl",
                        "warn",
                        f"kubectl {git} is more than one minor version from the cluster's {kubernetes_version}",
                        f"install kubectl 1.{want}",
                    )
                )
            else:
                out.append(Finding("kubectl", "ok", f"kubectl {git}"))
    return out


def _support(check: str, what: str, end: str | None, today: dt.date, fix: str) -> Finding:
    if end is None:
        return Finding(
            check,
            "warn",
            f"{what}: no end-of-standard-support date known to this mlplatform",
            "check the AWS version calendar, or upgrade mlplatform",
        )
    days = (dt.date.fromisoformat(end) - today).days
    if days < 0:
        return Finding(check, "warn", f"{what} left standard support on {end}: extended support is billed extra", fix)
    if days <= NEAR_END_DAYS:
        return Finding(
            check,
            "warn",
            f"{what} leaves standard support on {end} (in {days} days), then extended support is billed extra",
            fix,
        )
    return Finding(check, "ok", f"{what} is in standard support until {end}")


def check_support_dates(spec: StackSpec, today: dt.date | None = None) -> list[Finding]:
    """EKS and RDS PostgreSQL pins against the dated tables in components/versions.py."""
    today = today or dt.date.today()
    out = []
    if spec.cluster.existing is None:
        k8s = spec.cluster.kubernetes_version or KUBERNETES_VERSION
        out.append(
            _support(
                "eks version",
                f"EKS {k8s}",
                EKS_STANDARD_SUPPORT_END.get(k8s),
                today,
                "upgrade mlplatform (its pin moves) or set cluster.kubernetes_version to a newer version",
            )
        )
    if spec.database.existing is None:
        out.append(
            _support(
                "postgres version",
                f"RDS PostgreSQL {POSTGRES_MAJOR}",
                POSTGRES_STANDARD_SUPPORT_END.get(POSTGRES_MAJOR),
                today,
                "upgrade mlplatform, then run a major version upgrade of the database",
            )
        )
    return out


# -- the whole preflight ------------------------------------------------------------------------
def check_cloud(spec: StackSpec, endpoint_url: str | None = None) -> list[Finding]:
    """Credentials, region, zones, GPU offerings, vCPU quotas. Stops early when a later check can't run."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    findings: list[Finding] = []
    cred, account = check_credentials(aws_client("sts", spec.region, endpoint_url))
    findings.append(cred)
    if account is None:
        return findings
    try:
        region = check_region(aws_client("ec2", "us-east-1", endpoint_url), spec.region)
        findings.append(region)
        if region.status == "blocker":
            return findings
        ec2 = aws_client("ec2", spec.region, endpoint_url)
        zones, zf = stack_zones(ec2, spec)
        findings.append(zf)
        if zf.status == "blocker" or not spec.gpu.pools:
            return findings
        types = sorted({t for p in spec.gpu.pools for t in p.instance_types})
        offered = gpu_offerings(ec2, types, zones)
        findings += judge_offerings(spec, zones, offered)
        vcpus = vcpus_of(ec2, [t for t in types if offered.get(t)])
        quotas = aws_client("service-quotas", spec.region, endpoint_url)
        for need in quota_needs(spec, vcpus, offered, zones).values():
            findings.append(judge_quota(need, read_quota(quotas, need.code), spec.region))
    except (ClientError, BotoCoreError, NoCredentialsError) as e:
        findings.append(
            Finding(
                "aws",
                "blocker",
                f"an AWS call failed: {e}".splitlines()[0],
                "check the credentials' permissions (ec2:Describe*, servicequotas:Get*)",
            )
        )
    return findings


def run_preflight(
    spec: StackSpec,
    *,
    cloud: bool = True,
    tools: bool = True,
    today: dt.date | None = None,
    endpoint_url: str | None = None,
) -> Report:
    report = Report()
    if cloud:
        report.findings += check_cloud(spec, endpoint_url)
    if tools:
        report.findings += check_tools(kubernetes_version=spec.cluster.kubernetes_version or KUBERNETES_VERSION)
    report.findings += check_support_dates(spec, today)
    return report

"""StackSpec: a profile's defaults + the user's overrides, validated.

Profiles are Terraform-style variable files (`stacks/profiles/<name>.yaml`). A stack is one profile,
then the user's config file deep-merged over it, then `--set key=value` overrides. Unknown keys,
wrong types, negative sizes, min > max and AZ counts the region can't have are each refused with one
line that names the key and the fix (`SpecError`).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlplatform.components.args import ValidationError as ComponentError
from mlplatform.components.args import explain
from mlplatform.components.args.ci_runners import RunnerScale
from mlplatform.components.args.cluster import SystemNodes
from mlplatform.components.args.evidence_ledger import EvidenceSettings
from mlplatform.components.args.gpu_node_pool import GpuPool as GpuPool  # the spec's pools ARE these
from mlplatform.components.args.gpu_node_pool import GpuSettings, check_pool, gpu_limit_of
from mlplatform.components.args.metadata_store import DatabaseSettings, MlflowSettings
from mlplatform.components.args.monitoring import MonitoringSettings
from mlplatform.components.args.network import NetworkSettings
from mlplatform.components.args.queueing import QueueingSettings, TeamQueueSettings
from mlplatform.components.args.serving import ServingSettings
from mlplatform.components.args.team_space import TeamQuotas
from mlplatform.components.cron import FIX as CRON_FIX
from mlplatform.components.cron import valid_cron
from mlplatform.components.merge import deep_merge
from mlplatform.components.training.args import TrainingSettings

from ..errors import SpecError, UsageError
from .regions import AZ_COUNT
from .rules import RULE_IDS, SPEC_RULE_IDS
from .stackfile import read_yaml_file

PROFILES = ("pragmatic", "growth", "full")
# Team size picks the profile: the upper bound of each band (DESIGN profile table).
TEAM_SIZE_BANDS = (("pragmatic", 1, 5), ("growth", 6, 20), ("full", 21, None))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, validate_default=True)


# -- sections ------------------------------------------------------------------------------------
class NetworkSpec(NetworkSettings, _Strict):
    """`NetworkSettings` (components/args/network.py: az_count, cidr_block, nat_gateways, flow_logs,
    vpc_endpoints, existing; their bounds and defaults). The region's zone count is checked in validate()."""


class ExistingCluster(_Strict):
    name: str


class ClusterSpec(_Strict):
    kubernetes_version: str | None = None  # None: the pinned version (components/versions.py)
    system_nodes: SystemNodes = SystemNodes()
    control_plane_logs: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = [
        "api",
        "audit",
        "authenticator",
    ]
    endpoint_public_access: bool = True
    public_access_cidrs: list[str] = ["0.0.0.0/0"]
    admin_principal_arns: list[str] = []
    # EKS upgradePolicy.supportType: STANDARD (upgraded at the end of standard support) or EXTENDED
    # (the version stays, billed at 6x the control-plane price). EKS picks EXTENDED when unset.
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    existing: ExistingCluster | None = None

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            ipaddress.ip_network(c, strict=True)
        return v


class GpuSpec(GpuSettings, _Strict):
    """`GpuSettings` (components/args/gpu_node_pool.py: mechanism, pools, cpu_batch_pool,
    cpu_batch_vcpu_limit, idle_minutes, existing; their bounds and defaults) plus what the stack adds."""

    oversubscribe_gpus: bool = False  # let the teams' GPU quotas add up to more than the pools' GPU limits
    # Your own values for the node autoscaler's (cluster-autoscaler, or karpenter with mechanism karpenter) chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    helm_values: dict[str, Any] = {}
    # Your own values for the nvidia-device-plugin chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    device_plugin_helm_values: dict[str, Any] = {}


class ExistingRegistry(_Strict):
    bucket_name: str | None = None
    repository_urls: dict[str, str] = {}


class RegistrySpec(_Strict):
    repositories: list[str] = ["images", "models"]
    repository_prefix: str = "mlplatform"
    bucket_name: str | None = None
    keep_tagged_images: int = Field(100, ge=1)
    noncurrent_version_days: int = Field(90, ge=1)
    existing: ExistingRegistry | None = None


class DatabaseSpec(DatabaseSettings, _Strict):
    """`DatabaseSettings` (components/args/metadata_store.py: instance_class, allocated_storage_gib,
    multi_az, backup_retention_days, performance_insights, existing; their bounds and defaults)."""


class MlflowSpec(MlflowSettings, _Strict):
    """`MlflowSettings` (components/args/metadata_store.py: replicas, ingress) plus the stack's own."""

    # DNS name of MLflow's internal ALB (you point it at the ALB); without it the URL is the ALB's own name.
    host: str | None = Field(None, pattern=r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    # Your own values for the mlflow chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    helm_values: dict[str, Any] = {}
    # Your own values for the aws-load-balancer-controller (with ingress) chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    load_balancer_controller_helm_values: dict[str, Any] = {}

    @model_validator(mode="after")
    def _host_needs_ingress(self) -> MlflowSpec:
        if self.host and not self.ingress:
            raise ValueError("host is set but ingress is off: set mlflow.ingress to true, or drop mlflow.host")
        return self


class MonitoringSpec(MonitoringSettings, _Strict):
    """`MonitoringSettings` (components/args/monitoring.py: retention_days, storage_gib,
    prometheus_replicas, prometheus_memory_mib, alertmanager, alerts, drift, existing; their bounds and defaults)
    plus the stack's own chart values."""

    # Your own values for the kube-prometheus-stack chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    helm_values: dict[str, Any] = {}
    # Your own values for the dcgm-exporter chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    dcgm_exporter_helm_values: dict[str, Any] = {}


class ExistingRunnerController(_Strict):
    namespace: str  # an Actions Runner Controller that already runs: its namespace
    service_account: str  # and its service account (the scale sets are bound to it)


class RunnersSpec(_Strict):
    enabled: bool = True
    github_config_url: str | None = None  # https://github.com/<org> or /<org>/<repo>
    # Each a RunnerScale (components/args/ci_runners.py): min >= 0, max >= 1, min <= max.
    cpu: RunnerScale = RunnerScale(min_runners=0, max_runners=4)
    gpu: RunnerScale = RunnerScale(min_runners=0, max_runners=1)  # GPU runners exist only when the stack has GPU nodes
    existing_controller: ExistingRunnerController | None = None  # adopt it instead of installing one
    # Your own values for the gha-runner-scale-set (the stack's CPU and GPU scale sets) chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    helm_values: dict[str, Any] = {}
    # Your own values for the gha-runner-scale-set-controller chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    controller_helm_values: dict[str, Any] = {}


class RetrainingSpec(_Strict):
    engine: Literal["cronjob", "argo"] = "cronjob"
    schedule: str = "0 3 * * 1"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not valid_cron(v):
            raise ValueError(f"{v!r} is not a cron schedule; {CRON_FIX}")
        return v

    # The tag of the `images` repository the retraining job runs. It is the ONE tag of the registry
    # that may be pushed again (ECR IMMUTABLE_WITH_EXCLUSION), so a new training image rolls out by
    # pushing it, without editing the stack; every other tag, and every tag of `models`, is immutable.
    image_tag: str = Field("retrain", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    # Your own values for the argo-workflows (engine argo) chart, deep-merged over mlplatform's (stacks/config/helm_overrides.py).
    helm_values: dict[str, Any] = {}


class ReviewSpec(_Strict):
    """The periodic human review of every live model (model-review.yml): `schedule` is a 5-field cron
    (UTC, GitHub's `on.schedule`), `due_days` how long the reviewer has to decide."""

    schedule: str = "0 9 1 * *"
    due_days: int = Field(14, ge=1, le=90)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not valid_cron(v):
            raise ValueError(f"{v!r} is not a cron schedule; {CRON_FIX}")
        return v.strip()


class EvidenceSpec(EvidenceSettings, _Strict):
    """The evidence ledger (components/evidence_ledger.py): `EvidenceSettings` (components/args/
    evidence_ledger.py: Object Lock retention_mode and retention_days, existing) and the observer."""

    observer: bool = True  # the CronJob that records what the cluster runs


TEAM_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$")
IAM_PRINCIPAL = r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]+$"


class TeamRunners(_Strict):
    """A team's own runner scale sets on the stack's runner controller: `runs-on: <team>` (CPU) and
    `runs-on: <team>-gpu`; None: no set of that kind."""

    cpu: RunnerScale | None = None
    gpu: RunnerScale | None = None


class TeamSpec(TeamQuotas, TeamQueueSettings, _Strict):
    """One team's space on the cluster (components/team_space.py): `TeamQuotas` (components/args/
    team_space.py: gpu_quota, cpu_quota, memory_quota_gib, pvc_quota, storage_quota_gib) and these."""

    name: str  # a DNS-1123 label of at most 30 characters (checked in _check_teams, with the fix)
    principals: list[str] = []  # IAM role/user ARNs mapped to the team's group (EKS access entries)
    runners: TeamRunners | None = None
    # TeamQueueSettings (components/args/queueing.py): gpu_quota_by_pool, gpu_borrowing_limit,
    # gpu_lending_limit, gpu_budget_usd_month (queueing on only: stacks/config/queues.check_queueing).


class Waiver(_Strict):
    """A policy finding accepted for some resources (`mlplatform check`): `rule` is a built-in rule id
    (stacks/analyses/policy.py), a checkov check id (CKV_AWS_18), a parliament issue (parliament:UNKNOWN_ACTION)
    or kubernetes-validate; `resource` a resource
    name, URN or Terraform address, shell wildcards allowed (`*-artifacts`); `reason` why it is accepted."""

    rule: str = Field(min_length=1)
    resource: str = Field(min_length=1)
    reason: str

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        if (
            v not in RULE_IDS
            and v not in SPEC_RULE_IDS
            and v != "kubernetes-validate"
            and not re.match(r"^CKV2?_[A-Z0-9]+_\d+$", v)
            and not re.match(r"^parliament:[A-Z_]+$", v)
        ):
            raise ValueError(
                f"{v!r} is not a rule of mlplatform check: use one of {', '.join(RULE_IDS + SPEC_RULE_IDS)}, "
                "a checkov id like CKV_AWS_18, a parliament issue like parliament:RESOURCE_MISMATCH, "
                "or kubernetes-validate"
            )
        return v

    @field_validator("reason")
    @classmethod
    def _has_reason(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty: a waiver must say why the finding is accepted (the report shows it)")
        return v.strip()


class StackSpec(_Strict):
    """The whole validated configuration of one stack."""

    profile: Literal["pragmatic", "growth", "full"] = "pragmatic"
    team_size: int | None = Field(None, ge=1)
    region: str = "us-east-1"
    tags: dict[str, str] = {}
    network: NetworkSpec = NetworkSpec()
    cluster: ClusterSpec = ClusterSpec()
    gpu: GpuSpec = GpuSpec()
    registry: RegistrySpec = RegistrySpec()
    database: DatabaseSpec = DatabaseSpec()
    mlflow: MlflowSpec = MlflowSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    runners: RunnersSpec = RunnersSpec()
    retraining: RetrainingSpec = RetrainingSpec()
    review: ReviewSpec = ReviewSpec()
    evidence: EvidenceSpec = EvidenceSpec()
    queueing: QueueingSettings = QueueingSettings()
    training: TrainingSettings = TrainingSettings()
    # Model serving (components/serving): the Argo Rollouts controller, analysis templates, namespaces
    # and the served models; the bounds are ModelServing's own (ServingSettings).
    serving: ServingSettings = ServingSettings()
    teams: list[TeamSpec] = []
    waivers: list[Waiver] = []


SECTIONS = tuple(k for k in StackSpec.model_fields if k not in ("profile", "team_size", "region", "tags"))


# -- loading -------------------------------------------------------------------------------------
def profile_for_team_size(team_size: int) -> str:
    if team_size < 1:
        raise SpecError("team_size", f"must be at least 1, got {team_size}", "pass the number of people on the ML team")
    for name, lo, hi in TEAM_SIZE_BANDS:
        if team_size >= lo and (hi is None or team_size <= hi):
            return name
    raise AssertionError("unreachable")  # pragma: no cover


@cache
def _profile_text(profile: str) -> str:
    return resources.files("mlplatform.stacks").joinpath("profiles", f"{profile}.yaml").read_text()


def profile_defaults(profile: str) -> dict[str, Any]:
    """The raw variable file of a profile."""
    if profile not in PROFILES:
        raise SpecError("profile", f"unknown profile {profile!r}", f"use one of {', '.join(PROFILES)}")
    return yaml.safe_load(_profile_text(profile)) or {}


_SET_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*)=(.*)$", re.S)


def apply_set(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one `--set a.b.c=value` (value parsed as YAML: `3`, `true`, `[a, b]`); list items by index."""
    m = _SET_RE.match(assignment)
    if not m:
        raise UsageError("--set", f"{assignment!r} is not key=value", "write it like --set network.az_count=3")
    path, raw = m.group(1).split("."), m.group(3)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    out = copy.deepcopy(data)
    node: Any = out
    for i, key in enumerate(path):
        here = ".".join(path[: i + 1])
        last = i == len(path) - 1
        if isinstance(node, list):
            if not key.isdigit():
                raise SpecError(here, f"{key!r} is not a list index", f"use a number from 0 to {len(node) - 1}")
            if int(key) >= len(node):
                raise SpecError(here, f"index {key} is out of range", f"use 0 to {len(node) - 1}")
            if last:
                node[int(key)] = value
            node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        else:
            raise SpecError(
                ".".join(path[:i]), "is not a mapping or list", "set a key of a section, like network.az_count"
            )
    return out


def _spec_error(e: ValidationError) -> SpecError:
    """pydantic's first error as one SpecError: the same problem and fix a component built with that
    value reports (components.args.explain), under the stack's key path."""
    err = e.errors()[0]
    key, problem, fix = explain(err)
    key = key or "config"
    if err["type"] == "extra_forbidden":
        near = _near_key([str(p) for p in err["loc"]])
        if near:
            return SpecError(key, f"did you mean {near}?", "it is not a key mlplatform reads; fix its spelling")
    return SpecError(key, problem, fix)


def _near_key(loc: list[str], prefix: str = "") -> str | None:
    """The known key closest to an unknown one at `loc` (difflib), spelled as a key path, or None."""
    import difflib

    model: Any = StackSpec
    for part in loc[:-1]:
        if part.isdigit() or model is None:
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if hasattr(a, "model_fields")] or [
            a
            for arg in getattr(ann, "__args__", ())
            for a in getattr(arg, "__args__", ())
            if hasattr(a, "model_fields")
        ]
        model = ann if hasattr(ann, "model_fields") else (args[0] if args else None)
    if model is None or not hasattr(model, "model_fields"):
        return None
    found = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return prefix + ".".join([*loc[:-1], found[0]]) if found else None


def validate(data: dict[str, Any]) -> StackSpec:
    """Raw merged data -> StackSpec, or one SpecError."""
    try:
        spec = StackSpec.model_validate(data)
    except ValidationError as e:
        raise _spec_error(e) from None
    if spec.region not in AZ_COUNT:
        raise SpecError(
            "region",
            f"{spec.region!r} is not an AWS region mlplatform knows",
            "use one like us-east-1, us-west-2, eu-west-1, eu-central-1",
        )
    zones = AZ_COUNT[spec.region]
    if spec.network.existing is None and spec.network.az_count > zones:
        raise SpecError(
            "network.az_count",
            f"{spec.region} has {zones} availability zones, {spec.network.az_count} asked",
            f"set network.az_count to {zones} or less, or pick another region",
        )
    if spec.cluster.system_nodes.scaled_by == "cluster-autoscaler" and (
        spec.gpu.mechanism != "managed" or not spec.gpu.pools or spec.cluster.existing is not None
    ):
        raise SpecError(
            "cluster.system_nodes.scaled_by",
            "cluster-autoscaler runs only with gpu.mechanism managed and GPU pools on a cluster the stack creates",
            "set cluster.system_nodes.scaled_by: stack, or gpu.mechanism: managed with pools",
        )
    _check_teams(spec)
    from .queues import check_queueing

    check_queueing(spec)
    _check_serving(spec)
    _check_components(spec)
    from .helm_overrides import check_helm_values

    check_helm_values(spec)
    return spec


def _check_components(spec: StackSpec) -> None:
    """What the components refuse before creating anything, checked here so every command (and `init`,
    which writes nothing then) refuses it alike, naming the stack's key path."""
    if spec.gpu.existing is None:
        for i, pool in enumerate(spec.gpu.pools):
            try:
                check_pool(f"gpu.pools.{i}", pool, spec.gpu.mechanism, spec.region)
            except ComponentError as e:
                raise SpecError(e.field, e.problem, e.fix) from None


def _check_serving(spec: StackSpec) -> None:
    """Where serving pods go must exist in this stack."""
    s = spec.serving
    if not s.enabled:
        if s.models:
            raise SpecError(
                "serving.models", "serving.enabled is false", "set serving.enabled: true, or remove the models"
            )
        return
    if s.placement == "cpu-batch" and (
        spec.gpu.mechanism != "karpenter" or not spec.gpu.cpu_batch_pool or spec.gpu.existing is not None
    ):
        raise SpecError(
            "serving.placement",
            "cpu-batch needs the Karpenter CPU batch pool (gpu.mechanism: karpenter, gpu.cpu_batch_pool: true)",
            "set serving.placement: system, or turn the CPU batch pool on",
        )
    for name, m in s.models.items():
        if m.gpu and not spec.gpu.pools and spec.gpu.existing is None:
            raise SpecError(f"serving.models.{name}.gpu", "the stack has no GPU nodes", "add a gpu pool, or set gpu: 0")
    if s.existing is not None and s.helm_values:
        raise SpecError(
            "serving.helm_values",
            "serving.existing adopts a controller mlplatform does not install",
            "remove serving.helm_values",
        )


def _user_wrote_types(user: dict[str, Any], set_paths: list[list[str]], i: int) -> bool:
    """Whether the user (config, stack file or --set) wrote gpu pool i's instance_types."""
    gpu = user.get("gpu")
    if isinstance(gpu, dict) and "pools" in gpu:
        return True
    for sp in set_paths:
        if sp[:2] == ["gpu", "pools"] and (
            len(sp) == 2 or (sp[2] == str(i) and (len(sp) == 3 or sp[3] == "instance_types"))
        ):
            return True
    return False


def narrow_profile_gpu_types(
    data: dict[str, Any], user: dict[str, Any], sets: tuple[str, ...] | list[str], notices: list[str]
) -> dict[str, Any]:
    """A profile's own GPU type lists narrowed to what the region offers (a notice each); the user's
    own lists are left as written (validation refuses a type the region lacks)."""
    from mlplatform.components.gpu_instances import offered_in

    gpu = data.get("gpu")
    if not isinstance(gpu, dict) or not isinstance(gpu.get("pools"), list) or gpu.get("existing"):
        return data
    region = str(data.get("region") or "us-east-1")
    set_paths = [s.split("=", 1)[0].split(".") for s in sets]
    pools = []
    for i, pool in enumerate(gpu["pools"]):
        types = pool.get("instance_types") if isinstance(pool, dict) else None
        if isinstance(types, list) and not _user_wrote_types(user, set_paths, i):
            kept = offered_in(region, [t for t in types if isinstance(t, str)])
            if kept and kept != types:
                dropped = [t for t in types if t not in kept]
                notices.append(
                    f"gpu.pools.{i}.instance_types: {', '.join(dropped)} not offered in {region}; "
                    f"the profile's list is narrowed to {', '.join(kept)}"
                )
                pool = {**pool, "instance_types": kept}
        pools.append(pool)
    return {**data, "gpu": {**gpu, "pools": pools}}


def pools_gpu_limit(spec: StackSpec) -> int | None:
    """GPUs the stack's pools may run at most (components.args.gpu_node_pool.gpu_limit_of: what
    GpuNodePool builds, a spot-first managed pool's two groups together); None when unknown (adopted
    GPU nodes, or a type mlplatform doesn't know)."""
    from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES

    if spec.gpu.existing is not None:
        return None
    total = 0
    for p in spec.gpu.pools:
        if not all(t in GPU_INSTANCE_TYPES for t in p.instance_types):
            return None  # GpuNodePool names the unknown type
        total += gpu_limit_of(p, spec.gpu.mechanism)
    return total


def _check_teams(spec: StackSpec) -> None:
    """Team names are unique DNS-1123 labels; each IAM principal is in one team (EKS allows one access
    entry per principal) and not a cluster admin; quotas fit the GPU pools unless oversubscribed."""
    owner = {arn: "cluster.admin_principal_arns" for arn in spec.cluster.admin_principal_arns}
    seen: set[str] = set()
    for i, t in enumerate(spec.teams):
        if not TEAM_NAME.match(t.name):
            raise SpecError(
                f"teams.{i}.name",
                f"{t.name!r} is not a DNS-1123 label of at most 30 characters",
                "use lowercase letters, digits and '-', starting and ending with a letter or digit",
            )
        if t.name in seen:
            raise SpecError(f"teams.{i}.name", f"team {t.name!r} is listed twice", "give each team one entry")
        seen.add(t.name)
        for arn in t.principals:
            if not re.match(IAM_PRINCIPAL, arn):
                raise SpecError(
                    f"teams.{i}.principals",
                    f"{arn!r} is not an IAM role or user ARN",
                    "use arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>)",
                )
            if arn in owner:
                where = owner[arn] if owner[arn].startswith("cluster.") else f"team {owner[arn]!r}"
                raise SpecError(
                    f"teams.{i}.principals",
                    f"{arn} is already in {where}",
                    "an IAM principal has one EKS access entry per cluster: list it once",
                )
            owner[arn] = t.name
        if t.runners is not None:
            if t.runners.cpu is None and t.runners.gpu is None:
                raise SpecError(
                    f"teams.{i}.runners",
                    "asks for neither cpu nor gpu runners",
                    "give cpu: {min: 0, max: 2} and/or gpu: {min: 0, max: 1}, or remove runners",
                )
            if not spec.runners.enabled:
                raise SpecError(
                    f"teams.{i}.runners",
                    "team runners use the stack's runner controller, and runners.enabled is false",
                    "set runners.enabled: true, or remove the team's runners",
                )
            if t.runners.gpu is not None and not spec.gpu.pools and spec.gpu.existing is None:
                raise SpecError(
                    f"teams.{i}.runners.gpu",
                    "the stack has no GPU nodes",
                    "add a gpu pool, or drop the team's gpu runners",
                )
    asked = sum(t.gpu_quota for t in spec.teams)
    limit = pools_gpu_limit(spec)
    if asked and limit is not None and asked > limit and not spec.gpu.oversubscribe_gpus:
        per_team = ", ".join(f"{t.name} {t.gpu_quota}" for t in spec.teams if t.gpu_quota)
        raise SpecError(
            "teams",
            f"the teams' GPU quotas add up to {asked} ({per_team}) but the GPU pools can run at most {limit} GPUs",
            "lower the quotas, raise the pools' gpu_limit/max, or set gpu.oversubscribe_gpus: true to allow it",
        )


@dataclass
class Resolved:
    """A validated spec and where its values came from: `user` holds what the user wrote (config or
    stack file sections, shaped like a profile file), `set_paths` the `--set` key paths, `notices`
    what was adjusted (a profile's GPU list narrowed to the region), `profile_from` why this profile."""

    spec: StackSpec
    user: dict[str, Any] = field(default_factory=dict)
    set_paths: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    profile_from: str = "default"  # "option" | "team size" | "file" | "default"

    def overrides(self) -> list[str]:
        """The key paths the user set (a list counts as one value)."""
        out: list[str] = []

        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict) and node and path not in ("tags",):
                for k, v in node.items():
                    walk(v, f"{path}.{k}" if path else str(k))
            elif path:
                out.append(path)

        walk({k: v for k, v in self.user.items() if k not in ("profile", "team_size", "region")}, "")
        return list(dict.fromkeys([*out, *self.set_paths]))


def resolve(
    profile: str | None = None,
    team_size: int | None = None,
    config_file: str | Path | None = None,
    sets: tuple[str, ...] | list[str] = (),
    region: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Resolved:
    """Resolve the profile, merge its defaults with the user's file and `--set`s, validate.

    `overrides` is the same as a config file's content, already read (a stack file's `mlplatform:`
    sections come this way). Which profile: `profile` if given, else the config's `profile:`, else the
    one the team size picks (argument, then the config's `team_size:`), else pragmatic.
    """
    user = read_yaml_file(config_file) if config_file else {}
    user = deep_merge(user, overrides or {})
    if team_size is not None and team_size < 1:
        raise SpecError("team_size", f"must be at least 1, got {team_size}", "pass the number of people on the ML team")
    chosen = profile or user.get("profile")
    origin = "option" if profile else ("file" if user.get("profile") else "default")
    size = team_size if team_size is not None else user.get("team_size")
    if chosen is None and size is not None:
        if not isinstance(size, int) or isinstance(size, bool):
            raise SpecError("team_size", f"must be a whole number, got {size!r}", "write it like team_size: 4")
        chosen, origin = profile_for_team_size(size), "team size"
    chosen = chosen or "pragmatic"
    if not isinstance(chosen, str) or chosen not in PROFILES:
        raise SpecError("profile", f"unknown profile {chosen!r}", f"use one of {', '.join(PROFILES)}")
    data = deep_merge(profile_defaults(chosen), user)
    data["profile"] = chosen
    if size is not None:
        data["team_size"] = size
    if region:
        data["region"] = region
    for s in sets:
        if s.split("=", 1)[0] in ("profile", "team_size"):
            raise UsageError("--set", f"{s.split('=', 1)[0]} cannot be set this way", "use --profile or --team-size")
        data = apply_set(data, s)
    notices: list[str] = []
    data = narrow_profile_gpu_types(data, user, sets, notices)
    return Resolved(validate(data), user, [s.split("=", 1)[0] for s in sets], notices, origin)


def load_spec(
    profile: str | None = None,
    team_size: int | None = None,
    config_file: str | Path | None = None,
    sets: tuple[str, ...] | list[str] = (),
    region: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> StackSpec:
    """The validated spec of `resolve` (same arguments)."""
    return resolve(profile, team_size, config_file, sets, region, overrides).spec


def stack_config_keys() -> tuple[str, ...]:
    """Every `mlplatform:<key>` a stack file may hold."""
    from mlplatform.components.ci_runners import GITHUB_APP_KEYS

    return ("profile", "team_size", *SECTIONS, "tags", "waivers", *GITHUB_APP_KEYS)


def check_stack_config_keys(config: dict[str, Any]) -> None:
    """Unknown `mlplatform:*` keys are refused with a did-you-mean; other namespaces are Pulumi's or a provider's."""
    import difflib

    known = stack_config_keys()
    for k in config:
        if not isinstance(k, str) or not k.startswith("mlplatform:"):
            continue
        name = k.split(":", 1)[1]
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            if near:
                raise SpecError(
                    k, f"did you mean mlplatform:{near[0]}?", "it is not a key mlplatform reads; fix its spelling"
                )
            raise SpecError(
                k,
                "unknown key",
                f"mlplatform reads {', '.join('mlplatform:' + n for n in known[:4])}, "
                "and one mlplatform:<section> per profile section",
            )


def resolve_stack_config(
    config: dict[str, Any],
    sets: tuple[str, ...] | list[str] = (),
    profile: str | None = None,
    team_size: int | None = None,
    region: str | None = None,
) -> Resolved:
    """The spec a Pulumi stack's `config:` map describes (`aws:region`, `mlplatform:profile`,
    `mlplatform:team_size`, one `mlplatform:<section>` key per section shaped like a profile file);
    `profile`, `team_size`, `region` given here win over the file's.

    The Pulumi program (under the engine) and every command on a project folder read it here.
    """
    check_stack_config_keys(config)
    overrides = {
        k.split(":", 1)[1]: v
        for k, v in config.items()
        if k.startswith("mlplatform:") and k.split(":", 1)[1] in (*SECTIONS, "tags", "waivers")
    }
    size = config.get("mlplatform:team_size")
    if isinstance(size, str) and size.strip().lstrip("-").isdigit():
        size = int(size)
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        raise SpecError(
            "mlplatform:team_size", f"must be a whole number, got {size!r}", "write it like mlplatform:team_size: 4"
        )
    file_profile = config.get("mlplatform:profile")
    if profile is None and team_size is not None:
        file_profile, size = None, team_size
    try:
        res = resolve(
            profile=profile or file_profile,
            team_size=size,
            region=region or config.get("aws:region"),
            overrides=overrides,
            sets=sets,
        )
    except SpecError as e:
        if e.key == "profile" and not profile:
            raise SpecError("mlplatform:profile", e.problem, e.fix) from None
        if e.key == "region" and not region:
            raise SpecError("aws:region", e.problem, e.fix) from None
        raise
    if file_profile and not profile:
        res.profile_from = "file"
    elif profile:
        res.profile_from = "option"
    res.user = {**({"region": config["aws:region"]} if "aws:region" in config else {}), **overrides}
    return res


def spec_from_stack_config(config: dict[str, Any], sets: tuple[str, ...] | list[str] = ()) -> StackSpec:
    """The StackSpec of `resolve_stack_config`."""
    return resolve_stack_config(config, sets).spec

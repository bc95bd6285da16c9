"""TeamSpace: one team's room on the shared cluster, self-served from the stack config.

Per team (its name is the namespace's name):

* a Namespace labelled `mlplatform.io/team=<name>` (Pod Security `baseline` enforced);
* a ResourceQuota capping `requests.nvidia.com/gpu`, CPU and memory requests, PVC count and storage,
  and a LimitRange whose defaults give every container requests (so the quota can count them);
* NetworkPolicies: `default-deny` (every pod, ingress and egress, no rule) plus narrow allows:
  DNS to kube-dns in kube-system (53 UDP/TCP), traffic between the team's own pods (distributed
  training), MLflow (its namespace, the server's pod port) and HTTPS egress (443/TCP) for the
  artifact store. A NetworkPolicy selects pods and IP blocks, never DNS names, so it cannot name the
  S3 or ECR endpoints: 443 to anywhere is the narrowest rule that reaches them (over NAT or the VPC
  endpoints); the IAM role below is what limits WHAT the pods reach there. On EKS, policies are
  enforced only when the VPC CNI's network policy agent is on (`enableNetworkPolicy`).
* RBAC for the Kubernetes group `mlplatform:team:<name>`: a namespaced Role to run workloads (pods,
  jobs, deployments, services, config, secrets, PVCs, Argo workflows) bound in the team's namespace;
  a ClusterRole + ClusterRoleBinding that only reads cluster-scoped objects (nodes, namespaces,
  storage/priority/runtime classes, Karpenter pools) so the team sees capacity but not other teams'
  namespaces. The team can't change its quota, limits, network policies or RBAC, and nothing is
  cluster-admin or writes cluster-wide.
* EKS access entries (type STANDARD, no access policy) mapping each IAM principal to that group; the
  cluster's authentication mode must include API (clusters made by `Cluster` use API).
* ServiceAccount `<name>-ml` with an IRSA role that reaches only `s3://<bucket>/teams/<name>/` (and the
  bucket's KMS key) and the ECR repositories `<prefix>/teams/<name>/*` (the registry creates them when
  its `repositories` lists `teams/<name>/<repo>`). `ecr:GetAuthorizationToken`
  (docker login) is the one statement on "*": AWS defines that action on no resource, and the token
  it returns grants nothing beyond the repository statement.
* optionally the team's own runner scale sets (`runners`): `runs-on: <team>` (CPU) and
  `runs-on: <team>-gpu` (one GPU each), built with `ci_runners.runner_scale_set` on the stack's runner
  controller. They run in the CI runners' namespace, not the team's: the GitHub App private key
  Secret the scale sets read stays out of reach of team members (who may read their namespace's
  Secrets). Their service account `<team>-ci` has the team's IRSA role, so team CI reaches the same
  S3 and ECR prefixes and nothing else; runner pods carry `mlplatform.io/team=<team>`. Being outside
  the team's namespace, runner pods are bounded by the sets' max_runners, not by the team's quota.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ._common import ValidationError, child, namespace, policy_json, tags
from .args.team_space import MLFLOW_POD_PORT as MLFLOW_POD_PORT  # the mlflow chart's service.containerPort
from .args.team_space import TeamQuotas as TeamQuotas
from .args.team_space import TeamSpaceArgs as TeamSpaceArgs
from .artifact_registry import ECR_PUSH_PULL_ACTIONS
from .ci_runners import CiRunners, RunnerScale, ScaleSetArgs, runner_scale_set, validate_scale_set
from .cluster_ref import resolve_cluster
from .conventions import DNS_LABEL, GPU_LABEL, MODEL_METRICS_POD_LABEL, PART_OF, TEAM_LABEL
from .dashboards import MODEL_METRICS_PORT
from .irsa import irsa_role

GROUP_PREFIX = "mlplatform:team:"
S3_PREFIX = "teams"  # s3://<bucket>/teams/<name>/ and ECR <prefix>/teams/<name>/*
HTTPS_PORT = 443
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Containers without their own requests/limits get these (LimitRange), so every pod counts in the quota.
DEFAULT_REQUEST = {"cpu": "250m", "memory": "512Mi"}
DEFAULT_LIMIT = {"memory": "2Gi"}
# Namespaces the platform itself uses (and Kubernetes' own): a team may not take them.
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "mlflow",
        "monitoring",
        "retraining",
        "argo",
        "arc-systems",
        "arc-runners",
        "karpenter",
        "cert-manager",
        "amazon-cloudwatch",
    }
)
# IAM role names get Pulumi's 8-character suffix after f"{name}-ml"; IAM allows 64.
MAX_NAME_LENGTH = 53

_PRINCIPAL = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
_ECR_PREFIX = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")

READ = ["get", "list", "watch"]
WRITE = [*READ, "create", "update", "patch", "delete", "deletecollection"]
# What a team member may do in the team's namespace. Not here (so read-only or absent): quotas,
# limit ranges, network policies, RBAC, ingresses (an internet-facing load balancer is a platform
# decision) and DaemonSets (one pod on every node, GPU nodes included).
TEAM_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods", "services", "configmaps", "secrets", "persistentvolumeclaims"],
        "verbs": WRITE,
    },
    {"apiGroups": [""], "resources": ["pods/exec", "pods/attach", "pods/portforward"], "verbs": ["get", "create"]},
    {
        "apiGroups": [""],
        "resources": ["pods/log", "events", "endpoints", "serviceaccounts", "resourcequotas", "limitranges"],
        "verbs": READ,
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "replicasets"], "verbs": WRITE},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments/scale", "statefulsets/scale"],
        "verbs": ["get", "update", "patch"],
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": WRITE},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WRITE},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": WRITE},
    {"apiGroups": ["argoproj.io"], "resources": ["workflows", "workflowtemplates", "cronworkflows"], "verbs": WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies", "ingresses"], "verbs": READ},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": READ},
]
# Cluster-wide: read cluster-scoped objects only (capacity, classes), never another namespace's objects.
CLUSTER_VIEW_RULES = [
    {"apiGroups": [""], "resources": ["nodes", "namespaces"], "verbs": READ},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": READ},
    {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"], "verbs": READ},
    {"apiGroups": ["node.k8s.io"], "resources": ["runtimeclasses"], "verbs": READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"], "verbs": READ},
    {"apiGroups": ["karpenter.sh"], "resources": ["nodepools", "nodeclaims"], "verbs": READ},
    {"apiGroups": ["metrics.k8s.io"], "resources": ["nodes"], "verbs": READ},
]
# Read-only ECR calls a team needs inside its prefix (find its repositories and images).
ECR_READ_ACTIONS = ["ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListImages"]


@dataclass
class TeamRunners:
    """A team's own runner scale sets, on the stack's Actions Runner Controller.

    Fields:
        ci (CiRunners, required): the stack's CI runners; their controller, namespace and GitHub App
            Secret are reused (the team's sets run in `ci.namespace`).
        github_config_url (str, required): where the team's runners register (https://github.com/<org>
            or /<org>/<repo>).
        cpu (RunnerScale | None, default RunnerScale(min_runners=0, max_runners=2)): the CPU set, `runs-on: <team>`; None: none.
        gpu (RunnerScale | None, default None): the GPU set (one GPU per runner), `runs-on: <team>-gpu`.
        gpu_node_selector (dict[str, str], default {"mlplatform.io/gpu": "true"}): GPU runners' node labels.
        cpu_node_selector (dict[str, str], default {}): CPU runners' node labels ({}: any untainted node).
        cpu_tolerations (list[dict], default []): CPU runners' extra tolerations (a tainted CPU pool's).
    """

    ci: CiRunners
    github_config_url: str
    cpu: RunnerScale | None = field(default_factory=lambda: RunnerScale(min_runners=0, max_runners=2))
    gpu: RunnerScale | None = None
    gpu_node_selector: dict[str, str] = field(default_factory=lambda: {GPU_LABEL: "true"})
    cpu_node_selector: dict[str, str] = field(default_factory=dict)
    cpu_tolerations: list[dict] = field(default_factory=list)


def check_team_name(team: object, field_name: str = "team") -> None:
    """A team name is a DNS-1123 label the platform does not use itself."""
    if not isinstance(team, str) or not DNS_LABEL.match(team):
        raise ValidationError(
            field_name,
            f"{team!r} is not a DNS-1123 label",
            "use lowercase letters, digits and '-', starting and ending with a letter or digit, "
            "at most 63 characters (for example `vision`)",
        )
    if team in RESERVED_NAMESPACES or team.startswith("kube-"):
        raise ValidationError(
            field_name,
            f"{team!r} is a namespace the platform or Kubernetes uses",
            f"pick another name (not kube-* nor {', '.join(sorted(RESERVED_NAMESPACES))})",
        )


def _validate(name: str, args: TeamSpaceArgs) -> None:
    check_team_name(args.team)
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            "name",
            f"{name!r} is {len(name)} characters; IAM role names would be too long",
            f"use at most {MAX_NAME_LENGTH} characters (a shorter team or stack name)",
        )
    if not isinstance(args.ecr_repository_prefix, str) or not _ECR_PREFIX.match(args.ecr_repository_prefix):
        raise ValidationError(
            "ecr_repository_prefix",
            f"{args.ecr_repository_prefix!r} is not an ECR repository prefix",
            "pass the registry's repository_prefix, like mlplatform/dev (no leading or trailing '/')",
        )
    if not isinstance(args.mlflow_namespace, str) or not DNS_LABEL.match(args.mlflow_namespace):
        raise ValidationError(
            "mlflow_namespace",
            f"{args.mlflow_namespace!r} is not a Kubernetes namespace name",
            "pass MetadataStore.namespace",
        )
    if (
        isinstance(args.mlflow_port, bool)
        or not isinstance(args.mlflow_port, int)
        or not 1 <= args.mlflow_port <= 65535
    ):
        raise ValidationError(
            "mlflow_port", f"{args.mlflow_port!r} is not a port", "use 1..65535 (MLflow's pod port, 5000)"
        )
    seen: set[str] = set()
    for arn in args.principals:
        if not isinstance(arn, str) or not _PRINCIPAL.match(arn):
            raise ValidationError(
                "principals",
                f"{arn!r} is not an IAM role or user ARN",
                "use arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>)",
            )
        if arn in seen:
            raise ValidationError("principals", f"{arn!r} is listed twice", "list each principal once")
        seen.add(arn)
    for fname in ("oidc_provider_arn", "oidc_issuer_url"):
        if getattr(args, fname) is None:
            raise ValidationError(
                fname, "required for the team's IAM role", f"pass cluster=<the Cluster> (or its {fname})"
            )
    if args.principals and args.cluster_name is None:
        raise ValidationError(
            "cluster_name",
            "required when principals are given (access entries live in the cluster)",
            "pass Cluster.cluster_name",
        )
    if args.runners is not None:
        r = args.runners
        if not isinstance(r.ci, CiRunners):
            raise ValidationError(
                "runners.ci",
                f"must be the stack's CiRunners, got {type(r.ci).__name__}",
                "pass the CiRunners component (its controller and GitHub App Secret are reused)",
            )
        if r.cpu is None and r.gpu is None:
            raise ValidationError(
                "runners",
                "asks for neither a CPU nor a GPU scale set",
                "set cpu and/or gpu to a RunnerScale, or runners=None",
            )
        for kind, sets in team_scale_sets(args.team, r).items():
            validate_scale_set(sets[0], sets[1], f"runners.{kind}")


def team_scale_sets(team: str, runners: TeamRunners) -> dict[str, tuple[str, ScaleSetArgs]]:
    """kind -> (runs-on label, ScaleSetArgs) of a team's runner sets: `<team>` (CPU), `<team>-gpu`."""
    ci = runners.ci
    common: dict[str, Any] = dict(
        github_config_url=runners.github_config_url,
        github_config_secret=ci.github_secret,
        service_account=f"{team}-ci",
        namespace=ci.namespace,
        controller_namespace=ci.controller_namespace,
        controller_service_account=ci.controller_service_account,
        labels={TEAM_LABEL: team},
    )
    out: dict[str, tuple[str, ScaleSetArgs]] = {}
    if runners.cpu is not None:
        out["cpu"] = (
            team,
            ScaleSetArgs(
                **common,
                min_runners=runners.cpu.min_runners,
                max_runners=runners.cpu.max_runners,
                node_selector=dict(runners.cpu_node_selector),
                tolerations=[dict(t) for t in runners.cpu_tolerations],
            ),
        )
    if runners.gpu is not None:
        out["gpu"] = (
            f"{team}-gpu",
            ScaleSetArgs(
                **common,
                min_runners=runners.gpu.min_runners,
                max_runners=runners.gpu.max_runners,
                gpus=1,
                gpu_node_selector=dict(runners.gpu_node_selector),
            ),
        )
    return out


def quota_hard(args: TeamSpaceArgs) -> dict[str, str]:
    """The ResourceQuota's `hard` limits."""
    return {
        "requests.nvidia.com/gpu": str(args.gpu_quota),
        "requests.cpu": str(args.cpu_quota),
        "requests.memory": f"{args.memory_quota_gib}Gi",
        "persistentvolumeclaims": str(args.pvc_quota),
        "requests.storage": f"{args.storage_quota_gib}Gi",
    }


def network_policies(
    namespace: str, mlflow_namespace: str, mlflow_port: int, monitoring_namespace: str = "monitoring"
) -> dict[str, dict]:
    """name -> NetworkPolicy spec: deny everything, then allow only what the team's pods need."""
    ns = lambda n: {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}}  # noqa: E731
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{**ns("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        "allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        },
        "allow-mlflow": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [ns(mlflow_namespace)], "ports": [{"protocol": "TCP", "port": mlflow_port}]}],
        },
        # Prometheus scrapes served models (Monitoring's PodMonitor: label + named port `metrics`).
        "allow-monitoring-scrape": {
            "podSelector": {"matchLabels": dict(MODEL_METRICS_POD_LABEL)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [ns(monitoring_namespace)], "ports": [{"protocol": "TCP", "port": MODEL_METRICS_PORT}]}
            ],
        },
        # S3, ECR and STS (IRSA) are HTTPS endpoints NetworkPolicy cannot name: port 443, any address.
        "allow-https-egress": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": HTTPS_PORT}]}
            ],
        },
    }


def ecr_statements(repository_arn_prefix: str) -> list[dict]:
    """IAM statements: docker login, then push/pull/list only the repositories under the team's prefix."""
    return [
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {
            "Sid": "TeamRepositories",
            "Effect": "Allow",
            "Action": [*ECR_PUSH_PULL_ACTIONS, *ECR_READ_ACTIONS],
            "Resource": f"{repository_arn_prefix}*",
        },
    ]


class TeamSpace(pulumi.ComponentResource):
    """A team's namespace with quotas, default-deny networking, RBAC through EKS access entries and
    an IRSA service account scoped to the team's S3 and ECR prefixes.

    Outputs: role_arn (the IRSA role of the `<team>-ml` service account), artifact_uri
    (`s3://<bucket>/teams/<team>/`), repository_prefix_url (`<account>.dkr.ecr.<region>.amazonaws.com/
    <prefix>/teams/<team>/`), runner_labels (kind -> runs-on label; {} without runners). Attributes:
    namespace, group (the Kubernetes group), service_account.
    """

    role_arn: pulumi.Output[str]
    artifact_uri: pulumi.Output[str]
    repository_prefix_url: pulumi.Output[str]
    runner_labels: dict[str, str]
    namespace: str
    group: str
    service_account: str

    def __init__(self, name: str, args: TeamSpaceArgs, opts: pulumi.ResourceOptions | None = None):
        args = resolve_cluster(args)
        _validate(name, args)
        super().__init__("mlplatform:teams:TeamSpace", name, None, opts)
        team = args.team
        t = tags(name, args.tags, **{"mlplatform:team": team})
        self.namespace, self.group, self.service_account = team, f"{GROUP_PREFIX}{team}", f"{team}-ml"
        labels = {**PART_OF, "app.kubernetes.io/managed-by": "pulumi", TEAM_LABEL: team}
        kube = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)

        ns = namespace(
            self, f"{name}-ns", team, args.k8s_provider, enforce="baseline", warn="restricted", labels=labels
        )
        in_ns = pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns]))

        def meta(obj_name: str) -> dict:
            return {"name": obj_name, "namespace": team, "labels": labels}

        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=meta("team-quota"), spec={"hard": quota_hard(args)}, opts=in_ns
        )
        k8s.core.v1.LimitRange(
            f"{name}-defaults",
            metadata=meta("team-defaults"),
            spec={
                "limits": [
                    {"type": "Container", "defaultRequest": dict(DEFAULT_REQUEST), "default": dict(DEFAULT_LIMIT)}
                ]
            },
            opts=in_ns,
        )
        for policy, spec in network_policies(
            team, args.mlflow_namespace, args.mlflow_port, args.monitoring_namespace
        ).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy}", metadata=meta(policy), spec=spec, opts=in_ns)

        rbac_subjects = [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": self.group}]
        role = k8s.rbac.v1.Role(f"{name}-edit", metadata=meta("team-edit"), rules=TEAM_RULES, opts=in_ns)
        k8s.rbac.v1.RoleBinding(
            f"{name}-edit",
            metadata=meta("team-edit"),
            subjects=rbac_subjects,
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "team-edit"},
            opts=pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[role])),
        )
        cluster_view = f"{GROUP_PREFIX}{team}:cluster-view"
        view = k8s.rbac.v1.ClusterRole(
            f"{name}-cluster-view",
            metadata={"name": cluster_view, "labels": labels},
            rules=CLUSTER_VIEW_RULES,
            opts=kube,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-cluster-view",
            metadata={"name": cluster_view, "labels": labels},
            subjects=rbac_subjects,
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_view},
            opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[view])),
        )

        for arn in args.principals:
            slug = f"{arn.rsplit('/', 1)[1][:24]}-{hashlib.sha256(arn.encode()).hexdigest()[:6]}"
            aws.eks.AccessEntry(
                f"{name}-{slug}",
                cluster_name=args.cluster_name,
                principal_arn=arn,
                type="STANDARD",
                kubernetes_groups=[self.group],
                tags=t,
                opts=child(self),
            )

        # IRSA: the team's service account reaches the team's S3 prefix and ECR prefix, nothing else.
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account = aws.get_caller_identity_output(opts=invoke).account_id
        repo_prefix = f"{args.ecr_repository_prefix}/{S3_PREFIX}/{team}/"
        # Who may assume it: the team's service account, and its runners' when it has runners.
        subjects = [(team, self.service_account)]
        if args.runners is not None:
            subjects.append((args.runners.ci.namespace, f"{team}-ci"))

        role = irsa_role(
            self,
            f"{name}-ml",
            args.oidc_provider_arn,
            args.oidc_issuer_url,
            subjects,
            description=f"Team {team}: IRSA role of {', '.join(f'{a}/{b}' for a, b in subjects)}",
            max_session_duration=3600,
            tags=t,
            policies={
                f"{name}-ml-artifacts": args.registry.prefix_policy(f"{S3_PREFIX}/{team}"),
                f"{name}-ml-images": pulumi.Output.all(partition, region, account).apply(
                    lambda v: policy_json(ecr_statements(f"arn:{v[0]}:ecr:{v[1]}:{v[2]}:repository/{repo_prefix}"))
                ),
            },
        )
        irsa, self._role_policies = role.role, role.policies
        k8s.core.v1.ServiceAccount(
            f"{name}-ml",
            metadata={**meta(self.service_account), "annotations": {IRSA_ANNOTATION: irsa.arn}},
            automount_service_account_token=False,
            opts=in_ns,
        )

        self.runner_labels: dict[str, str] = {}
        if args.runners is not None:
            self._runners(name, args, args.runners, irsa, labels)

        self.role_arn = irsa.arn
        self.artifact_uri = pulumi.Output.concat("s3://", args.registry.bucket_name, f"/{S3_PREFIX}/{team}/")
        self.repository_prefix_url = pulumi.Output.concat(account, ".dkr.ecr.", region, ".amazonaws.com/", repo_prefix)
        self.register_outputs(
            {
                "role_arn": self.role_arn,
                "artifact_uri": self.artifact_uri,
                "repository_prefix_url": self.repository_prefix_url,
                "runner_labels": self.runner_labels,
            }
        )

    def _runners(
        self, name: str, args: TeamSpaceArgs, runners: TeamRunners, role: aws.iam.Role, labels: dict[str, str]
    ) -> None:
        """The team's runner sets (`runners`, which is `args.runners`) and their service account, in the CI
        runners' namespace."""
        ci = runners.ci
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-ci",
            metadata={
                "name": f"{args.team}-ci",
                "namespace": ci.namespace,
                "labels": labels,
                "annotations": {IRSA_ANNOTATION: role.arn},
            },
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, provider=args.k8s_provider, depends_on=[ci]),
        )
        for kind, (label, scale_set) in team_scale_sets(args.team, runners).items():
            runner_scale_set(
                self,
                label,
                scale_set,
                args.k8s_provider,
                depends_on=[ci, sa, *self._role_policies],
                at=f"runners.{kind}",
            )
            self.runner_labels[kind] = label

"""Cluster: an EKS cluster with a system node group, core add-ons, IRSA and a Kubernetes provider.

Creates (or, with `existing`, adopts) the cluster every other component deploys into. Whatever the
mode, `Cluster.provider` is the `pulumi_kubernetes.Provider` every Kubernetes child uses.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import versions
from ._common import ValidationError, assume_role_service, child, kms_key, policy_json, tags
from .args.cluster import SystemNodes
from .conventions import AUTOSCALED_TAG, SYSTEM_NODE_SELECTOR
from .irsa import IrsaRole, irsa_role

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
LOG_RETENTION_DAYS = 90
ADDONS_BEFORE_NODES = ("vpc-cni", "kube-proxy")
# The VPC CNI enforces Kubernetes NetworkPolicies only when asked: teams' default-deny needs it.
ADDON_CONFIG = {"vpc-cni": json.dumps({"enableNetworkPolicy": "true"})}
ADMIN_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
SUPPORT_TYPES = ("STANDARD", "EXTENDED")
# Role names get Pulumi's 8-character suffix; IAM allows 64, node group names 63.
MAX_NAME_LENGTH = 40

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_PRINCIPAL = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
_K8S_VERSION = re.compile(r"^1\.\d+$")


def _managed_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


@dataclass
class ExistingCluster:
    """An EKS cluster made elsewhere, to adopt instead of create.

    Fields:
        name (str, required): the EKS cluster's name in the provider's account and region. Its IAM OIDC
            provider must already exist (`eksctl utils associate-iam-oidc-provider` or the console).
    """

    name: str


@dataclass
class ClusterArgs:
    """Inputs of `Cluster`.

    Fields:
        vpc_id (Input[str] | None, default None): VPC the cluster lives in; required unless `existing`
            (EKS takes the VPC from the subnets; the id states which VPC they must belong to).
        private_subnet_ids (Input[list[str]] | None, default None): private subnets (two or more AZs)
            for the control plane's network interfaces and the system nodes; required unless `existing`.
        kubernetes_version (str, default versions.KUBERNETES_VERSION): EKS Kubernetes version ("1.35").
        system_node_instance_type (str, default "t3.large"): instance type of the system node group.
        system_node_count (int, default 2): desired size of the system node group (at least 1).
        system_node_min (int | None, default None = system_node_count): minimum size, at least 1 (the
            node autoscaler runs on these nodes). The system group's rules are args.cluster.SystemNodes'.
        system_node_max (int | None, default None = system_node_count + 1): maximum size.
        system_node_disk_gib (int, default 50): root volume (gp3, encrypted) size in GiB, 20..16384.
        system_node_scaled_by (str, default "stack"): who owns the system group's desired size.
            "stack": `up` sets it to system_node_count and cluster-autoscaler cannot see the group (its
            ASG lacks AUTOSCALED_TAG). "cluster-autoscaler": the ASG gets AUTOSCALED_TAG and the node
            group ignores `scalingConfig.desiredSize`, so the autoscaler (installed by GpuNodePool's
            managed mechanism) scales it between min and max and `up` never sets it back.
        support_type (str, default "STANDARD"): EKS `upgradePolicy.supportType`. "STANDARD": at the end
            of standard support EKS upgrades the control plane; "EXTENDED": the version stays on
            extended support, billed at 6x the standard control-plane price. EKS picks EXTENDED when
            the field is absent, so it is always set.
        control_plane_logs (list[str], default ["api", "audit", "authenticator"]): control-plane log
            types sent to CloudWatch (kept 90 days); any of api, audit, authenticator,
            controllerManager, scheduler.
        endpoint_public_access (bool, default True): whether the API server has a public endpoint
            (the private endpoint is always on).
        public_access_cidrs (list[str], default ["0.0.0.0/0"]): IPv4 CIDRs allowed to reach the
            public endpoint; narrow it to your office / VPN ranges.
        admin_principal_arns (list[str], default []): IAM roles/users
            (`arn:aws:iam::<account>:role/...` or `:user/...`) given cluster-admin through EKS access
            entries. The identity running Pulumi is already admin (bootstrap); don't list it again.
        existing (ExistingCluster | None, default None): adopt this cluster instead of creating one:
            only the Kubernetes provider is created; node and network fields are ignored.
        protect (bool, default True): protect the cluster and its KMS key against deletion.
        tags (dict[str, str], default {}): extra tags on every AWS resource.
    """

    vpc_id: pulumi.Input[str] | None = None
    private_subnet_ids: pulumi.Input[list[str]] | None = None
    kubernetes_version: str = versions.KUBERNETES_VERSION
    system_node_instance_type: str = "t3.large"
    system_node_count: int = 2
    system_node_min: int | None = None
    system_node_max: int | None = None
    system_node_disk_gib: int = 50
    system_node_scaled_by: str = "stack"
    support_type: str = "STANDARD"
    control_plane_logs: list[str] = field(default_factory=lambda: ["api", "audit", "authenticator"])
    endpoint_public_access: bool = True
    public_access_cidrs: list[str] = field(default_factory=lambda: ["0.0.0.0/0"])
    admin_principal_arns: list[str] = field(default_factory=list)
    existing: ExistingCluster | None = None
    protect: bool = True
    tags: dict[str, str] = field(default_factory=dict)


def _node_bounds(args: ClusterArgs) -> tuple[int, int]:
    """(min, max) of the system node group, defaults filled in."""
    count = args.system_node_count
    return (
        count if args.system_node_min is None else args.system_node_min,
        count + 1 if args.system_node_max is None else args.system_node_max,
    )


def _validate(name: str, args: ClusterArgs) -> None:
    if args.existing is not None:
        if not _NAME.match(args.existing.name or "") or len(args.existing.name) > 100:
            raise ValidationError(
                "existing.name",
                f"{args.existing.name!r} is not an EKS cluster name",
                "pass the name shown by `aws eks list-clusters`",
            )
        if args.admin_principal_arns:
            raise ValidationError(
                "admin_principal_arns",
                "access entries are not managed for an adopted cluster",
                "grant access where the cluster is defined, or leave admin_principal_arns empty",
            )
        return
    if not _NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            "name",
            f"{name!r} is not usable as an EKS cluster name",
            f"use letters, digits, '-' or '_', starting with a letter or digit, at most {MAX_NAME_LENGTH} characters",
        )
    if args.vpc_id is None:
        raise ValidationError(
            "vpc_id",
            "required when creating a cluster",
            "pass the Network's vpc_id, or set existing=ExistingCluster(name=...) to adopt one",
        )
    if args.private_subnet_ids is None:
        raise ValidationError(
            "private_subnet_ids",
            "required when creating a cluster",
            "pass the Network's private_subnet_ids, or set existing=ExistingCluster(name=...)",
        )
    if isinstance(args.private_subnet_ids, (list, tuple)) and len(args.private_subnet_ids) < 2:
        raise ValidationError(
            "private_subnet_ids",
            f"{len(args.private_subnet_ids)} subnet(s) given",
            "EKS needs subnets in at least two availability zones; pass two or more",
        )
    if not _K8S_VERSION.match(args.kubernetes_version):
        raise ValidationError(
            "kubernetes_version",
            f"{args.kubernetes_version!r} is not an EKS version",
            f'use "major.minor", for example "{versions.KUBERNETES_VERSION}"',
        )
    low, high = _node_bounds(args)
    try:  # the system group's rules are SystemNodes' (the stack spec's cluster.system_nodes)
        SystemNodes(
            instance_type=args.system_node_instance_type,
            count=args.system_node_count,
            min=low,
            max=high,
            disk_gib=args.system_node_disk_gib,
            scaled_by=args.system_node_scaled_by,
        )
    except ValidationError as e:
        field = e.field if e.field != "SystemNodes" else "count"
        raise ValidationError(f"system_node_{field}", e.problem, e.fix) from None
    if args.support_type not in SUPPORT_TYPES:
        raise ValidationError(
            "support_type",
            f"{args.support_type!r} is not an EKS support type",
            "use STANDARD (upgraded at end of standard support) or EXTENDED (billed 6x)",
        )
    bad = [t for t in args.control_plane_logs if t not in LOG_TYPES]
    if bad:
        raise ValidationError(
            "control_plane_logs",
            f"unknown log type(s) {', '.join(map(repr, bad))}",
            f"use any of {', '.join(LOG_TYPES)}",
        )
    if args.endpoint_public_access and not args.public_access_cidrs:
        raise ValidationError(
            "public_access_cidrs",
            "empty while the public endpoint is on",
            "list the CIDRs allowed to reach the API, or set endpoint_public_access=False",
        )
    for cidr in args.public_access_cidrs:
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise ValidationError(
                "public_access_cidrs",
                f"{cidr!r} is not an IPv4 CIDR block",
                'write it like "203.0.113.0/24" (host bits zero)',
            ) from None
    seen: set[str] = set()
    for arn in args.admin_principal_arns:
        if not _PRINCIPAL.match(arn):
            raise ValidationError(
                "admin_principal_arns",
                f"{arn!r} is not an IAM role or user ARN",
                "use arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>)",
            )
        if arn in seen:
            raise ValidationError("admin_principal_arns", f"{arn!r} is listed twice", "list each principal once")
        seen.add(arn)


def kubeconfig_document(cluster_name: str, endpoint: str, ca_data: str, region: str) -> dict[str, Any]:
    """A kubeconfig that authenticates with `aws eks get-token` (the AWS CLI must be on PATH)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": [
                            "eks",
                            "get-token",
                            "--cluster-name",
                            cluster_name,
                            "--region",
                            region,
                            "--output",
                            "json",
                        ],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }


def _kubeconfig(
    cluster_name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str], region: pulumi.Input[str]
) -> pulumi.Output[str]:
    doc = pulumi.Output.all(cluster_name, endpoint, ca_data, region).apply(
        lambda v: json.dumps(kubeconfig_document(*v), indent=2)
    )
    return pulumi.Output.secret(doc)


class Cluster(pulumi.ComponentResource):
    """An EKS cluster (KMS-encrypted secrets, control-plane logs, OIDC for IRSA, access entries),
    its system node group (IMDSv2, encrypted gp3 root), the core managed add-ons, and a Kubernetes
    provider. With `args.existing`, adopts a cluster and creates only the provider.

    Outputs: cluster_name, endpoint, certificate_authority, oidc_provider_arn, oidc_issuer_url,
    kubeconfig (secret), node_role_arn, node_role_name, cluster_security_group_id, kms_key_arn
    (the last four are None when adopting). Attribute `provider`: the Kubernetes provider.
    """

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_role_arn: pulumi.Output[str] | None
    node_role_name: pulumi.Output[str] | None
    cluster_security_group_id: pulumi.Output[str] | None
    kms_key_arn: pulumi.Output[str] | None
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(name, args)
        super().__init__("mlplatform:compute:Cluster", name, None, opts)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke).region

        if args.existing is not None:
            self._adopt(args.existing, invoke)
        else:
            self._create(name, args, invoke)

        self.kubeconfig = _kubeconfig(self.cluster_name, self.endpoint, self.certificate_authority, region)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # Replace the provider (and so every Kubernetes object) only when the cluster itself changes,
            # never because the kubeconfig text changed.
            cluster_identifier=self._cluster_arn,
            # Kubernetes children wait for nodes and core add-ons (a Helm release needs schedulable nodes).
            opts=child(self, depends_on=self._ready),
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "certificate_authority": self.certificate_authority,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer_url": self.oidc_issuer_url,
                "kubeconfig": self.kubeconfig,
                "node_role_arn": self.node_role_arn,
                "node_role_name": self.node_role_name,
                "cluster_security_group_id": self.cluster_security_group_id,
                "kms_key_arn": self.kms_key_arn,
            }
        )

    # -- adopt -------------------------------------------------------------------------------------
    def _adopt(self, existing: ExistingCluster, invoke: pulumi.InvokeOutputOptions) -> None:
        found = aws.eks.get_cluster_output(name=existing.name, opts=invoke)
        caller = aws.get_caller_identity_output(opts=invoke)
        self.cluster_name = found.name
        self._cluster_arn = found.arn
        self.endpoint = found.endpoint
        self.certificate_authority = found.certificate_authorities.apply(lambda cas: cas[0].data)
        self.oidc_issuer_url = found.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        # The IAM OIDC provider's ARN follows from the account and the issuer's host.
        self.oidc_provider_arn = pulumi.Output.all(caller.arn, caller.account_id, self.oidc_issuer_url).apply(
            lambda v: f"arn:{v[0].split(':')[1]}:iam::{v[1]}:oidc-provider/{v[2].removeprefix('https://')}"
        )
        self.cluster_security_group_id = found.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id)
        self.node_role_arn = None
        self.node_role_name = None
        self.kms_key_arn = None
        self._ready: list[pulumi.Resource] = []

    # -- create ------------------------------------------------------------------------------------
    def _create(self, name: str, args: ClusterArgs, invoke: pulumi.InvokeOutputOptions) -> None:
        t = tags(name, args.tags)
        low, high = _node_bounds(args)

        # Envelope encryption of Kubernetes secrets.
        key = kms_key(
            self,
            f"{name}-secrets-key",
            f"{name}-eks-secrets",
            f"EKS secrets envelope encryption for cluster {name}",
            t,
            args.protect,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
        )

        # Control plane role.
        cluster_role = aws.iam.Role(
            f"{name}-cluster", assume_role_policy=assume_role_service("eks.amazonaws.com"), tags=t, opts=child(self)
        )
        cluster_role_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-cluster-eks",
                role=cluster_role.name,
                policy_arn=_managed_policy("AmazonEKSClusterPolicy"),
                opts=child(self),
            ),
            aws.iam.RolePolicy(
                f"{name}-cluster-kms",
                role=cluster_role.id,
                policy=key.arn.apply(
                    lambda arn: policy_json(
                        [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                "Resource": arn,
                            }
                        ]
                    )
                ),
                opts=child(self),
            ),
        ]

        # EKS writes control-plane logs here; made first so the retention is ours, not "never expire".
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{name}/cluster",
            retention_in_days=LOG_RETENTION_DAYS,
            tags=t,
            opts=child(self),
        )

        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public_access,
                public_access_cidrs=args.public_access_cidrs if args.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(args.control_plane_logs),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=args.support_type),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            tags=t,
            opts=child(self, protect=args.protect, depends_on=[log_group, *cluster_role_policies]),
        )
        self.cluster_name = cluster.name
        self._cluster_arn = cluster.arn
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(lambda ca: ca.data)
        self.oidc_issuer_url = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        self.cluster_security_group_id = cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id)
        self.kms_key_arn = key.arn

        # OIDC provider for IAM Roles for Service Accounts. No thumbprint: IAM trusts the EKS issuer's CA itself.
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=self.oidc_issuer_url, client_id_lists=["sts.amazonaws.com"], tags=t, opts=child(self)
        )
        self.oidc_provider_arn = oidc.arn

        def addon_role(suffix: str, namespace: str, service_account: str, policy: str) -> IrsaRole:
            return irsa_role(
                self,
                f"{name}-{suffix}",
                oidc.arn,
                self.oidc_issuer_url,
                [(namespace, service_account)],
                managed_policy_arns={f"{name}-{suffix}": _managed_policy(policy)},
                tags=t,
            )

        def addon(addon_name: str, role: IrsaRole | None = None, after: list[pulumi.Resource] | None = None):
            # An add-on with its own role starts after the role's policy is attached.
            after = [*(after or []), *(role.policies if role is not None else [])]
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=aws.eks.get_addon_version_output(
                    addon_name=addon_name, kubernetes_version=args.kubernetes_version, opts=invoke
                ).version,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                service_account_role_arn=role.arn if role is not None else None,
                configuration_values=ADDON_CONFIG.get(addon_name),
                tags=t,
                opts=child(self, depends_on=after),
            )

        # IRSA roles: the CNI and the EBS driver get their AWS permissions from their own roles, so the
        # node role carries no VPC or EBS permissions.
        addon_roles = {
            "vpc-cni": addon_role("vpc-cni", "kube-system", "aws-node", "AmazonEKS_CNI_Policy"),
            # AWS publishes this one under the service-role/ path.
            "aws-ebs-csi-driver": addon_role(
                "ebs-csi", "kube-system", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"
            ),
        }
        # Networking add-ons (DaemonSets) go in before the nodes, so nodes join with the IRSA-backed CNI.
        before_nodes = [addon(a, addon_roles.get(a)) for a in versions.EKS_ADDONS if a in ADDONS_BEFORE_NODES]

        # System nodes.
        node_role = aws.iam.Role(
            f"{name}-node", assume_role_policy=assume_role_service("ec2.amazonaws.com"), tags=t, opts=child(self)
        )
        node_role_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{short}", role=node_role.name, policy_arn=_managed_policy(policy), opts=child(self)
            )
            for short, policy in (
                ("worker", "AmazonEKSWorkerNodePolicy"),
                ("ecr-pull", "AmazonEC2ContainerRegistryPullOnly"),
            )
        ]
        self.node_role_arn = node_role.arn
        self.node_role_name = node_role.name

        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-system",
            description=f"System nodes of EKS cluster {name}",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=args.system_node_disk_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=t)
                for kind in ("instance", "volume")
            ],
            tags=t,
            opts=child(self),
        )
        autoscaled = args.system_node_scaled_by == "cluster-autoscaler"
        node_group = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            version=cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=args.private_subnet_ids,
            ami_type=versions.AMI_TYPE_CPU,
            instance_types=[args.system_node_instance_type],
            capacity_type="ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=low, desired_size=args.system_node_count, max_size=high
            ),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id, version=launch_template.latest_version.apply(str)
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels=dict(SYSTEM_NODE_SELECTOR),
            tags=t,
            opts=child(
                self,
                depends_on=[*node_role_policies, *before_nodes],
                ignore_changes=["scalingConfig.desiredSize"] if autoscaled else None,
            ),
        )
        if autoscaled:
            # Managed node group tags do not reach the Auto Scaling group: tag the ASG itself.
            aws.autoscaling.Tag(
                f"{name}-system-autoscaled",
                autoscaling_group_name=node_group.resources.apply(lambda r: r[0].autoscaling_groups[0].name),
                tag=aws.autoscaling.TagTagArgs(key=AUTOSCALED_TAG, value="enabled", propagate_at_launch=False),
                opts=child(self),
            )
        # The other add-ons run Deployments, which need nodes to become healthy.
        after_nodes = [
            addon(a, addon_roles.get(a), after=[node_group])
            for a in versions.EKS_ADDONS
            if a not in ADDONS_BEFORE_NODES
        ]
        self._ready = [node_group, *before_nodes, *after_nodes]

        # Cluster-admin access entries.
        for arn in args.admin_principal_arns:
            slug = f"{arn.rsplit('/', 1)[1][:24]}-{hashlib.sha256(arn.encode()).hexdigest()[:6]}"
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{slug}",
                cluster_name=cluster.name,
                principal_arn=arn,
                type="STANDARD",
                tags=t,
                opts=child(self),
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{slug}",
                cluster_name=cluster.name,
                principal_arn=arn,
                policy_arn=ADMIN_POLICY_ARN,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child(self, depends_on=[entry]),
            )

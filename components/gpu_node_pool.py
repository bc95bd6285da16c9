"""GpuNodePool: GPU capacity that costs nothing when idle and starts when a job asks for a GPU.

One component per cluster holds every GPU pool of the stack plus the controllers they need, installed
once (so two pools never install two autoscalers):

* mechanism "managed" (pragmatic): per pool, EKS managed node groups on the NVIDIA AMI, scaled from
  zero by cluster-autoscaler. Spot-first is TWO node groups, a SPOT one and an ON_DEMAND fallback, and
  cluster-autoscaler's `priority` expander tries spot first; when spot capacity does not come within
  `max-node-provision-time` the group backs off and the on-demand group is used. (One group cannot mix
  capacity types on EKS.) Each group may grow to the pool's max, so in the worst case a spot-first
  pool runs max spot + max on-demand nodes; pass `gpu_limit` to cap each group's GPUs.
* mechanism "karpenter" (growth, full): the Karpenter controller (IRSA role, interruption queue fed by
  EventBridge, node role + instance profile + EKS access entry) and, per pool, an `EC2NodeClass` and a
  `NodePool` whose `limits` cap the pool's GPUs; optionally a CPU batch NodePool.
* `existing` nodes (adopt): only labels, the GPU taint and the device plugin.

Every GPU node carries the taint `nvidia.com/gpu=true:NoSchedule` (`_common.GPU_TAINT`) and the labels
`mlplatform.io/pool=<pool>`, `mlplatform.io/gpu=true`, `k8s.amazonaws.com/accelerator=<model>`. Only
pods that tolerate the taint (GPU jobs, the NVIDIA device plugin, GPU exporters) land there, so a CPU
pod can never keep a GPU node alive. cluster-autoscaler judges a GPU node by its GPU requests alone
(a node with only DaemonSets is unused) and Karpenter's `WhenEmpty` ignores DaemonSet pods: an idle
GPU node goes away `idle_minutes` after its last GPU pod ends. A running training pod that must not be
moved should carry `karpenter.sh/do-not-disrupt: "true"` and
`cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` (see examples/gpu-job).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import versions
from ._common import (
    AUTOSCALED_TAG,
    GPU_LABEL,
    GPU_NODE_AFFINITY,
    GPU_TAINT,
    GPU_TOLERATION,
    POOL_LABEL,
    SYSTEM_NODE_SELECTOR,
    ValidationError,
    assume_role_service,
    child,
    helm_release,
    policy_json,
    tags,
)
from .args.gpu_node_pool import CAPACITIES as CAPACITIES
from .args.gpu_node_pool import MECHANISMS as MECHANISMS
from .args.gpu_node_pool import ExistingGpuNodes as ExistingGpuNodes
from .args.gpu_node_pool import GpuNodePoolArgs as GpuNodePoolArgs
from .args.gpu_node_pool import GpuPool as GpuPool
from .args.gpu_node_pool import GpuSettings as GpuSettings
from .args.gpu_node_pool import check_pool
from .cluster_ref import resolve_cluster
from .gpu_instances import family, gpu_count, gpu_model
from .helm_values import check_user_values, with_user_values
from .irsa import irsa_role

ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"  # cluster-autoscaler's GPU label on AWS
CA_TAG = "k8s.io/cluster-autoscaler"
CONTROLLER_NAMESPACE = "kube-system"
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"
KARPENTER_SA = "karpenter"
# The CPU batch pool (Karpenter only) is tainted too, so only batch jobs that ask for it land there.
CPU_BATCH_POOL = "cpu-batch"
CPU_BATCH_TAINT = {"key": "mlplatform.io/batch", "value": "true", "effect": "NoSchedule"}
CPU_BATCH_TOLERATION = {"key": "mlplatform.io/batch", "operator": "Exists", "effect": "NoSchedule"}
CPU_BATCH_DISK_GIB = 100
NODE_EXPIRY = "720h"  # Karpenter replaces nodes after 30 days (patched AMIs); do-not-disrupt pods delay it
# Spot groups first, then on-demand fallbacks, then any other group cluster-autoscaler finds.
SPOT_PRIORITY, ON_DEMAND_PRIORITY, OTHER_PRIORITY = 50, 10, 1

# Managed node groups are auto-named `<name>-<pool>-ondemand-<7 hex>`; EKS allows 63 characters.
_MAX_GROUP_NAME = 63 - 8


def _managed_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def autoscaler_chart(mechanism: str) -> str:
    """The chart of the node autoscaler a mechanism installs (what `helm_values` applies to)."""
    return "karpenter" if mechanism == "karpenter" else "cluster-autoscaler"


# -- validation ----------------------------------------------------------------------------------
def _validate_pool(pool: GpuPool, args: GpuNodePoolArgs, name: str, region: str | None) -> None:
    at = f"pools[{pool.name}]"
    if args.mechanism == "managed" and len(f"{name}-{pool.name}-ondemand") > _MAX_GROUP_NAME:
        raise ValidationError(
            f"{at}.name",
            f"too long for an EKS node group name with component name {name!r}",
            f"keep len(name) + len(pool name) <= {_MAX_GROUP_NAME - len('--ondemand')}",
        )
    check_pool(at, pool, args.mechanism, region)


def _validate(name: str, args: GpuNodePoolArgs) -> None:
    if args.cluster_name is None:
        raise ValidationError("cluster_name", "required", "pass cluster=<the Cluster> (or its cluster_name)")
    check_user_values("nvidia-device-plugin", args.device_plugin_helm_values, "device_plugin_helm_values")
    check_user_values(autoscaler_chart(args.mechanism), args.helm_values)
    if args.existing is not None and args.helm_values:
        raise ValidationError(
            "helm_values",
            "no node autoscaler is installed for adopted nodes",
            "drop helm_values, or create pools instead of adopting nodes",
        )
    if args.existing is not None:
        if args.pools or args.cpu_batch_pool:
            raise ValidationError(
                "existing",
                "cannot be combined with pools or cpu_batch_pool",
                "adopt existing nodes in one GpuNodePool and create pools in another, or drop one",
            )
        return
    if not args.pools:
        raise ValidationError("pools", "empty", "add a GpuPool, or set existing=ExistingGpuNodes(...) to adopt nodes")
    for key in ("oidc_provider_arn", "oidc_issuer_url", "subnet_ids"):
        if getattr(args, key) is None:
            raise ValidationError(key, "required when creating GPU pools", f"pass the Cluster's/Network's {key}")
    if args.mechanism == "karpenter" and args.cluster_security_group_id is None:
        raise ValidationError(
            "cluster_security_group_id", "required for mechanism karpenter", "pass Cluster.cluster_security_group_id"
        )
    if args.cpu_batch_pool and args.mechanism != "karpenter":
        raise ValidationError(
            "cpu_batch_pool", "needs mechanism karpenter", "set mechanism to karpenter, or cpu_batch_pool to False"
        )
    region = args.region or pulumi.Config("aws").get("region")
    for pool in args.pools:
        _validate_pool(pool, args, name, region)


# -- pure builders (tested directly) ---------------------------------------------------------------
def accelerator(instance_types: list[str]) -> str:
    """The `k8s.amazonaws.com/accelerator` value of a pool: its GPU model, or the models joined by '.'
    when it mixes some (a managed node group carries one label set; select a single model with
    `node.kubernetes.io/instance-type`)."""
    models = sorted({gpu_model(t) for t in instance_types})
    joined = ".".join(models)
    return joined if len(joined) <= 63 else "nvidia-mixed"


def gpu_limit_of(pool: GpuPool) -> int:
    """The pool's GPU cap: `gpu_limit`, else max x the most GPUs one of its types has."""
    return pool.gpu_limit if pool.gpu_limit is not None else pool.max * max(gpu_count(t) for t in pool.instance_types)


def node_labels(pool: str, instance_types: list[str] | None) -> dict[str, str]:
    labels = {POOL_LABEL: pool, GPU_LABEL: "true"}
    if instance_types:
        labels[ACCELERATOR_LABEL] = accelerator(instance_types)
    return labels


def scale_from_zero_tags(pool: GpuPool, capacity_type: str) -> dict[str, str]:
    """ASG tags that tell cluster-autoscaler what a node of an empty group would look like
    (labels, taint, GPUs), so it can scale the group up from zero. The discovery tags
    (`enabled`, `<cluster>`) are added by the caller (the key holds the cluster name)."""
    out = {f"{CA_TAG}/node-template/label/{k}": v for k, v in node_labels(pool.name, pool.instance_types).items()}
    out[f"{CA_TAG}/node-template/label/eks.amazonaws.com/capacityType"] = capacity_type
    out[f"{CA_TAG}/node-template/taint/{GPU_TAINT['key']}"] = f"{GPU_TAINT['value']}:{GPU_TAINT['effect']}"
    out[f"{CA_TAG}/node-template/resources/nvidia.com/gpu"] = str(gpu_count(pool.instance_types[0]))
    return out


def cluster_autoscaler_statements(cluster: str, region: str, account: str, partition: str) -> list[dict[str, Any]]:
    """Least-privilege IAM statements of cluster-autoscaler: read anything it must see, change only
    the groups tagged as this cluster's."""
    return [
        {
            "Sid": "ReadScalingState",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
        },
        {
            "Sid": "ReadOwnNodeGroups",
            "Effect": "Allow",
            "Action": "eks:DescribeNodegroup",
            "Resource": f"arn:{partition}:eks:{region}:{account}:nodegroup/{cluster}/*/*",
        },
        {
            "Sid": "ScaleOwnGroups",
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/*",
            "Condition": {
                "StringEquals": {
                    f"aws:ResourceTag/{CA_TAG}/{cluster}": "owned",
                    f"aws:ResourceTag/{CA_TAG}/enabled": "true",
                    f"aws:ResourceTag/{AUTOSCALED_TAG}": "enabled",
                }
            },
        },
    ]


def karpenter_statements(
    cluster: str,
    region: str,
    account: str,
    partition: str,
    queue_arn: str,
    node_role_arn: str,
    instance_profile_arn: str,
) -> list[dict[str, Any]]:
    """The Karpenter controller's IAM statements: upstream's v1.14 policy
    (aws/karpenter-provider-aws, website/content/en/v1.14/getting-started/getting-started-with-karpenter/
    cloudformation.yaml), statement by statement with upstream's Sids and conditions.

    Left out, with the reason, in ONE place: `iam_upstream.LEFT_OUT["karpenter"]` (instance-profile
    management: the component makes the instance profile and every EC2NodeClass names it in
    `spec.instanceProfile`, so Karpenter creates, tags and deletes none). Kept although it looks like that group: the node-class
    finalizer (`pkg/controllers/nodeclass/controller.go`) lists instance profiles and reads the legacy
    `<cluster>_<hash>` one; an AccessDenied there is not ignored and the finalizer never clears, so
    `iam:ListInstanceProfiles` and `iam:GetInstanceProfile` on `instance-profile/*` stay as upstream has
    them. `instance_profile_arn` is accepted for callers but the read covers every profile, like upstream.
    """
    del instance_profile_arn
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster}
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    cluster_arn = f"arn:{partition}:eks:{region}:{account}:cluster/{cluster}"
    return [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": f"{ec2}:*:launch-template/*",
            "Condition": {
                "StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Resource": launched,
            "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": launched,
            "Condition": {
                "StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:*:instance/*",
            "Condition": {
                "StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Condition": {
                "StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                # Instance status: without it Karpenter's node health (repair) checks switch themselves off.
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AllowSSMReadActions",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
        },
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Resource": queue_arn,
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        },
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": node_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        # The node-class finalizer lists every profile (ListInstanceProfiles has no resource scope).
        {
            "Sid": "AllowUnscopedInstanceProfileListAction",
            "Effect": "Allow",
            "Action": "iam:ListInstanceProfiles",
            "Resource": "*",
        },
        {
            "Sid": "AllowInstanceProfileReadActions",
            "Effect": "Allow",
            "Action": "iam:GetInstanceProfile",
            "Resource": f"arn:{partition}:iam::{account}:instance-profile/*",
        },
        {
            "Sid": "AllowAPIServerEndpointDiscovery",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": cluster_arn,
        },
        {
            "Sid": "AllowZonalShiftStatusReadOnly",
            "Effect": "Allow",
            "Action": "arc-zonal-shift:GetManagedResource",
            "Resource": "*",
            "Condition": {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}},
        },
    ]


# EventBridge events Karpenter reacts to (spot interruption, rebalance, scheduled maintenance, stops).
INTERRUPTION_EVENTS = {
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "capacity-reservation": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}


def karpenter_node_pool(pool: GpuPool, idle_minutes: int) -> dict[str, Any]:
    """The `karpenter.sh/v1` NodePool spec of a GPU pool."""
    capacity = {"spot-first": ["spot", "on-demand"], "spot": ["spot"], "on-demand": ["on-demand"]}[pool.capacity]
    return {
        "template": {
            "metadata": {"labels": node_labels(pool.name, pool.instance_types)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.name},
                "taints": [dict(GPU_TAINT)],
                "requirements": [
                    {
                        "key": "karpenter.k8s.aws/instance-family",
                        "operator": "In",
                        "values": sorted({family(t) for t in pool.instance_types}),
                    },
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
                    {
                        "key": "karpenter.k8s.aws/instance-gpu-count",
                        "operator": "In",
                        "values": [str(c) for c in sorted({gpu_count(t) for t in pool.instance_types})],
                    },
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                ],
                "expireAfter": NODE_EXPIRY,
            },
        },
        "limits": {"nvidia.com/gpu": str(gpu_limit_of(pool))},
        "disruption": {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": f"{idle_minutes}m",
            "budgets": [{"nodes": "10%"}],
        },
    }


def cpu_batch_node_pool(vcpu_limit: int, idle_minutes: int) -> dict[str, Any]:
    """The `karpenter.sh/v1` NodePool spec of the CPU batch pool."""
    return {
        "template": {
            "metadata": {"labels": {POOL_LABEL: CPU_BATCH_POOL}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": CPU_BATCH_POOL},
                "taints": [dict(CPU_BATCH_TAINT)],
                "requirements": [
                    {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["c", "m", "r"]},
                    {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["5"]},
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                ],
                "expireAfter": NODE_EXPIRY,
            },
        },
        "limits": {"cpu": str(vcpu_limit)},
        "disruption": {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": f"{idle_minutes}m",
            "budgets": [{"nodes": "10%"}],
        },
    }


def _metadata_options() -> dict[str, Any]:
    # IMDSv2 only, and one hop: pods cannot reach the node role's credentials through IMDS.
    return {
        "httpEndpoint": "enabled",
        "httpProtocolIPv6": "disabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    }


class GpuNodePool(pulumi.ComponentResource):
    """GPU pools of one cluster (managed node groups + cluster-autoscaler, or Karpenter NodePools +
    Karpenter), the NVIDIA device plugin, or adopted GPU nodes. See the module docstring.

    Outputs: node_role_arn (the GPU nodes' IAM role; None when adopting), controller_role_arn (the
    cluster-autoscaler or Karpenter IRSA role; None when adopting), node_group_names (managed node
    group names, [] otherwise), interruption_queue_url (Karpenter's SQS queue; None otherwise).
    Karpenter's NodePools and EC2NodeClasses are cluster-scoped and named after the pools (plus
    `cpu-batch`): one GpuNodePool per cluster.
    """

    node_role_arn: pulumi.Output[str] | None
    controller_role_arn: pulumi.Output[str] | None
    node_group_names: pulumi.Output[list[str]]
    interruption_queue_url: pulumi.Output[str] | None

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        args = resolve_cluster(args)
        _validate(name, args)
        super().__init__("mlplatform:compute:GpuNodePool", name, None, opts)
        self._name, self._args, self._tags = name, args, tags(name, args.tags)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self._region = aws.get_region_output(opts=invoke).region
        self._account = aws.get_caller_identity_output(opts=invoke).account_id
        self._partition = aws.get_partition_output(opts=invoke).partition
        self.node_role_arn = None
        self.controller_role_arn = None
        self.node_group_names = pulumi.Output.from_input([])
        self.interruption_queue_url = None

        if args.existing is not None:
            self._adopt(args.existing)
        else:
            node_role = self._node_role("gpu-node" if args.mechanism == "managed" else "karpenter-node")
            self.node_role_arn = node_role.arn
            if args.mechanism == "managed":
                self._managed(node_role)
            else:
                self._karpenter(node_role)
        if args.device_plugin:
            self._device_plugin()

        self.register_outputs(
            {
                "node_role_arn": self.node_role_arn,
                "controller_role_arn": self.controller_role_arn,
                "node_group_names": self.node_group_names,
                "interruption_queue_url": self.interruption_queue_url,
            }
        )

    # -- shared ------------------------------------------------------------------------------------
    def _k8s_opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._args.k8s_provider, **kwargs)

    def _node_role(self, base: str) -> aws.iam.Role:
        """IAM role of the GPU nodes: join the cluster and pull images, nothing else.

        Managed node groups and Karpenter get DIFFERENT roles (`<name>-gpu-node` and
        `<name>-karpenter-node`). EKS creates the EC2_LINUX access entry of a managed node group's role
        itself, and an IAM principal can be in only one access entry of a cluster (EKS user guide,
        https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html). Pulumi creates new resources before it deletes old ones, so on
        pragmatic -> growth an entry for the managed groups' role would be created while the groups, and
        EKS's entry for that role, still exist (ResourceInUseException). Karpenter's own role has no entry
        yet; EKS removes the old one with the last managed group that used the old role."""
        name, t = self._name, self._tags
        role = aws.iam.Role(
            f"{name}-{base}",
            assume_role_policy=assume_role_service("ec2.amazonaws.com"),
            description="GPU nodes: join EKS, pull images",
            tags=t,
            opts=child(self),
        )
        policies = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"]
        if self._args.cni_policy_on_node_role:
            policies.append("AmazonEKS_CNI_Policy")
        self._node_role_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{base}-{p}", role=role.name, policy_arn=_managed_policy(p), opts=child(self)
            )
            for p in policies
        ]
        return role

    def _irsa_role(
        self, suffix: str, service_account: str, statements: pulumi.Output[list[dict[str, Any]]]
    ) -> aws.iam.Role:
        args, name = self._args, self._name
        irsa = irsa_role(
            self,
            f"{name}-{suffix}",
            args.oidc_provider_arn,
            args.oidc_issuer_url,
            [(CONTROLLER_NAMESPACE, service_account)],
            policies={f"{name}-{suffix}": statements.apply(policy_json)},
            description=f"{suffix} controller (IRSA {CONTROLLER_NAMESPACE}/{service_account})",
            tags=self._tags,
        )
        (self._controller_policy,) = irsa.policies
        self.controller_role_arn = irsa.role.arn
        return irsa.role

    # -- managed node groups + cluster-autoscaler --------------------------------------------------
    def _managed(self, node_role: aws.iam.Role) -> None:
        args, name, t = self._args, self._name, self._tags
        cluster_name = args.cluster_name
        if cluster_name is None:  # checked by _validate(); here the type says so
            raise ValidationError("cluster_name", "required", "pass cluster=<the Cluster>")
        groups: list[aws.eks.NodeGroup] = []
        priorities: dict[int, list[str]] = {SPOT_PRIORITY: [], ON_DEMAND_PRIORITY: [], OTHER_PRIORITY: [".*"]}
        for pool in args.pools:
            template = aws.ec2.LaunchTemplate(
                f"{name}-{pool.name}",
                description=f"GPU pool {pool.name}: IMDSv2, encrypted gp3 root, no SSH key",
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
                ),
                block_device_mappings=[
                    aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name="/dev/xvda",
                        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_size=pool.disk_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
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
            kinds = {"spot-first": ["SPOT", "ON_DEMAND"], "spot": ["SPOT"], "on-demand": ["ON_DEMAND"]}[pool.capacity]
            per_node = gpu_count(pool.instance_types[0])
            high = pool.max if pool.gpu_limit is None else min(pool.max, pool.gpu_limit // per_node)
            for i, kind in enumerate(kinds):
                suffix = "spot" if kind == "SPOT" else "ondemand"
                group_name = f"{name}-{pool.name}-{suffix}"
                low = pool.min if i == 0 else 0  # warm nodes live in the first-choice group
                group = aws.eks.NodeGroup(
                    group_name,
                    cluster_name=args.cluster_name,
                    version=args.kubernetes_version,
                    node_role_arn=node_role.arn,
                    subnet_ids=args.subnet_ids,
                    ami_type=versions.AMI_TYPE_GPU,
                    instance_types=list(pool.instance_types),
                    capacity_type=kind,
                    scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=low, desired_size=low, max_size=high),
                    launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                        id=template.id, version=template.latest_version.apply(str)
                    ),
                    update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                    labels=node_labels(pool.name, pool.instance_types),
                    taints=[
                        aws.eks.NodeGroupTaintArgs(key=GPU_TAINT["key"], value=GPU_TAINT["value"], effect="NO_SCHEDULE")
                    ],
                    tags=t,
                    # cluster-autoscaler owns the desired size.
                    opts=child(self, depends_on=self._node_role_policies, ignore_changes=["scalingConfig.desiredSize"]),
                )
                groups.append(group)
                # EKS names the ASG eks-<node group>-<uuid>; the group is auto-named <group_name>-<7 hex>.
                priorities[SPOT_PRIORITY if kind == "SPOT" else ON_DEMAND_PRIORITY].append(
                    f"^eks-{group_name}-[0-9a-f]{{7}}-"
                )
                # Managed node group tags do not reach the Auto Scaling group: tag the ASG itself.
                asg = group.resources.apply(lambda r: r[0].autoscaling_groups[0].name)
                asg_tags: list[tuple[str, pulumi.Input[str], str]] = [
                    (key.removeprefix(f"{CA_TAG}/node-template/").replace("/", "-"), key, value)
                    for key, value in scale_from_zero_tags(pool, kind).items()
                ]
                asg_tags += [
                    ("enabled", f"{CA_TAG}/enabled", "true"),
                    ("cluster", pulumi.Output.concat(f"{CA_TAG}/", cluster_name), "owned"),
                    ("mlplatform", AUTOSCALED_TAG, "enabled"),
                ]
                for slug, key, value in asg_tags:
                    aws.autoscaling.Tag(
                        f"{group_name}-ca-{slug}",
                        autoscaling_group_name=asg,
                        tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                        opts=child(self),
                    )
        self.node_group_names = pulumi.Output.all(*[g.node_group_name for g in groups])

        statements = pulumi.Output.all(args.cluster_name, self._region, self._account, self._partition).apply(
            lambda v: cluster_autoscaler_statements(*v)
        )
        role = self._irsa_role("cluster-autoscaler", CLUSTER_AUTOSCALER_SA, statements)
        values = {
            "fullnameOverride": "cluster-autoscaler",  # Deployment kube-system/cluster-autoscaler
            "cloudProvider": "aws",
            "awsRegion": self._region,
            # EKS tags EVERY managed node group's ASG with the two k8s.io keys (by key: the value cannot
            # switch discovery off), so discovery also asks for mlplatform's key: only the GPU groups (and
            # the system group when cluster.system_nodes.scaled_by is cluster-autoscaler) carry it.
            "autoDiscovery": {
                "clusterName": args.cluster_name,
                "tags": [f"{CA_TAG}/enabled", pulumi.Output.concat(f"{CA_TAG}/", cluster_name), AUTOSCALED_TAG],
            },
            "rbac": {
                "serviceAccount": {
                    "create": True,
                    "name": CLUSTER_AUTOSCALER_SA,
                    "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                }
            },
            "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
            "extraArgs": {
                # Spot groups first, on-demand when spot fails; least-waste among equals.
                "expander": "priority,least-waste",
                # Idle GPU nodes go after idle_minutes. A GPU node's use is its GPU requests alone, so a
                # node left with DaemonSets (device plugin, exporters) only counts as empty.
                "scale-down-unneeded-time": f"{args.idle_minutes}m",
                "scale-down-delay-after-add": f"{args.idle_minutes}m",
                "skip-nodes-with-system-pods": False,
                # Pods with scratch volumes (datasets, /dev/shm) keep their node while they run.
                "skip-nodes-with-local-storage": True,
                # Give up on spot sooner, so the on-demand fallback starts.
                "max-node-provision-time": "10m",
            },
            "expanderPriorities": {str(k): v for k, v in priorities.items()},
            "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
            # The chart sets no security context; the image runs as any UID (its own docs suggest 65534).
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "fsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        values = with_user_values("cluster-autoscaler", values, args.helm_values)
        helm_release(
            self,
            f"{name}-cluster-autoscaler",
            "cluster-autoscaler",
            CONTROLLER_NAMESPACE,
            values,
            args.k8s_provider,
            create_namespace=False,
            depends_on=[self._controller_policy],
        )

    # -- Karpenter ---------------------------------------------------------------------------------
    def _karpenter(self, node_role: aws.iam.Role) -> None:
        args, name, t = self._args, self._name, self._tags
        subnet_ids = args.subnet_ids
        if subnet_ids is None:  # checked by _validate(); here the type says so
            raise ValidationError("subnet_ids", "required", "pass the private subnets GPU nodes start in")
        profile = aws.iam.InstanceProfile(f"{name}-gpu-node", role=node_role.name, tags=t, opts=child(self))
        access = aws.eks.AccessEntry(
            f"{name}-gpu-node",
            cluster_name=args.cluster_name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            tags=t,
            opts=child(self),
        )

        # Interruption handling: EventBridge -> SQS -> Karpenter drains a node before EC2 takes it.
        queue = aws.sqs.Queue(
            f"{name}-karpenter", message_retention_seconds=300, sqs_managed_sse_enabled=True, tags=t, opts=child(self)
        )
        rules = []
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-karpenter-{event}",
                event_pattern=json.dumps(pattern),
                description=f"Karpenter interruption handling: {event}",
                tags=t,
                opts=child(self),
            )
            aws.cloudwatch.EventTarget(f"{name}-karpenter-{event}", rule=rule.name, arn=queue.arn, opts=child(self))
            rules.append(rule)
        aws.sqs.QueuePolicy(
            f"{name}-karpenter",
            queue_url=queue.id,
            policy=pulumi.Output.all(queue.arn, *[r.arn for r in rules]).apply(
                lambda v: policy_json(
                    [
                        {
                            "Sid": "EventBridgeSendsInterruptions",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": v[0],
                            "Condition": {"ArnEquals": {"aws:SourceArn": list(v[1:])}},
                        },
                        {
                            "Sid": "DenyHTTP",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": v[0],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ]
                )
            ),
            opts=child(self),
        )
        self.interruption_queue_url = queue.id

        statements = pulumi.Output.all(
            args.cluster_name, self._region, self._account, self._partition, queue.arn, node_role.arn, profile.arn
        ).apply(lambda v: karpenter_statements(*v))
        role = self._irsa_role("karpenter", KARPENTER_SA, statements)
        values = {
            "fullnameOverride": "karpenter",  # Deployment kube-system/karpenter
            "settings": {"clusterName": args.cluster_name, "interruptionQueue": queue.name},
            "serviceAccount": {
                "create": True,
                "name": KARPENTER_SA,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
            # Karpenter must not run on nodes it manages: system nodes only (the chart's own affinity
            # also keeps it off Karpenter nodes).
            "nodeSelector": {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR},
            "controller": {"resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}},
        }
        values = with_user_values("karpenter", values, args.helm_values)
        release = helm_release(
            self,
            f"{name}-karpenter",
            "karpenter",
            CONTROLLER_NAMESPACE,
            values,
            args.k8s_provider,
            create_namespace=False,
            depends_on=[self._controller_policy, access],
        )

        subnets = pulumi.Output.from_input(subnet_ids).apply(lambda ids: [{"id": i} for i in ids])
        after = [release, profile, access]

        def node_class(class_name: str, disk_gib: int) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                f"{name}-{class_name}-nodeclass",
                api_version="karpenter.k8s.aws/v1",
                kind="EC2NodeClass",
                metadata={"name": class_name, "labels": {POOL_LABEL: class_name}},
                spec={
                    "amiSelectorTerms": [{"alias": f"{versions.AMI_TYPE_GPU.split('_')[0].lower()}@latest"}],
                    "instanceProfile": profile.name,
                    "subnetSelectorTerms": subnets,
                    "securityGroupSelectorTerms": [{"id": args.cluster_security_group_id}],
                    "metadataOptions": _metadata_options(),
                    "blockDeviceMappings": [
                        {
                            "deviceName": "/dev/xvda",
                            "ebs": {
                                "volumeSize": f"{disk_gib}Gi",
                                "volumeType": "gp3",
                                "encrypted": True,
                                "deleteOnTermination": True,
                            },
                        }
                    ],
                    "tags": t,
                },
                opts=self._k8s_opts(depends_on=after),
            )

        def node_pool(pool_name: str, spec: dict[str, Any], nodeclass: k8s.apiextensions.CustomResource) -> None:
            k8s.apiextensions.CustomResource(
                f"{name}-{pool_name}-nodepool",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata={"name": pool_name, "labels": {POOL_LABEL: pool_name}},
                spec=spec,
                opts=self._k8s_opts(depends_on=[release, nodeclass]),
            )

        for pool in args.pools:
            node_pool(pool.name, karpenter_node_pool(pool, args.idle_minutes), node_class(pool.name, pool.disk_gib))
        if args.cpu_batch_pool:
            node_pool(
                CPU_BATCH_POOL,
                cpu_batch_node_pool(args.cpu_batch_vcpu_limit, args.idle_minutes),
                node_class(CPU_BATCH_POOL, CPU_BATCH_DISK_GIB),
            )

    # -- adopted nodes -----------------------------------------------------------------------------
    def _adopt(self, existing: ExistingGpuNodes) -> None:
        for node in existing.node_names:
            k8s.core.v1.NodePatch(
                f"{self._name}-{node}",
                metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                    name=node,
                    labels=node_labels(existing.pool, None),
                    # The node's taints are owned by kubelet too: take them over (server-side apply force).
                    annotations={"pulumi.com/patchForce": "true"},
                ),
                spec=k8s.core.v1.NodeSpecPatchArgs(taints=[k8s.core.v1.TaintPatchArgs(**GPU_TAINT)]),
                opts=self._k8s_opts(),
            )

    # -- NVIDIA device plugin ------------------------------------------------------------------------
    def _device_plugin(self) -> None:
        """Advertises `nvidia.com/gpu` on GPU nodes; runs only there (GPU toleration + GPU node affinity)."""
        values = {
            "tolerations": [dict(GPU_TOLERATION)],
            "affinity": GPU_NODE_AFFINITY,
            "priorityClassName": "system-node-critical",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        }
        values = with_user_values(
            "nvidia-device-plugin", values, self._args.device_plugin_helm_values, "device_plugin_helm_values"
        )
        helm_release(
            self,
            f"{self._name}-nvidia-device-plugin",
            "nvidia-device-plugin",
            CONTROLLER_NAMESPACE,
            values,
            self._args.k8s_provider,
            create_namespace=False,
        )

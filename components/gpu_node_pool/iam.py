"""The IAM of GpuNodePool: the GPU nodes' role, and the least-privilege policies of its controllers
(cluster-autoscaler, Karpenter) as IRSA roles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from .._common import assume_role_service, child, policy_json
from ..conventions import AUTOSCALED_TAG
from ..irsa import irsa_role
from .nodes import CA_TAG, CONTROLLER_NAMESPACE

if TYPE_CHECKING:
    from .component import GpuNodePool


def _managed_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


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


def node_role(c: GpuNodePool, base: str) -> aws.iam.Role:
    """IAM role of the GPU nodes: join the cluster and pull images, nothing else.

    Managed node groups and Karpenter get DIFFERENT roles (`<name>-gpu-node` and
    `<name>-karpenter-node`). EKS creates the EC2_LINUX access entry of a managed node group's role
    itself, and an IAM principal can be in only one access entry of a cluster (EKS user guide,
    https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html). Pulumi creates new resources before it deletes old ones, so on
    pragmatic -> growth an entry for the managed groups' role would be created while the groups, and
    EKS's entry for that role, still exist (ResourceInUseException). Karpenter's own role has no entry
    yet; EKS removes the old one with the last managed group that used the old role."""
    name, t = c._name, c._tags
    role = aws.iam.Role(
        f"{name}-{base}",
        assume_role_policy=assume_role_service("ec2.amazonaws.com"),
        description="GPU nodes: join EKS, pull images",
        tags=t,
        opts=child(c),
    )
    policies = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"]
    if c._args.cni_policy_on_node_role:
        policies.append("AmazonEKS_CNI_Policy")
    c._node_role_policies = [
        aws.iam.RolePolicyAttachment(f"{name}-{base}-{p}", role=role.name, policy_arn=_managed_policy(p), opts=child(c))
        for p in policies
    ]
    return role


def controller_role(
    c: GpuNodePool, suffix: str, service_account: str, statements: pulumi.Output[list[dict[str, Any]]]
) -> aws.iam.Role:
    args, name = c._args, c._name
    irsa = irsa_role(
        c,
        f"{name}-{suffix}",
        args.oidc_provider_arn,
        args.oidc_issuer_url,
        [(CONTROLLER_NAMESPACE, service_account)],
        policies={f"{name}-{suffix}": statements.apply(policy_json)},
        description=f"{suffix} controller (IRSA {CONTROLLER_NAMESPACE}/{service_account})",
        tags=c._tags,
    )
    (c._controller_policy,) = irsa.policies
    c.controller_role_arn = irsa.role.arn
    return irsa.role

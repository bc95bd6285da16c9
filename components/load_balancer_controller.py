"""LoadBalancerController: the AWS Load Balancer Controller, so Kubernetes Ingresses get ALBs.

Installed when something in the stack has an ingress (MLflow in growth/full). The controller's IAM
role is least-privilege: read-only describes on `*`; everything that creates, changes or deletes a
load balancer, target group or security group is limited to resources carrying the controller's own
cluster tag (`elbv2.k8s.aws/cluster`), the tag it puts on everything it creates.

The policy follows the controller's own published policy for the pinned version
(kubernetes-sigs/aws-load-balancer-controller, docs/install/iam_policy.json @ v3.5.0);
tests/test_upstream_iam.py fails when the two drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from ._common import ValidationError, helm_release, policy_json, tags
from .cluster_ref import ClusterLike, resolve_cluster
from .conventions import LOAD_BALANCER_CONTROLLER_CHART as CHART
from .conventions import SYSTEM_NODE_SELECTOR
from .helm_values import check_user_values, with_user_values
from .irsa import irsa_role

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
# Requests of each controller pod (never BestEffort on the small system nodes), memory limited.
CONTROLLER_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}

# Upstream v3.5.0 (kubernetes-sigs/aws-load-balancer-controller, docs/install/iam_policy.json @ tag
# v3.5.0), statement by statement with upstream's conditions. tests/test_upstream_iam.py checks every
# upstream action against this policy (stacks/data/upstream-iam.json). One deliberate narrowing:
# security-group rule changes and CreateSecurityGroup name security groups (and the VPC), not "*".
_READ_ACTIONS = [
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "ec2:GetCoipPoolUsage",
    "ec2:DescribeCoipPools",
    "ec2:GetSecurityGroupsForVpc",
    "ec2:DescribeIpamPools",
    "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
]
# Certificates, Cognito, WAF and Shield: the controller reads and (de)associates them for the
# Ingress annotations that ask for them (alb.ingress.kubernetes.io/wafv2-acl-arn, shield-advanced-protection).
_INTEGRATION_ACTIONS = [
    "cognito-idp:DescribeUserPoolClient",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
    "iam:ListServerCertificates",
    "iam:GetServerCertificate",
    "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource",
    "waf-regional:AssociateWebACL",
    "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL",
    "wafv2:GetWebACLForResource",
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState",
    "shield:DescribeProtection",
    "shield:CreateProtection",
    "shield:DeleteProtection",
]
_LB_ARNS = [
    "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
    "arn:aws:elasticloadbalancing:*:*:loadbalancer/net/*/*",
    "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
]
_LISTENER_ARNS = [
    "arn:aws:elasticloadbalancing:*:*:listener/net/*/*/*",
    "arn:aws:elasticloadbalancing:*:*:listener/app/*/*/*",
    "arn:aws:elasticloadbalancing:*:*:listener-rule/net/*/*/*",
    "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*",
]
_SG_ARN = "arn:aws:ec2:*:*:security-group/*"
_OWNED = {"Null": {f"aws:ResourceTag/{CLUSTER_TAG}": "false"}}
_TAGGED_ON_CREATE = {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"}}
# Changing tags of its own resources, but never the cluster tag itself (upstream's Null pair).
_OWNED_NOT_RETAGGED = {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "true", f"aws:ResourceTag/{CLUSTER_TAG}": "false"}}


def controller_policy() -> str:
    """The controller's IAM policy (see the comment above `_READ_ACTIONS`)."""
    return policy_json(
        [
            {
                "Sid": "ServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
            },
            {"Sid": "ReadOnly", "Effect": "Allow", "Action": _READ_ACTIONS, "Resource": "*"},
            {"Sid": "Integrations", "Effect": "Allow", "Action": _INTEGRATION_ACTIONS, "Resource": "*"},
            # Opening node security groups to its load balancers: the node groups' SGs aren't its own.
            {
                "Sid": "NodeSecurityGroupRules",
                "Effect": "Allow",
                "Resource": _SG_ARN,
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
            },
            {
                "Sid": "CreateSecurityGroup",
                "Effect": "Allow",
                "Action": "ec2:CreateSecurityGroup",
                "Resource": [_SG_ARN, "arn:aws:ec2:*:*:vpc/*"],
            },
            {
                "Sid": "TagSecurityGroupOnCreate",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": _SG_ARN,
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **_TAGGED_ON_CREATE},
            },
            {
                "Sid": "RetagOwnSecurityGroups",
                "Effect": "Allow",
                "Resource": _SG_ARN,
                "Condition": _OWNED_NOT_RETAGGED,
                "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
            },
            {
                "Sid": "OwnSecurityGroups",
                "Effect": "Allow",
                "Resource": _SG_ARN,
                "Condition": _OWNED,
                "Action": [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:DeleteSecurityGroup",
                ],
            },
            {
                "Sid": "CreateTaggedLoadBalancers",
                "Effect": "Allow",
                "Resource": "*",
                "Condition": _TAGGED_ON_CREATE,
                "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            },
            # Listeners and rules live on its own load balancers; their ARNs carry no tag before creation.
            {
                "Sid": "ListenersAndRules",
                "Effect": "Allow",
                "Resource": "*",
                "Action": [
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:CreateRule",
                    "elasticloadbalancing:DeleteRule",
                ],
            },
            {
                "Sid": "RetagOwnLoadBalancers",
                "Effect": "Allow",
                "Resource": _LB_ARNS,
                "Condition": _OWNED_NOT_RETAGGED,
                "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            },
            # v2.5+ tags the listeners and rules it creates on its own load balancers. Narrower than
            # upstream: it may remove tags only from listeners and rules carrying its cluster tag.
            {
                "Sid": "TagListenersAndRules",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:AddTags",
                "Resource": _LISTENER_ARNS,
            },
            {
                "Sid": "UntagOwnListenersAndRules",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:RemoveTags",
                "Resource": _LISTENER_ARNS,
                "Condition": _OWNED,
            },
            {
                "Sid": "OwnLoadBalancers",
                "Effect": "Allow",
                "Resource": "*",
                "Condition": _OWNED,
                "Action": [
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:ModifyListenerAttributes",
                    "elasticloadbalancing:ModifyCapacityReservation",
                    "elasticloadbalancing:ModifyIpPools",
                ],
            },
            {
                "Sid": "TagOnCreate",
                "Effect": "Allow",
                "Action": "elasticloadbalancing:AddTags",
                "Resource": _LB_ARNS,
                "Condition": {
                    "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
                    **_TAGGED_ON_CREATE,
                },
            },
            {
                "Sid": "Targets",
                "Effect": "Allow",
                "Resource": "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
                "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
            },
            # SetRulePriorities: reordering an Ingress's rules (group.order, path order) calls it.
            {
                "Sid": "ListenerSettings",
                "Effect": "Allow",
                "Resource": "*",
                "Action": [
                    "elasticloadbalancing:SetWebAcl",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:AddListenerCertificates",
                    "elasticloadbalancing:RemoveListenerCertificates",
                    "elasticloadbalancing:ModifyRule",
                    "elasticloadbalancing:SetRulePriorities",
                ],
            },
        ]
    )


@dataclass
class LoadBalancerControllerArgs:
    """Inputs of `LoadBalancerController`.

    Fields:
        cluster_name (Input[str], required unless `cluster`): the EKS cluster.
        vpc_id (Input[str], required): its VPC (given so the controller needs no instance metadata:
            nodes allow IMDS only one hop, which pods can't reach).
        region (str, required): AWS region of the cluster.
        oidc_provider_arn (Input[str], required unless `cluster`), oidc_issuer_url (Input[str], required
            unless `cluster`): the cluster's IRSA identity provider.
        k8s_provider (ProviderResource, required unless `cluster`): the cluster's Kubernetes provider.
        cluster (Cluster | ClusterRef | None, default None): the cluster; its name, OIDC provider, issuer
            and Kubernetes provider fill the loose fields above (kept for existing programs).
        replicas (int, default 2): controller replicas (leader-elected).
        tags (dict[str, str], default {}): extra tags on the IAM role.
        helm_values (dict | None, default None): your own aws-load-balancer-controller values,
            deep-merged over the computed ones; the IRSA service account and the cluster/VPC wiring are
            owned and refused (components/helm_values.OWNED).
    """

    cluster_name: pulumi.Input[str] | None = None
    vpc_id: pulumi.Input[str] | None = None
    region: str | None = None
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer_url: pulumi.Input[str] | None = None
    k8s_provider: pulumi.ProviderResource | None = None
    replicas: int = 2
    tags: dict[str, str] = field(default_factory=dict)
    helm_values: dict[str, Any] | None = None
    cluster: ClusterLike | None = None


class LoadBalancerController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller (pinned chart) with its own IRSA role."""

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None):
        args = resolve_cluster(args)
        for field_name in ("cluster_name", "vpc_id", "region", "oidc_provider_arn", "oidc_issuer_url"):
            if getattr(args, field_name) is None:
                raise ValidationError(
                    field_name, "required", "pass cluster=<the Cluster> and the stack's vpc_id and region"
                )
        if not 1 <= args.replicas <= 5:
            raise ValidationError("replicas", f"must be 1 to 5, got {args.replicas}", "use 2 for high availability")
        check_user_values(CHART, args.helm_values)
        super().__init__("mlplatform:network:LoadBalancerController", name, None, opts)
        irsa = irsa_role(
            self,
            f"{name}-lb-controller",
            args.oidc_provider_arn,
            args.oidc_issuer_url,
            [(NAMESPACE, SERVICE_ACCOUNT)],
            policies={f"{name}-lb-controller": controller_policy()},
            tags=tags(name, args.tags),
        )
        role = irsa.role
        self.release = helm_release(
            self,
            f"{name}-lb-controller",
            CHART,
            NAMESPACE,
            with_user_values(
                CHART,
                {
                    "clusterName": args.cluster_name,
                    "region": args.region,
                    "vpcId": args.vpc_id,
                    "replicaCount": args.replicas,
                    "serviceAccount": {
                        "create": True,
                        "name": SERVICE_ACCOUNT,
                        "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                    },
                    "nodeSelector": SYSTEM_NODE_SELECTOR,
                    "resources": CONTROLLER_RESOURCES,
                    # Added to the chart's own (non-root, read-only root filesystem, no privilege escalation).
                    "securityContext": {
                        "runAsNonRoot": True,
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    # Its Service webhook (failurePolicy Fail, every Service in the cluster) would refuse the
                    # Services of releases installing alongside it while its pod starts; the stack uses ALB
                    # Ingresses, not LoadBalancer Services, so it is off.
                    "enableServiceMutatorWebhook": False,
                    # Every ALB/NLB and security group it makes carries the stack's tags: the orphan sweep finds them.
                    "defaultTags": tags(name, args.tags),
                },
                args.helm_values,
            ),
            provider=args.k8s_provider,
            create_namespace=False,
            depends_on=irsa.policies,
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})

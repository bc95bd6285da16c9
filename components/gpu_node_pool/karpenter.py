"""Karpenter GPU pools: the controller (IRSA role, interruption queue fed by EventBridge, node role's
instance profile and access entry) and, per pool, an EC2NodeClass and a NodePool whose `limits` cap its
GPUs; optionally the CPU batch NodePool."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import versions
from .._common import ValidationError, child, helm_release, policy_json
from ..args.gpu_node_pool import GpuPool, gpu_limit_of
from ..conventions import CPU_BATCH_POOL, CPU_BATCH_TAINT, GPU_TAINT, POOL_LABEL, SYSTEM_NODE_SELECTOR
from ..gpu_instances import family, gpu_count
from ..helm_values import with_user_values
from .iam import controller_role, karpenter_statements
from .nodes import (
    CONTROLLER_NAMESPACE,
    CPU_BATCH_DISK_GIB,
    KARPENTER_SA,
    NODE_EXPIRY,
    metadata_options,
    node_labels,
)

if TYPE_CHECKING:
    from .component import GpuNodePool


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
        "limits": {"nvidia.com/gpu": str(gpu_limit_of(pool, "karpenter"))},
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


def build(c: GpuNodePool, node_role: aws.iam.Role) -> None:
    args, name, t = c._args, c._name, c._tags
    subnet_ids = args.subnet_ids
    if subnet_ids is None:  # checked by _validate(); here the type says so
        raise ValidationError("subnet_ids", "required", "pass the private subnets GPU nodes start in")
    profile = aws.iam.InstanceProfile(f"{name}-gpu-node", role=node_role.name, tags=t, opts=child(c))
    access = aws.eks.AccessEntry(
        f"{name}-gpu-node",
        cluster_name=args.cluster_name,
        principal_arn=node_role.arn,
        type="EC2_LINUX",
        tags=t,
        opts=child(c),
    )

    # Interruption handling: EventBridge -> SQS -> Karpenter drains a node before EC2 takes it.
    queue = aws.sqs.Queue(
        f"{name}-karpenter", message_retention_seconds=300, sqs_managed_sse_enabled=True, tags=t, opts=child(c)
    )
    rules = []
    for event, pattern in INTERRUPTION_EVENTS.items():
        rule = aws.cloudwatch.EventRule(
            f"{name}-karpenter-{event}",
            event_pattern=json.dumps(pattern),
            description=f"Karpenter interruption handling: {event}",
            tags=t,
            opts=child(c),
        )
        aws.cloudwatch.EventTarget(f"{name}-karpenter-{event}", rule=rule.name, arn=queue.arn, opts=child(c))
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
        opts=child(c),
    )
    c.interruption_queue_url = queue.id

    statements = pulumi.Output.all(
        args.cluster_name, c._region, c._account, c._partition, queue.arn, node_role.arn, profile.arn
    ).apply(lambda v: karpenter_statements(*v))
    role = controller_role(c, "karpenter", KARPENTER_SA, statements)
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
        c,
        f"{name}-karpenter",
        "karpenter",
        CONTROLLER_NAMESPACE,
        values,
        args.k8s_provider,
        create_namespace=False,
        depends_on=[c._controller_policy, access],
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
                "metadataOptions": metadata_options(),
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
            opts=c._k8s_opts(depends_on=after),
        )

    def node_pool(pool_name: str, spec: dict[str, Any], nodeclass: k8s.apiextensions.CustomResource) -> None:
        k8s.apiextensions.CustomResource(
            f"{name}-{pool_name}-nodepool",
            api_version="karpenter.sh/v1",
            kind="NodePool",
            metadata={"name": pool_name, "labels": {POOL_LABEL: pool_name}},
            spec=spec,
            opts=c._k8s_opts(depends_on=[release, nodeclass]),
        )

    for pool in args.pools:
        node_pool(pool.name, karpenter_node_pool(pool, args.idle_minutes), node_class(pool.name, pool.disk_gib))
    if args.cpu_batch_pool:
        node_pool(
            CPU_BATCH_POOL,
            cpu_batch_node_pool(args.cpu_batch_vcpu_limit, args.idle_minutes),
            node_class(CPU_BATCH_POOL, CPU_BATCH_DISK_GIB),
        )

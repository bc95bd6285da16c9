"""Managed GPU pools: EKS managed node groups on the NVIDIA AMI (a SPOT and an ON_DEMAND group for a
spot-first pool), scaled from zero by cluster-autoscaler with the priority expander."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from .. import versions
from .._common import ValidationError, child, helm_release
from ..args.gpu_node_pool import GpuPool, group_sizes
from ..conventions import AUTOSCALED_TAG, GPU_TAINT, SYSTEM_NODE_SELECTOR
from ..gpu_instances import gpu_count
from ..helm_values import with_user_values
from .iam import cluster_autoscaler_statements, controller_role
from .nodes import (
    CA_TAG,
    CLUSTER_AUTOSCALER_SA,
    CONTROLLER_NAMESPACE,
    ON_DEMAND_PRIORITY,
    OTHER_PRIORITY,
    SPOT_PRIORITY,
    node_labels,
)

if TYPE_CHECKING:
    from .component import GpuNodePool


def scale_from_zero_tags(pool: GpuPool, capacity_type: str) -> dict[str, str]:
    """ASG tags that tell cluster-autoscaler what a node of an empty group would look like
    (labels, taint, GPUs), so it can scale the group up from zero. The discovery tags
    (`enabled`, `<cluster>`) are added by the caller (the key holds the cluster name)."""
    out = {f"{CA_TAG}/node-template/label/{k}": v for k, v in node_labels(pool.name, pool.instance_types).items()}
    out[f"{CA_TAG}/node-template/label/eks.amazonaws.com/capacityType"] = capacity_type
    out[f"{CA_TAG}/node-template/taint/{GPU_TAINT['key']}"] = f"{GPU_TAINT['value']}:{GPU_TAINT['effect']}"
    out[f"{CA_TAG}/node-template/resources/nvidia.com/gpu"] = str(gpu_count(pool.instance_types[0]))
    return out


def build(c: GpuNodePool, node_role: aws.iam.Role) -> None:
    args, name, t = c._args, c._name, c._tags
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
            opts=child(c),
        )
        # The groups' max sizes add up to the pool's node limit (max, or fewer when gpu_limit says so):
        # a spot-first pool's spot and on-demand groups together never run more than `max` nodes.
        for kind, low, high in group_sizes(pool):
            suffix = "spot" if kind == "SPOT" else "ondemand"
            group_name = f"{name}-{pool.name}-{suffix}"
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
                opts=child(c, depends_on=c._node_role_policies, ignore_changes=["scalingConfig.desiredSize"]),
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
                    opts=child(c),
                )
    c.node_group_names = pulumi.Output.all(*[g.node_group_name for g in groups])

    statements = pulumi.Output.all(args.cluster_name, c._region, c._account, c._partition).apply(
        lambda v: cluster_autoscaler_statements(*v)
    )
    role = controller_role(c, "cluster-autoscaler", CLUSTER_AUTOSCALER_SA, statements)
    values = {
        "fullnameOverride": "cluster-autoscaler",  # Deployment kube-system/cluster-autoscaler
        "cloudProvider": "aws",
        "awsRegion": c._region,
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
        c,
        f"{name}-cluster-autoscaler",
        "cluster-autoscaler",
        CONTROLLER_NAMESPACE,
        values,
        args.k8s_provider,
        create_namespace=False,
        depends_on=[c._controller_policy],
    )

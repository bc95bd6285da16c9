"""The GpuNodePool component: validation, then managed groups, Karpenter or adopted nodes, and the
device plugin (the package docstring says what each does)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from .._common import ValidationError, tags
from ..args.gpu_node_pool import GpuNodePoolArgs, GpuPool, check_pool
from ..cluster_ref import resolve_cluster
from ..helm_values import check_user_values
from . import adoption, device_plugin, karpenter, managed
from .iam import node_role
from .nodes import MAX_GROUP_NAME, autoscaler_chart


# -- validation ----------------------------------------------------------------------------------
def _validate_pool(pool: GpuPool, args: GpuNodePoolArgs, name: str, region: str | None) -> None:
    at = f"pools[{pool.name}]"
    if args.mechanism == "managed" and len(f"{name}-{pool.name}-ondemand") > MAX_GROUP_NAME:
        raise ValidationError(
            f"{at}.name",
            f"too long for an EKS node group name with component name {name!r}",
            f"keep len(name) + len(pool name) <= {MAX_GROUP_NAME - len('--ondemand')}",
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


class GpuNodePool(pulumi.ComponentResource):
    """GPU pools of one cluster (managed node groups + cluster-autoscaler, or Karpenter NodePools +
    Karpenter), the NVIDIA device plugin, or adopted GPU nodes. See the package docstring (components/gpu_node_pool/__init__.py).

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
    # Set while building (iam.node_role, iam.controller_role): what later children wait for.
    _node_role_policies: list[aws.iam.RolePolicyAttachment]
    _controller_policy: Any

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
            adoption.adopt(self, args.existing)
        else:
            role = node_role(self, "gpu-node" if args.mechanism == "managed" else "karpenter-node")
            self.node_role_arn = role.arn
            if args.mechanism == "managed":
                managed.build(self, role)
            else:
                karpenter.build(self, role)
        if args.device_plugin:
            device_plugin.install(self)

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

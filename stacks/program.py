"""The Pulumi program: StackSpec -> components.

`main()` is what a Pulumi project's `__main__.py` calls under the real engine: it reads the stack
config (`mlplatform:profile` plus one key per section, the same shape as a profile file) and builds
the stack. `plan()` runs the very same `build()` offline under the mock monitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs, ExistingRegistry
from mlplatform.components.cluster import Cluster, ClusterArgs, ExistingCluster
from mlplatform.components.network import ExistingVpc, Network, NetworkArgs

from .plan import Plan, run_offline
from .spec import SECTIONS, StackSpec, load_spec


@dataclass
class Platform:
    """The components of one stack, for programs that build on top of it."""

    network: Network
    cluster: Cluster
    registry: ArtifactRegistry


def base_name(stack: str) -> str:
    """Prefix of every component and physical name: short, stable across profiles, unique per stack."""
    return f"ml-{stack}"


def build(spec: StackSpec, stack: str | None = None) -> Platform:
    """Create every component the spec asks for, and export the stack outputs."""
    stack = stack or pulumi.get_stack()
    name = base_name(stack)
    tags = {"mlplatform:stack": stack, **spec.tags}

    n = spec.network
    adds_to_vpc = [k for k in ("flow_logs", "vpc_endpoints") if getattr(n, k)]
    if n.existing and adds_to_vpc:
        # An adopted VPC belongs to someone else: the profile's defaults don't add to it.
        pulumi.log.warn(f"network.{' and network.'.join(adds_to_vpc)}: not added to the adopted VPC "
                        f"{n.existing.vpc_id}; its owners manage those")
    network = Network(name, NetworkArgs(
        az_count=n.az_count,
        cidr_block=n.cidr_block,
        nat_gateways=n.nat_gateways,
        flow_logs=n.flow_logs and not n.existing,
        vpc_endpoints=n.vpc_endpoints and not n.existing,
        cluster_name=name,
        existing=ExistingVpc(**n.existing.model_dump()) if n.existing else None,
        tags=tags,
    ))

    c = spec.cluster
    cluster = Cluster(name, ClusterArgs(
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        **({"kubernetes_version": c.kubernetes_version} if c.kubernetes_version else {}),
        system_node_instance_type=c.system_nodes.instance_type,
        system_node_count=c.system_nodes.count,
        system_node_min=c.system_nodes.min,
        system_node_max=c.system_nodes.max,
        system_node_disk_gib=c.system_nodes.disk_gib,
        control_plane_logs=list(c.control_plane_logs),
        endpoint_public_access=c.endpoint_public_access,
        public_access_cidrs=list(c.public_access_cidrs),
        admin_principal_arns=list(c.admin_principal_arns),
        existing=ExistingCluster(name=c.existing.name) if c.existing else None,
        tags=tags,
    ))

    r = spec.registry
    registry = ArtifactRegistry(name, ArtifactRegistryArgs(
        repositories=list(r.repositories),
        repository_prefix=f"{r.repository_prefix}/{stack}",
        bucket_name=r.bucket_name,
        keep_tagged_images=r.keep_tagged_images,
        noncurrent_version_days=r.noncurrent_version_days,
        existing=ExistingRegistry(**r.existing.model_dump()) if r.existing else None,
        tags=tags,
    ))

    pulumi.export("profile", spec.profile)
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("cluster_name", cluster.cluster_name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("artifact_bucket", registry.bucket_name)
    pulumi.export("repository_urls", registry.repository_urls)
    pulumi.export("kubeconfig_command", pulumi.Output.concat(
        "aws eks update-kubeconfig --region ", spec.region, " --name ", cluster.cluster_name))
    return Platform(network=network, cluster=cluster, registry=registry)


def spec_from_pulumi_config() -> StackSpec:
    """The StackSpec a stack's Pulumi config describes (`mlplatform:profile`, `mlplatform:<section>`...)."""
    cfg = pulumi.Config("mlplatform")
    overrides: dict[str, Any] = {}
    for key in (*SECTIONS, "tags"):
        value = cfg.get_object(key)
        if value is not None:
            overrides[key] = value
    team_size = cfg.get_int("team_size")
    return load_spec(
        profile=cfg.get("profile"),
        team_size=team_size,
        region=pulumi.Config("aws").get("region"),
        overrides=overrides,
    )


def main() -> Platform:
    """Entry point of a Pulumi project: `from mlplatform.stacks.program import main; main()`."""
    return build(spec_from_pulumi_config())


def plan(spec: StackSpec, stack: str = "dev", project: str = "mlplatform") -> Plan:
    """The offline Plan of a stack: `build(spec)` under the mock monitor."""
    return run_offline(lambda: build(spec, stack), region=spec.region, profile=spec.profile,
                       project=project, stack=stack)

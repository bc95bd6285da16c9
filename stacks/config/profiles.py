"""What each profile holds, for `mlplatform profiles` (people and --json)."""

from __future__ import annotations

from typing import Any

from .spec import PROFILES, TEAM_SIZE_BANDS, GpuPool, StackSpec, load_spec


def components_of(spec: StackSpec) -> list[str]:
    """The components `program.build` composes for this spec, with the mode each runs in."""
    adopt = lambda section: " (adopted)" if getattr(spec, section).existing else ""  # noqa: E731
    return (
        [
            f"Network{adopt('network')}",
            f"Cluster{adopt('cluster')}",
            f"ArtifactRegistry{adopt('registry')}",
            f"MetadataStore{adopt('database')}",
            "Orchestration",
            f"Monitoring{adopt('monitoring')}",
        ]
        + _runners(spec)
        + _gpu_components(spec)
        + (["LoadBalancerController"] if spec.mlflow.ingress else [])
        + ([f"TeamSpace × {len(spec.teams)} ({', '.join(t.name for t in spec.teams)})"] if spec.teams else [])
    )


def _runners(spec: StackSpec) -> list[str]:
    r = spec.runners
    if not r.enabled:
        return []
    return ["CiRunners (adopted controller)" if r.existing_controller else "CiRunners"]


def _gpu_components(spec: StackSpec) -> list[str]:
    g = spec.gpu  # the mechanism is in sizes_of's GPU line
    if g.existing:
        return ["GpuNodePool (adopted)"]
    return ["GpuNodePool"] if g.pools else []


def _pool_size(p: GpuPool, mechanism: str) -> str:
    """A pool's size as GpuNodePool builds it: `max` is the pool's total nodes, whatever the capacity type."""
    from mlplatform.components.args.gpu_node_pool import gpu_limit_of, group_sizes, node_limit

    if mechanism == "karpenter":
        return f"at most {gpu_limit_of(p, mechanism)} GPUs {p.capacity}"  # Karpenter's NodePool limit
    size = f"{p.min}-{node_limit(p)} nodes {p.capacity}"
    if p.capacity == "spot-first":
        (_, _, spot), (_, _, on_demand) = group_sizes(p)
        size += f" (at most {spot} spot + {on_demand} on-demand)"
    return size


def sizes_of(spec: StackSpec) -> dict[str, str]:
    n, c, g, d = spec.network, spec.cluster, spec.gpu, spec.database
    nat = {"single": "1 NAT gateway", "per_az": "NAT per AZ", "none": "no NAT"}[n.nat_gateways]
    extras = [x for x, on in (("VPC endpoints", n.vpc_endpoints), ("flow logs", n.flow_logs)) if on]
    pools = "; ".join(
        f"{p.name} {'/'.join(p.instance_types[:2])}{'…' if len(p.instance_types) > 2 else ''} {_pool_size(p, g.mechanism)}"
        for p in g.pools
    )
    return {
        "network": ", ".join([f"{n.az_count} AZs", nat, *extras]),
        "system nodes": f"{c.system_nodes.count} × {c.system_nodes.instance_type}",
        "GPU": f"{g.mechanism}: {pools}" + (", CPU batch pool" if g.cpu_batch_pool else ""),
        "metadata DB": f"{d.instance_class}, {'Multi-AZ' if d.multi_az else 'single-AZ'}, {d.backup_retention_days}-day backups"
        + (", performance insights" if d.performance_insights else ""),
        "MLflow": f"{spec.mlflow.replicas} replica{'s' if spec.mlflow.replicas > 1 else ''}"
        + (", ingress" if spec.mlflow.ingress else ""),
        "monitoring": f"Prometheus {spec.monitoring.retention_days}d × {spec.monitoring.prometheus_replicas}"
        + (", Alertmanager" if spec.monitoring.alertmanager else ""),
        "CI runners": f"CPU {spec.runners.cpu.min}-{spec.runners.cpu.max}, GPU {spec.runners.gpu.min}-{spec.runners.gpu.max}",
        "retraining": {"cronjob": "CronJob template", "argo": "Argo Workflows"}[spec.retraining.engine],
    }


def profile_rows() -> list[dict[str, Any]]:
    rows = []
    for (_name, lo, hi), profile in zip(TEAM_SIZE_BANDS, PROFILES, strict=True):
        spec = load_spec(profile)
        rows.append(
            {
                "profile": profile,
                "team_size": f"{lo}-{hi}" if hi else f"{lo}+",
                "components": components_of(spec),
                "sizes": sizes_of(spec),
            }
        )
    return rows

"""The Pulumi program: StackSpec -> components.

`main()` is what a Pulumi project's `__main__.py` calls under the real engine: it reads the stack
config (`mlplatform:profile` plus one key per section, the same shape as a profile file) and builds
the stack. `plan()` runs the very same `build()` offline under the mock monitor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from mlplatform.components.alerting import config_key
from mlplatform.components.args.serving import ExistingRollouts, ModelServingArgs
from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs, ExistingRegistry
from mlplatform.components.ci_runners import (
    CONFIG_NAMESPACE,
    GITHUB_APP_KEYS,
    CiRunners,
    CiRunnersArgs,
    ExistingController,
    github_app_from_config,
)
from mlplatform.components.cluster import Cluster, ClusterArgs, ExistingCluster
from mlplatform.components.conventions import CPU_BATCH_POOL, CPU_BATCH_TOLERATION, GPU_LABEL, POOL_LABEL
from mlplatform.components.evidence_ledger import EvidenceLedger, EvidenceLedgerArgs, ObserverArgs
from mlplatform.components.gpu_node_pool import (
    GpuNodePool,
    GpuNodePoolArgs,
)
from mlplatform.components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from mlplatform.components.metadata_store import MLFLOW_NAMESPACE, MetadataStore, MetadataStoreArgs
from mlplatform.components.monitoring import ARC_NAMESPACE, Monitoring, MonitoringArgs
from mlplatform.components.monitoring_db import MonitoringDatabase, MonitoringDatabaseArgs
from mlplatform.components.network import Network, NetworkArgs
from mlplatform.components.orchestration import Orchestration, OrchestrationArgs
from mlplatform.components.serving.component import ModelServing
from mlplatform.components.team_space import TeamRunners, TeamSpace, TeamSpaceArgs
from mlplatform.components.versions import DRIFT_JOB_TAG, KUBERNETES_VERSION

from .config.queues import admissible_gpus, flavors, queueing_on, team_queues
from .config.spec import SECTIONS, StackSpec, check_stack_config_keys, spec_from_stack_config
from .plan.offline import Plan, run_offline

# The stack's Pulumi config keys for the CI runners' GitHub App (secrets; cloud/secrets_check.py checks them).
GITHUB_APP_CONFIG_KEYS = tuple(f"{CONFIG_NAMESPACE}:{k}" for k in GITHUB_APP_KEYS)


def github_app_fix() -> str:
    """How to set the GitHub App secret config (in the project folder)."""
    return (
        "run `pulumi config set --secret mlplatform:github_app_id <app id>` in the project folder, likewise "
        "github_app_installation_id and github_app_private_key (< the App's .pem), or set runners.enabled: false"
    )


@dataclass
class Platform:
    """The components of one stack, for programs that build on top of it."""

    network: Network
    cluster: Cluster
    registry: ArtifactRegistry
    metadata: MetadataStore
    orchestration: Orchestration
    monitoring: Monitoring
    gpu: GpuNodePool | None = None
    teams: list[TeamSpace] = field(default_factory=list)
    runners: CiRunners | None = None
    evidence: EvidenceLedger | None = None
    queueing: Any = None  # components.queueing.Queueing when queueing is on
    training: Any = None  # components.training.Training when training is on
    serving: ModelServing | None = None
    monitoring_db: MonitoringDatabase | None = None


MLFLOW_EXTERNAL_URL_COMMAND = (
    "kubectl -n mlflow get ingress mlflow -o jsonpath='http://{.status.loadBalancer.ingress[0].hostname}'"
)


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
        pulumi.log.warn(
            f"network.{' and network.'.join(adds_to_vpc)}: not added to the adopted VPC "
            f"{n.existing.vpc_id}; its owners manage those"
        )
    network = Network(
        name,
        NetworkArgs(
            az_count=n.az_count,
            cidr_block=n.cidr_block,
            nat_gateways=n.nat_gateways,
            flow_logs=n.flow_logs and not n.existing,
            vpc_endpoints=n.vpc_endpoints and not n.existing,
            cluster_name=name,
            existing=n.existing,
            tags=tags,
        ),
    )

    c = spec.cluster
    version: dict[str, Any] = {"kubernetes_version": c.kubernetes_version} if c.kubernetes_version else {}
    cluster = Cluster(
        name,
        ClusterArgs(
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            **version,
            system_node_instance_type=c.system_nodes.instance_type,
            system_node_count=c.system_nodes.count,
            system_node_min=c.system_nodes.min,
            system_node_max=c.system_nodes.max,
            system_node_disk_gib=c.system_nodes.disk_gib,
            system_node_scaled_by=c.system_nodes.scaled_by,
            support_type=c.support_type,
            control_plane_logs=list(c.control_plane_logs),
            endpoint_public_access=c.endpoint_public_access,
            public_access_cidrs=list(c.public_access_cidrs),
            admin_principal_arns=list(c.admin_principal_arns),
            existing=ExistingCluster(name=c.existing.name) if c.existing else None,
            tags=tags,
        ),
    )

    r = spec.registry
    registry = ArtifactRegistry(
        name,
        ArtifactRegistryArgs(
            repositories=list(r.repositories),
            repository_prefix=f"{r.repository_prefix}/{stack}",
            bucket_name=r.bucket_name,
            keep_tagged_images=r.keep_tagged_images,
            # The retraining job's tag is the one tag that moves (new image, same stack); models never move.
            mutable_tags={"images": [spec.retraining.image_tag]} if "images" in r.repositories else {},
            noncurrent_version_days=r.noncurrent_version_days,
            prediction_retention_days=spec.serving.prediction_retention_days,
            existing=ExistingRegistry(**r.existing.model_dump()) if r.existing else None,
            tags=tags,
        ),
    )

    # GPU nodes, runners and the ledger first: the drift jobs of the monitoring append to the ledger.
    gpu = _gpu(spec, name, network, cluster, tags)
    runners = _runners(spec, name, cluster, registry, gpu, tags)
    evidence = _evidence(spec, name, cluster, _images_url(registry), runners, tags)

    mon = spec.monitoring
    if not mon.alerts.receivers and mon.existing is None:
        pulumi.log.warn(
            "monitoring.alerts: no receiver, so every alert (GPU node NotReady, XID errors, MLflow down, ...) "
            "reaches nobody; add one under monitoring.alerts.receivers (README: Where alerts go)"
        )
    monitoring = Monitoring(
        name,
        MonitoringArgs(
            cluster=cluster,
            retention_days=mon.retention_days,
            storage_gib=mon.storage_gib,
            prometheus_replicas=mon.prometheus_replicas,
            prometheus_memory_mib=mon.prometheus_memory_mib,
            alertmanager=mon.alertmanager,
            alerts=mon.alerts,
            alert_secrets=_alert_secrets(spec),
            served_models=list(spec.serving.models),
            drift=mon.drift,
            drift_image=pulumi.Output.concat(_images_url(registry), ":", DRIFT_JOB_TAG)
            if spec.serving.models
            else None,
            drift_env={
                "MLPLATFORM_PREDICTION_LOG_BUCKET": registry.bucket_name,
                "MLPLATFORM_LEDGER": evidence.ledger_url,
                "MLPLATFORM_LEDGER_KEY": evidence.signing_key_arn,
            },
            drift_managed_policy_arns={
                "ledger-writer": evidence.writer_policy_arn,
                "ledger-reader": evidence.reader_policy_arn,
            }
            if spec.serving.models
            else None,
            # The drift jobs read the prediction logs and the reference data under datasets/ of the bucket.
            drift_policies={
                "predictions": registry.prefix_policy("predictions", write=False),
                "datasets": registry.prefix_policy("datasets", write=False),
            }
            if spec.serving.models
            else None,
            mlflow_namespace=MLFLOW_NAMESPACE,
            runner_controller_namespace=(
                (spec.runners.existing_controller.namespace if spec.runners.existing_controller else ARC_NAMESPACE)
                if spec.runners.enabled
                else None
            ),
            existing=mon.existing,
            helm_values=mon.helm_values or None,
            dcgm_exporter_helm_values=mon.dcgm_exporter_helm_values or None,
        ),
    )

    d, m = spec.database, spec.mlflow
    # MLflow's ingress and the models' canary traffic split both need ALBs from the controller.
    lb_controller = (
        LoadBalancerController(
            name,
            LoadBalancerControllerArgs(
                cluster=cluster,
                vpc_id=network.vpc_id,
                region=spec.region,
                helm_values=m.load_balancer_controller_helm_values or None,
                tags=tags,
            ),
        )
        if m.ingress or spec.serving.enabled
        else None
    )
    models = [repo for repo in ("models",) if repo in registry.repository_urls]
    metadata = MetadataStore(
        name,
        MetadataStoreArgs(
            registry=registry,
            cluster=cluster,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            instance_class=d.instance_class,
            allocated_storage_gib=d.allocated_storage_gib,
            multi_az=d.multi_az,
            backup_retention_days=d.backup_retention_days,
            performance_insights=d.performance_insights,
            existing=d.existing,
            replicas=m.replicas,
            ingress=m.ingress,
            ingress_host=m.host,
            ingress_controller=lb_controller.release if lb_controller else None,
            helm_values=m.helm_values or None,
            tags=tags,
            metrics_labels=monitoring.scrape_labels,
            metrics_after=monitoring.stack_release,
        ),
    )

    # The drift jobs' database role, schema and Secret (monitoring.drift), in the metadata database.
    monitoring_db = (
        MonitoringDatabase(
            name,
            MonitoringDatabaseArgs(
                metadata=metadata,
                namespace=monitoring.namespace,
                cluster=cluster,
                after=[monitoring.stack_release] if monitoring.stack_release is not None else [],
            ),
        )
        if spec.serving.models
        else None
    )

    images = registry.repository_urls.get("images") or next(iter(registry.repository_urls.values()))
    orchestration = Orchestration(
        name,
        OrchestrationArgs(
            image=pulumi.Output.concat(images, ":", spec.retraining.image_tag),
            mlflow_tracking_uri=metadata.tracking_url,
            registry=registry,
            cluster=cluster,
            engine=spec.retraining.engine,
            schedule=spec.retraining.schedule,
            model_repositories=models,
            helm_values=spec.retraining.helm_values or None,
            tags=tags,
        ),
    )

    teams = _teams(spec, stack, name, cluster, registry, metadata, monitoring, runners, tags)
    queueing = _queueing(spec, name, cluster, monitoring, gpu, teams, _images_url(registry))
    training = _training(spec, name, cluster, queueing)
    serving = _serving(spec, name, cluster, monitoring, tags, stack, runners, registry)
    platform = Platform(
        network=network,
        cluster=cluster,
        registry=registry,
        metadata=metadata,
        monitoring=monitoring,
        orchestration=orchestration,
        gpu=gpu,
        teams=teams,
        runners=runners,
        evidence=evidence,
        queueing=queueing,
        training=training,
        serving=serving,
        monitoring_db=monitoring_db,
    )
    _export(spec, platform)
    return platform


def _export(spec: StackSpec, p: Platform) -> None:
    """The stack outputs: what a user needs to reach the platform (URLs, names, commands)."""
    pulumi.export("profile", spec.profile)
    pulumi.export("vpc_id", p.network.vpc_id)
    pulumi.export("cluster_name", p.cluster.cluster_name)
    pulumi.export("kubeconfig", p.cluster.kubeconfig)
    pulumi.export(
        "kubeconfig_command",
        pulumi.Output.concat("aws eks update-kubeconfig --region ", spec.region, " --name ", p.cluster.cluster_name),
    )
    pulumi.export("artifact_bucket", p.registry.bucket_name)
    pulumi.export("repository_urls", p.registry.repository_urls)
    pulumi.export("mlflow_url", p.metadata.tracking_url)
    if p.metadata.external_url is not None:
        pulumi.export("mlflow_external_url", p.metadata.external_url)
    elif spec.mlflow.ingress:  # the internal ALB's DNS name is AWS's choice: this prints the URL once it exists
        pulumi.export("mlflow_external_url_command", MLFLOW_EXTERNAL_URL_COMMAND)
    pulumi.export("db_endpoint", p.metadata.db_endpoint)
    if p.gpu is not None and p.gpu.node_role_arn is not None:
        pulumi.export("gpu_node_role_arn", p.gpu.node_role_arn)
    pulumi.export("grafana_url", p.monitoring.grafana_url)
    if p.monitoring.grafana_admin_password is not None:
        pulumi.export("grafana_admin_password", p.monitoring.grafana_admin_password)
    if p.runners is not None:
        pulumi.export("runner_labels", p.runners.runner_labels)
        pulumi.export("runner_role_arn", p.runners.role_arn)
        pulumi.export(
            "github_app_secret",
            f"{p.runners.namespace}/{p.runners.github_secret}"
            if p.runners.github_secret_created
            else "unset (" + ", ".join(GITHUB_APP_CONFIG_KEYS) + ")",
        )
    if p.evidence is not None:
        pulumi.export("evidence_bucket", p.evidence.bucket_name)
        pulumi.export("evidence_key", p.evidence.signing_key_arn)
    if p.teams:
        pulumi.export(
            "teams",
            {
                t.namespace: {
                    "namespace": t.namespace,
                    "service_account": t.service_account,
                    "role_arn": t.role_arn,
                    "artifact_uri": t.artifact_uri,
                    "repository_prefix_url": t.repository_prefix_url,
                    "runner_labels": t.runner_labels,
                }
                for t in p.teams
            },
        )


def _evidence(
    spec: StackSpec, name: str, cluster: Cluster, images: Any, runners: CiRunners | None, tags: dict[str, str]
) -> EvidenceLedger:
    """The evidence ledger (every profile); the runners' role and the observer's may append to it."""
    from mlplatform.components.versions import EVIDENCE_OBSERVER_TAG

    ev = spec.evidence
    return EvidenceLedger(
        name,
        EvidenceLedgerArgs(
            retention_mode=ev.retention_mode,
            retention_days=ev.retention_days,
            writer_roles={"ci-runners": runners.role_name} if runners is not None else {},
            observer=ObserverArgs(
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer_url=cluster.oidc_issuer_url,
                k8s_provider=cluster.provider,
                image=pulumi.Output.concat(images, ":", EVIDENCE_OBSERVER_TAG),
                cluster_name=cluster.cluster_name,
                region=spec.region,
            )
            if ev.observer
            else None,
            existing=ev.existing,
            tags=tags,
        ),
    )


def prometheus_address(spec: StackSpec, stack: str) -> str:
    """The in-cluster URL of the stack's Prometheus (the canary analyses and the review workflow query it):
    `serving.prometheus_url` when set, else kube-prometheus-stack's `<fullname>-prometheus` Service (our
    release sets fullnameOverride to its name cut to 26 characters; an adopted one is read the same way)."""
    if spec.serving.prometheus_url:
        return spec.serving.prometheus_url
    m = spec.monitoring
    namespace, release = (
        (m.existing.namespace, m.existing.release) if m.existing else ("monitoring", monitoring_release(stack))
    )
    return f"http://{release[:26].rstrip('-')}-prometheus.{namespace}.svc.cluster.local:9090"


def monitoring_release(stack: str) -> str:
    """The kube-prometheus-stack release of a stack (Monitoring names it `<base name>-monitoring`)."""
    return f"{base_name(stack)}-monitoring"


def cpu_batch_pool(spec: StackSpec) -> bool:
    """The stack has the Karpenter CPU batch pool (CPU runners and `auto`-placed models use it)."""
    g = spec.gpu
    return bool(g.cpu_batch_pool and not g.existing and g.mechanism == "karpenter")


def serving_gpu_pool(spec: StackSpec) -> str | None:
    """The GPU pool GPU models run on: the first pool (the single-GPU class), or the adopted GPU nodes."""
    if spec.gpu.existing is not None:
        return spec.gpu.existing.pool
    return spec.gpu.pools[0].name if spec.gpu.pools else None


def _serving(
    spec: StackSpec,
    name: str,
    cluster: Cluster,
    monitoring: Monitoring,
    tags: dict[str, str],
    stack: str | None = None,
    runners: CiRunners | None = None,
    registry: ArtifactRegistry | None = None,
) -> ModelServing | None:
    """The Argo Rollouts controller, analysis templates and serving namespaces (serving.enabled); the
    models' prediction-log roles and service accounts (the artifact bucket's predictions/<model>/)."""
    s = spec.serving
    if not s.enabled:
        return None
    settings = {k: getattr(s, k) for k in type(s).model_fields if k != "existing"}  # validated already
    return ModelServing(
        name,
        ModelServingArgs(
            **settings,
            existing=ExistingRollouts(**s.existing.model_dump()) if s.existing else None,
            cluster=cluster,
            prometheus_address=prometheus_address(spec, pulumi.get_stack() if stack is None else stack),
            monitoring_release=monitoring.release,
            gpu_pool=serving_gpu_pool(spec),
            cpu_batch_pool=cpu_batch_pool(spec),
            # model-publish.yml runs on the CI runners: their role applies the rendered objects
            deployer_role_arn=runners.role_arn if runners is not None else None,
            deployer_role_name=runners.role_name if runners is not None else None,
            registry=registry,
            tags=tags,
        ),
    )


def _runner_placement(spec: StackSpec) -> tuple[dict[str, str], dict[str, str], list[dict[str, str]]]:
    """Where runners go: (GPU node selector, CPU node selector, CPU tolerations).

    GPU runners: the first GPU pool (the single-GPU class in every profile) or the adopted GPU nodes.
    CPU runners: the Karpenter CPU batch pool where there is one, else the system nodes.
    """
    g = spec.gpu
    gpu_selector = {GPU_LABEL: "true"}
    if g.existing:
        gpu_selector[POOL_LABEL] = g.existing.pool
    elif g.pools:
        gpu_selector[POOL_LABEL] = g.pools[0].name
    if cpu_batch_pool(spec):
        return gpu_selector, {POOL_LABEL: CPU_BATCH_POOL}, [dict(CPU_BATCH_TOLERATION)]
    return gpu_selector, {}, []


def _images_url(registry: ArtifactRegistry) -> pulumi.Output[str]:
    return registry.repository_urls.get("images") or next(iter(registry.repository_urls.values()))


# Stands in for an alert receiver's secret in the offline plan until it is set (preview/up refuse it).
UNSET_ALERT_SECRET = "unset"


def _alert_secrets(spec: StackSpec) -> dict[str, pulumi.Output[str]]:
    """Each alert receiver's secret from the stack's Pulumi config (`mlplatform:alert_<name>`, --secret).

    Unset: one warning, a stand-in value; `preview`/`up` refuse (stacks/cloud/secrets_check).
    """
    cfg = pulumi.Config(CONFIG_NAMESPACE)
    out: dict[str, pulumi.Output[str]] = {}
    for receiver in spec.monitoring.alerts.secret_names():
        value = cfg.get_secret(config_key(receiver))
        if value is None:
            key = f"{CONFIG_NAMESPACE}:{config_key(receiver)}"
            pulumi.log.warn(
                f"monitoring.alerts: receiver {receiver}'s secret {key} is not set; `preview` and `up` refuse "
                f"this stack until then (pulumi config set --secret {key} ...)"
            )
            value = pulumi.Output.secret(UNSET_ALERT_SECRET)
        out[receiver] = value
    return out


# Stands in for runners.github_config_url in the offline plan until it is set (preview/up refuse it).
UNSET_GITHUB_URL = "https://github.com/UNSET-runners.github_config_url"


def _runners(
    spec: StackSpec,
    name: str,
    cluster: Cluster,
    registry: ArtifactRegistry,
    gpu: GpuNodePool | None,
    tags: dict[str, str],
) -> CiRunners | None:
    """The CI runner scale sets (CPU; GPU when the stack has GPU nodes), or None when runners are off.

    Missing GitHub App secret config or runners.github_config_url: one warning, the Secret shown as
    unset (`github_app_secret` output); `preview`/`up` refuse (stacks/cloud/secrets_check.check_deployable).
    """
    r = spec.runners
    if not r.enabled:
        return None
    credentials = github_app_from_config()
    unset = [
        what
        for what, ok in (
            ("the GitHub App secret config", credentials is not None),
            ("runners.github_config_url", bool(r.github_config_url)),
        )
        if not ok
    ]
    if unset:
        pulumi.log.warn(
            f"runners: {' and '.join(unset)} not set, shown as unset; `preview` and `up` refuse this "
            f"stack until then ({', '.join(GITHUB_APP_CONFIG_KEYS)}: {github_app_fix()})"
        )
    gpu_selector, cpu_selector, cpu_tolerations = _runner_placement(spec)
    e = r.existing_controller
    return CiRunners(
        name,
        CiRunnersArgs(
            github_config_url=r.github_config_url or UNSET_GITHUB_URL,
            registry=registry,
            cluster=cluster,
            github_app=credentials,
            cpu=r.cpu,
            gpu=r.gpu if gpu is not None else None,
            gpu_node_selector=gpu_selector,
            cpu_node_selector=cpu_selector,
            cpu_tolerations=cpu_tolerations,
            existing_controller=ExistingController(e.namespace, e.service_account) if e else None,
            helm_values=r.helm_values or None,
            controller_helm_values=r.controller_helm_values or None,
            tags=tags,
        ),
    )


def _teams(
    spec: StackSpec,
    stack: str,
    name: str,
    cluster: Cluster,
    registry: ArtifactRegistry,
    metadata: MetadataStore,
    monitoring: Monitoring,
    ci: CiRunners | None,
    tags: dict[str, str],
) -> list[TeamSpace]:
    """One TeamSpace per `teams:` entry (any profile that lists teams); team runners on the stack's controller."""
    gpu_selector, cpu_selector, cpu_tolerations = _runner_placement(spec)  # placed like the stack's own

    def runners(t: Any) -> TeamRunners | None:
        if t.runners is None or ci is None:  # spec validation refuses team runners without CI runners
            return None
        return TeamRunners(
            ci=ci,
            github_config_url=spec.runners.github_config_url or UNSET_GITHUB_URL,
            cpu=t.runners.cpu,
            gpu=t.runners.gpu,
            gpu_node_selector=gpu_selector,
            cpu_node_selector=cpu_selector,
            cpu_tolerations=cpu_tolerations,
        )

    return [
        TeamSpace(
            f"{name}-team-{t.name}",
            TeamSpaceArgs(
                team=t.name,
                registry=registry,
                ecr_repository_prefix=f"{spec.registry.repository_prefix}/{stack}",
                cluster=cluster,
                # With queueing, Kueue admits the team's GPU work (borrowed GPUs included) and the
                # quota's GPU line is what Kueue may admit at most: it never rejects admitted work.
                gpu_quota=admissible_gpus(spec, t) if queueing_on(spec) else t.gpu_quota,
                cpu_quota=t.cpu_quota,
                memory_quota_gib=t.memory_quota_gib,
                pvc_quota=t.pvc_quota,
                storage_quota_gib=t.storage_quota_gib,
                principals=list(t.principals),
                mlflow_namespace=metadata.namespace,
                monitoring_namespace=monitoring.namespace,
                runners=runners(t),
                tags=tags,
            ),
        )
        for t in spec.teams
    ]


def _queueing(
    spec: StackSpec,
    name: str,
    cluster: Cluster,
    monitoring: Monitoring,
    gpu: GpuNodePool | None,
    teams: list[TeamSpace],
    images: Any,
) -> Any:
    """Kueue and the teams' queues (queueing.enabled), sized from the same numbers as the GPU pools;
    the teams' GPU budgets priced from the price data (a flavor without a price: a warning, no dollars)."""
    if not queueing_on(spec):
        return None
    from mlplatform.components.queueing import Queueing, QueueingArgs
    from mlplatform.components.versions import EVIDENCE_OBSERVER_TAG

    from .config.gpu_prices import flavor_gpu_hour_prices

    q = spec.queueing
    budgeted = any(t.gpu_budget_usd_month for t in spec.teams)
    prices, gaps = flavor_gpu_hour_prices(spec.region, flavors(spec)) if budgeted else ({}, [])
    for gap in gaps:
        pulumi.log.warn(f"GPU budgets: {gap}")
    return Queueing(
        name,
        QueueingArgs(
            enabled=True,
            wait_for_pods_ready_minutes=q.wait_for_pods_ready_minutes,
            controller_replicas=q.controller_replicas,
            cohort=q.cohort,
            flavors=flavors(spec),
            teams=team_queues(spec),
            oversubscribe=spec.gpu.oversubscribe_gpus,
            cluster=cluster,
            monitoring_namespace=monitoring.namespace,
            monitoring_release=monitoring.release,
            gpu_hour_prices=prices,
            # The budget hold job runs this package's image (the evidence observer's, built by CI).
            budget_job_image=pulumi.Output.concat(images, ":", EVIDENCE_OBSERVER_TAG) if budgeted else None,
        ),
        # LocalQueues live in the team namespaces; flavors name the pools' labels.
        pulumi.ResourceOptions(depends_on=[*teams, *([gpu] if gpu is not None else [])]),
    )


def _training(spec: StackSpec, name: str, cluster: Cluster, queueing: Any) -> Any:
    """Kubeflow Trainer + JobSet and the torch-distributed runtime (training.enabled, which needs
    queueing); the EFA device plugin on the multi-GPU pools' EFA instance types."""
    if not spec.training.enabled:
        return None
    from mlplatform.components.training import EfaPool, Training, TrainingArgs
    from mlplatform.components.training.efa import efa_types

    from .config.queues import multi_gpu_pools

    efa = [EfaPool(pool=p, instance_types=efa_types(types)) for p, types in multi_gpu_pools(spec) if efa_types(types)]
    return Training(
        name,
        TrainingArgs(enabled=True, efa=spec.training.efa, cluster=cluster, efa_pools=efa),
        pulumi.ResourceOptions(depends_on=[queueing] if queueing is not None else []),
    )


def _gpu(spec: StackSpec, name: str, network: Network, cluster: Cluster, tags: dict[str, str]) -> GpuNodePool | None:
    """The GPU pools (or adopted GPU nodes) of the stack; None when the spec asks for neither."""
    g, c = spec.gpu, spec.cluster
    if not g.pools and not g.existing:
        return None
    # A profile's default types are already narrowed to the region (spec.resolve, with a notice); a user's own are validated.
    pools = list(g.pools) if not g.existing else []
    return GpuNodePool(
        name,
        GpuNodePoolArgs(
            cluster=cluster,
            subnet_ids=network.private_subnet_ids,
            mechanism=g.mechanism,
            pools=pools,
            cpu_batch_pool=g.cpu_batch_pool and not g.existing,
            cpu_batch_vcpu_limit=g.cpu_batch_vcpu_limit,
            idle_minutes=g.idle_minutes,
            region=spec.region,
            kubernetes_version=None if c.existing else (c.kubernetes_version or KUBERNETES_VERSION),
            cni_policy_on_node_role=c.existing is not None,
            existing=g.existing,
            helm_values=g.helm_values or None,
            device_plugin_helm_values=g.device_plugin_helm_values or None,
            tags=tags,
        ),
    )


def spec_from_pulumi_config() -> StackSpec:
    """The StackSpec this stack's Pulumi config describes (see `spec.spec_from_stack_config`)."""
    from pulumi.runtime.config import CONFIG

    check_stack_config_keys(dict(CONFIG.get()))  # a typo (mlplatform:profle) fails under the engine too
    cfg = pulumi.Config("mlplatform")
    config: dict[str, Any] = {"aws:region": pulumi.Config("aws").get("region")}
    for key in ("profile", "team_size"):
        config[f"mlplatform:{key}"] = cfg.get(key)
    for key in (*SECTIONS, "tags", "waivers"):
        config[f"mlplatform:{key}"] = cfg.get_object(key)
    return spec_from_stack_config({k: v for k, v in config.items() if v is not None})


def main() -> Platform:
    """Entry point of a Pulumi project: `from mlplatform.stacks.program import main; main()`."""
    return build(spec_from_pulumi_config())


def plan(spec: StackSpec, stack: str = "dev", project: str = "mlplatform") -> Plan:
    """The offline Plan of a stack: `build(spec)` under the mock monitor."""
    return run_offline(
        lambda: build(spec, stack), region=spec.region, profile=spec.profile, project=project, stack=stack
    )

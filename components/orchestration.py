"""Orchestration: periodic retraining on a GPU, logged to MLflow.

Two engines, one job. `cronjob` (pragmatic): a Kubernetes CronJob. `argo` (growth/full): Argo Workflows
(`versions.HELM_CHARTS["argo-workflows"]`) with its artifact repository in the artifact bucket under
`argo/` (credentials from IRSA, no static keys), and the same job as an Argo CronWorkflow.

The job is a template: it is created suspended, runs `image` (its entrypoint, or `command`) on one GPU
with the GPU taint tolerated, and finds MLflow through `MLFLOW_TRACKING_URI`. Its service account's IAM
role may write MLflow artifacts (`mlflow/` prefix) and push models to the model repositories. Resume it
with `kubectl -n retraining patch cronjob retrain -p '{"spec":{"suspend":false}}'` (CronJob) or
`argo cron resume -n retraining retrain` (Argo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ._common import ValidationError, helm_release, namespace, tags
from .artifact_registry import ArtifactRegistry
from .cluster_ref import ClusterLike, resolve_cluster
from .conventions import DNS_LABEL, GPU_TOLERATION, SYSTEM_NODE_SELECTOR
from .cron import FIX as CRON_FIX
from .cron import valid_cron
from .helm_values import check_user_values, with_user_values
from .irsa import irsa_role
from .metadata_store import IRSA_ANNOTATION, MLFLOW_PREFIX
from .quantity import is_quantity

ENGINES = ("cronjob", "argo")
ARGO_PREFIX = "argo"  # S3 prefix of the Argo artifact repository
JOB_NAME = "retrain"
JOB_SERVICE_ACCOUNT = "retraining"  # runs the CronJob's pods
WORKFLOW_SERVICE_ACCOUNT = "argo-workflow"  # runs the workflows' pods (made by the chart, with its RBAC)
SERVER_SERVICE_ACCOUNT = "argo-server"
CONTROLLER_SERVICE_ACCOUNT = "argo-workflow-controller"
HISTORY = 3  # finished runs kept, each of successful and failed
TTL_SECONDS = 7 * 24 * 3600  # finished runs' pods/workflows are deleted after a week
ARGO_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}


@dataclass
class OrchestrationArgs:
    """Inputs of `Orchestration`.

    Fields:
        image (Input[str], required): container image of the retraining job
            (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`); it runs as a non-root user.
        mlflow_tracking_uri (Input[str], required): MLflow URI the job logs to
            (`MetadataStore.tracking_url`); set as MLFLOW_TRACKING_URI.
        registry (ArtifactRegistry, required): the registry whose bucket holds MLflow artifacts
            (`mlflow/`) and, with Argo, the workflow artifacts (`argo/`).
        cluster (Cluster | ClusterRef | None, default None): the cluster the jobs run on; its OIDC provider,
            issuer and Kubernetes provider fill the three fields below.
        oidc_provider_arn (Input[str] | None, default None): the cluster's IAM OIDC provider
            (`Cluster.oidc_provider_arn`); required without `cluster` (kept for existing programs).
        oidc_issuer_url (Input[str] | None, default None): the cluster's OIDC issuer
            (`Cluster.oidc_issuer_url`); required without `cluster`.
        k8s_provider (ProviderResource | None, default None): Kubernetes provider of the cluster
            (`Cluster.provider`); None uses the ambient kubeconfig.
        engine (str, default "cronjob"): "cronjob" (a Kubernetes CronJob) or "argo" (Argo Workflows and
            a CronWorkflow).
        schedule (str, default "0 3 * * 1"): cron schedule (5 fields, UTC) or a macro like "@daily".
        suspend (bool, default True): create the schedule suspended (a template to resume).
        command (list[str] | None, default None): command of the job's container; None: the image's entrypoint.
        experiment_name (str, default "retraining"): MLflow experiment (MLFLOW_EXPERIMENT_NAME).
        gpus (int, default 1): `nvidia.com/gpu` limit of the job, 1..8.
        cpu (str, default "2"): CPU request of the job (fits a g6.xlarge / g5.xlarge).
        memory (str, default "8Gi"): memory request and limit of the job.
        model_repositories (list[str], default ["models"]): registry repositories (logical names) the
            job may push models to; [] for none.
        namespace (str, default "retraining"): namespace the job runs in (created).
        argo_namespace (str, default "argo"): namespace of the Argo controller and server (engine "argo").
        tags (dict[str, str], default {}): extra tags on every AWS resource.
        helm_values (dict | None, default None): your own argo-workflows chart values (engine "argo"),
            deep-merged over the computed ones; the IRSA service accounts are owned and refused
            (components/helm_values.OWNED). Refused with engine "cronjob" (no chart is installed).
    """

    image: pulumi.Input[str]
    mlflow_tracking_uri: pulumi.Input[str]
    registry: ArtifactRegistry
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer_url: pulumi.Input[str] | None = None
    k8s_provider: pulumi.ProviderResource | None = None
    engine: Literal["cronjob", "argo"] = "cronjob"
    schedule: str = "0 3 * * 1"
    suspend: bool = True
    command: list[str] | None = None
    experiment_name: str = "retraining"
    gpus: int = 1
    cpu: str = "2"
    memory: str = "8Gi"
    model_repositories: list[str] = field(default_factory=lambda: ["models"])
    namespace: str = "retraining"
    argo_namespace: str = "argo"
    tags: dict[str, str] = field(default_factory=dict)
    helm_values: dict[str, Any] | None = None
    cluster: ClusterLike | None = None


def _validate(name: str, args: OrchestrationArgs) -> None:
    if args.engine not in ENGINES:
        raise ValidationError("engine", f"unknown engine {args.engine!r}", f"use one of {', '.join(ENGINES)}")
    check_user_values("argo-workflows", args.helm_values)
    if args.helm_values and args.engine != "argo":
        raise ValidationError(
            "helm_values", f"engine {args.engine} installs no chart", "set engine to argo, or drop helm_values"
        )
    if not isinstance(args.registry, ArtifactRegistry):
        raise ValidationError(
            "registry",
            f"must be an ArtifactRegistry, got {type(args.registry).__name__}",
            "pass the ArtifactRegistry of the stack",
        )
    for fname, fix in (
        ("image", "pass the retraining image, for example <images repository URL>:retrain"),
        ("mlflow_tracking_uri", "pass MetadataStore.tracking_url"),
        ("oidc_provider_arn", "pass the Cluster's oidc_provider_arn"),
        ("oidc_issuer_url", "pass the Cluster's oidc_issuer_url"),
    ):
        if getattr(args, fname) in (None, ""):
            raise ValidationError(fname, "required", fix)
    if not valid_cron(args.schedule):
        raise ValidationError("schedule", f"{args.schedule!r} is not a cron schedule", CRON_FIX)
    if isinstance(args.gpus, bool) or not isinstance(args.gpus, int) or not 1 <= args.gpus <= 8:
        raise ValidationError("gpus", f"{args.gpus!r} is out of range", "use 1 to 8 (GPUs of one node)")
    for fname in ("cpu", "memory"):
        if not isinstance(getattr(args, fname), str) or not is_quantity(getattr(args, fname)):
            raise ValidationError(
                fname, f"{getattr(args, fname)!r} is not a Kubernetes quantity", 'write it like "2", "500m" or "8Gi"'
            )
    if args.command is not None and (
        not isinstance(args.command, list) or not args.command or not all(isinstance(c, str) for c in args.command)
    ):
        raise ValidationError(
            "command",
            f"must be a non-empty list of strings, got {args.command!r}",
            'use for example ["python", "train.py"], or None for the image\'s entrypoint',
        )
    for fname in ("namespace", "argo_namespace"):
        if not isinstance(getattr(args, fname), str) or not DNS_LABEL.match(getattr(args, fname)):
            raise ValidationError(
                fname,
                f"{getattr(args, fname)!r} is not a Kubernetes namespace name",
                "use lowercase letters, digits and '-', at most 63 characters",
            )
    if args.engine == "argo" and args.namespace == args.argo_namespace:
        raise ValidationError(
            "namespace",
            "is the same as argo_namespace",
            "run workflows in their own namespace, apart from the Argo controller",
        )
    args.registry.check_repositories("model_repositories", args.model_repositories)


class Orchestration(pulumi.ComponentResource):
    """Periodic retraining: a suspended Kubernetes CronJob, or Argo Workflows + a suspended CronWorkflow.

    Outputs: role_arn (IAM role of the job's service account), argo_server_url (in-cluster Argo UI/API
    URL; None with engine "cronjob"). Attributes `namespace` (where the job runs) and `service_account`.
    """

    role_arn: pulumi.Output[str]
    argo_server_url: pulumi.Output[str] | None
    namespace: str
    service_account: str

    def __init__(self, name: str, args: OrchestrationArgs, opts: pulumi.ResourceOptions | None = None):
        args = resolve_cluster(args)
        _validate(name, args)
        super().__init__("mlplatform:orchestration:Orchestration", name, None, opts)
        self._role_policies: list[pulumi.Resource] = []
        t = tags(name, args.tags)
        self.namespace = args.namespace
        argo = args.engine == "argo"
        self.service_account = WORKFLOW_SERVICE_ACCOUNT if argo else JOB_SERVICE_ACCOUNT
        kube = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)

        ns = namespace(self, f"{name}-retraining", args.namespace, args.k8s_provider, enforce="baseline")
        policies = {"mlflow": args.registry.prefix_policy(MLFLOW_PREFIX)}
        if argo:
            policies["argo"] = args.registry.prefix_policy(ARGO_PREFIX)
        if args.model_repositories:
            policies["models"] = args.registry.ecr_push_policy(list(args.model_repositories))
        role = self._irsa_role(f"{name}-retraining", args, args.namespace, self.service_account, policies, t)
        self.role_arn = role.arn

        if argo:
            release = self._argo(name, args, role, ns, t)
            k8s.apiextensions.CustomResource(
                f"{name}-retrain",
                api_version="argoproj.io/v1alpha1",
                kind="CronWorkflow",
                metadata={"name": JOB_NAME, "namespace": args.namespace},
                spec=cron_workflow_spec(args, self._container(args)),
                opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns, release])),
            )
            self.argo_server_url = pulumi.Output.from_input(
                f"http://argo-workflows-server.{args.argo_namespace}.svc.cluster.local:2746"
            )
        else:
            account = k8s.core.v1.ServiceAccount(
                f"{name}-retraining",
                metadata={
                    "name": JOB_SERVICE_ACCOUNT,
                    "namespace": args.namespace,
                    "annotations": {IRSA_ANNOTATION: role.arn},
                },
                # IRSA mounts its own web-identity token; the job needs no Kubernetes API token.
                automount_service_account_token=False,
                opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns])),
            )
            k8s.batch.v1.CronJob(
                f"{name}-retrain",
                metadata={"name": JOB_NAME, "namespace": args.namespace},
                spec=cron_job_spec(args, self._container(args)),
                opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns, account])),
            )
            self.argo_server_url = None

        self.register_outputs({"role_arn": self.role_arn, "argo_server_url": self.argo_server_url})

    def _irsa_role(
        self,
        resource_name: str,
        args: OrchestrationArgs,
        namespace: str,
        service_account: str,
        policies: dict[str, pulumi.Output[str]],
        t: dict[str, str],
    ) -> aws.iam.Role:
        irsa = irsa_role(
            self,
            resource_name,
            args.oidc_provider_arn,
            args.oidc_issuer_url,
            [(namespace, service_account)],
            policies={f"{resource_name}-{suffix}": p for suffix, p in policies.items()},
            tags=t,
            description=f"IRSA role of {namespace}/{service_account}",
        )
        self._role_policies.extend(irsa.policies)
        return irsa.role

    @staticmethod
    def _container(args: OrchestrationArgs) -> dict:
        container = {
            "name": JOB_NAME,
            "image": args.image,
            # The stack's retraining tag moves (a new training image is pushed under it), so every run
            # pulls it: a node never runs the image it cached last week.
            "imagePullPolicy": "Always",
            "env": [
                {"name": "MLFLOW_TRACKING_URI", "value": args.mlflow_tracking_uri},
                {"name": "MLFLOW_EXPERIMENT_NAME", "value": args.experiment_name},
            ],
            "resources": {
                "requests": {"cpu": args.cpu, "memory": args.memory},
                "limits": {"memory": args.memory, "nvidia.com/gpu": str(args.gpus)},
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
        if args.command:
            container["command"] = list(args.command)
        return container

    def _argo(
        self,
        name: str,
        args: OrchestrationArgs,
        workflow_role: aws.iam.Role,
        ns: k8s.core.v1.Namespace,
        t: dict[str, str],
    ):
        # The Argo server shows artifacts and archived logs: read-only on the `argo/` prefix.
        server_role = self._irsa_role(
            f"{name}-argo-server",
            args,
            args.argo_namespace,
            SERVER_SERVICE_ACCOUNT,
            {"argo": args.registry.prefix_policy(ARGO_PREFIX, write=False)},
            t,
        )
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        node_selector = {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR}
        values = {
            "fullnameOverride": "argo-workflows",
            "crds": {"install": True, "keep": True},
            "singleNamespace": False,
            "controller": {
                "workflowNamespaces": [args.namespace],
                "serviceAccount": {"create": True, "name": CONTROLLER_SERVICE_ACCOUNT},
                "nodeSelector": node_selector,
                "resources": ARGO_RESOURCES,
            },
            # The chart creates this service account (and its Role) in every workflow namespace.
            "workflow": {
                "serviceAccount": {
                    "create": True,
                    "name": WORKFLOW_SERVICE_ACCOUNT,
                    "annotations": {IRSA_ANNOTATION: workflow_role.arn},
                },
                "rbac": {"create": True},
            },
            "server": {
                "enabled": True,
                "authModes": ["client"],  # callers bring their own Kubernetes token
                "serviceAccount": {
                    "create": True,
                    "name": SERVER_SERVICE_ACCOUNT,
                    "annotations": {IRSA_ANNOTATION: server_role.arn},
                },
                "nodeSelector": node_selector,
                "resources": ARGO_RESOURCES,
            },
            # IRSA instead of static keys: the SDK's default credential chain.
            "useStaticCredentials": False,
            "artifactRepository": {
                "archiveLogs": True,
                "s3": {
                    "bucket": args.registry.bucket_name,
                    "endpoint": pulumi.Output.concat("s3.", region, ".amazonaws.com"),
                    "region": region,
                    "insecure": False,
                    "useSDKCreds": True,
                    "keyFormat": f"{ARGO_PREFIX}/{{{{workflow.namespace}}}}/{{{{workflow.name}}}}/{{{{pod.name}}}}",
                },
            },
        }
        values = with_user_values("argo-workflows", values, args.helm_values)
        return helm_release(
            self,
            f"{name}-argo",
            "argo-workflows",
            args.argo_namespace,
            values,
            args.k8s_provider,
            depends_on=[ns, *self._role_policies],
        )


def _pod_spec(service_account: str) -> dict:
    return {
        "serviceAccountName": service_account,
        "tolerations": [dict(GPU_TOLERATION)],
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }


def cron_job_spec(args: OrchestrationArgs, container: dict) -> dict:
    """spec of the batch/v1 CronJob."""
    return {
        "schedule": args.schedule,
        "timeZone": "Etc/UTC",
        "suspend": args.suspend,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": HISTORY,
        "failedJobsHistoryLimit": HISTORY,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 1,
                "ttlSecondsAfterFinished": TTL_SECONDS,
                "template": {
                    "metadata": {
                        "labels": {"app.kubernetes.io/name": JOB_NAME, "app.kubernetes.io/part-of": "mlplatform"}
                    },
                    # No Kubernetes API token in the pod (its ServiceAccount says so too); IRSA still works: the
                    # EKS pod identity webhook mounts its own projected AWS token.
                    "spec": {
                        **_pod_spec(JOB_SERVICE_ACCOUNT),
                        "automountServiceAccountToken": False,
                        "restartPolicy": "Never",
                        "containers": [container],
                    },
                },
            }
        },
    }


def cron_workflow_spec(args: OrchestrationArgs, container: dict) -> dict:
    """spec of the argoproj.io/v1alpha1 CronWorkflow: the same job as one-step workflow."""
    return {
        "schedules": [args.schedule],
        "timezone": "Etc/UTC",
        "suspend": args.suspend,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": HISTORY,
        "failedJobsHistoryLimit": HISTORY,
        "workflowSpec": {
            **_pod_spec(WORKFLOW_SERVICE_ACCOUNT),
            "entrypoint": JOB_NAME,
            "ttlStrategy": {"secondsAfterCompletion": TTL_SECONDS},
            "podGC": {"strategy": "OnWorkflowSuccess"},
            "templates": [{"name": JOB_NAME, "retryStrategy": {"limit": 1}, "container": container}],
        },
    }

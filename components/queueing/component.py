"""Queueing: Kueue on the system nodes, and the teams' queues generated from the stack.

Kueue (`versions.HELM_CHARTS["kueue"]`, image `versions.KUEUE_IMAGE`) runs in `kueue-system` on the
system nodes with requests, and manages jobs only in the team namespaces (objects.controller_config).
The flavors, cohort, ClusterQueues, LocalQueues and priority classes are objects.py's manifests. A
ClusterQueue's `spec.stopPolicy` is left to whoever holds or releases it (the budget job, `mlplatform
team budget --release`): `up` does not set it back.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .._common import child, helm_release
from ..conventions import KUEUE_CHART, PART_OF, RESTRICTED_CONTAINER, SYSTEM_NODE_SELECTOR
from ..versions import KUEUE_IMAGE
from . import objects
from .args import QueueingArgs, validated
from .budgets import budget_rule_groups
from .objects import COHORT_SUFFIX, team_resource_names

# Kueue's controller: its request fits the system nodes (stacks/analyses/capacity.py counts it); memory
# grows with the number of workloads it tracks.
CONTROLLER_RESOURCES = {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}


def kueue_values(args: QueueingArgs) -> dict[str, Any]:
    """The kueue chart's values (keys of the pinned chart's values.yaml)."""
    repository, tag = KUEUE_IMAGE
    manager: dict[str, Any] = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "resources": CONTROLLER_RESOURCES,
    }
    return {
        "controllerManager": {
            "manager": manager,
            "replicas": args.controller_replicas,
            "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
            "podDisruptionBudget": {"enabled": args.controller_replicas > 1, "minAvailable": 1},
        },
        "managerConfig": {
            "controllerManagerConfigYaml": objects.controller_config_yaml(args.wait_for_pods_ready_minutes)
        },
        # The chart's own ServiceMonitor carries no `release` label, so kube-prometheus-stack would not
        # select it: the component makes its own (below).
        "enablePrometheus": False,
        "enableKueueViz": False,
    }


BUDGET_JOB = "budget-hold"
BUDGET_JOB_UID = 65532  # the package image's non-root user (stacks/evidence/observer.Dockerfile)
BUDGET_JOB_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}


def budget_job_spec(image: Any, teams: list[str], prometheus_url: str) -> dict[str, Any]:
    """The hold job: every 5 minutes, holds the queues of teams whose budget alert fires and releases
    last month's holds (stacks/project/budget.py); restricted Pod Security, system nodes."""
    container = {
        "name": BUDGET_JOB,
        "image": image,
        "imagePullPolicy": "Always",
        "command": ["python", "-m", "mlplatform.stacks.project.budget"],
        "args": ["--prometheus", prometheus_url, "--teams", ",".join(teams)],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "resources": BUDGET_JOB_RESOURCES,
        "securityContext": {**RESTRICTED_CONTAINER, "runAsNonRoot": True, "runAsUser": BUDGET_JOB_UID},
    }
    pod = {
        "serviceAccountName": BUDGET_JOB,
        "automountServiceAccountToken": True,  # it gets and patches the teams' ClusterQueues
        "restartPolicy": "Never",
        "nodeSelector": {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": BUDGET_JOB_UID,
            "runAsGroup": BUDGET_JOB_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }
    return {
        "schedule": "*/5 * * * *",
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 120,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": 240,
                "ttlSecondsAfterFinished": 3600,
                "template": {"metadata": {"labels": {"app.kubernetes.io/name": BUDGET_JOB, **PART_OF}}, "spec": pod},
            }
        },
    }


class KubernetesObject(pulumi.CustomResource):
    """A custom resource given as its whole manifest. `k8s.apiextensions.CustomResource` takes only
    `spec`, and a WorkloadPriorityClass keeps `value` and `description` at the top level."""

    def __init__(self, resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions):
        super().__init__(f"kubernetes:{manifest['apiVersion']}:{manifest['kind']}", resource_name, dict(manifest), opts)


class Queueing(pulumi.ComponentResource):
    """Kueue and the stack's queues. Attributes: `namespace`, `release` (the Helm release),
    `cluster_queues` (team -> ClusterQueue), `cohort`."""

    namespace: str
    cluster_queues: dict[str, Any]

    def __init__(self, name: str, args: QueueingArgs, opts: pulumi.ResourceOptions | None = None):
        args = validated(QueueingArgs, args)  # an Args instance is valid; a mapping is validated here
        super().__init__("mlplatform:scheduling:Queueing", name, None, opts)
        provider = getattr(args.cluster, "provider", None) if args.cluster is not None else None
        self.namespace = args.namespace
        ns = k8s.core.v1.Namespace(
            f"{name}-kueue",
            metadata={
                "name": args.namespace,
                "labels": {**PART_OF, "pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=child(self, provider=provider),
        )
        self.release = helm_release(
            self,
            f"{name}-kueue",
            KUEUE_CHART,
            args.namespace,
            kueue_values(args),
            provider,
            create_namespace=False,
            depends_on=[ns],
        )
        after = child(self, provider=provider, depends_on=[self.release])

        def custom(resource_name: str, manifest: dict[str, Any], **extra: Any) -> Any:
            return KubernetesObject(
                resource_name, manifest, pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(**extra))
            )

        for f in args.flavors:
            custom(f"{name}-flavor-{f.name}", objects.resource_flavor(f))
        for pc in objects.priority_classes():
            custom(f"{name}-priority-{pc['metadata']['name']}", pc)
        self.cohort = custom(f"{name}{COHORT_SUFFIX}", objects.cohort(args))
        self.cluster_queues = {}
        for t in args.teams:
            cq_name, lq_name = team_resource_names(name, t.team)
            # stopPolicy belongs to the budget hold and `team budget --release` once created.
            self.cluster_queues[t.team] = custom(
                cq_name, objects.cluster_queue(t, args.flavors, args.cohort), ignore_changes=["spec.stopPolicy"]
            )
            custom(lq_name, objects.local_queue(t), depends_on=[self.cluster_queues[t.team]])
        if args.monitoring_namespace and args.monitoring_release:
            custom(
                f"{name}-kueue-metrics",
                {
                    "apiVersion": "monitoring.coreos.com/v1",
                    "kind": "ServiceMonitor",
                    "metadata": {
                        "name": "kueue-metrics",
                        "namespace": args.namespace,
                        "labels": {"release": args.monitoring_release, **PART_OF},
                    },
                    "spec": {
                        "selector": {
                            "matchLabels": {
                                "app.kubernetes.io/component": "metrics-service",
                                "app.kubernetes.io/instance": f"{name}-kueue"[:53],
                            }
                        },
                        "endpoints": [
                            {
                                "port": "https",
                                "path": "/metrics",
                                "scheme": "https",
                                "bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
                                "tlsConfig": {"insecureSkipVerify": True},
                            }
                        ],
                    },
                },
            )
        budgets = {t.team: t.gpu_budget_usd_month for t in args.teams if t.gpu_budget_usd_month}
        if budgets:
            self._budgets(name, args, budgets, provider)
        self.register_outputs({"namespace": self.namespace})

    def _budgets(self, name: str, args: QueueingArgs, budgets: dict[str, float], provider: Any) -> None:
        """The budget rules (in the monitoring namespace, labelled for its Prometheus) and the hold job."""
        opts = child(self, provider=provider, depends_on=[self.release])
        KubernetesObject(
            f"{name}-gpu-budgets",
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {
                    "name": "mlplatform-gpu-budgets",
                    "namespace": args.monitoring_namespace,
                    "labels": {"release": args.monitoring_release, **PART_OF},
                },
                "spec": {"groups": budget_rule_groups(budgets, args.gpu_hour_prices)},
            },
            opts,
        )
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-budget-hold",
            metadata={"name": BUDGET_JOB, "namespace": args.namespace, "labels": PART_OF},
            automount_service_account_token=False,  # the job's pod mounts it (it patches ClusterQueues)
            opts=opts,
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-budget-hold",
            metadata={"name": f"mlplatform-{BUDGET_JOB}", "labels": PART_OF},
            # The teams' ClusterQueues by name, get and patch: nothing to list, create or delete.
            rules=[
                {
                    "apiGroups": ["kueue.x-k8s.io"],
                    "resources": ["clusterqueues"],
                    "resourceNames": sorted(budgets),
                    "verbs": ["get", "patch"],
                }
            ],
            opts=opts,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-budget-hold",
            metadata={"name": f"mlplatform-{BUDGET_JOB}", "labels": PART_OF},
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"mlplatform-{BUDGET_JOB}",
            },
            subjects=[{"kind": "ServiceAccount", "name": BUDGET_JOB, "namespace": args.namespace}],
            opts=opts,
        )
        prometheus = f"http://prometheus-operated.{args.monitoring_namespace}.svc.cluster.local:9090"
        k8s.batch.v1.CronJob(
            f"{name}-budget-hold",
            metadata={"name": BUDGET_JOB, "namespace": args.namespace, "labels": PART_OF},
            spec=budget_job_spec(args.budget_job_image, sorted(budgets), prometheus),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[sa, role, binding])),
        )

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

from .._common import PART_OF, child, helm_release
from ..conventions import KUEUE_CHART, SYSTEM_NODE_SELECTOR
from ..versions import KUEUE_IMAGE
from . import objects
from .args import QueueingArgs
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
        if not isinstance(args, QueueingArgs):  # validated on construction; a dict is validated here
            args = QueueingArgs.model_validate(args)
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
        self.register_outputs({"namespace": self.namespace})

"""Training: Kubeflow Trainer (with its JobSet dependency), the torch-distributed runtime, and the EFA
device plugin on the multi-GPU pool's EFA instance types.

* kubeflow-trainer (`versions.HELM_CHARTS["kubeflow-trainer"]`), which installs JobSet
  (`jobset.install`, chart `versions.HELM_CHARTS["jobset"]`); both controllers on the system nodes,
  with requests and the released images pinned in versions.py. Not PyTorchJob v1, whose Kueue
  integration is deprecated: a TrainJob is admitted by Kueue as one workload, all its nodes at once
  (the integration `trainer.kubeflow.org/trainjob` is on, components/queueing/objects.FRAMEWORKS).
* the `ClusterTrainingRuntime` torch-distributed: upstream's (kubeflow/trainer v2.3.0
  manifests/base/runtimes/torch_distributed.yaml), its image pinned (versions.TORCH_RUNTIME_IMAGE).
  Created here rather than by the chart's `runtimes.torchDistributed`, which adds installer Jobs.
* the EFA device plugin DaemonSet (versions.EFA_DEVICE_PLUGIN_IMAGE), only on nodes of `efa_pools` whose
  instance type has EFA (node affinity on both); upstream's pod: privileged, host network, the kubelet's
  device-plugin socket and /dev/infiniband. It advertises `vpc.amazonaws.com/efa` to pods that ask.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .._common import child, helm_release
from ..conventions import (
    GPU_TOLERATION,
    PART_OF,
    POOL_LABEL,
    SYSTEM_NODE_SELECTOR,
    TORCH_RUNTIME,
    TRAINER_CHART,
)
from ..queueing.args import validated
from ..queueing.component import KubernetesObject
from ..versions import EFA_DEVICE_PLUGIN_IMAGE, JOBSET_IMAGE, TORCH_RUNTIME_IMAGE, TRAINER_IMAGE
from .args import EfaPool, TrainingArgs

TRAINER_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
JOBSET_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
EFA_RESOURCES = {"requests": {"cpu": "10m", "memory": "20Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
EFA_NAME = "aws-efa-k8s-device-plugin"
RESTARTS = 3  # gang restarts of a TrainJob before it fails
RUNTIME_UID = 1000  # any non-root UID: the training code writes only /tmp and S3


RUNTIME_CONTAINER = {
    "name": "node",
    "image": TORCH_RUNTIME_IMAGE,
    # upstream's runs as the image's root user; this one does not
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    },
}


def trainer_values() -> dict[str, Any]:
    """The kubeflow-trainer chart's values (its jobset dependency's under `jobset`)."""
    registry, repository, tag = TRAINER_IMAGE
    jobset_repo, jobset_tag = JOBSET_IMAGE
    return {
        "image": {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "manager": {"nodeSelector": dict(SYSTEM_NODE_SELECTOR), "resources": TRAINER_RESOURCES},
        "jobset": {
            "install": True,
            "image": {"repository": jobset_repo, "tag": jobset_tag, "pullPolicy": "IfNotPresent"},
            "controller": {"nodeSelector": dict(SYSTEM_NODE_SELECTOR), "resources": JOBSET_RESOURCES},
        },
    }


def torch_runtime() -> dict[str, Any]:
    """The torch-distributed ClusterTrainingRuntime (upstream's, image pinned)."""
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "ClusterTrainingRuntime",
        "metadata": {"name": TORCH_RUNTIME, "labels": {"trainer.kubeflow.org/framework": "torch", **PART_OF}},
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    # A node lost (a spot interruption) restarts the whole gang; train.py resumes from its
                    # latest checkpoint. Kueue's waitForPodsReady recovery requeues it if the node does not come.
                    "failurePolicy": {"maxRestarts": RESTARTS},
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "template": {
                                "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                                "spec": {"template": {"spec": {"containers": [RUNTIME_CONTAINER]}}},
                            },
                        }
                    ],
                }
            },
        },
    }


def efa_daemonset_spec(pools: list[EfaPool]) -> dict[str, Any]:
    """The EFA device plugin's DaemonSet spec: only on the EFA types of these pools."""
    pool_names = sorted({p.pool for p in pools})
    types = sorted({t for p in pools for t in p.instance_types})
    labels = {"name": EFA_NAME, **PART_OF}
    return {
        "selector": {"matchLabels": {"name": EFA_NAME}},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "priorityClassName": "system-node-critical",
                "hostNetwork": True,
                "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, dict(GPU_TOLERATION)],
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": POOL_LABEL, "operator": "In", "values": pool_names},
                                        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
                                    ]
                                }
                            ]
                        }
                    }
                },
                "containers": [
                    {
                        "name": EFA_NAME,
                        "image": EFA_DEVICE_PLUGIN_IMAGE,
                        "imagePullPolicy": "Always",
                        "securityContext": {
                            "allowPrivilegeEscalation": True,
                            "privileged": True,
                            "runAsNonRoot": False,
                            "runAsUser": 0,
                        },
                        "resources": EFA_RESOURCES,
                        "volumeMounts": [
                            {"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"},
                            {"name": "infiniband-volume", "mountPath": "/dev/infiniband/"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}},
                    {"name": "infiniband-volume", "hostPath": {"path": "/dev/infiniband/"}},
                ],
            },
        },
    }


class Training(pulumi.ComponentResource):
    """Kubeflow Trainer + JobSet, the torch-distributed runtime, and EFA on the multi-GPU pool."""

    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None):
        args = validated(TrainingArgs, args)  # an Args instance is valid; a mapping is validated here
        super().__init__("mlplatform:training:Training", name, None, opts)
        provider = getattr(args.cluster, "provider", None) if args.cluster is not None else None
        ns = k8s.core.v1.Namespace(
            f"{name}-trainer",
            metadata={"name": args.namespace, "labels": {**PART_OF, "pod-security.kubernetes.io/enforce": "baseline"}},
            opts=child(self, provider=provider),
        )
        self.release = helm_release(
            self,
            f"{name}-trainer",
            TRAINER_CHART,
            args.namespace,
            trainer_values(),
            provider,
            create_namespace=False,
            depends_on=[ns],
        )
        KubernetesObject(
            f"{name}-{TORCH_RUNTIME}", torch_runtime(), child(self, provider=provider, depends_on=[self.release])
        )
        if args.efa and args.efa_pools:
            k8s.apps.v1.DaemonSet(
                f"{name}-efa-device-plugin",
                metadata={"name": EFA_NAME, "namespace": "kube-system", "labels": {"name": EFA_NAME, **PART_OF}},
                spec=efa_daemonset_spec(args.efa_pools),
                opts=child(self, provider=provider),
            )
        self.register_outputs({})

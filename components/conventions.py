"""Names the components and the analyses share: node labels, taints, tags, chart names, model labels.

One definition each. This module imports nothing from Pulumi, so `stacks/` analyses, the CLI and the
observer image can read it without loading the SDK.
"""

from __future__ import annotations

import re
from typing import Any

# -- nodes ------------------------------------------------------------------------------------------
POOL_LABEL = "mlplatform.io/pool"  # every node: its pool name (`system`, `gpu`, `gpu-1x`, ...)
GPU_LABEL = "mlplatform.io/gpu"  # GPU nodes only: "true"
SYSTEM_POOL = "system"
SYSTEM_NODE_SELECTOR = {POOL_LABEL: SYSTEM_POOL}
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"  # cluster-autoscaler's GPU label on AWS
# GPU nodes carry this taint, so only pods that tolerate it (GPU work, GPU DaemonSets) land there and
# nothing else can keep a GPU node alive.
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
# Node affinity that only matches GPU nodes (for GPU DaemonSets such as the device plugin).
GPU_NODE_AFFINITY: dict[str, Any] = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": GPU_LABEL, "operator": "In", "values": ["true"]}]}]
        }
    }
}
# The CPU batch pool (Karpenter only) is tainted too, so only batch jobs that ask for it land there.
CPU_BATCH_POOL = "cpu-batch"
CPU_BATCH_TAINT = {"key": "mlplatform.io/batch", "value": "true", "effect": "NoSchedule"}
CPU_BATCH_TOLERATION = {"key": "mlplatform.io/batch", "operator": "Exists", "effect": "NoSchedule"}

# -- AWS tags ---------------------------------------------------------------------------------------
MANAGED_BY = "mlplatform"
# cluster-autoscaler discovers and may scale ONLY Auto Scaling groups carrying this tag key (besides
# the `k8s.io/cluster-autoscaler/*` keys EKS puts on EVERY managed node group's ASG, which by key alone
# would make the system group autoscaled and have `up` fight the autoscaler over its desired size).
AUTOSCALED_TAG = "mlplatform.io/cluster-autoscaler"

# -- Kubernetes objects -----------------------------------------------------------------------------
# An RFC 1123 label (namespace, Helm release, team name): lowercase alphanumerics and '-', at most 63.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
PART_OF = {"app.kubernetes.io/part-of": "mlplatform"}
# A container of ours under the Pod Security "restricted" profile, with a read-only root filesystem. Callers
# that know their image's uid add `runAsNonRoot`/`runAsUser`: `{**RESTRICTED_CONTAINER, "runAsUser": UID}`.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
TEAM_LABEL = "mlplatform.io/team"
MODEL_LABEL = "mlplatform.io/model"  # a serving pod: the model it serves
ENVIRONMENT_LABEL = "mlplatform.io/environment"  # a serving pod: staging | production
MODEL_DIGEST_ANNOTATION = "mlplatform.io/model-digest"  # a serving pod: the modelcar's manifest digest
MODEL_METRICS_POD_LABEL = {"mlplatform.io/model-metrics": "true"}
# Serving: the environments a model goes through, in order, and the namespace of each.
SERVING_ENVIRONMENTS = ("staging", "production")
SERVING_POOL_ANNOTATION = "mlplatform.io/serving-pods"  # a serving quota: the pods it is sized for (JSON)


# A served model's prediction log: the ConfigMap of each serving namespace with the artifact bucket and region
# (`bucket`, `region`: the Rollout's pods read them), and the model's service account (its IRSA role may
# put objects under predictions/<model>/ only).
PREDICTION_LOG_CONFIG = "mlplatform-prediction-log"


def model_service_account(model: str) -> str:
    """The service account of a served model's pods (`model-churn`)."""
    return f"model-{model}"


def serving_namespace(environment: str) -> str:
    """The namespace the models of one environment run in (`serving-production`)."""
    return f"serving-{environment}"


# -- Helm charts (pinned in versions.HELM_CHARTS) ----------------------------------------------------
PROMETHEUS_CHART = "kube-prometheus-stack"
DCGM_CHART = "dcgm-exporter"
MLFLOW_CHART = "mlflow"
PUSHGATEWAY_CHART = "prometheus-pushgateway"
RUNNER_CONTROLLER_CHART = "gha-runner-scale-set-controller"
RUNNER_CHART = "gha-runner-scale-set"
LOAD_BALANCER_CONTROLLER_CHART = "aws-load-balancer-controller"
KUEUE_CHART = "kueue"

# -- queueing (Kueue) --------------------------------------------------------------------------------
KUEUE_NAMESPACE = "kueue-system"
# Kueue gives a job without a kueue.x-k8s.io/queue-name label the LocalQueue named "default" of its namespace (v0.19:
# pkg/controller/constants.DefaultLocalQueueName), so each team's LocalQueue has this name.
TEAM_LOCAL_QUEUE = "default"
GPU_RESOURCE = "nvidia.com/gpu"
TRAINER_CHART = "kubeflow-trainer"
TRAINER_NAMESPACE = "kubeflow-system"
TORCH_RUNTIME = "torch-distributed"  # the ClusterTrainingRuntime a TrainJob names

ROLLOUTS_CHART = "argo-rollouts"

"""Every version mlplatform deploys, in one place.

Change a pin here and every component and profile follows. Helm chart pins match the charts whose own
`values.yaml` files the tests check values against (`shared/charts/`).
"""

from __future__ import annotations

# Amazon EKS: Kubernetes 1.35 was released on EKS 2026-01-28; standard support ends 2027-03-27,
# extended (billed) support 2028-03-27 (EKS version calendar).
KUBERNETES_VERSION = "1.35"
EKS_STANDARD_SUPPORT_END = {"1.33": "2026-07-29", "1.34": "2026-12-02", "1.35": "2027-03-27"}

# EKS-optimized AMI families (managed node group `amiType`).
AMI_TYPE_CPU = "AL2023_x86_64_STANDARD"
AMI_TYPE_GPU = "AL2023_x86_64_NVIDIA"

# EKS managed add-ons: each resolves to EKS's default build for KUBERNETES_VERSION
# (`aws eks describe-addon-versions`), so the add-on pin moves only with the Kubernetes pin.
EKS_ADDONS = ("vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver")

# Amazon RDS for PostgreSQL major version.
POSTGRES_MAJOR = "17"
# RDS for PostgreSQL end of standard support per major version (RDS release calendar: Feb 28/29 five
# years after the community release); after it RDS Extended Support is billed. `doctor` warns ahead.
POSTGRES_STANDARD_SUPPORT_END = {
    "13": "2026-02-28",
    "14": "2027-02-28",
    "15": "2028-02-29",
    "16": "2029-02-28",
    "17": "2030-02-28",
}

# The PostgreSQL client (psql) of the Job that creates the `monitoring` schema's role (MonitoringDatabase):
# the official image at the RDS major's latest minor, Alpine (the Job runs it as uid 10001). By tag: the
# digest could not be read from here (no registry access when this was pinned) -- add it when you can.
POSTGRES_CLIENT_IMAGE = "docker.io/library/postgres:17.7-alpine3.22"

# Helm charts: name -> (version, repository).
HELM_CHARTS: dict[str, tuple[str, str]] = {
    "kube-prometheus-stack": ("88.5.3", "https://prometheus-community.github.io/helm-charts"),
    "dcgm-exporter": ("4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts"),
    "nvidia-device-plugin": ("0.20.0", "https://nvidia.github.io/k8s-device-plugin"),
    "mlflow": ("1.11.5", "https://community-charts.github.io/helm-charts"),
    "gha-runner-scale-set-controller": ("0.14.2", "oci://ghcr.io/actions/actions-runner-controller-charts"),
    "gha-runner-scale-set": ("0.14.2", "oci://ghcr.io/actions/actions-runner-controller-charts"),
    "karpenter": ("1.14.1", "oci://public.ecr.aws/karpenter"),
    "cluster-autoscaler": ("9.59.0", "https://kubernetes.github.io/autoscaler"),
    "aws-load-balancer-controller": ("3.5.0", "https://aws.github.io/eks-charts"),
    "argo-workflows": ("1.0.18", "https://argoproj.github.io/argo-helm"),
    "kueue": ("0.19.2", "oci://registry.k8s.io/kueue/charts"),
    "kubeflow-trainer": ("2.3.0", "oci://ghcr.io/kubeflow/charts"),
    # Installed as kubeflow-trainer 2.3.0's own dependency (`jobset.install`, the same version), never
    # on its own: pinned here so its values and its JobSet CRD are checked against the real chart.
    "jobset": ("0.12.0", "oci://registry.k8s.io/jobset/charts"),
    # Argo Rollouts v1.9.0 (chart appVersion): the canary controller of ModelServing.
    "argo-rollouts": ("2.41.0", "https://argoproj.github.io/argo-helm"),
    # Where the drift job pushes its scores (Prometheus scrapes it; honorLabels keeps model/digest).
    "prometheus-pushgateway": ("3.8.0", "https://prometheus-community.github.io/helm-charts"),
}

# The GitHub Actions runner image of the CI runner scale sets (the image's user is `runner`, uid 1001),
# pinned by tag and multi-architecture digest.
RUNNER_IMAGE = (
    "ghcr.io/actions/actions-runner:2.337.0@sha256:e5496277be5d09bc968b3d64911b74e219ac4a3f2edce956a3ecf9271bea1ef4"
)
# MLflow client the generated workflows install: the tracking server's version (mlflow chart appVersion).
MLFLOW_CLIENT = "3.15.1"
# The MLflow server image: the mlflow chart's own image (values `image.repository`) at its appVersion, which
# the chart runs by default; the one-shot schema migration Job and the CA-bundle init container use it too.
MLFLOW_IMAGE = f"burakince/mlflow:{MLFLOW_CLIENT}"

# GitHub Actions the generated workflows use: action -> (tag, full commit SHA). Workflows reference the
# SHA (a tag can be moved, a commit cannot) with the tag as a comment; update both together.
GITHUB_ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("v4.3.0", "08eba0b27e820071cde6df949e0beb9ba4906955"),
    "actions/setup-python": ("v5.6.0", "a26af69be951a213d495a4c3e4e4022e16d87065"),
    "aws-actions/configure-aws-credentials": ("v4.2.1", "b47578312673ae6fa5b5096b330d9fbac3d116df"),
    "oras-project/setup-oras": ("v2.0.0", "38de303aac69abb66f3e6255b7198bff35f323e3"),
    "actions/github-script": ("v7.0.1", "60a0d83039c74a4aee543508d2ffcb1c3799cdea"),
}

# The evidence observer image (`mlplatform evidence observe`), built from this package by the generated
# `observer-image.yml` workflow (`mlplatform ci render`) into the stack's `images` ECR repository, whose
# tags are immutable: the tag pins one digest. It moves with the package version.
EVIDENCE_OBSERVER_TAG = "evidence-observer-0.1.0"
# The drift job's image (`mlplatform drift run`): this package with the [drift] extra, built like the observer
# image into the stack's `images` repository; the tag moves with the package version.
DRIFT_JOB_TAG = "drift-job-0.1.0"
# Its base image (Debian bookworm, Python 3.12, non-root uid 65532 added by the Dockerfile).
EVIDENCE_OBSERVER_BASE_IMAGE = "python:3.12.8-slim-bookworm"

# Kueue's controller image. The chart's values.yaml in git names a staging image (tag release-0.19, pulled
# Always); its release script rewrites them to this one in the published chart: pinned here, set explicitly.
KUEUE_IMAGE = ("registry.k8s.io/kueue/kueue", "v0.19.2")

# Kubeflow Trainer's controller and the JobSet controller it installs: the released images, set
# explicitly (jobset's values.yaml in git names a staging image, rewritten only in the published chart).
TRAINER_IMAGE = ("ghcr.io", "kubeflow/trainer/trainer-controller-manager", "v2.3.0")
JOBSET_IMAGE = ("registry.k8s.io/jobset/jobset", "v0.12.0")
# The torch-distributed runtime's default image (kubeflow/trainer v2.3.0 manifests/base/runtimes/
# torch_distributed.yaml); a TrainJob names its own with spec.trainer.image.
TORCH_RUNTIME_IMAGE = "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"
# The EFA device plugin: aws/eks-charts stable/aws-efa-k8s-device-plugin at 5239609242f3 (chart v0.5.30,
# appVersion v0.5.20), the commit the aws-load-balancer-controller chart is pinned at. EKS's image
# registry account 602401143452 serves it in every commercial region (the chart names us-west-2).
EFA_DEVICE_PLUGIN_IMAGE = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.20"
# -- model serving (ModelServing, `serve render`) ------------------------------------------------------
# The `mlflow` runtime: MLServer with its MLflow runtime (Apache-2.0, SeldonIO/MLServer). The platform
# builds its serving image from these pins (stacks/templates/serving/mlserver.Dockerfile) with the MLflow
# the models are logged with (MLFLOW_CLIENT): Seldon's own mlserver images carry an older MLflow.
MLSERVER = "1.7.1"
MLSERVER_MLFLOW = "1.7.1"
STARLETTE_EXPORTER = "0.24.0"  # MLServer's REST metrics middleware, as resolved with MLSERVER
SERVING_BASE_IMAGE = "python:3.12.8-slim-bookworm"
SERVING_SCIKIT_LEARN = "1.9.1"  # the flavour library in the image; models must be trained with it
# The image also carries this package (its prediction-log hook): the tag moves with the package version too.
SERVING_MLSERVER_TAG = f"mlserver-{MLSERVER}-mlflow-{MLFLOW_CLIENT}-mlplatform-0.1.0"
# The modelcar's base (train-evaluate.yml: the model under /models on top of it): minimal, with the `sh`
# and `cp` an init container uses to copy /models into the server's volume. linux/amd64 is taken.
MODELCAR_BASE_IMAGE = "docker.io/library/busybox:1.37.0"
# The `vllm` runtime's release: VLLM_IMAGE below, and the source its `vllm:` metric facts are read from
# (stacks/data/metrics/vllm.json: vllm/v1/metrics/loggers.py of the vllm==VLLM wheel on PyPI, the same
# release the image tag names). Its API server mounts prometheus-fastapi-instrumentator's default metrics;
# vllm 0.33.0 requires prometheus-fastapi-instrumentator>=8.0.0, and 8.1.0 (July 2026) is the newest
# release, the one the image's build resolves to.
VLLM = "0.33.0"
PROMETHEUS_FASTAPI_INSTRUMENTATOR = "8.1.0"
# The image `serve render` runs a `vllm` model on (vLLM's OpenAI-compatible server, by release tag; its user
# is set to uid 1000 by the pod, the restricted Pod Security level refuses root). The `mlflow` runtime runs
# the stack's own serving image, `<images repository>:SERVING_MLSERVER_TAG`; the `image` runtime the
# released image itself, pinned by its digest.
VLLM_IMAGE = f"docker.io/vllm/vllm-openai:v{VLLM}"

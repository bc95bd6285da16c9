"""CiRunners: self-hosted GitHub Actions runners on the cluster, CPU and GPU, that cost nothing idle.

Actions Runner Controller (ARC, "runner scale set" mode, pinned charts in `versions.HELM_CHARTS`):

* the controller (`gha-runner-scale-set-controller`) in `arc-systems` on the system nodes, with the
  listener metrics on (`metrics.listenerAddr: ":8080"`, `metrics.listenerEndpoint: "/metrics"`) that the
  Monitoring component's listener PodMonitor and `RunnerScaleSetStuckAtMax` alert read. Adopted instead
  (`existing_controller=ExistingController(namespace, service_account)`): nothing of it is installed and
  the scale sets are bound to that controller's service account.
* one `gha-runner-scale-set` release per scale set, in `arc-runners`. A scale set's name is the label
  a workflow's `runs-on:` names: `<name>-cpu` and `<name>-gpu`. Both start at 0 runners; the GPU set
  tolerates the GPU taint, selects the GPU nodes and limits its runner container to one
  `nvidia.com/gpu`, so its GPU node exists only while a job runs. `runner_scale_set()` builds one scale
  set and is what a per-team runner set calls too.

Runner pods run as the image's `runner` user (uid 1001) with no privilege escalation (so no `sudo`:
bake system packages into a custom image), every capability dropped, the RuntimeDefault seccomp
profile and no Kubernetes API token; their namespace enforces the `restricted` Pod Security level.
Their service account carries an IRSA role allowed to push and pull the registry's ECR repositories
and to read and write the MLflow artifact prefix of the bucket, nothing more.

GitHub App credentials (app id, installation id, private key) come from Pulumi secret config
(`github_app_from_config()`: `mlplatform:github_app_id`, `mlplatform:github_app_installation_id`,
`mlplatform:github_app_private_key`) into a Kubernetes Secret; the scale sets' values only name it
(`githubConfigSecret: <secret name>`). Without credentials the component creates no Secret and the
scale sets expect one of that name to exist (made by External Secrets, for example).

GPU cold start (a GPU node starts from zero in minutes) — what keeps a waiting job alive:
* GitHub keeps a job queued for a self-hosted runner for up to 24 hours, and a job's `timeout-minutes`
  counts only from when a runner picks it up: waiting for the node is not job time.
* The listener asks for `minRunners + assigned jobs` runners; a runner whose pod is Pending while its
  node boots stays wanted as long as its job is assigned, so it is not scaled away. (ARC 0.9.1 scaled
  such runners down after a minute, fixed in 0.9.2; the pin is 0.14.2.)
* Runner pods carry `karpenter.sh/do-not-disrupt: "true"` and
  `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`: once the node is up, neither Karpenter's
  consolidation nor cluster-autoscaler's scale-down removes it from under a runner; it goes away
  `gpu.idle_minutes` after the runner pod ends.
* Deliberately not set: the pod's `activeDeadlineSeconds`. It would bound the whole job from pod start,
  and ARC treats a pod killed by it as a failed runner and starts it again. Bound jobs with the
  workflow's `timeout-minutes` instead (the generated workflows do).
* The GPU pool's own node provisioning timeout (cluster-autoscaler `max-node-provision-time`, then
  the on-demand fallback) belongs to GpuNodePool.

GitLab Runner is an extension point: its Kubernetes executor chart would take the same runner
namespace, service account (IRSA role), GPU toleration and node selector; it is not built here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from . import versions
from ._common import ValidationError, child, helm_release, namespace, tags
from .args.ci_runners import RunnerScale as RunnerScale
from .artifact_registry import ArtifactRegistry
from .cluster_ref import ClusterLike, resolve_cluster
from .conventions import DNS_LABEL, GPU_LABEL, GPU_TOLERATION, PART_OF, SYSTEM_NODE_SELECTOR
from .conventions import RUNNER_CHART as SCALE_SET_CHART
from .conventions import RUNNER_CONTROLLER_CHART as CONTROLLER_CHART
from .helm_values import check_user_values, with_user_values
from .irsa import irsa_role
from .monitoring import ARC_NAMESPACE

CONTROLLER_NAMESPACE = ARC_NAMESPACE  # where Monitoring's listener PodMonitor looks
RUNNER_NAMESPACE = "arc-runners"
CONTROLLER_SERVICE_ACCOUNT = "arc-controller"
RUNNER_SERVICE_ACCOUNT = "mlplatform-runner"
GITHUB_SECRET = "mlplatform-github-app"
# Keys of the GitHub App Secret (the names ARC reads) and of the Pulumi config holding them.
GITHUB_APP_KEYS = ("github_app_id", "github_app_installation_id", "github_app_private_key")
CONFIG_NAMESPACE = "mlplatform"
RUNNER_UID = 1001  # the `runner` user of ghcr.io/actions/actions-runner
GPU_RESOURCE = "nvidia.com/gpu"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
MLFLOW_PREFIX = "mlflow"
# Keep a runner's node while the runner pod lives (Karpenter and cluster-autoscaler respectively).
KEEP_NODE_ANNOTATIONS = {
    "karpenter.sh/do-not-disrupt": "true",
    "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
}
CPU_RUNNER_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}
# Sized to fit a 4-vCPU / 16 GiB single-GPU node (g6.xlarge, g5.xlarge) beside its DaemonSets.
GPU_RUNNER_RESOURCES = {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "12Gi"}}
METRICS_PORT = ":8080"
METRICS_PATH = "/metrics"
# `<name>-<5>-runner-<5>` (ARC's runner pod name) must fit a 63-character DNS label.
MAX_SCALE_SET_NAME = 45
MAX_NAME_LENGTH = MAX_SCALE_SET_NAME - len("-cpu")

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# https://github.com/<org>, https://github.com/<org>/<repo>, https://github.com/enterprises/<slug>, or
# the same on a GitHub Enterprise Server host.
_GITHUB_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?/?$")


@dataclass
class GitHubAppCredentials:
    """A GitHub App's credentials; ARC registers runners with them.

    Fields:
        app_id (Input[str], required): the App's id (or client id).
        installation_id (Input[str], required): its installation id in the organization or repository.
        private_key (Input[str], required): the App's private key (PEM). Pass Pulumi secrets
            (`pulumi.Config.get_secret`); they stay secrets in the Kubernetes Secret.
    """

    app_id: pulumi.Input[str]
    installation_id: pulumi.Input[str]
    private_key: pulumi.Input[str]


def github_app_from_config(namespace: str = CONFIG_NAMESPACE) -> GitHubAppCredentials | None:
    """The credentials in the stack's secret config (`<namespace>:github_app_id`, ...); None if any is unset."""
    cfg = pulumi.Config(namespace)
    app_id, installation_id, private_key = (cfg.get_secret(key) for key in GITHUB_APP_KEYS)
    if app_id is None or installation_id is None or private_key is None:
        return None
    return GitHubAppCredentials(app_id, installation_id, private_key)


@dataclass
class ExistingController:
    """An Actions Runner Controller that already runs, to bind the scale sets to instead of installing one.

    Fields:
        namespace (str, required): its namespace (its listener pods run there too).
        service_account (str, required): the controller's service account
            (`kubectl -n <namespace> get deploy -l app.kubernetes.io/part-of=gha-rs-controller -o
            jsonpath='{..serviceAccountName}'`).
    """

    namespace: str
    service_account: str


@dataclass
class ScaleSetArgs:
    """Inputs of one runner scale set (`runner_scale_set`).

    Fields:
        github_config_url (str, required): where the runners register: https://github.com/<org>,
            https://github.com/<org>/<repo> or https://github.com/enterprises/<enterprise>.
        github_config_secret (str, required): name of the Secret in `namespace` holding the GitHub App
            credentials (keys github_app_id, github_app_installation_id, github_app_private_key).
        service_account (str, required): service account of the runner pods (carries their IRSA role);
            it must exist in `namespace`.
        namespace (str, default "arc-runners"): namespace of the scale set and its runner pods.
        controller_namespace (str, default "arc-systems"): namespace of the ARC controller.
        controller_service_account (str, default "arc-controller"): the controller's service account.
        min_runners (int, default 0): idle runners kept waiting (0: scale to zero).
        max_runners (int, default 4): most runners at once, at least 1 and at least min_runners.
        gpus (int, default 0): GPUs of each runner; > 0 adds the GPU toleration and the `nvidia.com/gpu`
            limit and selects `gpu_node_selector` nodes.
        gpu_node_selector (dict[str, str], default {"mlplatform.io/gpu": "true"}): node labels a GPU
            runner needs (add `mlplatform.io/pool: <pool>` to pin one GPU pool).
        node_selector (dict[str, str], default {}): node labels of a CPU runner ({}: any node it
            tolerates, which excludes tainted GPU nodes).
        tolerations (list[dict], default []): extra tolerations (for example the CPU batch pool's).
        image (str, default versions.RUNNER_IMAGE): runner image; it must run `/home/runner/run.sh` as
            uid 1001 like the official one.
        resources (dict | None, default None): runner container resources; None: CPU_RUNNER_RESOURCES
            or GPU_RUNNER_RESOURCES. The GPU limit is added either way.
        labels (dict[str, str], default {}): extra labels on the runner pods (for example a team).
        helm_values (dict | None, default None): your own gha-runner-scale-set values, deep-merged over
            the computed ones; keys the component owns (githubConfigSecret, githubConfigUrl,
            controllerServiceAccount, GPU tolerations) are refused (components/helm_values.OWNED).
    """

    github_config_url: str
    github_config_secret: str
    service_account: str
    namespace: str = RUNNER_NAMESPACE
    controller_namespace: str = CONTROLLER_NAMESPACE
    controller_service_account: str = CONTROLLER_SERVICE_ACCOUNT
    min_runners: int = 0
    max_runners: int = 4
    gpus: int = 0
    gpu_node_selector: dict[str, str] = field(default_factory=lambda: {GPU_LABEL: "true"})
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    image: str = versions.RUNNER_IMAGE
    resources: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    helm_values: dict[str, Any] | None = None


@dataclass
class CiRunnersArgs:
    """Inputs of `CiRunners`.

    Fields:
        github_config_url (str, required): where runners register (see ScaleSetArgs.github_config_url).
        registry (ArtifactRegistry, required): the runners' IRSA role may push to all its ECR
            repositories and read/write its bucket's `mlflow_prefix`.
        cluster (Cluster | ClusterRef | None, default None): the cluster the runners run on; its OIDC
            provider, issuer and Kubernetes provider fill the three fields below.
        oidc_provider_arn (Input[str] | None, default None): the cluster's IAM OIDC provider
            (`Cluster.oidc_provider_arn`); required without `cluster` (kept for existing programs).
        oidc_issuer_url (Input[str] | None, default None): the cluster's OIDC issuer
            (`Cluster.oidc_issuer_url`); required without `cluster`.
        k8s_provider (ProviderResource | None, default None): the cluster's Kubernetes provider
            (`Cluster.provider`); None: the ambient kubeconfig.
        github_app (GitHubAppCredentials | None, default None): credentials put into the Secret
            `github_secret`; None: no Secret is created and one of that name must exist in `namespace`.
        cpu (RunnerScale, default RunnerScale(min_runners=0, max_runners=4)): the CPU scale set `<name>-cpu`.
        gpu (RunnerScale | None, default RunnerScale(min_runners=0, max_runners=1)): the GPU scale set `<name>-gpu` (one GPU
            per runner); None: no GPU runners (a cluster without GPU nodes).
        gpu_node_selector (dict[str, str], default {"mlplatform.io/gpu": "true"}): GPU runners' node labels.
        cpu_node_selector (dict[str, str], default {}): CPU runners' node labels ({}: any untainted node).
        cpu_tolerations (list[dict], default []): CPU runners' extra tolerations (a tainted CPU pool's).
        namespace (str, default "arc-runners"): namespace of the scale sets and runner pods (created).
        controller_namespace (str, default "arc-systems"): namespace of the installed controller (created;
            ignored when adopting).
        existing_controller (ExistingController | None, default None): use this controller instead of
            installing one.
        github_secret (str, default "mlplatform-github-app"): name of the GitHub App Secret.
        image (str, default versions.RUNNER_IMAGE): runner image of both scale sets.
        mlflow_prefix (str, default "mlflow"): the bucket prefix of MLflow artifacts.
        tags (dict[str, str], default {}): extra tags on the AWS resources (the IAM role).
        helm_values (dict | None, default None): your own gha-runner-scale-set values for both scale
            sets (see ScaleSetArgs.helm_values).
        controller_helm_values (dict | None, default None): your own gha-runner-scale-set-controller
            values, deep-merged over the computed ones (refused when adopting a controller).
    """

    github_config_url: str
    registry: ArtifactRegistry
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer_url: pulumi.Input[str] | None = None
    k8s_provider: pulumi.ProviderResource | None = None
    github_app: GitHubAppCredentials | None = None
    cpu: RunnerScale = field(default_factory=lambda: RunnerScale(min_runners=0, max_runners=4))
    gpu: RunnerScale | None = field(default_factory=lambda: RunnerScale(min_runners=0, max_runners=1))
    gpu_node_selector: dict[str, str] = field(default_factory=lambda: {GPU_LABEL: "true"})
    cpu_node_selector: dict[str, str] = field(default_factory=dict)
    cpu_tolerations: list[dict[str, Any]] = field(default_factory=list)
    namespace: str = RUNNER_NAMESPACE
    controller_namespace: str = CONTROLLER_NAMESPACE
    existing_controller: ExistingController | None = None
    github_secret: str = GITHUB_SECRET
    image: str = versions.RUNNER_IMAGE
    mlflow_prefix: str = MLFLOW_PREFIX
    tags: dict[str, str] = field(default_factory=dict)
    helm_values: dict[str, Any] | None = None
    controller_helm_values: dict[str, Any] | None = None
    cluster: ClusterLike | None = None


# -- validation ---------------------------------------------------------------------------------
def _whole(field_name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field_name, f"must be a whole number, got {value!r}", "use 0 or more")
    return value


def _check_scale(at: str, min_runners: Any, max_runners: Any) -> None:
    low, high = _whole(f"{at}.min_runners", min_runners), _whole(f"{at}.max_runners", max_runners)
    if low < 0:
        raise ValidationError(f"{at}.min_runners", f"{low} is negative", "use 0 (scale to zero) or more")
    if high < 1:
        raise ValidationError(
            f"{at}.max_runners",
            f"{high} lets the scale set start no runner",
            "use 1 or more, or leave the scale set out",
        )
    if high < low:
        raise ValidationError(
            f"{at}.max_runners", f"{high} is less than min_runners {low}", "raise max_runners or lower min_runners"
        )


def _check_name(field_name: str, value: Any, pattern: re.Pattern[str], what: str, limit: int = 63) -> None:
    if not isinstance(value, str) or not pattern.match(value) or len(value) > limit:
        raise ValidationError(
            field_name,
            f"{value!r} is not a {what}",
            f"use lowercase letters, digits and '-', at most {limit} characters",
        )


def _check_labels(field_name: str, value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError(
            field_name,
            f"must map label names to text values, got {value!r}",
            'write it like {"mlplatform.io/pool": "gpu"}',
        )


def _check_github_url(field_name: str, url: Any) -> None:
    if not isinstance(url, str) or not _GITHUB_URL.match(url):
        raise ValidationError(
            field_name,
            f"{url!r} is not a GitHub organization, repository or enterprise URL",
            "use https://github.com/<org>, https://github.com/<org>/<repo> or "
            "https://github.com/enterprises/<enterprise>",
        )


def validate_scale_set(name: str, args: ScaleSetArgs, at: str = "scale_set") -> None:
    """Refuse a scale set that cannot work, naming the field (`at.<field>`) and the fix."""
    _check_name(f"{at}.name", name, DNS_LABEL, "scale set name (it is the runs-on label)", MAX_SCALE_SET_NAME)
    _check_github_url(f"{at}.github_config_url", args.github_config_url)
    _check_name(f"{at}.github_config_secret", args.github_config_secret, _DNS_SUBDOMAIN, "Secret name", 253)
    _check_name(f"{at}.service_account", args.service_account, _DNS_SUBDOMAIN, "service account name", 253)
    _check_name(f"{at}.namespace", args.namespace, DNS_LABEL, "namespace name")
    _check_name(f"{at}.controller_namespace", args.controller_namespace, DNS_LABEL, "namespace name")
    _check_name(
        f"{at}.controller_service_account", args.controller_service_account, _DNS_SUBDOMAIN, "service account name", 253
    )
    _check_scale(at, args.min_runners, args.max_runners)
    check_user_values(SCALE_SET_CHART, args.helm_values, f"{at}.helm_values")
    gpus = _whole(f"{at}.gpus", args.gpus)
    if gpus < 0:
        raise ValidationError(f"{at}.gpus", f"{gpus} is negative", "use 0 for a CPU runner or 1 or more GPUs")
    _check_labels(f"{at}.gpu_node_selector", args.gpu_node_selector)
    _check_labels(f"{at}.node_selector", args.node_selector)
    _check_labels(f"{at}.labels", args.labels)
    if gpus and not args.gpu_node_selector:
        raise ValidationError(
            f"{at}.gpu_node_selector",
            "is empty for a GPU runner",
            f'select the GPU nodes, for example {{"{GPU_LABEL}": "true"}}',
        )
    if not isinstance(args.tolerations, list) or not all(isinstance(t, dict) for t in args.tolerations):
        raise ValidationError(
            f"{at}.tolerations",
            f"must be a list of tolerations, got {args.tolerations!r}",
            'write it like [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]',
        )
    if not isinstance(args.image, str) or not args.image or any(c.isspace() for c in args.image):
        raise ValidationError(
            f"{at}.image",
            f"{args.image!r} is not an image reference",
            "use registry/repository:tag (or @sha256:digest)",
        )
    if args.resources is not None and not isinstance(args.resources, dict):
        raise ValidationError(
            f"{at}.resources",
            f"must be a mapping, got {args.resources!r}",
            'write it like {"requests": {"cpu": "1"}, "limits": {"memory": "4Gi"}}',
        )


def _validate(name: str, args: CiRunnersArgs) -> None:
    _check_name("name", name, DNS_LABEL, "component name (it prefixes the runs-on labels)", MAX_NAME_LENGTH)
    if not isinstance(args.registry, ArtifactRegistry):
        raise ValidationError(
            "registry",
            f"must be an ArtifactRegistry, got {type(args.registry).__name__}",
            "pass the ArtifactRegistry the runners push images and models to",
        )
    for fname in ("oidc_provider_arn", "oidc_issuer_url"):
        if getattr(args, fname) is None:
            raise ValidationError(fname, "required for the runners' IAM role", f"pass the Cluster's {fname}")
    _check_github_url("github_config_url", args.github_config_url)
    check_user_values(CONTROLLER_CHART, args.controller_helm_values, "controller_helm_values")
    if args.existing_controller is not None and args.controller_helm_values:
        raise ValidationError(
            "controller_helm_values",
            "the adopted runner controller is not installed by this component",
            "set its values where that controller is managed, or drop them",
        )
    if not isinstance(args.cpu, RunnerScale):
        raise ValidationError(
            "cpu", f"must be a RunnerScale, got {args.cpu!r}", "pass RunnerScale(min_runners, max_runners)"
        )
    _check_scale("cpu", args.cpu.min_runners, args.cpu.max_runners)
    if args.gpu is not None:
        if not isinstance(args.gpu, RunnerScale):
            raise ValidationError(
                "gpu",
                f"must be a RunnerScale or None, got {args.gpu!r}",
                "pass RunnerScale(min_runners, max_runners), or None for no GPU runners",
            )
        _check_scale("gpu", args.gpu.min_runners, args.gpu.max_runners)
    _check_labels("gpu_node_selector", args.gpu_node_selector)
    _check_labels("cpu_node_selector", args.cpu_node_selector)
    _check_name("namespace", args.namespace, DNS_LABEL, "namespace name")
    _check_name("github_secret", args.github_secret, _DNS_SUBDOMAIN, "Secret name", 253)
    e = args.existing_controller
    if e is not None:
        _check_name("existing_controller.namespace", e.namespace, DNS_LABEL, "namespace name")
        _check_name(
            "existing_controller.service_account", e.service_account, _DNS_SUBDOMAIN, "service account name", 253
        )
    else:
        _check_name("controller_namespace", args.controller_namespace, DNS_LABEL, "namespace name")
        if args.controller_namespace == args.namespace:
            raise ValidationError(
                "namespace",
                f"{args.namespace!r} is also the controller's namespace",
                "keep runners apart from the controller (ARC's recommendation): use arc-runners",
            )
    if not isinstance(args.mlflow_prefix, str) or not args.mlflow_prefix.strip("/") or "*" in args.mlflow_prefix:
        raise ValidationError(
            "mlflow_prefix", f"{args.mlflow_prefix!r} is not an S3 key prefix", "use for example mlflow"
        )
    a = args.github_app
    if a is not None and not isinstance(a, GitHubAppCredentials):
        raise ValidationError(
            "github_app",
            f"must be GitHubAppCredentials, got {type(a).__name__}",
            "pass github_app_from_config(), or None to use a Secret that already exists",
        )


# One listener pod per scale set runs all the time (it long-polls GitHub for jobs): small, but requested.
LISTENER_RESOURCES = {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}


# -- Helm values (pure functions: the tests read them too) --------------------------------------
def controller_values() -> dict[str, Any]:
    """gha-runner-scale-set-controller values: system nodes, non-root, listener metrics on."""
    return {
        "replicaCount": 1,
        "serviceAccount": {"create": True, "name": CONTROLLER_SERVICE_ACCOUNT},
        "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        # Every listener pod serves the gha_* metrics on this port, named `metrics` (Monitoring scrapes it).
        "metrics": {
            "controllerManagerAddr": METRICS_PORT,
            "listenerAddr": METRICS_PORT,
            "listenerEndpoint": METRICS_PATH,
        },
        "flags": {"logLevel": "info", "logFormat": "json"},
    }


def runner_pod_template(args: ScaleSetArgs) -> dict[str, Any]:
    """The runner pods' template: non-root, no token, kept on their node while they live."""
    resources = {
        k: dict(v) for k, v in (args.resources or (GPU_RUNNER_RESOURCES if args.gpus else CPU_RUNNER_RESOURCES)).items()
    }
    tolerations = [dict(t) for t in args.tolerations]
    node_selector = dict(args.node_selector)
    if args.gpus:
        resources.setdefault("requests", {})[GPU_RESOURCE] = str(args.gpus)
        resources.setdefault("limits", {})[GPU_RESOURCE] = str(args.gpus)
        tolerations.append(dict(GPU_TOLERATION))
        node_selector.update(args.gpu_node_selector)
    spec: dict[str, Any] = {
        "serviceAccountName": args.service_account,
        # The IRSA webhook mounts its own token; jobs get no Kubernetes API credentials.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "runner",
                "image": args.image,
                "command": ["/home/runner/run.sh"],
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUNNER_UID,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": resources,
            }
        ],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    return {
        "metadata": {"labels": {**PART_OF, **args.labels}, "annotations": dict(KEEP_NODE_ANNOTATIONS)},
        "spec": spec,
    }


def scale_set_values(name: str, args: ScaleSetArgs) -> dict[str, Any]:
    """gha-runner-scale-set values: the name is the runs-on label; credentials only by Secret name."""
    return {
        "githubConfigUrl": args.github_config_url,
        "githubConfigSecret": args.github_config_secret,
        "runnerScaleSetName": name,
        "minRunners": args.min_runners,
        "maxRunners": args.max_runners,
        "controllerServiceAccount": {"namespace": args.controller_namespace, "name": args.controller_service_account},
        # The listener pod runs in the controller's namespace; keep it on the system nodes, non-root.
        "listenerTemplate": {
            "spec": {
                "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "listener",
                        "resources": LISTENER_RESOURCES,
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True,
                        },
                    }
                ],
            }
        },
        "template": runner_pod_template(args),
    }


def runner_scale_set(
    parent: pulumi.Resource,
    name: str,
    args: ScaleSetArgs,
    provider: pulumi.ProviderResource | None,
    depends_on: Sequence[pulumi.Resource] = (),
    at: str = "scale_set",
) -> k8s.helm.v3.Release:
    """One runner scale set (a pinned `gha-runner-scale-set` Helm release named `name`).

    `name` is the Helm release, the scale set and the `runs-on:` label at once. Validated first
    (ValidationError naming `at.<field>`). The namespace, service account and Secret named in `args`
    must exist (pass them in `depends_on`), and the controller must run. A team's runner set
    (TeamSpace) is `runner_scale_set(self, "<team>", ScaleSetArgs(..., service_account=<team SA>,
    labels={team label}), provider)` reusing CiRunners' namespace, controller and Secret; in another
    namespace, make the Secret there with `github_app_secret(...)` first.
    """
    validate_scale_set(name, args, at)
    return helm_release(
        parent,
        name,
        SCALE_SET_CHART,
        args.namespace,
        with_user_values(SCALE_SET_CHART, scale_set_values(name, args), args.helm_values),
        provider,
        create_namespace=False,
        depends_on=depends_on,
    )


def github_app_secret(
    parent: pulumi.Resource,
    name: str,
    namespace: str,
    secret_name: str,
    credentials: GitHubAppCredentials,
    provider: pulumi.ProviderResource | None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.core.v1.Secret:
    """The Secret a scale set's `githubConfigSecret` names, in `namespace`; values stay Pulumi secrets."""
    return k8s.core.v1.Secret(
        name,
        metadata={"name": secret_name, "namespace": namespace, "labels": PART_OF},
        type="Opaque",
        string_data={
            "github_app_id": pulumi.Output.secret(credentials.app_id),
            "github_app_installation_id": pulumi.Output.secret(credentials.installation_id),
            "github_app_private_key": pulumi.Output.secret(credentials.private_key),
        },
        opts=child(parent, provider=provider, depends_on=list(depends_on)),
    )


def scale_set_names(name: str, gpu: bool = True) -> dict[str, str]:
    """The runs-on labels of a CiRunners named `name`: {"cpu": "<name>-cpu", "gpu": "<name>-gpu"}."""
    return {"cpu": f"{name}-cpu", **({"gpu": f"{name}-gpu"} if gpu else {})}


class CiRunners(pulumi.ComponentResource):
    """Actions Runner Controller (installed or adopted) + CPU and GPU runner scale sets, scale to zero.

    Outputs: role_arn (IAM role of the runner pods), runner_labels (kind -> runs-on label). Attributes:
    namespace (of the runners), service_account (of the runner pods), github_secret (name of the Secret
    the scale sets read), github_secret_created (False when it must be made elsewhere),
    controller_namespace and controller_service_account (for more scale sets, `runner_scale_set`).
    """

    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    runner_labels: dict[str, str]
    namespace: str
    service_account: str
    github_secret: str
    github_secret_created: bool
    controller_namespace: str
    controller_service_account: str

    def __init__(self, name: str, args: CiRunnersArgs, opts: pulumi.ResourceOptions | None = None):
        args = resolve_cluster(args)
        _validate(name, args)
        labels = scale_set_names(name, gpu=args.gpu is not None)
        e = args.existing_controller
        controller_ns = e.namespace if e else args.controller_namespace
        controller_sa = e.service_account if e else CONTROLLER_SERVICE_ACCOUNT
        sets = {kind: _scale_set_args(kind, args, controller_ns, controller_sa) for kind in labels}
        for kind, label in labels.items():  # every scale set is valid before anything is created
            validate_scale_set(label, sets[kind], kind)
        super().__init__("mlplatform:ci:CiRunners", name, None, opts)
        self.controller_namespace, self.controller_service_account = controller_ns, controller_sa
        self.namespace, self.service_account = args.namespace, RUNNER_SERVICE_ACCOUNT
        self.github_secret, self.github_secret_created = args.github_secret, args.github_app is not None
        provider = args.k8s_provider

        policies = {}
        if args.registry.repository_arns:
            policies[f"{name}-runners-ecr"] = args.registry.ecr_push_policy(sorted(args.registry.repository_arns))
        policies[f"{name}-runners-mlflow"] = args.registry.prefix_policy(args.mlflow_prefix.strip("/"))
        irsa = irsa_role(
            self,
            f"{name}-runners",
            args.oidc_provider_arn,
            args.oidc_issuer_url,
            [(args.namespace, RUNNER_SERVICE_ACCOUNT)],
            policies=policies,
            tags=tags(name, args.tags),
            description=f"CI runners of {name} (IRSA: {args.namespace}/{RUNNER_SERVICE_ACCOUNT})",
        )
        role = irsa.role
        self.role_arn = role.arn
        self.role_name = role.name  # other components attach their policies to it (the evidence writer)

        controller: list[pulumi.Resource] = []
        if e is None:
            arc_ns = namespace(
                self,
                f"{name}-arc-systems",
                args.controller_namespace,
                provider,
                enforce="baseline",
                audit="restricted",
                warn="restricted",
            )
            controller.append(
                helm_release(
                    self,
                    f"{name}-arc",
                    CONTROLLER_CHART,
                    args.controller_namespace,
                    with_user_values(
                        CONTROLLER_CHART, controller_values(), args.controller_helm_values, "controller_helm_values"
                    ),
                    provider,
                    create_namespace=False,
                    depends_on=[arc_ns],
                )
            )
        runner_ns = namespace(
            self,
            f"{name}-arc-runners",
            args.namespace,
            provider,
            enforce="restricted",
            audit="restricted",
            warn="restricted",
        )
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-runner",
            metadata={
                "name": RUNNER_SERVICE_ACCOUNT,
                "namespace": args.namespace,
                "labels": PART_OF,
                "annotations": {IRSA_ANNOTATION: role.arn},
            },
            automount_service_account_token=False,
            opts=child(self, provider=provider, depends_on=[runner_ns]),
        )
        before: list[pulumi.Resource] = [*controller, runner_ns, sa, *irsa.policies]
        if args.github_app is not None:
            before.append(
                github_app_secret(
                    self,
                    f"{name}-github-app",
                    args.namespace,
                    args.github_secret,
                    args.github_app,
                    provider,
                    depends_on=[runner_ns],
                )
            )
        for kind, label in labels.items():
            runner_scale_set(self, label, sets[kind], provider, depends_on=before, at=kind)

        self.runner_labels = labels
        self.register_outputs({"role_arn": self.role_arn, "runner_labels": self.runner_labels})


def _scale_set_args(
    kind: str, args: CiRunnersArgs, controller_namespace: str, controller_service_account: str
) -> ScaleSetArgs:
    """The ScaleSetArgs of CiRunners' `cpu` or `gpu` scale set."""
    scale = args.cpu if kind == "cpu" else args.gpu
    assert scale is not None
    common: dict[str, Any] = dict(
        github_config_url=args.github_config_url,
        github_config_secret=args.github_secret,
        service_account=RUNNER_SERVICE_ACCOUNT,
        namespace=args.namespace,
        controller_namespace=controller_namespace,
        controller_service_account=controller_service_account,
        min_runners=scale.min_runners,
        max_runners=scale.max_runners,
        image=args.image,
        helm_values=args.helm_values,
    )
    if kind == "gpu":
        return ScaleSetArgs(**common, gpus=1, gpu_node_selector=dict(args.gpu_node_selector))
    return ScaleSetArgs(**common, node_selector=dict(args.cpu_node_selector), tolerations=list(args.cpu_tolerations))

"""`mlplatform serve render`: a released model as the Kubernetes objects that serve it.

Desired state lives in git: `models/<name>/release.yaml` (written by train-evaluate.yml, merged =
approved; stacks/project/promotion.py) says WHICH model (version, digest, OCI reference), the stack's
`serving.models.<name>` says HOW (runtime, replicas, resources, GPU, analysis). `render` turns them into,
per environment (namespace `serving-<environment>`):

* a `Rollout` (argoproj.io/v1alpha1): canary with ALB traffic routing through the AWS Load Balancer
  Controller, `pingPong` Services so no Service selector changes at the final switch (the 503 of
  argo-rollouts#2864), no `dynamicStableScale` (#4595: the stable pods stay at full size until the
  canary has all traffic), steps `setWeight w` -> analysis for each `serving.canary_weights` w, then
  100 %; the analyses are analysis.py's ClusterAnalysisTemplates; the model pinned `@sha256:`; pod
  labels `mlplatform.io/model` / `mlplatform.io/environment` and annotation `mlplatform.io/model-digest`
  (the observer reads them, stacks/evidence/observer.py); `progressDeadlineAbort` so a stuck rollout
  aborts back to stable instead of hanging;
* Services `<model>-ping`, `<model>-pong` (the two sides) and `<model>` (the root the ALB action names);
* an internal ALB `Ingress` (IP targets, HTTP 80 inside the VPC) whose rule points at the root Service
  with `use-annotation`: Argo Rollouts writes the weighted forward action;
* a `PodMonitor` copying the model, environment and pod-template-hash pod labels onto every series
  (the analysis queries select the canary by them), labelled for the stack's Prometheus;
* a `PodDisruptionBudget` (one pod at a time: a node drain never takes the model down).

The model reaches the server as a modelcar: the released OCI image holds the model under `/models`; an
init container of that image copies it to `/mnt/models`, which the runtime's server loads (`image`: the
released image IS the server). Every container runs non-root, no privilege escalation, all capabilities
dropped, RuntimeDefault seccomp, read-only root filesystem (the restricted Pod Security level).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlplatform.components.conventions import (
    ENVIRONMENT_LABEL,
    MODEL_DIGEST_ANNOTATION,
    MODEL_LABEL,
    PART_OF,
    PREDICTION_LOG_CONFIG,
    RESTRICTED_CONTAINER,
    model_service_account,
    serving_namespace,
)
from mlplatform.components.serving.analysis import (
    POD_TARGET_LABELS,
    POD_TEMPLATE_HASH_LABEL,
    analysis_args,
    analysis_templates_for,
)
from mlplatform.components.serving.args import ServedModel, ServingSettings
from mlplatform.components.serving.placement import effective, resources, scheduling
from mlplatform.components.versions import SERVING_MLSERVER_TAG, VLLM_IMAGE

from ..config.spec import SpecError, StackSpec
from .promotion import read_release, release_path

ROLLOUT_API = "argoproj.io/v1alpha1"
VERSION_LABEL = "mlplatform.io/version"
MODEL_DIR = "/mnt/models"  # where the server finds the model
MODELCAR_DIR = "/models"  # where the modelcar image holds it
MODELCAR_CONTAINER = "model"  # the init container that runs the modelcar image (mlflow, vllm)
SERVER_CONTAINER = "server"  # the server; for the `image` runtime it is the released image itself
SERVICE_PORT = 80
PROGRESS_DEADLINE_SECONDS = 900  # a canary that makes no progress this long aborts back to stable
INIT_RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
CONTAINER_SECURITY = {**RESTRICTED_CONTAINER, "runAsNonRoot": True}


@dataclass(frozen=True)
class Runtime:
    """How one runtime serves: its port (named `http`), where it answers health and metrics."""

    port: int
    health: str  # readiness path, also the ALB's health check
    metrics_port: str  # the container port name Prometheus scrapes `/metrics` on
    run_as_user: int | None  # the image's user when it has none of its own (None: the image decides)


RUNTIMES: dict[str, Runtime] = {
    # MLServer 1.7 with mlserver-mlflow: REST (V2 inference protocol) on 8080, metrics on 8082.
    "mlflow": Runtime(8080, "/v2/health/ready", "metrics", 1000),
    # vLLM's OpenAI-compatible server: API, /health and /metrics on one port.
    "vllm": Runtime(8000, "/health", "http", 1000),
    # A team's own server: `port` serves the API and `/metrics` (the model_* convention).
    "image": Runtime(8080, "/metrics", "http", None),
}


@dataclass(frozen=True)
class Release:
    """The model version to serve: what the merged release file (or an earlier approved one) names."""

    model: str
    version: str
    digest: str
    reference: str  # <repository>@<digest>: the modelcar (or server) image

    @property
    def repository(self) -> str:
        return self.reference.rsplit("@", 1)[0]

    def at(self, version: str, digest: str) -> Release:
        """The same model, another approved version in the same repository."""
        return Release(self.model, str(version), digest, f"{self.repository}@{digest}")


def release_from_text(text: str, where: str) -> Release:
    """The release a release file names, checked: the reference must pin the digest it states."""
    doc = read_release(text, where)
    cand = doc["candidate"]
    reference = str(cand.get("reference") or "")
    if not reference.endswith(f"@{cand['digest']}"):
        raise SpecError(
            f"{where}: candidate.reference",
            f"{reference!r} does not pin {cand['digest']}",
            "restore the file the workflow wrote (<repository>@<digest>)",
        )
    return Release(str(doc["model"]), str(cand["version"]), str(cand["digest"]), reference)


def read_release_file(model: str, root: str | Path = ".") -> Release:
    """`models/<model>/release.yaml` under `root` (the repository checkout)."""
    path = Path(root) / release_path(model)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            release_path(model),
            f"there is no release of {model!r} in {Path(root).resolve()}",
            "merge the model's release pull request first, or run from the repository root (--dir)",
        ) from None
    return release_from_text(text, release_path(model))


def served_model(spec: StackSpec, model: str) -> ServedModel:
    """`serving.models.<model>`, refused with the fix when serving is off or the model is not listed."""
    if not spec.serving.enabled:
        raise SpecError("serving.enabled", "is false: the stack serves no model", "set serving.enabled: true")
    if model not in spec.serving.models:
        listed = ", ".join(sorted(spec.serving.models)) or "none"
        raise SpecError(
            f"serving.models.{model}",
            f"is not in the stack's config (served: {listed})",
            f"add serving.models.{model}: {{runtime: mlflow}} to the stack config",
        )
    return spec.serving.models[model]


def _labels(model: str, environment: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": model, MODEL_LABEL: model, ENVIRONMENT_LABEL: environment}


def images_repository(spec: StackSpec, stack: str, release: Release) -> str:
    """The stack's `images` ECR repository (where the platform's MLServer image is pushed): the adopted
    one's URL, else the models repository's registry host + `<prefix>/<stack>/images`."""
    r = spec.registry
    if r.existing and "images" in r.existing.repository_urls:
        return r.existing.repository_urls["images"]
    host = release.repository.split("/", 1)[0]
    return f"{host}/{r.repository_prefix}/{stack}/images"


def logs_predictions(m: ServedModel) -> bool:
    """The `mlflow` runtime's hook writes the prediction log (ModelServing makes the model's service account
    and role for the same models: components/serving/component.logged_models)."""
    return m.runtime == "mlflow" and m.log_sample > 0


def prediction_log_env(release: Release, m: ServedModel) -> list[dict[str, Any]]:
    """What the prediction-log hook reads (components/serving/prediction_hook.py): the bucket and region from
    the namespace's ConfigMap (a stack output: the bucket's name may be generated), the rest from the spec."""
    if not logs_predictions(m):
        return []
    prefix = "MLPLATFORM_PREDICTION_LOG_"

    def from_config(key: str) -> dict[str, Any]:
        return {"valueFrom": {"configMapKeyRef": {"name": PREDICTION_LOG_CONFIG, "key": key}}}

    return [
        {"name": f"{prefix}BUCKET", **from_config("bucket")},
        {"name": "AWS_REGION", **from_config("region")},
        {"name": f"{prefix}MODEL", "value": release.model},
        {"name": f"{prefix}DIGEST", "value": release.digest},
        {"name": f"{prefix}SAMPLE", "value": repr(m.log_sample)},
        {"name": f"{prefix}DROP_FIELDS", "value": ",".join(m.drop_fields)},
    ]


def _container(release: Release, m: ServedModel, rt: Runtime, images: str) -> dict[str, Any]:
    port = m.port if m.runtime == "image" else rt.port
    ports = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}]
    if m.runtime == "mlflow":
        # The platform's MLServer image (stacks/templates/serving/mlserver.Dockerfile), pushed to the stack's
        # `images` repository under an immutable tag; it finds `<model>/model-settings.json` (the modelcar
        # layout, stacks/project/modelcar.py) under the folder it starts on.
        image = f"{images}:{SERVING_MLSERVER_TAG}"
        command = ["mlserver", "start", MODEL_DIR]
        ports.append({"name": "metrics", "containerPort": 8082, "protocol": "TCP"})
        env += [
            {"name": "MLSERVER_HTTP_PORT", "value": str(port)},
            {"name": "MLSERVER_GRPC_PORT", "value": "8081"},
            {"name": "MLSERVER_METRICS_PORT", "value": "8082"},
            *prediction_log_env(release, m),
        ]
    elif m.runtime == "vllm":
        image = VLLM_IMAGE
        command = [
            "vllm",
            "serve",
            f"{MODEL_DIR}/{release.model}",
            "--served-model-name",
            release.model,
            "--port",
            str(port),
        ]
        env += [{"name": "HF_HUB_OFFLINE", "value": "1"}]
    else:
        image, command = release.reference, []
    container: dict[str, Any] = {
        "name": SERVER_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": ports,
        "env": env,
        "resources": resources(m),
        "readinessProbe": {"httpGet": {"path": rt.health, "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "initialDelaySeconds": 60 if m.runtime == "vllm" else 15,
            "periodSeconds": 20,
        },
        "securityContext": dict(CONTAINER_SECURITY),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if command:
        container["command"] = command
    if m.runtime != "image":
        container["volumeMounts"].append({"name": "model", "mountPath": MODEL_DIR, "readOnly": True})
    if m.runtime == "vllm":
        container["volumeMounts"].append({"name": "dshm", "mountPath": "/dev/shm"})
    return container


def pod_template(
    release: Release,
    m: ServedModel,
    environment: str,
    settings: ServingSettings,
    gpu_pool: str | None,
    images: str,
    cpu_batch_pool: bool = False,
) -> dict[str, Any]:
    """The Rollout's pod template."""
    rt = RUNTIMES[m.runtime]
    security: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if rt.run_as_user is not None:
        security.update({"runAsUser": rt.run_as_user, "runAsGroup": rt.run_as_user, "fsGroup": rt.run_as_user})
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": security,
        **scheduling(m, effective(settings.placement, cpu_batch_pool), gpu_pool),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": _labels(release.model, environment)},
            }
        ],
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(release, m, rt, images)],
        "volumes": volumes,
    }
    if logs_predictions(m):  # its IRSA role may put the prediction log under predictions/<model>/ only
        spec["serviceAccountName"] = model_service_account(release.model)
    if m.runtime != "image":
        # The modelcar: its own image, pulled by digest with the node's ECR rights, copies the model out.
        spec["initContainers"] = [
            {
                "name": MODELCAR_CONTAINER,
                "image": release.reference,
                "command": ["cp", "-R", f"{MODELCAR_DIR}/.", MODEL_DIR],
                "resources": INIT_RESOURCES,
                "securityContext": dict(CONTAINER_SECURITY),
                "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR}],
            }
        ]
        volumes.append({"name": "model", "emptyDir": {}})
    if m.runtime == "vllm":
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}})
    return {
        "metadata": {
            "labels": {**_labels(release.model, environment), VERSION_LABEL: release.version},
            "annotations": {MODEL_DIGEST_ANNOTATION: release.digest},
        },
        "spec": spec,
    }


def canary_steps(release: Release, m: ServedModel, environment: str, weights: list[int]) -> list[dict[str, Any]]:
    """`setWeight w` then the analysis, for each weight; then all traffic."""
    analysis = {
        "templates": analysis_templates_for(m.runtime, m.model_metric),
        "args": analysis_args(m.runtime, release.model, environment, m.analysis.template_args()),
    }
    steps: list[dict[str, Any]] = []
    for w in weights:
        steps += [{"setWeight": w}, {"analysis": analysis}]
    return [*steps, {"setWeight": 100}]


def render_environment(
    release: Release,
    m: ServedModel,
    environment: str,
    settings: ServingSettings,
    gpu_pool: str | None,
    monitoring_release: str,
    images: str,
    cpu_batch_pool: bool = False,
) -> list[dict[str, Any]]:
    """The objects that serve `release` in one environment, in apply order."""
    name, ns = release.model, serving_namespace(environment)
    labels = {**PART_OF, **_labels(name, environment)}
    rt = RUNTIMES[m.runtime]

    def meta(obj_name: str, **extra: Any) -> dict[str, Any]:
        return {"name": obj_name, "namespace": ns, "labels": dict(labels), **extra}

    def service(obj_name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(obj_name),
            "spec": {
                "type": "ClusterIP",
                "selector": _labels(name, environment),
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        }

    ping, pong, root = f"{name}-ping", f"{name}-pong", name
    ingress_annotations = {
        "alb.ingress.kubernetes.io/scheme": "internal",
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}]',
        "alb.ingress.kubernetes.io/healthcheck-path": rt.health,
        "alb.ingress.kubernetes.io/tags": f"mlplatform:managed-by=mlplatform,mlplatform:model={name}",
    }
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": root, "port": {"name": "use-annotation"}}},
                }
            ]
        }
    }
    if m.host:
        rule["host"] = m.host
    rollout: dict[str, Any] = {
        "apiVersion": ROLLOUT_API,
        "kind": "Rollout",
        "metadata": {
            **meta(name, annotations={MODEL_DIGEST_ANNOTATION: release.digest}),
            "labels": {**labels, VERSION_LABEL: release.version},
        },
        "spec": {
            "replicas": m.replicas,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "progressDeadlineAbort": True,
            "selector": {"matchLabels": _labels(name, environment)},
            "template": pod_template(release, m, environment, settings, gpu_pool, images, cpu_batch_pool),
            "strategy": {
                "canary": {
                    "pingPong": {"pingService": ping, "pongService": pong},
                    "trafficRouting": {"alb": {"ingress": name, "rootService": root, "servicePort": SERVICE_PORT}},
                    "maxSurge": "25%",
                    "maxUnavailable": 0,
                    "steps": canary_steps(release, m, environment, settings.canary_weights),
                }
            },
        },
    }
    return [
        service(root),
        service(ping),
        service(pong),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta(name, annotations=ingress_annotations),
            "spec": {"ingressClassName": "alb", "rules": [rule]},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": {**meta(name), "labels": {**labels, "release": monitoring_release}},
            "spec": {
                "selector": {"matchLabels": _labels(name, environment)},
                "podTargetLabels": list(POD_TARGET_LABELS),
                "podMetricsEndpoints": [{"port": rt.metrics_port, "path": "/metrics", "interval": "30s"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(name),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(name, environment)}},
        },
        rollout,
    ]


def render(
    spec: StackSpec, stack: str, release: Release, environments: list[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """environment -> the objects serving `release` there (every environment of the stack by default)."""
    from ..program import cpu_batch_pool, monitoring_release, serving_gpu_pool

    m = served_model(spec, release.model)
    envs = environments or list(spec.serving.environments)
    for e in envs:
        if e not in spec.serving.environments:
            raise SpecError(
                "--environment",
                f"{e!r} is not an environment of this stack ({', '.join(spec.serving.environments)})",
                "pick one of serving.environments",
            )
    mon = spec.monitoring.existing.release if spec.monitoring.existing else monitoring_release(stack)
    images = images_repository(spec, stack, release)
    batch = cpu_batch_pool(spec)
    return {
        e: render_environment(release, m, e, spec.serving, serving_gpu_pool(spec), mon, images, batch) for e in envs
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # plain YAML for kubectl and reviewers: no &anchors
        return True


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """Objects as one multi-document YAML stream (`kubectl apply -f -`), keys sorted: same input, same bytes."""
    return "".join("---\n" + yaml.dump(o, Dumper=_Dumper, sort_keys=True, width=120) for o in objects)


def released_models(spec: StackSpec, root: str | Path = ".") -> list[str]:
    """The stack's served models that have a release file under `root`."""
    return [m for m in sorted(spec.serving.models) if (Path(root) / release_path(m)).is_file()]


def render_files(
    spec: StackSpec, stack: str, models: list[str], root: str | Path = ".", environments: list[str] | None = None
) -> dict[str, str]:
    """`<environment>/<model>.yaml` -> the YAML that serves it, for each model's release under `root`."""
    out: dict[str, str] = {}
    for model in models:
        if not MODEL_ARG.match(model):
            raise SpecError("--model", f"{model!r} is not a served model name", "use the serving.models key")
        for env, objects in render(spec, stack, read_release_file(model, root), environments).items():
            out[f"{env}/{model}.yaml"] = to_yaml(objects)
    return out


MODEL_ARG = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


@dataclass(frozen=True)
class SmokeResult:
    url: str
    status: int | None  # the HTTP status; None: no answer
    detail: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def smoke_request(m: ServedModel, model: str, environment: str) -> tuple[str, str, bytes | None]:
    """(method, in-cluster URL, body) of the smoke request: through the model's root Service, so it
    reaches what the ALB would."""
    base = f"http://{model}.{serving_namespace(environment)}.svc.cluster.local:{SERVICE_PORT}"
    if m.smoke is None:
        return "GET", base + RUNTIMES[m.runtime].health, None
    import json

    return "POST", base + m.smoke.path, json.dumps(m.smoke.body).encode()


def smoke(
    m: ServedModel, model: str, environment: str, requests: int = 5, timeout: float = 10.0, base: str | None = None
) -> list[SmokeResult]:
    """Send the smoke request `requests` times (`base` replaces the Service URL's scheme://host:port)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    method, url, body = smoke_request(m, model, environment)
    if base is not None:
        url = base.rstrip("/") + urllib.parse.urlsplit(url).path
    out = []
    for _ in range(requests):
        req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                out.append(SmokeResult(url, r.status, ""))
        except urllib.error.HTTPError as e:
            out.append(SmokeResult(url, e.code, e.read().decode(errors="replace")[:200]))
        except (urllib.error.URLError, OSError) as e:
            out.append(SmokeResult(url, None, str(getattr(e, "reason", e))))
    return out


# -- what the stable pods really run (serve status) ----------------------------------------------------
_IMAGE_ID_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


def model_selector(model: str) -> str:
    """The label selector of a served model's pods (every environment's namespace has its own)."""
    return f"{MODEL_LABEL}={model}"


def stable_pod_digests(rollout: dict[str, Any], pod_list: dict[str, Any]) -> dict[str, Any]:
    """What the stable pods of `rollout` really run, from a PodList of the model's pods (the API's, or
    `kubectl get pods -l mlplatform.io/model=NAME -o json`): the digest the kubelet pulled for the
    container that holds the model (`imageID`, `<repository>@sha256:...`, in the pod's status) — the
    modelcar init container (MODELCAR_CONTAINER), or the server container when the released image is the
    server (`image` runtime). The stable pods are those of the Rollout's `status.stableRS`.

    {"stable_hash", "pods": how many stable pods, "digests": {digest: pods}, "unresolved": [pod names
    whose model image has no pulled digest yet (pending, still pulling)]}."""
    if not isinstance(pod_list, dict) or not isinstance(pod_list.get("items"), list):
        raise SpecError("pods", "is not a Kubernetes PodList", "list them with kubectl get pods -o json")
    stable = (rollout.get("status") or {}).get("stableRS")
    digests: dict[str, int] = {}
    unresolved: list[str] = []
    pods = 0
    for pod in pod_list["items"]:
        meta = pod.get("metadata") or {}
        if stable is None or (meta.get("labels") or {}).get(POD_TEMPLATE_HASH_LABEL) != stable:
            continue
        if meta.get("deletionTimestamp"):
            continue
        pods += 1
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        holder = (
            MODELCAR_CONTAINER
            if any(c.get("name") == MODELCAR_CONTAINER for c in spec.get("initContainers") or [])
            else SERVER_CONTAINER
        )
        statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
        image_id = next((c.get("imageID") or "" for c in statuses if c.get("name") == holder), "")
        m = _IMAGE_ID_DIGEST.search(image_id)
        if m:
            digests[m[1]] = digests.get(m[1], 0) + 1
        else:
            unresolved.append(str(meta.get("name", "")))
    return {"stable_hash": stable, "pods": pods, "digests": digests, "unresolved": sorted(unresolved)}

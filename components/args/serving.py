"""The inputs of `ModelServing`, one pydantic model each, with every bound as a Field constraint.

`ServingSettings` is what a stack's `serving:` section holds (stacks/config/spec.py reuses it as is);
`ModelServingArgs` adds what the stack wires in (the cluster, the Prometheus the analyses query, where
GPU models go, tags). `ServedModel` is one entry of `serving.models`: how `mlplatform serve render`
turns a released model into a canary Rollout. This module imports nothing from Pulumi.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from ..conventions import SERVING_ENVIRONMENTS
from . import Args, Section, ValidationError

# A Kubernetes quantity as the API server accepts it in resources (a plain number, milli, binary or SI).
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
MODEL_NAME = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"  # a DNS label short enough for `<model>-ping` etc.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_NAME = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"

# `cpu: 1` in YAML is a number: taken as the quantity "1" (a user's value is never dropped).
Quantity = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v),
    Field(pattern=QUANTITY),
]
Environment = Literal["staging", "production"]


DEFAULT_SAMPLE = 0.1  # share of requests a served model logs by default (components/serving/prediction_log.py)


class PredictionLogArgs(Section):
    """The prediction-log settings of one served model (`serving.models.<name>`).

    Fields:
        log_sample (float, default 0.1): share of requests logged, 0 (off) to 1 (all).
        drop_fields (list[str], default []): field names removed at any depth of request and response
            before anything is written (personal data: email, name, ...).
    """

    log_sample: float = Field(DEFAULT_SAMPLE, ge=0, le=1)
    drop_fields: list[str] = Field([], description="field names removed at any depth before writing")


class SmokeRequest(Section):
    """One request a healthy model answers with 2xx (POSTed as JSON to its root Service)."""

    path: str = Field(pattern=r"^/[A-Za-z0-9._~/-]*$")
    body: Any = None


class CanaryAnalysis(Section):
    """The canary analysis' bounds for one model (`serving.models.<name>.analysis`), each passed to the
    runtime's ClusterAnalysisTemplates as the Rollout analysis argument of the same name (`_` -> `-`).
    Unset: the template's default (components/serving/analysis.DEFAULTS, VLLM_DEFAULTS for vllm).

    Fields:
        max_error_share: the largest share of the canary's requests answered 5xx that passes (default
            0.01), above 0 and below 1.
        max_latency_p95_seconds: the largest p95 time to answer that passes (default 0.5 s; vllm 30 s).
        max_prediction_shift: mlflow/image with model_metric: the largest relative move of the canary's
            mean prediction from the stable pods' (default 0.2).
        max_ttft_p95_seconds: vllm with model_metric: the largest p95 time to first token (default 2 s).
    """

    max_error_share: float | None = Field(None, gt=0, lt=1)
    max_latency_p95_seconds: float | None = Field(None, gt=0, le=3600)
    max_prediction_shift: float | None = Field(None, gt=0, le=100)
    max_ttft_p95_seconds: float | None = Field(None, gt=0, le=3600)

    def template_args(self) -> dict[str, str]:
        """The bounds set, as Rollout analysis arguments (name -> value, plain decimals for `expr`)."""
        return {
            name.replace("_", "-"): format(Decimal(repr(float(value))), "f")
            for name, value in self.model_dump(exclude_none=True).items()
        }


class ServedModel(PredictionLogArgs):
    """How one model is served (`serving.models.<name>`).

    Fields:
        runtime: `mlflow` (an MLflow model on a CPU model server), `vllm` (an LLM on a GPU, OpenAI API),
            `image` (the released image is the team's own server, serving `port` and `/metrics`).
        replicas: pods per environment at steady state (a canary adds as many again at its last step).
        cpu, memory: requests of each pod (memory is also its limit; CPU is not limited: a limit
            throttles a latency-bound server).
        gpu: `nvidia.com/gpu` of each pod; a GPU model runs on the stack's GPU pool (vllm needs >= 1).
        port: the port the `image` runtime serves on (the other runtimes have their own).
        model_metric: the canary analysis also judges the model itself (mlflow/image: how far the canary's
            mean prediction moved from the stable pods'; vllm: p95 time to first token).
        log_sample, drop_fields: the prediction log (components/serving/prediction_log.PredictionLogArgs).
        host: DNS name of the model's internal ALB (you point it at the ALB); none: the ALB's own name.
        smoke: the request `serve smoke` sends after a staging rollout (before production): a path and a
            JSON body to POST, e.g. {path: /invocations, body: {inputs: [[1, 2]]}}; none: GET the
            runtime's readiness path.
        analysis: the canary analysis' bounds for this model (`CanaryAnalysis`); unset: the defaults.
    """

    runtime: Literal["mlflow", "vllm", "image"] = "mlflow"
    replicas: int = Field(2, ge=1, le=20)
    cpu: Quantity = "500m"
    memory: Quantity = "1Gi"
    gpu: int = Field(0, ge=0, le=8)
    port: int = Field(8080, ge=1024, le=65535)
    model_metric: bool = False
    host: str | None = Field(None, pattern=DNS_NAME)
    smoke: SmokeRequest | None = None
    analysis: CanaryAnalysis = Field(default_factory=CanaryAnalysis)

    @model_validator(mode="after")
    def _runtime_fits(self) -> ServedModel:
        if self.runtime == "vllm" and self.gpu < 1:
            raise ValueError("runtime vllm serves on a GPU: set gpu to 1 or more")
        judged = {"max_prediction_shift": self.runtime != "vllm", "max_ttft_p95_seconds": self.runtime == "vllm"}
        for bound, applies in judged.items():
            if getattr(self.analysis, bound) is None:
                continue
            if not applies:
                raise ValidationError(f"analysis.{bound}", f"runtime {self.runtime} has no such judge", "remove it")
            if not self.model_metric:
                raise ValidationError(
                    f"analysis.{bound}", "bounds the model metric, which is off", "set model_metric: true, or remove it"
                )
        if self.runtime != "image" and "port" in self.model_fields_set:
            raise ValueError(f"port is the image runtime's; runtime {self.runtime} has its own: remove port")
        return self


class ExistingRollouts(Section):
    """An Argo Rollouts controller that already runs in the cluster (its CRDs installed): adopted, not installed."""

    namespace: str = Field(pattern=DNS_LABEL)


class ServingSettings(Section):
    """The `serving:` section of a stack (and the settings part of `ModelServingArgs`).

    Fields:
        enabled: install the Argo Rollouts controller, the analysis templates and the serving namespaces.
        environments: the environments a release goes through, in order (`staging` then `production`,
            or `production` alone); each is a namespace `serving-<environment>`.
        placement: where CPU models run: `system` (the system nodes), `cpu-batch` (the Karpenter CPU
            pool, tolerating its taint) or `auto` (that pool when the stack has it, else the system
            nodes). GPU models always run on the GPU pool.
        canary_weights: the traffic shares of the canary steps, each followed by an analysis; the
            rollout then goes to 100 %.
        controller_replicas: Argo Rollouts controller pods (leader election above 1).
        models: the served models by name (`models/<name>/release.yaml` says which version).
        existing: adopt this Argo Rollouts controller instead of installing one.
        prometheus_url: the Prometheus the canary analyses query; none: the stack's own.
        helm_values: your own argo-rollouts chart values, deep-merged over mlplatform's.
    """

    enabled: bool = True
    environments: list[Environment] = Field(default_factory=lambda: list[Environment](["production"]))
    placement: Literal["auto", "system", "cpu-batch"] = "auto"
    canary_weights: list[int] = Field(default_factory=lambda: [10, 50], min_length=1, max_length=5)
    controller_replicas: int = Field(1, ge=1, le=3)
    models: dict[str, ServedModel] = Field(default_factory=dict)
    # Prediction logs (s3://<artifact bucket>/predictions/) expire after this many days; None: never
    # (no lifecycle rule: how long logs of real requests are kept is the user's decision).
    prediction_retention_days: int | None = Field(None, ge=1)
    existing: ExistingRollouts | None = None
    prometheus_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    helm_values: dict[str, Any] = Field(default_factory=dict)

    @field_validator("environments")
    @classmethod
    def _environments(cls, v: list[str]) -> list[str]:
        if not v or v[-1] != "production" or len(set(v)) != len(v):
            raise ValueError("must be [production] or [staging, production]: a release ends in production, once")
        return sorted(v, key=SERVING_ENVIRONMENTS.index)

    @field_validator("canary_weights")
    @classmethod
    def _weights(cls, v: list[int]) -> list[int]:
        if any(not 1 <= w <= 99 for w in v) or any(a >= b for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("must be increasing traffic shares from 1 to 99, like [10, 50]")
        return v

    @field_validator("models")
    @classmethod
    def _names(cls, v: dict[str, ServedModel]) -> dict[str, ServedModel]:
        for name in v:
            if not re.match(MODEL_NAME, name):
                raise ValueError(
                    f"{name!r} is not a served model name: lowercase letters, digits and '-', at most 40 characters"
                )
        return v


class ModelServingArgs(ServingSettings, Args):
    """Inputs of `ModelServing`: the settings plus what the stack wires in.

    Fields (besides `ServingSettings`'):
        cluster (Cluster | ClusterRef | None): the cluster; its Kubernetes provider is used.
        prometheus_address (str): the in-cluster Prometheus URL the ClusterAnalysisTemplates query.
        monitoring_release (str | None): the kube-prometheus-stack release whose Prometheus scrapes the
            controller (its ServiceMonitor carries `release: <it>`); none: no controller ServiceMonitor.
        gpu_pool (str | None): the GPU pool GPU models run on (`mlplatform.io/pool`); required by a GPU model.
        cpu_batch_pool (bool): the cluster has the Karpenter CPU batch pool (`placement` auto uses it).
        deployer_role_arn (Input[str] | None): the IAM role that applies the rendered objects (the CI
            runners' role): an EKS access entry in the group `mlplatform:serving-deployers`, which may
            manage Rollouts, Services, Ingresses, PodMonitors and PDBs in the serving namespaces only.
        deployer_role_name (Input[str] | None): that role's name: it gets `eks:DescribeCluster` on this
            cluster (what `serve apply` asks first: the endpoint and CA).
        tags (dict[str, str]): extra tags of the AWS resources (the access entry).
        registry (ArtifactRegistry | None): the artifact registry whose bucket keeps the prediction logs:
            each `mlflow` model with `log_sample` > 0 gets a service account `model-<name>` in every serving
            namespace, bound (IRSA, the cluster's OIDC provider) to a role that may only put objects under
            `predictions/<name>/`, and each namespace a ConfigMap `mlplatform-prediction-log` (bucket, region)
            the pods read; none: no prediction logs.
    """

    cluster: Any = None
    registry: Any = None
    prometheus_address: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    monitoring_release: str | None = Field(None, pattern=DNS_LABEL)
    gpu_pool: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]{0,30}$")
    cpu_batch_pool: bool = False
    deployer_role_arn: Any = None
    deployer_role_name: Any = None
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _gpu_models_have_a_pool(self) -> ModelServingArgs:
        if self.placement == "cpu-batch" and not self.cpu_batch_pool:
            raise ValueError(
                "placement cpu-batch needs the Karpenter CPU batch pool: set cpu_batch_pool, or placement auto"
            )
        for name, m in self.models.items():
            if m.gpu and not self.gpu_pool:
                raise ValueError(f"models.{name} asks for {m.gpu} GPU(s) and the stack has no GPU pool: add one")
        return self

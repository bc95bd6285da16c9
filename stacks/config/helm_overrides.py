"""`helm_values:` of the config sections that install a chart, checked when the spec is loaded.

Each such section takes `helm_values:` (its main chart) and, where it installs a second chart, one
more `<chart>_helm_values:` key (table `HELM_VALUES`). They are deep-merged over what the component
computes (components/helm_values.py). At load, every key must be a key of the pinned chart of a
fitting type (a misspelt key is one line naming the chart, the key and the closest real key), must not
be one the component owns for safety, and the chart must be installed by this stack at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SpecError

if TYPE_CHECKING:  # spec.py calls check_helm_values: at run time this module reads the spec it is given
    from .spec import StackSpec


@dataclass(frozen=True)
class HelmValuesField:
    section: str
    field: str
    chart: Callable[[StackSpec], str]
    not_installed: Callable[[StackSpec], str | None]  # why this stack installs no such chart (None: it does)


def _gpu_chart(spec: StackSpec) -> str:
    from mlplatform.components.gpu_node_pool import autoscaler_chart

    return autoscaler_chart(spec.gpu.mechanism)


def _no_gpu(spec: StackSpec) -> str | None:
    if spec.gpu.existing is not None:
        return "gpu.existing adopts GPU nodes: no node autoscaler is installed"
    return None if spec.gpu.pools else "the stack has no gpu.pools"


HELM_VALUES: tuple[HelmValuesField, ...] = (
    HelmValuesField(
        "monitoring",
        "helm_values",
        lambda s: "kube-prometheus-stack",
        lambda s: "monitoring.existing adopts a release mlplatform does not install" if s.monitoring.existing else None,
    ),
    HelmValuesField("monitoring", "dcgm_exporter_helm_values", lambda s: "dcgm-exporter", lambda s: None),
    HelmValuesField("mlflow", "helm_values", lambda s: "mlflow", lambda s: None),
    HelmValuesField(
        "mlflow",
        "load_balancer_controller_helm_values",
        lambda s: "aws-load-balancer-controller",
        lambda s: (
            None
            if s.mlflow.ingress or s.serving.enabled
            else "mlflow.ingress and serving are off: no load balancer controller"
        ),
    ),
    HelmValuesField("gpu", "helm_values", _gpu_chart, _no_gpu),
    HelmValuesField(
        "gpu",
        "device_plugin_helm_values",
        lambda s: "nvidia-device-plugin",
        lambda s: None if s.gpu.pools or s.gpu.existing else "the stack has no GPU nodes",
    ),
    HelmValuesField(
        "runners",
        "helm_values",
        lambda s: "gha-runner-scale-set",
        lambda s: None if s.runners.enabled else "runners.enabled is false",
    ),
    HelmValuesField(
        "runners",
        "controller_helm_values",
        lambda s: "gha-runner-scale-set-controller",
        lambda s: (
            "runners.enabled is false"
            if not s.runners.enabled
            else "runners.existing_controller adopts a controller mlplatform does not install"
            if s.runners.existing_controller
            else None
        ),
    ),
    HelmValuesField(
        "serving",
        "helm_values",
        lambda s: "argo-rollouts",
        lambda s: (
            "serving.enabled is false"
            if not s.serving.enabled
            else "serving.existing adopts a controller mlplatform does not install"
            if s.serving.existing
            else None
        ),
    ),
    HelmValuesField(
        "retraining",
        "helm_values",
        lambda s: "argo-workflows",
        lambda s: None if s.retraining.engine == "argo" else "retraining.engine is cronjob: Argo is not installed",
    ),
)


def check_helm_values(spec: StackSpec) -> None:
    """Refuse (SpecError, one line) the first bad `helm_values` key of the spec."""
    for f in HELM_VALUES:
        values: dict[str, Any] = getattr(getattr(spec, f.section), f.field)
        if not values:
            continue
        where = f"{f.section}.{f.field}"
        chart = f.chart(spec)
        why_not = f.not_installed(spec)
        if why_not:
            raise SpecError(where, f"{why_not}, so there is no {chart} release to give values to", f"remove {where}")
        from mlplatform.components.helm_values import owned_problem
        from mlplatform.components.versions import HELM_CHARTS

        from .chart_facts import check_values

        version = HELM_CHARTS[chart][0]
        owned = owned_problem(chart, values)
        if owned:
            raise SpecError(f"{where}.{owned[0]}", f"refused for {chart}: {owned[1]}", f"remove it from {where}")
        report = check_values(chart, values)
        for path in report.unknown:
            hint = report.suggestions.get(path)
            raise SpecError(
                f"{where}.{path}",
                f"{chart} {version} has no value {path}",
                f"did you mean {hint}?" if hint else f"use a key of the {chart} {version} chart's values.yaml",
            )
        for problem in report.mismatched:
            path, _, what = problem.partition(": ")
            raise SpecError(f"{where}.{path}", f"{chart} {version}: {what}", "give it the type the chart takes")

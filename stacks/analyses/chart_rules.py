"""`mlplatform check` rules from the pinned charts' own facts (stacks/config/chart_facts.py).

* `helm-values`: every value a Helm release of a pinned chart sets is a key of that chart, of a
  fitting type, and Helm's merged values pass the chart's values.schema.json where it ships one. A
  misspelt key is silently ignored by Helm: the setting the stack relies on would not be there.
* `custom-resource-schema`: every custom resource whose CRD a pinned chart installs (Karpenter
  NodePool/EC2NodeClass, PodMonitor, PrometheusRule, CronWorkflow, ARC resources...) validates against
  that CRD's real openAPIV3Schema, unknown fields rejected (the API server would prune them or refuse
  the object).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..plan.offline import Plan, PlannedResource
from .capacity import HELM_RELEASE
from .rules import rule

HELM_VALUES_FIX = "use the chart's own key (see its values.yaml at the pinned version in components/versions.py)"


def release_chart(r: PlannedResource) -> str:
    return str(r.inputs.get("chart", "")).rsplit("/", 1)[-1]


@rule("helm-values", "high", "Every Helm value is a key of the pinned chart, of the type the chart takes")
def _helm_values(plan: Plan) -> Iterator[tuple[PlannedResource, str, str]]:
    from mlplatform.components.versions import HELM_CHARTS

    from ..config.chart_facts import check_values, schema_errors

    for r in plan.of_type(HELM_RELEASE):
        chart = release_chart(r)
        values = r.inputs.get("values")
        if chart not in HELM_CHARTS or not isinstance(values, dict):
            continue
        version = HELM_CHARTS[chart][0]
        if r.inputs.get("version") not in (None, version):
            yield (
                r,
                f"chart {chart} {r.inputs.get('version')} is not the pinned {version}, so its values cannot be checked",
                "pin the chart in components/versions.py",
            )
            continue
        report = check_values(chart, values)
        for path in report.unknown:
            hint = report.suggestions.get(path)
            yield (
                r,
                f"{chart} {version} has no value {path}" + (f" (did you mean {hint}?)" if hint else ""),
                f"use {hint}" if hint else HELM_VALUES_FIX,
            )
        for problem in report.mismatched:
            yield r, f"{chart} {version}: {problem}", "give the value the shape the chart's default has"
        for problem in schema_errors(chart, values):
            yield r, f"{chart} {version} values.schema.json: {problem}", "make the value fit the chart's schema"


@rule("custom-resource-schema", "high", "Every custom resource validates against its chart's CRD schema")
def _custom_resources(plan: Plan) -> Iterator[tuple[PlannedResource, str, str]]:
    from ..config.chart_facts import crd_for, custom_resource_errors
    from ..plan import export

    for r, manifest in export.kubernetes_objects(plan):
        errors = custom_resource_errors(manifest)
        if not errors:
            continue
        chart = crd_for(manifest["apiVersion"], manifest["kind"])[0]  # type: ignore[index]  # errors imply a CRD
        for problem in errors:
            yield (
                r,
                f"{manifest['kind']} {manifest.get('metadata', {}).get('name')}: {problem} "
                f"(CRD of {chart} {_version(chart)})",
                "fix the field to what the CRD defines",
            )


def unchecked_values(plan: Plan) -> dict[str, list[str]]:
    """Release name -> the free-form value keys the `helm-values` rule did not look below (sub-chart
    values, label maps, `extraArgs`...), so a report can say where the check stopped."""
    from mlplatform.components.versions import HELM_CHARTS

    from ..config.chart_facts import check_values

    out: dict[str, list[str]] = {}
    for r in plan.of_type(HELM_RELEASE):
        chart, values = release_chart(r), r.inputs.get("values")
        if (
            chart in HELM_CHARTS
            and isinstance(values, dict)
            and r.inputs.get("version") in (None, HELM_CHARTS[chart][0])
        ):
            stops = check_values(chart, values).stopped_at
            if stops:
                out[r.name] = stops
    return out


def _version(chart: str) -> str:
    from mlplatform.components.versions import HELM_CHARTS

    return HELM_CHARTS[chart][0]

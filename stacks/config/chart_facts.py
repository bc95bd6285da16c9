"""What the pinned charts accept, read from the facts in `stacks/data/` (derived from `shared/charts/` by
`python -m mlplatform.stacks.facts.charts`): Helm value keys and types, `values.schema.json`, and the
CRD schemas the charts install.

* `check_values(chart, values)`: every key of `values` must be a key of the pinned chart (a key the
  chart documents only as a comment counts) of a fitting type. Below a key whose chart default is an
  empty map or list, or one named in `FREE_FORM`, values are free-form: the check stops there and
  says where (`ValuesReport.stopped_at`).
* `schema_errors(chart, values)`: Helm's merged values (chart defaults, then `values`) against the
  chart's own `values.schema.json`, where it ships one.
* `custom_resource_errors(manifest)`: a custom resource against the real `openAPIV3Schema` of the CRD
  a pinned chart installs, translated to JSON Schema the way the API server reads a structural schema
  (`x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`, `nullable`; every other
  object rejects fields it does not list).
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from mlplatform.components.merge import deep_merge
from mlplatform.components.versions import HELM_CHARTS

DATA = Path(__file__).resolve().parents[1] / "data"
ARRAY = "[]"
# Keys below which a chart takes any content although its default is not empty: sub-chart values the
# parent chart's values.yaml only partly lists, and selector/annotation maps with a default entry.
FREE_FORM: dict[str, tuple[str, ...]] = {
    # alertmanager.config: Alertmanager's own configuration file (its schema, not the chart's; the tests
    # check it with the real amtool).
    "kube-prometheus-stack": ("grafana", "kube-state-metrics", "prometheus-node-exporter", "alertmanager.config"),
    "gha-runner-scale-set": ("template",),
}
FREE_FORM_NAMES = frozenset({"nodeSelector", "annotations", "labels", "podAnnotations", "podLabels", "extraArgs"})
# Placeholders the offline plan holds for values known only after apply (stacks/plan/offline.py).
_PLACEHOLDERS = ("[unknown]", "[secret]")


class FactsMissing(LookupError):
    """No derived facts for a chart (not pinned, or the data files were not generated)."""


@cache
def chart_facts(chart: str) -> dict[str, Any]:
    """The facts file of a pinned chart: keys, defaults, values_schema."""
    path = DATA / f"chart-{chart}.json"
    if chart not in HELM_CHARTS or not path.is_file():
        raise FactsMissing(f"no chart facts for {chart!r}: pinned charts are {', '.join(HELM_CHARTS)}")
    return json.loads(path.read_text())


def chart_defaults(chart: str) -> dict[str, Any]:
    """The chart's default values (its values.yaml, parsed): what Helm merges a release's values over."""
    return copy.deepcopy(chart_facts(chart)["defaults"])


@cache
def known_paths(chart: str) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every key path of the chart (list items as `[]`) -> its node (type, free_form, commented)."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        for k, child in (node.get("keys") or {}).items():
            out[path + (k,)] = child
            walk(child, path + (k,))
        if "items" in node:
            out[path + (ARRAY,)] = node["items"]
            walk(node["items"], path + (ARRAY,))

    walk({"keys": chart_facts(chart)["keys"]}, ())
    return out


# bool before int: True is an int to isinstance.
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    """The JSON type of a value (`null` for None): how the facts files type each key, by its default."""
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "null"


def type_problem(node: dict[str, Any], value: Any) -> str | None:
    """Why `value` cannot be what the chart's default says (None: it fits). Lenient where Helm
    templates are (a number for a string); a commented key or a null default takes anything."""
    want, got = node.get("type"), json_type(value)
    if got == "integer":  # this check does not tell integers from other numbers
        got = "number"
    if node.get("commented") or want in (None, "null") or got == "null" or value in _PLACEHOLDERS:
        return None
    if want in ("integer", "number"):
        want = "number"
    if want == got or got in node.get("alt_types", ()) or (got == "number" and "integer" in node.get("alt_types", ())):
        return None
    if want == "string" and got == "number":
        return None
    if want == "number" and got == "string":
        try:
            float(value)
            return None
        except ValueError:
            pass
    return f"is {_A[got]}, the chart's default is {_A[want]}"


_A = {
    "boolean": "true/false",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


@dataclass
class ValuesReport:
    unknown: list[str] = field(default_factory=list)  # dotted paths the chart does not have
    mismatched: list[str] = field(default_factory=list)  # "path: problem"
    stopped_at: list[str] = field(default_factory=list)  # free-form keys the check did not look below
    suggestions: dict[str, str] = field(default_factory=dict)  # unknown path -> the closest real key

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.mismatched


def did_you_mean(chart: str, path: tuple[str, ...]) -> str | None:
    """The chart's closest key to the last part of `path`, among its siblings."""
    siblings = [p[-1] for p in known_paths(chart) if p[:-1] == path[:-1] and p[-1] != ARRAY]
    found = difflib.get_close_matches(path[-1], siblings, n=1, cutoff=0.6)
    return found[0] if found else None


def check_values(chart: str, values: dict[str, Any], free_form: tuple[str, ...] = ()) -> ValuesReport:
    """Every key path in `values` must exist in the pinned chart, with a fitting type (module doc)."""
    known = known_paths(chart)
    stops = set(free_form) | set(FREE_FORM.get(chart, ()))
    report = ValuesReport()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, path + (ARRAY,))
            return
        if not isinstance(node, dict):
            return
        for k, v in node.items():
            p = path + (str(k),)
            dotted = ".".join(p)
            fact = known.get(p)
            if fact is None:
                report.unknown.append(dotted)
                suggestion = did_you_mean(chart, p)
                if suggestion:
                    report.suggestions[dotted] = ".".join(p[:-1] + (suggestion,))
                continue
            problem = type_problem(fact, v)
            if problem:
                report.mismatched.append(f"{dotted}: {problem}")
                continue
            if (
                dotted in stops
                or str(k) in FREE_FORM_NAMES
                or fact.get("free_form")
                or fact.get("commented")
                or fact.get("type") == "null"
            ):
                if isinstance(v, (dict, list)) and v:
                    report.stopped_at.append(dotted)
                continue
            walk(v, p)

    walk(values, ())
    return report


def schema_errors(chart: str, values: dict[str, Any]) -> list[str]:
    """Helm's merged values against the chart's values.schema.json ([] when the chart ships none)."""
    schema = chart_facts(chart).get("values_schema")
    if not schema:
        return []
    import jsonschema

    merged = deep_merge(chart_facts(chart)["defaults"], values, null_deletes=True)  # as Helm coalesces
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)
    out = []
    for e in sorted(validator.iter_errors(merged), key=lambda e: list(map(str, e.absolute_path))):
        if e.instance in _PLACEHOLDERS:
            continue
        out.append(f"{'.'.join(str(p) for p in e.absolute_path) or '(values)'}: {e.message}")
    return out


# -- custom resources ------------------------------------------------------------------------------
@cache
def _crd_index() -> dict[str, tuple[str, Path]]:
    """`<group>/<version>/<Kind>` -> (chart, facts file), over every pinned chart's CRD facts."""
    out: dict[str, tuple[str, Path]] = {}
    for chart in HELM_CHARTS:
        path = DATA / f"crds-{chart}.json"
        if path.is_file():
            for key in json.loads(path.read_text())["crds"]:
                out[key] = (chart, path)
    return out


@cache
def _crds(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())["crds"]


def crd_for(api_version: str, kind: str) -> tuple[str, dict[str, Any]] | None:
    """(chart, CRD facts: scope, plural, schema) of the CRD serving `apiVersion`/`kind`, or None."""
    key = f"{api_version}/{kind}"
    found = _crd_index().get(key)
    if found is None:
        return None
    return found[0], _crds(found[1])[key]


def structural_to_jsonschema(schema: dict[str, Any], root: bool = True) -> dict[str, Any]:
    """A CRD's structural openAPIV3Schema as JSON Schema, with the API server's reading of it:
    `x-kubernetes-int-or-string` is integer or string, `nullable` adds null, and an object that neither
    lists `additionalProperties` nor sets `x-kubernetes-preserve-unknown-fields` takes no other field
    (the API server would prune it). `metadata` of the object (and of embedded resources) is ObjectMeta,
    which the CRD leaves to the API server: any field."""
    s = dict(schema)
    preserve = s.pop("x-kubernetes-preserve-unknown-fields", False)
    embedded = s.pop("x-kubernetes-embedded-resource", False)
    if s.pop("x-kubernetes-int-or-string", False):
        s.pop("type", None)
        s.pop("anyOf", None)
        s["type"] = ["integer", "string"]
    if s.pop("nullable", False):
        if isinstance(s.get("type"), str):
            s["type"] = [s["type"], "null"]
        if "enum" in s:
            s["enum"] = [*s["enum"], None]
    if "properties" in s:
        s["properties"] = {
            k: (
                {"type": "object"}
                if k == "metadata" and (root or embedded)
                else structural_to_jsonschema(v, root=False)
            )
            for k, v in s["properties"].items()
        }
    for k in ("items", "not"):
        if isinstance(s.get(k), dict):
            s[k] = structural_to_jsonschema(s[k], root=False)
    if isinstance(s.get("additionalProperties"), dict):
        s["additionalProperties"] = structural_to_jsonschema(s["additionalProperties"], root=False)
    for k in ("allOf", "anyOf", "oneOf"):
        if isinstance(s.get(k), list):
            s[k] = [structural_to_jsonschema(x, root=False) for x in s[k]]
    if embedded:
        s.setdefault("properties", {})
        for k, t in (("apiVersion", "string"), ("kind", "string"), ("metadata", "object")):
            s["properties"].setdefault(k, {"type": t})
    is_object = s.get("type") == "object" or "properties" in s
    if is_object and not preserve and "additionalProperties" not in s:
        s["additionalProperties"] = False
    return s


@cache
def _validator(api_version: str, kind: str) -> Any:
    import jsonschema

    found = crd_for(api_version, kind)
    if found is None or not found[1].get("schema"):
        return None
    schema = structural_to_jsonschema(found[1]["schema"])
    return jsonschema.Draft7Validator(schema)


def _describe(e: Any) -> str:
    where = ".".join(str(p) for p in e.absolute_path) or "(object)"
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        allowed = sorted(e.schema.get("properties") or {})
        extra = [k for k in e.instance if k not in allowed]
        parts = []
        for k in extra:
            close = difflib.get_close_matches(k, allowed, n=1, cutoff=0.6)
            parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        known = f"; it takes {', '.join(allowed)}" if allowed and len(allowed) <= 12 else ""
        return f"{where}: unknown field {', '.join(parts)}{known}"
    return f"{where}: {e.message}"


def _placeholder_error(e: Any) -> bool:
    """An error only because the offline plan holds '[unknown]'/'[secret]' where the real value goes."""
    if e.instance in _PLACEHOLDERS:
        return True
    return bool(e.context) and all(_placeholder_error(c) for c in e.context)


def custom_resource_errors(manifest: dict[str, Any], limit: int = 10) -> list[str] | None:
    """What the CRD's schema refuses in a custom resource (at most `limit`); None when no pinned
    chart installs its CRD (nothing to check it against)."""
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    validator = _validator(api_version, kind)
    if validator is None:
        return None
    errors = [e for e in validator.iter_errors(manifest) if not _placeholder_error(e)]
    errors.sort(key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(e) for e in errors[:limit]]


def installed_kinds() -> Iterator[tuple[str, str, str]]:
    """(chart, apiVersion, kind) of every CRD the pinned charts install."""
    for key, (chart, _) in _crd_index().items():
        group_version, kind = key.rsplit("/", 1)
        yield chart, group_version, kind


__all__ = [
    "ARRAY",
    "FREE_FORM",
    "FactsMissing",
    "ValuesReport",
    "chart_defaults",
    "chart_facts",
    "check_values",
    "crd_for",
    "custom_resource_errors",
    "did_you_mean",
    "json_type",
    "known_paths",
    "schema_errors",
    "structural_to_jsonschema",
    "type_problem",
]

"""Derive each pinned chart's facts from `shared/charts/` into `stacks/data/`.

    python -m mlplatform.stacks.facts.charts --shared /work/shared

For every chart pinned in `components/versions.HELM_CHARTS` it reads
`shared/charts/<chart>-<version>/` and writes:

* `stacks/data/chart-<chart>.json`: the chart's accepted value keys as a tree (each key's type from
  its default; keys the chart documents only as comments, `# maxRunners: 5`, marked `commented`), the
  parsed defaults of `values.yaml` (what Helm merges the release's values over) and the chart's
  `values.schema.json` where it ships one;
* `stacks/data/crds-<chart>.json` (charts that install CRDs): each CRD version's `openAPIV3Schema`.

Only keys, types, enums, defaults and structure are kept: no description, example or comment text
(CEL rules, `x-kubernetes-validations`, are dropped too: nothing here can evaluate them). Re-running
this script after a pin change is the whole update; `tests/test_facts.py` compares the files with
`../shared` when it is present.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from mlplatform.components.versions import HELM_CHARTS
from mlplatform.stacks.config.chart_facts import ARRAY as _ARRAY
from mlplatform.stacks.config.chart_facts import json_type

DATA = Path(__file__).resolve().parents[1] / "data"
# The CRDs a chart's default install applies (argo-workflows: crds.full=true -> files/crds/full/;
# argo-rollouts ships them as Helm templates, whose spec equals the plain manifests of its appVersion).
CRD_SUBDIR = {"argo-workflows": "full", "argo-rollouts": "plain"}

_KEY = r'([A-Za-z0-9_./-]+|"[^"]+")'
_REAL = re.compile(rf"^(\s*)(- )?{_KEY}:(\s|$)")
_COMMENTED = re.compile(rf"^(\s*)#+ ?(\s*)(- )?{_KEY}:(\s|$)")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # C loader when built
    """safe_load, except that a bare `=` (the YAML 1.1 value tag some CRDs list in enums) is the string."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def shared_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The source material: `explicit`, else $MLPLATFORM_SHARED, else `shared/` beside the repository."""
    if explicit:
        return Path(explicit)
    if os.environ.get("MLPLATFORM_SHARED"):
        return Path(os.environ["MLPLATFORM_SHARED"])
    beside = Path(__file__).resolve().parents[3] / "shared"
    return beside if beside.is_dir() else None


def chart_source(shared: Path, chart: str) -> Path:
    return shared / "charts" / f"{chart}-{HELM_CHARTS[chart][0]}"


# -- values ---------------------------------------------------------------------------------------
def _add(tree: dict[str, Any], path: tuple[str, ...], type_: str, commented: bool) -> dict[str, Any]:
    """Insert one key path into the key tree (list items under `[]`), creating parents as objects."""
    node: dict[str, Any] = {"keys": tree}
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if part == _ARRAY:
            node.setdefault("type", "array")
            child = node.setdefault("items", {"type": "object"})
        else:
            node.setdefault("type", "object")
            children = node.setdefault("keys", {})
            if part not in children:
                children[part] = {"type": type_ if last else "object", **({"commented": True} if commented else {})}
            child = children[part]
        node = child
    return node


def _walk_defaults(value: Any, path: tuple[str, ...], tree: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            node = _add(tree, path + (str(k),), json_type(v), False)
            if v in ({}, []):
                node["free_form"] = True  # an empty default map or list: the chart takes any content
            _walk_defaults(v, path + (str(k),), tree)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _walk_defaults(item, path + (_ARRAY,), tree)


def _commented_type(line: str) -> str:
    """A commented-out key's type from the value written after it (`# maxRunners: 5` -> integer)."""
    text = line.split(":", 1)[1].strip() if ":" in line else ""
    if not text:
        return "null"
    try:
        return json_type(yaml.safe_load(text))
    except yaml.YAMLError:
        return "null"


def _commented_keys(text: str) -> list[tuple[tuple[str, ...], str]]:
    """Key paths written in values.yaml, real or commented out, from the indentation of each line."""
    out = []
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = _REAL.match(line)
        commented = False
        if m:
            indent, dash, key = len(m.group(1)), m.group(2), m.group(3)
        else:
            m = _COMMENTED.match(line)
            if not m:
                continue
            commented = True
            indent, dash, key = len(m.group(1)) + len(m.group(2)), m.group(3), m.group(4)
        key = key.strip('"')
        if dash:
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, _ARRAY))
            indent += 2
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = tuple(k for _, k in stack) + (key,)
        if commented:
            out.append((path, _commented_type(line.split("#", 1)[1] if "#" in line else line)))
        stack.append((indent, key))
    return out


def _lookup(tree: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = {"keys": tree}
    for part in path:
        if node is None:
            return None
        node = node.get("items") if part == _ARRAY else (node.get("keys") or {}).get(part)
    return node


def values_keys(values_text: str) -> dict[str, Any]:
    """The key tree of a values.yaml: parsed keys typed by their default, plus commented-out keys."""
    tree: dict[str, Any] = {}
    _walk_defaults(_load(values_text) or {}, (), tree)
    for path, type_ in _commented_keys(values_text):
        found = _lookup(tree, path)
        if found is not None:
            # The chart documents another shape for a key it sets (`githubConfigSecret:` a map, or
            # `# githubConfigSecret: name-of-a-secret`): both are accepted.
            if type_ not in ("null", found.get("type")) and type_ not in found.get("alt_types", []):
                found.setdefault("alt_types", []).append(type_)
            continue
        if found is None:
            parent = _lookup(tree, path[:-1]) if len(path) > 1 else {"type": "object"}
            if parent is None or parent.get("type") in ("object", "null", "array"):
                _add(tree, path, type_, True)
    return tree


# -- schemas --------------------------------------------------------------------------------------
# JSON-schema / OpenAPI keywords kept (structure, types, enums, bounds); everything else, above all
# description/example/title text and CEL rules, is dropped.
SCHEMA_KEYWORDS = {
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "const",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "additionalProperties",
    "patternProperties",
    "nullable",
    "default",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "multipleOf",
    "definitions",
    "$defs",
    "$ref",
    "$schema",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}
_SCHEMA_MAPS = {"properties", "patternProperties", "definitions", "$defs"}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}
_SCHEMA_ONE = {"items", "additionalProperties", "not"}


def strip_schema(schema: Any) -> Any:
    """A schema with only SCHEMA_KEYWORDS kept, recursively (property names are kept whatever they are)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k not in SCHEMA_KEYWORDS:
            continue
        if k in _SCHEMA_MAPS and isinstance(v, dict):
            out[k] = {name: strip_schema(s) for name, s in v.items()}
        elif k in _SCHEMA_LISTS and isinstance(v, list):
            out[k] = [strip_schema(s) for s in v]
        elif k in _SCHEMA_ONE:
            out[k] = strip_schema(v)
        else:
            out[k] = v
    return out


def derive_chart(src: Path, chart: str) -> dict[str, Any]:
    """The facts file of one chart from its folder in shared/charts."""
    text = (src / "values.yaml").read_text()
    schema_file = src / "values.schema.json"
    return {
        "chart": chart,
        "version": HELM_CHARTS[chart][0],
        "derived_from": f"shared/charts/{src.name}/ by python -m mlplatform.stacks.facts.charts",
        "keys": values_keys(text),
        "defaults": _load(text) or {},
        "values_schema": strip_schema(json.loads(schema_file.read_text())) if schema_file.is_file() else None,
    }


def crd_files(src: Path, chart: str) -> list[Path]:
    d = src / "crds" / CRD_SUBDIR.get(chart, "")
    return sorted(p for p in d.glob("*.yaml") if p.is_file()) if d.is_dir() else []


def derive_crds(src: Path, chart: str) -> dict[str, Any] | None:
    """The CRDs a chart installs: `<group>/<version>/<Kind>` -> scope, plural and the stripped schema."""
    files = crd_files(src, chart)
    if not files:
        return None
    crds: dict[str, Any] = {}
    for f in files:
        for doc in yaml.load_all(f.read_text(), Loader=_Loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for v in spec["versions"]:
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                crds[f"{spec['group']}/{v['name']}/{spec['names']['kind']}"] = {
                    "scope": spec["scope"],
                    "plural": spec["names"]["plural"],
                    "served": v.get("served", True),
                    "file": f.name,
                    "schema": strip_schema(schema) if schema else None,
                }
    return {
        "chart": chart,
        "version": HELM_CHARTS[chart][0],
        "derived_from": f"shared/charts/{src.name}/crds/{CRD_SUBDIR.get(chart, '')} "
        "by python -m mlplatform.stacks.facts.charts",
        "crds": dict(sorted(crds.items())),
    }


# -- files ----------------------------------------------------------------------------------------
def chart_file(chart: str, data: Path = DATA) -> Path:
    return data / f"chart-{chart}.json"


def crds_file(chart: str, data: Path = DATA) -> Path:
    return data / f"crds-{chart}.json"


def render(facts: dict[str, Any], compact: bool = False) -> str:
    if compact:
        return json.dumps(facts, separators=(",", ":"), sort_keys=False) + "\n"
    return json.dumps(facts, indent=1) + "\n"


def derived_files(shared: Path, data: Path = DATA) -> dict[Path, str]:
    """Every data file this script writes, with its content, from `shared`."""
    out: dict[Path, str] = {}
    for chart in HELM_CHARTS:
        src = chart_source(shared, chart)
        if not (src / "values.yaml").is_file():
            raise FileNotFoundError(f"{src}/values.yaml: the pinned chart {chart} {HELM_CHARTS[chart][0]} is missing")
        out[chart_file(chart, data)] = render(derive_chart(src, chart))
        crds = derive_crds(src, chart)
        if crds is not None:
            out[crds_file(chart, data)] = render(crds, compact=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlplatform.stacks.facts.charts", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--shared", help="the shared/ folder (default: $MLPLATFORM_SHARED, else ../shared)")
    parser.add_argument("--out", default=str(DATA), help="where to write (default: stacks/data/)")
    args = parser.parse_args(argv)
    shared = shared_dir(args.shared)
    if shared is None or not (shared / "charts").is_dir():
        print(f"no shared/charts at {shared or '../shared'}: pass --shared DIR", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        files = derived_files(shared, out)
    except FileNotFoundError as e:
        print(str(e), file=sys.stderr)
        return 1
    stale = {p for p in out.glob("chart-*.json")} | {p for p in out.glob("crds-*.json")}
    for path, text in files.items():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(f"wrote {path} ({len(text) // 1024} KiB)")
    for path in sorted(stale - set(files)):
        path.unlink()
        print(f"removed {path} (no longer pinned)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Check that every Helm value we set is a real key of the pinned chart's own values.yaml.

The charts' values files live in `shared/charts/<chart>-<version>/` beside the repository. A key the
chart documents only as a comment (`# maxRunners: 5`) counts as real. Below a key whose chart default
is an empty map or list (`nodeSelector: {}`, `tolerations: []`) values are free-form, so the check
stops there and reports where it stopped; `free_form` names more such keys (a sub-chart's values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from mlplatform.components.versions import HELM_CHARTS

CHARTS_DIR = Path(__file__).resolve().parents[2] / "shared" / "charts"
_KEY = r'([A-Za-z0-9_./-]+|"[^"]+")'
_REAL = re.compile(rf"^(\s*)(- )?{_KEY}:(\s|$)")
_COMMENTED = re.compile(rf"^(\s*)#+ ?(\s*)(- )?{_KEY}:(\s|$)")


def chart_dir(chart: str) -> Path:
    version = HELM_CHARTS[chart][0]
    d = CHARTS_DIR / f"{chart}-{version}"
    assert d.is_dir(), f"pinned chart values missing: {d} (shared/charts must sit beside the repository)"
    return d


@lru_cache(maxsize=None)
def chart_values(chart: str) -> dict[str, Any]:
    return yaml.safe_load((chart_dir(chart) / "values.yaml").read_text()) or {}


def _walk_defaults(node: Any, prefix: tuple[str, ...], out: dict[tuple[str, ...], Any]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            out[prefix + (str(k),)] = v
            _walk_defaults(v, prefix + (str(k),), out)
    elif isinstance(node, list):
        for item in node:
            _walk_defaults(item, prefix + ("[]",), out)


@lru_cache(maxsize=None)
def known_paths(chart: str) -> dict[tuple[str, ...], Any]:
    """Every key path of the chart's values: parsed keys (with defaults) plus commented-out keys."""
    out: dict[tuple[str, ...], Any] = {}
    _walk_defaults(chart_values(chart), (), out)
    stack: list[tuple[int, str]] = []
    for line in (chart_dir(chart) / "values.yaml").read_text().splitlines():
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
            stack.append((indent, "[]"))
            indent += 2
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = tuple(k for _, k in stack) + (key,)
        if commented and path not in out:
            out[path] = None
        stack.append((indent, key))
    return out


@dataclass
class ValuesReport:
    unknown: list[str] = field(default_factory=list)
    stopped_at: list[str] = field(default_factory=list)


def check_values(chart: str, values: dict[str, Any], free_form: tuple[str, ...] = ()) -> ValuesReport:
    """Every key path in `values` must exist in the chart (see module doc)."""
    known = known_paths(chart)
    report = ValuesReport()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, path + ("[]",))
            return
        if not isinstance(node, dict):
            return
        for k, v in node.items():
            p = path + (str(k),)
            dotted = ".".join(p)
            if p not in known:
                report.unknown.append(dotted)
                continue
            default = known[p]
            if dotted in free_form or default in ({}, []) or (default is None and isinstance(v, (dict, list))):
                if isinstance(v, (dict, list)) and v:
                    report.stopped_at.append(dotted)
                continue
            walk(v, p)

    walk(values, ())
    return report

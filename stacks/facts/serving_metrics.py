"""Derive the metric names the serving runtimes really emit from their source at the pinned versions.

    python -m mlplatform.stacks.facts.serving_metrics --vllm-src DIR

writes `stacks/data/metrics/<exporter>.json`:

    {"exporter", "version", "source": "<repo>@<ref> <path>[, ...]",
     "metrics": {"<name as exposed>": {"type": counter|gauge|histogram|summary, "labels": [...]}}}

A metric is every `prometheus_client` constructor call (`Counter`, `Gauge`, `Histogram`, `Summary`, or a
`_counter_cls`-style alias) in the listed source files, read with `ast`: its name (a literal, or an
f-string/variable resolved in the same function with the exporter's configured prefix) and its label
names (literals, names assigned literals in the same function, and `+` of those; label names a user
adds by configuration, `*self.request_labels`, are empty by default and left out). Counters are listed
as exposed, with `_total`; histograms and summaries by their base name (`_bucket`/`_sum`/`_count` are
series of it, see `series()`).

Sources (the versions pinned in components/versions.py):

* `mlserver`: MLServer's REST app and data plane (SeldonIO/MLServer, the installed `mlserver` package)
  plus the starlette-exporter middleware it mounts with `prefix="rest_server"` (the installed
  `starlette_exporter`). Read from the installed distributions, whose versions must equal the pins.
* `vllm`: `vllm/v1/metrics/loggers.py` (the `vllm:` metrics) of the release VLLM, the one VLLM_IMAGE
  runs (`--vllm-src`: `pip download vllm==<VLLM> --no-deps --only-binary :all:`, unzipped; vLLM is not
  installed). Its API server (vllm/entrypoints/serve/instrumentator/metrics.py) mounts
  prometheus-fastapi-instrumentator's default instrumentation (`Instrumentator(...).add()`; `--pfi-src`,
  the unpacked wheel at PROMETHEUS_FASTAPI_INSTRUMENTATOR): exporter `prometheus-fastapi-instrumentator`.

`tests/test_serving_runtime.py` checks the `mlserver` facts against a real MLServer's `/metrics`;
`tests/test_serving_analysis.py` checks every series a template queries against these files.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from mlplatform.components.versions import (
    MLSERVER,
    PROMETHEUS_FASTAPI_INSTRUMENTATOR,
    STARLETTE_EXPORTER,
    VLLM,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "metrics"
_TYPES = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "Summary": "summary"}
_ALIASES = {"_counter_cls": "counter", "_gauge_cls": "gauge", "_histogram_cls": "histogram"}


def _type_of(call: ast.Call) -> str | None:
    f = call.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    if name in _TYPES:
        return _TYPES[name]
    return _ALIASES.get(name or "")


def _self_attr(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


class _Scope:
    """Literal values assigned to plain names in one function (or module), in source order."""

    def __init__(self, body: list[ast.stmt], constants: dict[str, str], outer: _Scope | None = None) -> None:
        self.values: dict[str, ast.expr] = dict(outer.values) if outer else {}
        self.constants = constants
        for node in body:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
                    self.values[sub.targets[0].id] = sub.value
                elif isinstance(sub, ast.Assign) and len(sub.targets) == 1 and _self_attr(sub.targets[0]):
                    self.values[ast.unparse(sub.targets[0])] = sub.value  # `self.labelname_x = "x"`

    def string(self, node: ast.expr | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.string(self.values[node.id])
        if node is not None and _self_attr(node) and ast.unparse(node) in self.values:
            return self.string(self.values[ast.unparse(node)])
        if isinstance(node, ast.JoinedStr):
            out = []
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out.append(str(part.value))
                elif isinstance(part, ast.FormattedValue) and ast.unparse(part.value) in self.constants:
                    out.append(self.constants[ast.unparse(part.value)])
                else:
                    return None
            return "".join(out)
        return None

    def strings(self, node: ast.expr | None) -> list[str]:
        if node is None:
            return []
        if isinstance(node, (ast.List, ast.Tuple)):
            return [s for e in node.elts if not isinstance(e, ast.Starred) for s in [self.string(e)] if s is not None]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.strings(node.left) + self.strings(node.right)
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.strings(self.values[node.id])
        return []  # computed from configuration (custom labels): empty by default


def metrics_in(source: str, constants: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every prometheus_client metric constructed in `source`: exposed name -> type and labels."""
    tree = ast.parse(source)
    out: dict[str, dict[str, Any]] = {}
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    module = _Scope([n for n in tree.body if isinstance(n, ast.Assign)], constants or {})
    for fn in [tree, *functions]:
        scope = module if fn is tree else _Scope(fn.body, constants or {}, module)
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call) or _type_of(node) is None:
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            name = scope.string(kw.get("name", node.args[0] if node.args else None))
            if name is None:
                continue
            labels = scope.strings(kw.get("labelnames", node.args[2] if len(node.args) > 2 else None))
            type_ = _type_of(node)
            exposed = name + "_total" if type_ == "counter" and not name.endswith("_total") else name
            out[exposed] = {"type": type_, "labels": sorted(labels)}
    return out


def series(name: str, facts: dict[str, Any]) -> list[str]:
    """The series names one metric of a facts file is exposed as."""
    t = facts["metrics"][name]["type"]
    if t == "histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count"]
    if t == "summary":
        return [f"{name}_sum", f"{name}_count"]
    return [name]


def load(exporter: str, data: Path = DATA) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((data / f"{exporter}.json").read_text())
    return result


def _installed(dist: str, pinned: str) -> Path:
    version = metadata.version(dist)
    if version != pinned:
        raise SystemExit(f"{dist} {version} is installed, {pinned} is pinned: pip install {dist}=={pinned}")
    return Path(str(metadata.distribution(dist).locate_file("")))


def derive_mlserver() -> dict[str, Any]:
    site = _installed("mlserver", MLSERVER)
    _installed("starlette-exporter", STARLETTE_EXPORTER)
    metrics: dict[str, Any] = {}
    files = ["mlserver/handlers/dataplane.py", "mlserver/parallel/dispatcher.py"]
    for f in files:
        metrics.update(metrics_in((site / f).read_text()))
    # MLServer mounts starlette-exporter with prefix=settings.metrics_rest_server_prefix ("rest_server").
    exporter = "starlette_exporter/middleware.py"
    metrics.update(metrics_in((site / exporter).read_text(), {"self.prefix": "rest_server"}))
    return {
        "exporter": "mlserver",
        "version": MLSERVER,
        "source": f"SeldonIO/MLServer@{MLSERVER} {', '.join(files)}; "
        f"stephenhillier/starlette_exporter@v{STARLETTE_EXPORTER} {exporter} (prefix rest_server)",
        "metrics": dict(sorted(metrics.items())),
    }


def derive_vllm(src: Path) -> dict[str, Any]:
    path = "vllm/v1/metrics/loggers.py"
    metrics = {k: v for k, v in metrics_in((src / path).read_text()).items() if k.startswith("vllm:")}
    return {
        "exporter": "vllm",
        "version": VLLM,
        "source": f"pypi:vllm=={VLLM} {path}",
        "metrics": dict(sorted(metrics.items())),
    }


def derive_pfi(src: Path) -> dict[str, Any]:
    path = "prometheus_fastapi_instrumentator/metrics.py"
    tree_source = (src / path).read_text()
    # Only the default instrumentation (metrics.default), which vLLM's API server mounts.
    fn = next(n for n in ast.walk(ast.parse(tree_source)) if isinstance(n, ast.FunctionDef) and n.name == "default")
    metrics = metrics_in(ast.unparse(fn))
    return {
        "exporter": "prometheus-fastapi-instrumentator",
        "version": PROMETHEUS_FASTAPI_INSTRUMENTATOR,
        "source": f"pypi:prometheus-fastapi-instrumentator=={PROMETHEUS_FASTAPI_INSTRUMENTATOR} {path} (default())",
        "metrics": dict(sorted(metrics.items())),
    }


def render(facts: dict[str, Any]) -> str:
    return json.dumps(facts, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlplatform.stacks.facts.serving_metrics", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--vllm-src", help=f"the vllm=={VLLM} wheel, unpacked")
    parser.add_argument("--pfi-src", help="prometheus-fastapi-instrumentator's unpacked wheel")
    parser.add_argument("--out", default=str(DATA))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    facts = [derive_mlserver()]
    if args.vllm_src:
        facts.append(derive_vllm(Path(args.vllm_src)))
    if args.pfi_src:
        facts.append(derive_pfi(Path(args.pfi_src)))
    runtime = Path(__file__).resolve().parents[1] / "templates" / "serving" / "mlplatform_runtime.py"
    facts.append(
        {
            "exporter": "mlplatform-runtime",
            "version": MLSERVER,
            "source": "mlplatform stacks/templates/serving/mlplatform_runtime.py (inside MLServer)",
            "metrics": metrics_in(runtime.read_text()),
        }
    )
    for f in facts:
        path = out / f"{f['exporter']}.json"
        path.write_text(render(f))
        print(f"wrote {path} ({len(f['metrics'])} metrics)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Derive the metric names each pinned exporter emits from its own source into `stacks/data/metrics/`.

    python -m mlplatform.stacks.facts.metrics --mirror /work/.mirror --wheels /tmp/wheels [--check]

`--mirror` is a folder of bare git mirrors named `<owner>+<name>/repo` (the repositories below, read at
the tag of the pinned version with `git show <ref>:<path>`); `--wheels` a folder with the pinned PyPI
distributions unpacked or as wheels (`pip download --no-deps mlflow==<pin> prometheus-flask-exporter`).
One file per exporter:

    {"exporter", "version", "source": "<repo>@<ref> <path>", "metrics": {"<name>": {"type", "labels"}}}

| exporter | pinned by | source parsed |
|---|---|---|
| dcgm-exporter | the counters CSV the plan mounts (components/monitoring.DCGM_COUNTERS), each field checked against the exporter's own field list | NVIDIA/dcgm-exporter etc/dcp-metrics-included.csv |
| kube-state-metrics | kube-prometheus-stack 88.5.3 -> kube-state-metrics chart 8.4.0 -> v2.20.0 | docs/metrics/**/*.md tables, each name checked in internal/store/*.go |
| kubelet | Kubernetes (versions.KUBERNETES_VERSION) | recorded, not derived here: pkg/kubelet/metrics/collectors/volume_stats.go read with the search tools (the repository's snapshot, 1.9 GB, is more than the mirror tools bring: 500 MB) |
| cadvisor | the cAdvisor the kubelet embeds | metrics/prometheus.go |
| arc-listener | gha-runner-scale-set 0.14.2 | cmd/ghalistener/metrics/metrics.go (default metrics) |
| mlflow | MLflow 3.15.1 (mlflow chart 1.11.5 appVersion) | mlflow/server/prometheus_exporter.py + prometheus_flask_exporter |
| prometheus | Prometheus v3.14.0 (kube-prometheus-stack 88.5.3 values prometheus.prometheusSpec.image.tag): the series it writes for every scrape | scrape/scrape.go (the report samples `scrapeLoop.report` always appends; the extra ones need `extra_scrape_metrics`) |
| mlplatform-drift | this repository's drift job | components/drift.DRIFT_METRICS |

A source that cannot be read here (the Kubernetes repository is too large to mirror) keeps its
committed file, whose `source` says where the names were read. `tests/test_metric_facts.py` re-derives
and compares when `MLPLATFORM_METRIC_SOURCES=<mirror>:<wheels>` is given; otherwise it checks every rule
and dashboard of every profile's plan against these files.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "metrics"

KSM_VERSION = "v2.20.0"  # kube-prometheus-stack 88.5.3 -> kube-state-metrics chart 8.4.0 appVersion
DCGM_TAG = "4.5.3-4.8.2"  # dcgm-exporter chart 4.8.2 appVersion 4.8.2 (DCGM 4.5.3)
ARC_TAG = "gha-runner-scale-set-0.14.2"
CADVISOR_TAG = "v0.53.0"
PROMETHEUS_TAG = "v3.14.0"  # kube-prometheus-stack 88.5.3 values.yaml prometheus.prometheusSpec.image.tag
# The target labels Prometheus puts on its own per-scrape series (jobs_instances: up and scrape_*).
SCRAPE_LABELS = ["instance", "job"]
MLFLOW_VERSION = "3.15.1"
# The labels the kubelet's cAdvisor endpoint puts on every container series (kubelet server.go
# containerPrometheusLabelsFunc) before each metric's own extra labels.
CADVISOR_BASE_LABELS = ["container", "id", "image", "name", "namespace", "pod"]
# dcgm-exporter's labels on every field (pkg/dcgmexporter: gpu, UUID, ...) plus the pod mapping.
DCGM_LABELS = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "namespace", "pod", "container"]

Reader = Callable[[str, str, str], str]  # (owner/name, ref, path) -> text


class SourceMissing(Exception):
    pass


def mirror_reader(mirror: Path) -> Reader:
    def read(repo: str, ref: str, path: str) -> str:
        git_dir = mirror / repo.replace("/", "+") / "repo"
        if not git_dir.exists():
            raise SourceMissing(f"{repo} is not mirrored in {mirror}")
        done = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{ref}:{path}"], capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise SourceMissing(f"{repo}@{ref} {path}: {done.stderr.strip()}")
        return done.stdout

    return read


def list_tree(mirror: Path, repo: str, ref: str, folder: str) -> list[str]:
    git_dir = mirror / repo.replace("/", "+") / "repo"
    if not git_dir.exists():
        raise SourceMissing(f"{repo} is not mirrored in {mirror}")
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", ref, folder],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line]


def wheel_file(wheels: Path, dist: str, version: str | None, member: str) -> tuple[str, str]:
    """(text, wheel file name) of `member` in the wheel of `dist` (at `version`, or the only one)."""
    pattern = f"{dist.replace('-', '_')}-{version or '*'}-*.whl"
    found = sorted(wheels.glob(pattern))
    if not found:
        raise SourceMissing(f"no {pattern} in {wheels}")
    with zipfile.ZipFile(found[-1]) as z:
        return z.read(member).decode(), found[-1].name


def _doc(exporter: str, version: str, source: str, metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "exporter": exporter,
        "version": version,
        "source": source,
        "metrics": {k: metrics[k] for k in sorted(metrics)},
    }


# -- parsers (each takes the upstream text) --------------------------------------------------------
def parse_ksm_markdown(text: str) -> dict[str, dict[str, Any]]:
    """kube-state-metrics docs tables: | name | type | description | labels | status |."""
    out: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(r"kube_[a-z0-9_]+", cells[0]):
            continue
        labels = sorted(set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`\s*=", line)))
        out[cells[0]] = {"type": cells[1].lower(), "labels": labels}
    return out


def parse_arc(text: str) -> dict[str, dict[str, Any]]:
    """The listener's default metrics: names from the Metric* constants, labels from defaultMetrics."""
    consts = dict(re.findall(r'(Metric\w+)\s*=\s*"(gha_\w+)"', text))
    label_consts = dict(re.findall(r'(labelKey\w+)\s*=\s*"(\w+)"', text))
    block = text[text.index("var defaultMetrics") :]
    out: dict[str, dict[str, Any]] = {}
    kind = None
    for line in block.splitlines():
        m = re.match(r"\s*(Counters|Gauges|Histograms):", line)
        if m:
            kind = {"Counters": "counter", "Gauges": "gauge", "Histograms": "histogram"}[m.group(1)]
            continue
        m = re.match(r"\s*(Metric\w+):\s*\{", line)
        if m and kind:
            current = consts[m.group(1)]
            out[current] = {"type": kind, "labels": []}
            continue
        m = re.match(r"\s*(labelKey\w+),", line)
        if m and out:
            out[list(out)[-1]]["labels"].append(label_consts[m.group(1)])
        if line.startswith("}"):
            break
    for v in out.values():
        v["labels"] = sorted(v["labels"])
    return out


def parse_cadvisor(text: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m in re.finditer(r'name:\s*"(container_\w+)",(.*?)getValues', text, re.S):
        body = m.group(2)
        kind = "counter" if "CounterValue" in body else "gauge"
        extra = re.search(r"extraLabels:\s*\[\]string\{([^}]*)\}", body)
        labels = re.findall(r'"(\w+)"', extra.group(1)) if extra else []
        out[m.group(1)] = {"type": kind, "labels": sorted(set(CADVISOR_BASE_LABELS + labels))}
    return out


def parse_flask_exporter(exporter_py: str, flask_exporter_py: str) -> dict[str, dict[str, Any]]:
    """prometheus_flask_exporter's default metrics under MLflow's prefix and group_by."""
    prefix = re.search(r'defaults_prefix="(\w+)"', exporter_py)
    group = re.search(r"group_by=(\w+)", exporter_py)
    if not prefix or not group:
        raise SourceMissing("mlflow's prometheus_exporter.py no longer sets defaults_prefix and group_by")
    out: dict[str, dict[str, Any]] = {}
    for m in re.finditer(
        r"(Histogram|Summary|Counter|self\.info)\(\s*'%s(\w+)' % prefix,(.*?)\)", flask_exporter_py, re.S
    ):
        ctor, name, rest = m.groups()
        name = f"{prefix.group(1)}_{name}"
        if ctor == "self.info":
            out[name] = {"type": "gauge", "labels": ["version"]}
            continue
        labels = ["method", "status"] + ([group.group(1)] if "duration_group_name" in rest else [])
        kind = {"Histogram": "histogram", "Summary": "summary", "Counter": "counter"}[ctor]
        if name in out and kind == "summary":  # the Summary variant only when latency_as_histogram=False
            continue
        out[name] = {"type": kind, "labels": sorted(labels)}
    return out


def parse_prometheus_report(text: str) -> dict[str, dict[str, Any]]:
    """The series Prometheus writes for every scrape: the `reportSample`s `scrapeLoop.report` appends before
    its `if sl.reportExtraMetrics` block (the others only with the `extra_scrape_metrics` option)."""
    samples = {
        var: (name, kind.lower())
        for var, name, kind in re.findall(
            r'(\w+)\s*=\s*reportSample\{\s*name:\s*\[\]byte\("(\w+)"[^}]*?Type:\s*model\.MetricType(\w+)', text, re.S
        )
    }
    start = text.find("func (sl *scrapeLoop) report(")
    if start < 0 or not samples:
        raise SourceMissing("scrape/scrape.go no longer defines reportSample values and scrapeLoop.report")
    body = text[start:]
    body = body[: body.find("if sl.reportExtraMetrics")]
    used = re.findall(r"addReportSample\((\w+),", body)
    if not used or any(u not in samples for u in used):
        raise SourceMissing("scrapeLoop.report appends samples this parser does not know")
    return {samples[u][0]: {"type": samples[u][1], "labels": list(SCRAPE_LABELS)} for u in used}


def dcgm_fields(text: str) -> set[str]:
    return {line.split(",")[0].strip().lstrip("# ").strip() for line in text.splitlines() if "DCGM_FI_" in line}


# -- derivation ------------------------------------------------------------------------------------
def derive(mirror: Path | None, wheels: Path | None) -> dict[str, dict[str, Any]]:
    """Every exporter whose source is readable here: exporter -> its facts document."""
    from mlplatform.components.monitoring import DCGM_COUNTERS

    out: dict[str, dict[str, Any]] = {}
    if mirror is not None:
        read = mirror_reader(mirror)
        ksm_repo = "kubernetes/kube-state-metrics"
        docs = [p for p in list_tree(mirror, ksm_repo, KSM_VERSION, "docs/metrics") if p.endswith(".md")]
        store = "\n".join(
            read(ksm_repo, KSM_VERSION, p)
            for p in list_tree(mirror, ksm_repo, KSM_VERSION, "internal/store")
            if p.endswith(".go") and not p.endswith("_test.go")
        )
        ksm: dict[str, dict[str, Any]] = {}
        for path in docs:
            ksm.update(parse_ksm_markdown(read(ksm_repo, KSM_VERSION, path)))
        # A documented name the code no longer builds is not emitted.
        ksm = {k: v for k, v in ksm.items() if f'"{k}"' in store or f'"{k.removeprefix("kube_")}"' in store}
        out["kube-state-metrics"] = _doc(
            "kube-state-metrics", KSM_VERSION, f"{ksm_repo}@{KSM_VERSION} docs/metrics/**/*.md", ksm
        )

        arc_path = "cmd/ghalistener/metrics/metrics.go"
        arc_repo = "actions/actions-runner-controller"
        out["arc-listener"] = _doc(
            "arc-listener", ARC_TAG, f"{arc_repo}@{ARC_TAG} {arc_path}", parse_arc(read(arc_repo, ARC_TAG, arc_path))
        )

        cad_path = "metrics/prometheus.go"
        out["cadvisor"] = _doc(
            "cadvisor",
            CADVISOR_TAG,
            f"google/cadvisor@{CADVISOR_TAG} {cad_path}",
            parse_cadvisor(read("google/cadvisor", CADVISOR_TAG, cad_path)),
        )

        scrape_path = "scrape/scrape.go"
        out["prometheus"] = _doc(
            "prometheus",
            f"{PROMETHEUS_TAG} (kube-prometheus-stack 88.5.3)",
            f"prometheus/prometheus@{PROMETHEUS_TAG} {scrape_path} (scrapeLoop.report)",
            parse_prometheus_report(read("prometheus/prometheus", PROMETHEUS_TAG, scrape_path)),
        )

        dcgm_path = "etc/dcp-metrics-included.csv"
        known = dcgm_fields(read("NVIDIA/dcgm-exporter", DCGM_TAG, dcgm_path))
        unknown = [f for f, _, _ in DCGM_COUNTERS if f not in known]
        if unknown:
            raise SourceMissing(f"dcgm-exporter {DCGM_TAG} has no field(s) {', '.join(unknown)}")
        out["dcgm-exporter"] = _doc(
            "dcgm-exporter",
            DCGM_TAG,
            f"NVIDIA/dcgm-exporter@{DCGM_TAG} {dcgm_path} (the fields of the plan's counters CSV, "
            "components/monitoring.DCGM_COUNTERS)",
            {f: {"type": kind, "labels": sorted(DCGM_LABELS)} for f, kind, _ in DCGM_COUNTERS},
        )
    # The drift job this repository ships (stacks/monitoring/drift.py pushes components/drift.DRIFT_METRICS
    # through the Pushgateway, which keeps the pushed labels: honorLabels).
    from mlplatform.components.drift import DRIFT_METRICS

    out["mlplatform-drift"] = _doc(
        "mlplatform-drift",
        "this repository",
        "mlplatform@HEAD components/drift.py (DRIFT_METRICS, pushed by stacks/monitoring/drift.py)",
        {n: {"type": t, "labels": sorted(labels)} for n, (t, labels) in DRIFT_METRICS.items()},
    )
    if wheels is not None:
        exporter_py, mlflow_wheel = wheel_file(wheels, "mlflow", MLFLOW_VERSION, "mlflow/server/prometheus_exporter.py")
        flask_py, flask_wheel = wheel_file(
            wheels, "prometheus-flask-exporter", None, "prometheus_flask_exporter/__init__.py"
        )
        out["mlflow"] = _doc(
            "mlflow",
            MLFLOW_VERSION,
            f"pypi:{mlflow_wheel} mlflow/server/prometheus_exporter.py + pypi:{flask_wheel} "
            "prometheus_flask_exporter/__init__.py",
            parse_flask_exporter(exporter_py, flask_py),
        )
    return out


def load_all() -> dict[str, dict[str, Any]]:
    """The committed facts: exporter -> document."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))}


def emitted_names() -> dict[str, str]:
    """Every series name an exporter emits -> the exporter (histograms: _bucket/_sum/_count; summaries:
    _sum/_count and the metric; counters also as written, prometheus_client's _created)."""
    out: dict[str, str] = {}
    for exporter, doc in load_all().items():
        for name, m in doc["metrics"].items():
            suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}.get(
                m["type"], ("",)
            )
            for s in suffixes:
                out[f"{name}{s}"] = exporter
    return out


def write(docs: dict[str, dict[str, Any]]) -> list[Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    written = []
    for exporter, doc in docs.items():
        path = DATA / f"{exporter}.json"
        path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, help="folder of git mirrors (<owner>+<name>/repo)")
    parser.add_argument(
        "--wheels", type=Path, help="folder with the pinned mlflow and prometheus-flask-exporter wheels"
    )
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = parser.parse_args(argv)
    try:
        docs = derive(args.mirror, args.wheels)
    except SourceMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.check:
        committed = load_all()
        stale = [k for k, v in docs.items() if committed.get(k) != v]
        for k in stale:
            print(f"stacks/data/metrics/{k}.json differs from its source", file=sys.stderr)
        return 1 if stale else 0
    for path in write(docs):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

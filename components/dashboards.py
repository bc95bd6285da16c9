"""Grafana dashboards of the ML platform, built with Grafana's own `grafana-foundation-sdk`.

Every dashboard has a `datasource` variable (any Prometheus data source), real PromQL on metrics that
the stack's exporters publish, and explicit, unique panel ids. `Monitoring` ships each one as a
ConfigMap that the Grafana sidecar loads.

| dashboard | uid | metrics from |
|---|---|---|
| GPUs | mlplatform-gpu | dcgm-exporter (per node, GPU and pod) |
| GPU cost | mlplatform-gpu-cost | kube-state-metrics (GPUs on nodes = billed) + dcgm-exporter (busy) |
| Training jobs | mlplatform-training | kube-state-metrics Job / Pod metrics + dcgm-exporter |
| MLflow | mlplatform-mlflow | kube-state-metrics, kubelet/cAdvisor, MLflow's `--expose-prometheus` metrics |
| Model serving | mlplatform-model-serving | the conventional model metrics below |

Model-serving convention: any served model that exposes these metrics on a container port named
`metrics` (path `/metrics`) from a pod labelled `mlplatform.io/model-metrics: "true"` shows up on the
model-serving dashboard (`Monitoring` creates the PodMonitor that scrapes such pods):

    model_requests_total{model, version, code}                counter   requests answered (code: HTTP status)
    model_request_duration_seconds{model, version}            histogram time to answer one request
    model_prediction_value{model, version}                    histogram predicted value / score
    model_predictions_total{model, version, class}            counter   predictions per class (classifiers)
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, dashboard, heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueGraphMode, StackingMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

# The conventional model-serving metrics (name -> (type, labels, meaning)).
MODEL_METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "model_requests_total": ("counter", ("model", "version", "code"), "requests answered; code is the HTTP status"),
    "model_request_duration_seconds": ("histogram", ("model", "version"), "time to answer one request"),
    "model_prediction_value": ("histogram", ("model", "version"), "predicted value or score"),
    "model_predictions_total": ("counter", ("model", "version", "class"), "predictions per class (classifiers)"),
}
MODEL_METRICS_PORT = "metrics"

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
GRID_WIDTH = 24
# Resolution of the GPU-hour integrals: one sample per 5 minutes = 5/60 of an hour.
_STEP = "5m"
_HOURS_PER_STEP = "5 / 60"


def q(expr: str, legend: str = "", instant: bool = False, fmt: PromQueryFormat | None = None) -> prometheus.Dataquery:
    """A Prometheus query on the dashboard's data source."""
    query = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    if instant:
        query = query.instant()
    if fmt is not None:
        query = query.format(fmt)
    return query


class Board:
    """A dashboard under construction: places panels left to right on the 24-column grid, gives each
    panel and row a unique id and the `${datasource}` data source, and renders JSON."""

    def __init__(self, uid: str, title: str, description: str):
        self._builder = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["mlplatform"])
            .time("now-6h", "now")
            .refresh("1m")
            .timezone("browser")
            .editable()
            .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        )
        self._id = 0
        self._x = self._y = self._line_height = 0

    def _next_id(self) -> int:
        self._id += 1
        return self._id

    def variable(self, name: str, label: str, query: str, include_all: bool = True) -> Board:
        """A multi-value query variable (label_values(...)); `All` matches everything."""
        self._builder.with_variable(
            dashboard.QueryVariable(name)
            .label(label)
            .datasource(DATASOURCE)
            .query(query)
            .multi(True)
            .include_all(include_all)
            .all_value(".*")
        )
        return self

    def textbox(self, name: str, label: str, default: str) -> Board:
        self._builder.with_variable(dashboard.TextBoxVariable(name).label(label).default_value(default))
        return self

    def row(self, title: str) -> Board:
        self._newline()
        self._builder.with_row(
            dashboard.Row(title).id(self._next_id()).grid_pos(GridPos(h=1, w=GRID_WIDTH, x=0, y=self._y))
        )
        self._y += 1
        return self

    def add(self, panel: Any, w: int, h: int) -> Board:
        if self._x + w > GRID_WIDTH:
            self._newline()
        panel.id(self._next_id()).datasource(DATASOURCE).grid_pos(GridPos(h=h, w=w, x=self._x, y=self._y))
        self._builder.with_panel(panel)
        self._x += w
        self._line_height = max(self._line_height, h)
        return self

    def _newline(self) -> None:
        self._y += self._line_height
        self._x = self._line_height = 0

    def build(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._builder.build(), cls=JSONEncoder))


# -- panel shorthands ------------------------------------------------------------------------------
def _refs(queries: list[prometheus.Dataquery]) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    return [query.ref_id(chr(ord("A") + i)) for i, query in enumerate(queries)]


def series(
    title: str,
    unit: str,
    *queries: prometheus.Dataquery,
    description: str = "",
    stacked: bool = False,
    lo: float | None = None,
    hi: float | None = None,
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).targets(_refs(list(queries))).fill_opacity(10)
    if description:
        panel = panel.description(description)
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(40)
    if lo is not None:
        panel = panel.min(lo)
    if hi is not None:
        panel = panel.max(hi)
    return panel


def single(
    title: str, unit: str, query: prometheus.Dataquery, description: str = "", decimals: float | None = None
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .unit(unit)
        .targets(_refs([query]))
        .graph_mode(BigValueGraphMode.AREA)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if description:
        panel = panel.description(description)
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def bars(title: str, unit: str, query: prometheus.Dataquery, description: str = "") -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .unit(unit)
        .targets(_refs([query]))
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    return panel.description(description) if description else panel


def rows_table(title: str, unit: str, query: prometheus.Dataquery, description: str = "") -> table.Panel:
    panel = table.Panel().title(title).unit(unit).targets(_refs([query]))
    return panel.description(description) if description else panel


def histogram_heatmap(title: str, unit: str, bucket_expr: str, description: str = "") -> heatmap.Panel:
    """A heatmap of a Prometheus histogram (`..._bucket` series summed by `le`)."""
    panel = (
        heatmap.Panel()
        .title(title)
        .targets(_refs([q(bucket_expr, "{{le}}", fmt=PromQueryFormat.HEATMAP)]))
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit(unit))
    )
    return panel.description(description) if description else panel


def gpu_hours(inner: str) -> str:
    """GPU-hours over the dashboard's time range of a GPU count expression (integrated every 5 min)."""
    return f"sum_over_time(({inner} or vector(0))[$__range:{_STEP}]) * {_HOURS_PER_STEP}"


# -- the dashboards ----------------------------------------------------------------------------
# dcgm-exporter labels each GPU series with `node` (set by the ServiceMonitor), `gpu`, `UUID`,
# `modelName` and, while a pod holds the GPU, that pod's `namespace`, `pod` and `container`.
BILLED_GPUS = 'sum(kube_node_status_capacity{resource="nvidia_com_gpu"})'
ALLOCATED_GPUS = 'count(DCGM_FI_DEV_GPU_UTIL{pod!=""})'
BUSY_GPUS = "count(DCGM_FI_DEV_GPU_UTIL >= 10)"


def gpu_dashboard() -> dict[str, Any]:
    n = 'node=~"$node"'
    fb_ratio = f"DCGM_FI_DEV_FB_USED{{{n}}} / (DCGM_FI_DEV_FB_USED{{{n}}} + DCGM_FI_DEV_FB_FREE{{{n}}})"
    return (
        Board(
            "mlplatform-gpu", "GPUs", "GPU utilisation, memory, power and health per node, GPU and pod (dcgm-exporter)."
        )
        .variable("node", "Node", "label_values(DCGM_FI_DEV_GPU_UTIL, node)")
        .row("Fleet")
        .add(single("GPUs reporting", "none", q(f"count(DCGM_FI_DEV_GPU_UTIL{{{n}}}) or vector(0)")), 4, 4)
        .add(single("GPUs held by pods", "none", q(f'count(DCGM_FI_DEV_GPU_UTIL{{{n}, pod!=""}}) or vector(0)')), 4, 4)
        .add(single("Mean utilisation", "percent", q(f"avg(DCGM_FI_DEV_GPU_UTIL{{{n}}})"), decimals=0), 4, 4)
        .add(
            single(
                "Framebuffer used",
                "percentunit",
                q(
                    f"sum(DCGM_FI_DEV_FB_USED{{{n}}}) / (sum(DCGM_FI_DEV_FB_USED{{{n}}}) + sum(DCGM_FI_DEV_FB_FREE{{{n}}}))"
                ),
            ),
            4,
            4,
        )
        .add(single("Power draw", "watt", q(f"sum(DCGM_FI_DEV_POWER_USAGE{{{n}}})"), decimals=0), 4, 4)
        .add(
            single("GPUs with an XID error", "none", q(f"count(DCGM_FI_DEV_XID_ERRORS{{{n}}} > 0) or vector(0)")), 4, 4
        )
        .row("Utilisation")
        .add(
            series(
                "Utilisation per GPU",
                "percent",
                q(f"DCGM_FI_DEV_GPU_UTIL{{{n}}}", "{{node}} GPU {{gpu}}"),
                lo=0,
                hi=100,
            ),
            12,
            8,
        )
        .add(
            series(
                "Utilisation per pod",
                "percent",
                q(f'avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{{{n}, pod!=""}})', "{{namespace}}/{{pod}}"),
                lo=0,
                hi=100,
            ),
            12,
            8,
        )
        .add(
            series(
                "Tensor core activity per GPU",
                "percentunit",
                q(f"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{n}}}", "{{node}} GPU {{gpu}}"),
                lo=0,
                hi=1,
                description="Share of cycles the tensor pipes are busy: low while utilisation is high means "
                "the job is not using mixed precision / tensor cores.",
            ),
            12,
            8,
        )
        .add(
            series(
                "Graphics engine activity per GPU",
                "percentunit",
                q(f"DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{n}}}", "{{node}} GPU {{gpu}}"),
                lo=0,
                hi=1,
            ),
            12,
            8,
        )
        .row("Memory")
        .add(series("Framebuffer used per GPU", "percentunit", q(fb_ratio, "{{node}} GPU {{gpu}}"), lo=0, hi=1), 8, 8)
        .add(
            series(
                "Framebuffer used per GPU (MiB)", "mbytes", q(f"DCGM_FI_DEV_FB_USED{{{n}}}", "{{node}} GPU {{gpu}}")
            ),
            8,
            8,
        )
        .add(
            series(
                "Framebuffer used per pod (MiB)",
                "mbytes",
                q(f'sum by (namespace, pod) (DCGM_FI_DEV_FB_USED{{{n}, pod!=""}})', "{{namespace}}/{{pod}}"),
            ),
            8,
            8,
        )
        .row("Power and health")
        .add(series("Power per GPU", "watt", q(f"DCGM_FI_DEV_POWER_USAGE{{{n}}}", "{{node}} GPU {{gpu}}")), 8, 8)
        .add(
            series(
                "Power per pod",
                "watt",
                q(f'sum by (namespace, pod) (DCGM_FI_DEV_POWER_USAGE{{{n}, pod!=""}})', "{{namespace}}/{{pod}}"),
            ),
            8,
            8,
        )
        .add(series("Temperature per GPU", "celsius", q(f"DCGM_FI_DEV_GPU_TEMP{{{n}}}", "{{node}} GPU {{gpu}}")), 8, 8)
        .add(
            series(
                "Time throttled (power, thermal)",
                "percentunit",
                q(f"rate(DCGM_FI_DEV_POWER_VIOLATION{{{n}}}[$__rate_interval]) / 1e9", "power {{node}} GPU {{gpu}}"),
                q(
                    f"rate(DCGM_FI_DEV_THERMAL_VIOLATION{{{n}}}[$__rate_interval]) / 1e9",
                    "thermal {{node}} GPU {{gpu}}",
                ),
                lo=0,
            ),
            12,
            8,
        )
        .add(
            rows_table(
                "Last XID error per GPU",
                "none",
                q(f"DCGM_FI_DEV_XID_ERRORS{{{n}}} > 0", instant=True, fmt=PromQueryFormat.TABLE),
                description="Look the code up in NVIDIA's XID catalogue: 48, 63, 64, 74, 79, 92, 94, 95 are "
                "hardware (drain the node); 13, 31, 43 are usually the application.",
            ),
            12,
            8,
        )
        .build()
    )


def gpu_cost_dashboard(usd_per_gpu_hour: float | None = None) -> dict[str, Any]:
    billed, allocated, busy = gpu_hours(BILLED_GPUS), gpu_hours(ALLOCATED_GPUS), gpu_hours(BUSY_GPUS)
    board = Board(
        "mlplatform-gpu-cost",
        "GPU cost",
        "Billed GPU-hours (GPUs on running nodes) against GPU-hours held by pods and GPU-hours "
        "actually busy (>= 10 % utilisation), over the selected time range.",
    )
    if usd_per_gpu_hour is not None:
        board.textbox("usd_per_gpu_hour", "USD per GPU-hour", f"{usd_per_gpu_hour:g}")
    board = (
        board.row("Over the selected range")
        .add(
            single(
                "Billed GPU-hours",
                "none",
                q(billed),
                "GPUs on nodes that exist (and bill), integrated over time.",
                decimals=1,
            ),
            6,
            4,
        )
        .add(single("GPU-hours held by pods", "none", q(allocated), decimals=1), 6, 4)
        .add(single("Busy GPU-hours", "none", q(busy), "GPU-hours with utilisation of 10 % or more.", decimals=1), 6, 4)
        .add(single("Idle share of billed GPU-hours", "percentunit", q(f"1 - ({busy}) / ({billed})"), decimals=1), 6, 4)
    )
    if usd_per_gpu_hour is not None:
        board = board.add(
            single("Billed GPU cost", "currencyUSD", q(f"({billed}) * $usd_per_gpu_hour"), decimals=0), 12, 4
        ).add(
            single(
                "Cost of idle GPU-hours", "currencyUSD", q(f"(({billed}) - ({busy})) * $usd_per_gpu_hour"), decimals=0
            ),
            12,
            4,
        )
    return (
        board.row("Over time")
        .add(
            series(
                "GPUs: billed, held by pods, busy",
                "none",
                q(BILLED_GPUS, "billed (on running nodes)"),
                q(ALLOCATED_GPUS, "held by pods"),
                q(BUSY_GPUS, "busy (>= 10 %)"),
                lo=0,
            ),
            16,
            8,
        )
        .add(
            series(
                "GPUs requested by pending pods",
                "none",
                q(
                    'sum(kube_pod_container_resource_requests{resource="nvidia_com_gpu"} * on (namespace, pod) '
                    'group_left () (kube_pod_status_phase{phase="Pending"} == 1)) or vector(0)',
                    "waiting for a GPU",
                ),
                description="Pods waiting for a GPU node (scale-up in progress, or a pool at its limit).",
                lo=0,
            ),
            8,
            8,
        )
        .row("Who")
        .add(
            bars(
                "Idle GPU-hours by node",
                "none",
                q(
                    f"sum_over_time(count by (node) (DCGM_FI_DEV_GPU_UTIL < 10)[$__range:{_STEP}]) * {_HOURS_PER_STEP}",
                    "{{node}}",
                    instant=True,
                ),
            ),
            8,
            8,
        )
        .add(
            bars(
                "GPU-hours held by namespace",
                "none",
                q(
                    f'sum_over_time(count by (namespace) (DCGM_FI_DEV_GPU_UTIL{{pod!=""}})[$__range:{_STEP}]) '
                    f"* {_HOURS_PER_STEP}",
                    "{{namespace}}",
                    instant=True,
                ),
            ),
            8,
            8,
        )
        .add(
            bars(
                "Mean utilisation of held GPUs by namespace",
                "percent",
                q(
                    'avg by (namespace) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{pod!=""}[$__range]))',
                    "{{namespace}}",
                    instant=True,
                ),
            ),
            8,
            8,
        )
        .build()
    )


def training_dashboard() -> dict[str, Any]:
    ns = 'namespace=~"$namespace"'
    job_pods = 'max by (namespace, pod, owner_name) (kube_pod_owner{owner_kind="Job"})'
    return (
        Board(
            "mlplatform-training",
            "Training jobs",
            "Kubernetes Jobs (kube-state-metrics) and the GPUs their pods use (dcgm-exporter).",
        )
        .variable("namespace", "Namespace", "label_values(kube_job_created, namespace)")
        .row("Now")
        .add(single("Running jobs", "none", q(f"count(kube_job_status_active{{{ns}}} > 0) or vector(0)")), 6, 4)
        .add(
            single(
                "Succeeded jobs", "none", q(f'count(kube_job_complete{{{ns}, condition="true"}} == 1) or vector(0)')
            ),
            6,
            4,
        )
        .add(
            single("Failed jobs", "none", q(f'count(kube_job_failed{{{ns}, condition="true"}} == 1) or vector(0)')),
            6,
            4,
        )
        .add(
            single(
                "GPUs requested by running job pods",
                "none",
                q(
                    f'sum(kube_pod_container_resource_requests{{resource="nvidia_com_gpu", {ns}}} '
                    f'* on (namespace, pod) group_left () max by (namespace, pod) (kube_pod_owner{{owner_kind="Job"}}) '
                    f'* on (namespace, pod) group_left () max by (namespace, pod) (kube_pod_status_phase{{phase="Running"}})) '
                    "or vector(0)"
                ),
            ),
            6,
            4,
        )
        .row("Jobs")
        .add(
            series(
                "Running jobs by namespace",
                "none",
                q(f"count by (namespace) (kube_job_status_active{{{ns}}} > 0)", "{{namespace}}"),
                stacked=True,
                lo=0,
            ),
            12,
            8,
        )
        .add(
            series(
                "Job pods by phase",
                "none",
                q(
                    f"sum by (phase) (kube_pod_status_phase{{{ns}}} * on (namespace, pod) group_left () "
                    f'max by (namespace, pod) (kube_pod_owner{{owner_kind="Job"}}))',
                    "{{phase}}",
                ),
                description="Pending job pods usually wait for a GPU node to start.",
                stacked=True,
                lo=0,
            ),
            12,
            8,
        )
        .add(
            rows_table(
                "Running jobs: time since start",
                "s",
                q(
                    f"(time() - kube_job_status_start_time{{{ns}}}) and on (namespace, job_name) "
                    f"(kube_job_status_active{{{ns}}} > 0)",
                    instant=True,
                    fmt=PromQueryFormat.TABLE,
                ),
            ),
            12,
            8,
        )
        .add(
            rows_table(
                "Finished jobs: duration",
                "s",
                q(
                    f"kube_job_status_completion_time{{{ns}}} - kube_job_status_start_time{{{ns}}}",
                    instant=True,
                    fmt=PromQueryFormat.TABLE,
                ),
            ),
            12,
            8,
        )
        .row("GPUs of jobs")
        .add(
            series(
                "GPU utilisation by job",
                "percent",
                q(
                    f'avg by (namespace, owner_name) (DCGM_FI_DEV_GPU_UTIL{{pod!="", {ns}}} '
                    f"* on (namespace, pod) group_left (owner_name) {job_pods})",
                    "{{namespace}}/{{owner_name}}",
                ),
                lo=0,
                hi=100,
            ),
            12,
            8,
        )
        .add(
            series(
                "GPU memory by job (MiB)",
                "mbytes",
                q(
                    f'sum by (namespace, owner_name) (DCGM_FI_DEV_FB_USED{{pod!="", {ns}}} '
                    f"* on (namespace, pod) group_left (owner_name) {job_pods})",
                    "{{namespace}}/{{owner_name}}",
                ),
                lo=0,
            ),
            12,
            8,
        )
        .add(
            series(
                "Failed job pods by namespace",
                "none",
                q(f"sum by (namespace) (kube_job_status_failed{{{ns}}})", "{{namespace}}"),
                lo=0,
            ),
            24,
            6,
        )
        .build()
    )


def mlflow_dashboard(namespace: str = "mlflow") -> dict[str, Any]:
    ns = f'namespace="{namespace}"'
    pods = f'{ns}, pod=~".*mlflow.*"'
    # MLflow's exporter (mlflow/server/prometheus_exporter.py: prometheus-flask-exporter with
    # defaults_prefix="mlflow") names its request metrics mlflow_http_request_*.
    flask = f"mlflow_http_request_total{{{ns}}}"
    return (
        Board(
            "mlplatform-mlflow",
            "MLflow server",
            f"Health of the MLflow tracking server in namespace {namespace}. Request panels need MLflow's "
            "Prometheus metrics (`mlflow_http_request_*`: the chart's serviceMonitor.enabled passes "
            "`--expose-prometheus` and creates the ServiceMonitor the stack's Prometheus scrapes).",
        )
        .row("Availability")
        .add(
            single(
                "Available replicas",
                "none",
                q(f'sum(kube_deployment_status_replicas_available{{{ns}, deployment=~".*mlflow.*"}}) or vector(0)'),
            ),
            6,
            4,
        )
        .add(
            single(
                "Desired replicas", "none", q(f'sum(kube_deployment_spec_replicas{{{ns}, deployment=~".*mlflow.*"}})')
            ),
            6,
            4,
        )
        .add(single("Scrape targets up", "none", q(f'sum(up{{{ns}, job=~".*mlflow.*"}}) or vector(0)')), 6, 4)
        .add(
            single(
                "Restarts (last hour)",
                "none",
                q(f"sum(increase(kube_pod_container_status_restarts_total{{{pods}}}[1h])) or vector(0)"),
                decimals=0,
            ),
            6,
            4,
        )
        .row("Requests")
        .add(
            series(
                "Requests per second by status",
                "reqps",
                q(f"sum by (status) (rate({flask}[$__rate_interval]))", "{{status}}"),
                stacked=True,
                lo=0,
            ),
            8,
            8,
        )
        .add(
            series(
                "Latency",
                "s",
                *[
                    q(
                        f"histogram_quantile({p}, sum by (le) "
                        f"(rate(mlflow_http_request_duration_seconds_bucket{{{ns}}}[$__rate_interval])))",
                        f"p{int(p * 100)}",
                    )
                    for p in (0.5, 0.95, 0.99)
                ],
                lo=0,
            ),
            8,
            8,
        )
        .add(
            series(
                "Server errors (5xx share)",
                "percentunit",
                q(
                    f'sum(rate(mlflow_http_request_total{{{ns}, status=~"5.."}}[$__rate_interval])) '
                    f"/ sum(rate({flask}[$__rate_interval]))",
                    "5xx",
                ),
                lo=0,
            ),
            8,
            8,
        )
        .row("Resources")
        .add(
            series(
                "CPU per pod",
                "short",
                q(
                    f'sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}, container!=""}}[$__rate_interval]))',
                    "{{pod}}",
                ),
                lo=0,
            ),
            12,
            8,
        )
        .add(
            series(
                "Memory working set per pod",
                "bytes",
                q(f'sum by (pod) (container_memory_working_set_bytes{{{pods}, container!=""}})', "{{pod}}"),
                lo=0,
            ),
            12,
            8,
        )
        .build()
    )


def model_serving_dashboard() -> dict[str, Any]:
    sel = 'namespace=~"$namespace", model=~"$model"'
    rate_of = lambda metric, extra="": f"rate({metric}{{{sel}{extra}}}[$__rate_interval])"  # noqa: E731
    latency = "model_request_duration_seconds_bucket"
    requests, errors = rate_of("model_requests_total"), rate_of("model_requests_total", ', code=~"5.."')
    return (
        Board(
            "mlplatform-model-serving",
            "Model serving",
            "Any served model exposing the conventional metrics (model_requests_total, "
            "model_request_duration_seconds, model_prediction_value, model_predictions_total) on a pod "
            'labelled mlplatform.io/model-metrics="true", port "metrics".',
        )
        .variable("namespace", "Namespace", "label_values(model_requests_total, namespace)")
        .variable("model", "Model", 'label_values(model_requests_total{namespace=~"$namespace"}, model)')
        .row("Traffic")
        .add(single("Requests per second", "reqps", q(f"sum({requests})")), 8, 4)
        .add(single("Error share (5xx)", "percentunit", q(f"sum({errors}) / sum({requests})")), 8, 4)
        .add(single("p95 latency", "s", q(f"histogram_quantile(0.95, sum by (le) ({rate_of(latency)}))")), 8, 4)
        .add(
            series(
                "Requests per second by model and version",
                "reqps",
                q(f"sum by (model, version) ({requests})", "{{model}} {{version}}"),
                stacked=True,
                lo=0,
            ),
            12,
            8,
        )
        .add(
            series(
                "Error share by model",
                "percentunit",
                q(f"sum by (model) ({errors}) / sum by (model) ({requests})", "{{model}}"),
                lo=0,
            ),
            12,
            8,
        )
        .row("Latency")
        .add(
            series(
                "Latency quantiles by model",
                "s",
                *[
                    q(
                        f"histogram_quantile({p}, sum by (model, le) ({rate_of(latency)}))",
                        f"{{{{model}}}} p{int(p * 100)}",
                    )
                    for p in (0.5, 0.95, 0.99)
                ],
                lo=0,
            ),
            12,
            8,
        )
        .add(
            histogram_heatmap(
                "Latency distribution", "s", f"sum by (le) (increase({latency}{{{sel}}}[$__rate_interval]))"
            ),
            12,
            8,
        )
        .row("Predictions")
        .add(
            histogram_heatmap(
                "Prediction distribution",
                "short",
                f"sum by (le) (increase(model_prediction_value_bucket{{{sel}}}[$__rate_interval]))",
                "Shifts here, with no change of model version, are a sign of input drift.",
            ),
            12,
            8,
        )
        .add(
            series(
                "Mean prediction by model and version",
                "short",
                q(
                    f"sum by (model, version) ({rate_of('model_prediction_value_sum')}) "
                    f"/ sum by (model, version) ({rate_of('model_prediction_value_count')})",
                    "{{model}} {{version}}",
                ),
            ),
            12,
            8,
        )
        .add(
            series(
                "Predicted class share",
                "percentunit",
                q(
                    f"sum by (model, class) ({rate_of('model_predictions_total')}) / ignoring (class) group_left () "
                    f"sum by (model) ({rate_of('model_predictions_total')})",
                    "{{model}} {{class}}",
                ),
                stacked=True,
                lo=0,
                hi=1,
            ),
            24,
            8,
        )
        .build()
    )


def drift_dashboard(models: list[str]) -> dict[str, Any]:
    """One drift panel per served model (score against its threshold), and the last run of each."""
    board = Board(
        "mlplatform-model-drift",
        "Model drift",
        "The drift job's scores (share of drifted columns, Evidently) per served model, pushed through the "
        "Pushgateway; ModelDrift fires when a score reaches its threshold. Per-column scores: monitoring.drift_features.",
    ).row("Drift score per model")
    for model in models:
        board.add(
            series(
                f"{model}: drift score",
                "percentunit",
                q(f'max by (digest) (mlplatform_model_drift_score{{model="{model}"}})', "score {{digest}}"),
                q(f'max(mlplatform_model_drift_threshold{{model="{model}"}})', "threshold"),
                lo=0,
                hi=1,
            ),
            12,
            8,
        )
    return (
        board.row("Runs")
        .add(
            rows_table(
                "Last run per model",
                "dateTimeAsIso",
                q(
                    "max by (model, digest) (mlplatform_model_drift_last_run_timestamp_seconds) * 1000",
                    instant=True,
                    fmt=PromQueryFormat.TABLE,
                ),
            ),
            12,
            8,
        )
        .add(
            bars(
                "Drifted columns per model",
                "none",
                q("max by (model) (mlplatform_model_drifted_features)", "{{model}}", instant=True),
            ),
            12,
            8,
        )
        .build()
    )


def all_dashboards(
    mlflow_namespace: str = "mlflow", usd_per_gpu_hour: float | None = None, served_models: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every dashboard by short name (the ConfigMap suffix and file name)."""
    boards = {
        "gpu": gpu_dashboard(),
        "gpu-cost": gpu_cost_dashboard(usd_per_gpu_hour),
        "training": training_dashboard(),
        "mlflow": mlflow_dashboard(mlflow_namespace),
        "model-serving": model_serving_dashboard(),
    }
    if served_models:
        boards["model-drift"] = drift_dashboard(list(served_models))
    return boards

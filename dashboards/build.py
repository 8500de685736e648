"""Build the Grafana dashboards (grafana-foundation-sdk) and the alert rules; write them to JSON.

    python -m dashboards.build            # rewrite dashboards/*.json and dashboards/alerts.yaml
    python -m dashboards.build --check    # exit 1 if the committed files differ from the code

Import the JSON files into Grafana (Dashboards > New > Import) and pick a Prometheus data
source (Google Managed Prometheus works too); every panel uses the ``$datasource`` variable.
Three dashboards, linked to each other:

* **Celery overview**: workers up, failure ratio, stuck chords, queued messages, throughput,
  retries, runtime and queue-wait percentiles, queue lengths, chords.
* **Celery task drill-down**: the same per task (pick tasks with ``$task``), failures by
  exception, throughput by worker.
* **Celery tenants**: volume, failures, retries and runtime per ``organization_id`` (needs
  ``enable_metrics(..., tenant_label=True)`` in the worker).

Every dashboard has the variables ``namespace``, ``queue``, ``task`` and ``tenant``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Building needs the optional SDK; without it this module says which extra to install in one
# line instead of a traceback (every other command of the project runs without it).
try:
    from grafana_foundation_sdk.builders import bargauge, stat, timeseries
    from grafana_foundation_sdk.builders import dashboard as gd
    from grafana_foundation_sdk.builders import prometheus as gp
    from grafana_foundation_sdk.builders.common import ReduceDataOptions
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import (
        DashboardCursorSync,
        DashboardLinkType,
        DataSourceRef,
        Threshold,
        ThresholdsMode,
        VariableRefresh,
        VariableSort,
    )
except ImportError as exc:  # pragma: no cover - exercised by the wheel check in .ci/run
    raise SystemExit(
        "python -m dashboards.build needs the 'dashboards' extra: "
        "pip install 'rhesis-logs[dashboards]'"
    ) from exc

from dashboards import promql
from dashboards.alerts import render_rules
from instrumentation import metrics

HERE = Path(__file__).resolve().parent
TAG = "rhesis-celery"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
F = promql.TENANT_FILTER  # task metrics: filtered by every variable

Target = tuple[str, str]  # (PromQL expression, legend)


class _Board:
    """A dashboard builder that numbers its panels (Grafana wants unique ids)."""

    def __init__(self, title: str, uid: str, description: str) -> None:
        self._next_id = 1
        self.builder = (
            gd.Dashboard(title).uid(uid).description(description).tags([TAG])
            .time("now-6h", "now").refresh("1m").timezone("utc")
            .tooltip(DashboardCursorSync.CROSSHAIR).editable()
            .link(gd.DashboardLink("Celery dashboards").type(DashboardLinkType.DASHBOARDS)
                  .tags([TAG]).as_dropdown(True).include_vars(True).keep_time(True))
        )
        for variable in _variables():
            self.builder.with_variable(variable)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str) -> _Board:
        self.builder.with_row(gd.Row(title).id(self._id()))
        return self

    def timeseries(self, title: str, description: str, targets: list[Target], unit: str,
                   span: int = 12) -> _Board:
        panel = (timeseries.Panel().id(self._id()).title(title).description(description)
                 .datasource(DATASOURCE).unit(unit).height(8).span(span)
                 .fill_opacity(10).line_width(1))
        for ref, (expr, legend) in zip(_REF_IDS, targets, strict=False):
            panel.with_target(gp.Dataquery().expr(expr).legend_format(legend).ref_id(ref))
        self.builder.with_panel(panel)
        return self

    def stat(self, title: str, description: str, expr: str, unit: str,
             red_from: float | None = None) -> _Board:
        panel = (stat.Panel().id(self._id()).title(title).description(description)
                 .datasource(DATASOURCE).unit(unit).height(4).span(6)
                 .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
                 .with_target(gp.Dataquery().expr(expr).ref_id("A").instant()))
        if red_from is not None:
            panel.thresholds(gd.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([
                Threshold(value=None, color="green"), Threshold(value=red_from, color="red")]))
        self.builder.with_panel(panel)
        return self

    def bars(self, title: str, description: str, expr: str, legend: str, unit: str) -> _Board:
        panel = (bargauge.Panel().id(self._id()).title(title).description(description)
                 .datasource(DATASOURCE).unit(unit).height(8).span(12)
                 .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
                 .with_target(gp.Dataquery().expr(expr).legend_format(legend).ref_id("A")
                              .instant()))
        self.builder.with_panel(panel)
        return self

    def build(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))


_REF_IDS = "ABCDEFGHIJ"


def _variables() -> list[Any]:
    received = metrics.TASK_RECEIVED

    def query(name: str, label: str, expr: str, text: str) -> Any:
        return (gd.QueryVariable(name).label(text).datasource(DATASOURCE)
                .query(f"label_values({expr}, {label})")
                .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
                .multi(True).include_all(True).all_value(".*"))

    return [
        gd.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        query("namespace", promql.NAMESPACE, metrics.WORKER_UP, "Namespace"),
        query("queue", metrics.QUEUE, f"{received}{{{promql.matchers('namespace')}}}", "Queue"),
        query(
            "task", metrics.NAME, f"{received}{{{promql.matchers('namespace', 'queue')}}}", "Task"
        ),
        query("tenant", metrics.TENANT, f"{received}{{{promql.matchers('namespace')}}}", "Tenant"),
    ]


def _percentiles(histogram: str, by: tuple[str, ...] = (), legend: str = "") -> list[Target]:
    return [(promql.quantile(p, histogram, F, by), f"{legend}p{round(p * 100)}")
            for p in (0.5, 0.95, 0.99)]


def overview() -> dict[str, Any]:
    b = _Board("Celery overview", "rhesis-celery-overview",
               "Throughput, failures, retries, latency and backlog of the Celery workers.")
    b.row("Now")
    b.stat("Workers up", "Workers that reported ready and have not shut down.",
           f"sum({promql.selector(metrics.WORKER_UP, promql.WORKER_FILTER)})", "none")
    b.stat("Failure ratio", "Failed / (succeeded + failed) over the rate interval.",
           promql.failure_ratio(F), "percentunit", red_from=0.05)
    b.stat(
        "Stuck chords",
        "Chords the chord monitor considers stuck (all callbacks).",
        f"sum(max by ({metrics.NAME}) "
        f"({promql.selector(metrics.CHORDS_STUCK, promql.WORKER_FILTER)}))",
        "none",
        red_from=1,
    )
    b.stat(
        "Queued messages",
        "Messages waiting in the broker, all queues and priorities.",
        f"sum(max by ({metrics.QUEUE}) "
        f"({promql.selector(metrics.QUEUE_LENGTH, promql.QUEUE_FILTER)}))",
        "none",
        red_from=100,
    )
    b.row("Throughput and failures")
    b.timeseries("Task throughput", "Tasks per second by lifecycle event.", [
        (promql.rate(metrics.TASK_SENT, F), "sent"),
        (promql.rate(metrics.TASK_RECEIVED, F), "received"),
        (promql.rate(metrics.TASK_SUCCEEDED, F), "succeeded"),
        (promql.rate(metrics.TASK_FAILED, F), "failed"),
        (promql.rate(metrics.TASK_RETRIED, F), "retried"),
    ], "ops")
    b.timeseries("Failure ratio by task", "Failed / (succeeded + failed), per task.",
                 [(promql.failure_ratio(F, (metrics.NAME,)), "{{name}}")], "percentunit")
    b.timeseries("Retries by task", "Retries requested per second, per task.",
                 [(promql.rate(metrics.TASK_RETRIED, F, (metrics.NAME,)), "{{name}}")], "ops")
    b.timeseries(
        "Failures by exception",
        "Failures per second, by exception type.",
        [(promql.rate(metrics.TASK_FAILED, F, (metrics.EXCEPTION,)), "{{exception}}")],
        "ops",
    )
    b.row("Latency")
    b.timeseries("Task runtime", "Run time percentiles of all selected tasks.",
                 _percentiles(metrics.TASK_RUNTIME), "s")
    b.timeseries("Queue wait", "Time from publish (or ETA) to start, percentiles.",
                 _percentiles(metrics.TASK_QUEUE_WAIT), "s")
    b.row("Backlog")
    b.timeseries(
        "Queue length",
        "Messages waiting per queue (Redis LLEN, all priorities).",
        [
            (
                f"max by ({metrics.QUEUE}) "
                f"({promql.selector(metrics.QUEUE_LENGTH, promql.QUEUE_FILTER)})",
                "{{queue}}",
            )
        ],
        "none",
        span=8,
    )
    b.timeseries(
        "Chords",
        "Chords waiting for their callback, and stuck ones, by callback.",
        [
            (
                f"max by ({metrics.NAME}) "
                f"({promql.selector(metrics.CHORDS_IN_FLIGHT, promql.WORKER_FILTER)})",
                "in flight {{name}}",
            ),
            (
                f"max by ({metrics.NAME}) "
                f"({promql.selector(metrics.CHORDS_STUCK, promql.WORKER_FILTER)})",
                "stuck {{name}}",
            ),
        ],
        "none",
        span=8,
    )
    b.timeseries(
        "Workers",
        "1 per worker that is up.",
        [
            (
                f"max by ({metrics.WORKER}) "
                f"({promql.selector(metrics.WORKER_UP, promql.WORKER_FILTER)})",
                "{{worker}}",
            )
        ],
        "none",
        span=8,
    )
    return b.build()


def task_drilldown() -> dict[str, Any]:
    b = _Board("Celery task drill-down", "rhesis-celery-task",
               "Per-task outcomes, failures by exception, retries and latency. Pick tasks "
               "with the Task variable.")
    by_name = (metrics.NAME,)
    b.row("Outcomes")
    b.timeseries("Outcomes by task", "Succeeded and failed runs per second, per task.", [
        (promql.rate(metrics.TASK_SUCCEEDED, F, by_name), "{{name}} succeeded"),
        (promql.rate(metrics.TASK_FAILED, F, by_name), "{{name}} failed"),
    ], "ops")
    b.timeseries("Failure ratio by task", "Failed / (succeeded + failed), per task.",
                 [(promql.failure_ratio(F, by_name), "{{name}}")], "percentunit")
    b.timeseries("Failures by task and exception", "Failures per second.",
                 [(promql.rate(metrics.TASK_FAILED, F, (metrics.NAME, metrics.EXCEPTION)),
                   "{{name}}: {{exception}}")], "ops")
    b.timeseries("Retries by task", "Retries requested per second.",
                 [(promql.rate(metrics.TASK_RETRIED, F, by_name), "{{name}}")], "ops")
    b.row("Latency")
    b.timeseries("Runtime by task", "Run time percentiles per task.",
                 _percentiles(metrics.TASK_RUNTIME, by_name, "{{name}} "), "s")
    b.timeseries(
        "Queue wait by task",
        "Publish-to-start p95 per task.",
        [(promql.quantile(0.95, metrics.TASK_QUEUE_WAIT, F, by_name), "{{name}} p95")],
        "s",
    )
    b.row("Where and how much")
    b.timeseries("Runs by worker", "Task starts per second, per worker.",
                 [(promql.rate(metrics.TASK_STARTED, F, (metrics.WORKER,)), "{{worker}}")], "ops")
    b.timeseries("Published by task", "Tasks published per second (by any process).",
                 [(promql.rate(metrics.TASK_SENT, F, by_name), "{{name}}")], "ops")
    b.bars("Runs in range", "Task starts over the dashboard's time range.",
           promql.increase(metrics.TASK_STARTED, F, by_name), "{{name}}", "none")
    return b.build()


def tenants() -> dict[str, Any]:
    b = _Board("Celery tenants", "rhesis-celery-tenants",
               "Task volume, failures, retries and latency per organization. Needs the "
               "worker's enable_metrics(tenant_label=True); tenants beyond its cap show as "
               f"'{metrics.OTHER_TENANT}', tasks without one as '{metrics.NO_TENANT}'.")
    by_tenant = (metrics.TENANT,)
    b.row("Volume")
    b.bars(
        "Top tenants",
        "Tasks received over the dashboard's time range, top 10.",
        f"topk(10, {promql.increase(metrics.TASK_RECEIVED, F, by_tenant)})",
        "{{organization_id}}",
        "none",
    )
    b.timeseries("Tasks by tenant", "Tasks received per second, per tenant.",
                 [(promql.rate(metrics.TASK_RECEIVED, F, by_tenant), "{{organization_id}}")], "ops")
    b.timeseries("Tasks by tenant and task", "Task starts per second.",
                 [(promql.rate(metrics.TASK_STARTED, F, (metrics.TENANT, metrics.NAME)),
                   "{{organization_id}}: {{name}}")], "ops")
    b.row("Failures")
    b.timeseries("Failures by tenant", "Failures per second, per tenant.",
                 [(promql.rate(metrics.TASK_FAILED, F, by_tenant), "{{organization_id}}")], "ops")
    b.timeseries("Failure ratio by tenant", "Failed / (succeeded + failed), per tenant.",
                 [(promql.failure_ratio(F, by_tenant), "{{organization_id}}")], "percentunit")
    b.timeseries("Retries by tenant", "Retries requested per second, per tenant.",
                 [(promql.rate(metrics.TASK_RETRIED, F, by_tenant), "{{organization_id}}")], "ops")
    b.timeseries(
        "Runtime p95 by tenant",
        "Run time p95 per tenant.",
        [(promql.quantile(0.95, metrics.TASK_RUNTIME, F, by_tenant), "{{organization_id}}")],
        "s",
    )
    return b.build()


#: File name (in dashboards/) -> builder.
DASHBOARDS = {
    "celery-overview.json": overview,
    "celery-task.json": task_drilldown,
    "celery-tenants.json": tenants,
}
ALERTS_FILE = "alerts.yaml"


def render() -> dict[str, str]:
    """Every generated file's name and text (what ``--check`` compares with the disk)."""
    files = {name: json.dumps(build(), indent=2, sort_keys=True) + "\n"
             for name, build in DASHBOARDS.items()}
    files[ALERTS_FILE] = render_rules()
    return files


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    instant: bool


def panel_queries(dashboard: dict[str, Any]) -> Iterator[PanelQuery]:
    """Every query of every panel of a rendered dashboard (rows included)."""
    stack = list(dashboard.get("panels") or [])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels") or [])
        for target in panel.get("targets") or []:
            yield PanelQuery(dashboard["title"], panel.get("title", ""), target.get("refId", ""),
                             target["expr"], bool(target.get("instant")))


def variable_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Name -> query of the dashboard's query variables."""
    return {v["name"]: v["query"] for v in dashboard["templating"]["list"]
            if v["type"] == "query"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="compare with the files on disk instead of writing them")
    parser.add_argument("--out", type=Path, default=HERE, help="directory [dashboards/]")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run `python -m dashboards.build`): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

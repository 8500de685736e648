"""Every dashboard panel and alert, evaluated by a real Prometheus scraping a real worker.

One scenario for the module: a prefork worker running ``tests/support/apps/instrumented.py``
serves ``/metrics``; Prometheus scrapes it every second and loads ``dashboards/alerts.yaml``.
The same mixed workload (successes, failures of two kinds, retries, tasks published by tasks,
three tenants, a chord report, a backlog on a queue nobody consumes) runs twice: the first
run creates every series, the second is measured. Panels are evaluated over a window that
starts and ends exactly on scrape timestamps around the second run, so ``rate`` and
``increase`` carry no extrapolation and must equal the counts the workload implies.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from dashboards import alerts as alert_rules
from dashboards import build
from dashboards import promql as q
from instrumentation import metrics as m
from instrumentation import schema as s
from tests.dashboards.prometheus import binary, running_prometheus, write_config
from tests.support import free_port, start_worker, wait_for
from tests.support.apps import client_app

pytestmark = pytest.mark.slow

NAMESPACE = "rhesis-test"
#: A database the suite's redis_dbs fixture never hands out (it cycles through 2-29): this
#: module-scoped scenario outlives any one test's flushed pair.
PROM_DB = 30
HOSTNAME = "metrics@test"
CB = "tapp.cb"
BACKLOG = {0: 100, 9: 50}  # priority -> messages left waiting on the "backlog" queue

OK, FAIL, FLAKY, FANOUT, CHORDS = ("tapp.ok", "tapp.fail", "tapp.flaky",
                                   "tapp.fanout", "tapp.report_chords")
FLAKY_RETRIES = 4
MAX_TASKS_PER_CHILD = 15
FANOUT_N = 3

#: One run of the workload: (task, args, tenant, how many).
WORKLOAD: list[tuple[str, list[Any], str | None, int]] = [
    (OK, [10], "org-a", 6),
    (OK, [10], "org-b", 4),
    (OK, [10], None, 2),
    (FAIL, ["ValueError"], "org-a", 2),
    (FAIL, ["KeyError"], "org-b", 1),
    (FLAKY, [FLAKY_RETRIES, FLAKY_RETRIES], "org-a", 10),
    (FANOUT, [FANOUT_N], "org-b", 1),
    (CHORDS, [{CB: 2}, {CB: 1}], None, 1),
]


def expected_events() -> Counter:
    """(metric, name, tenant, exception) -> count, for one run of WORKLOAD."""
    c: Counter = Counter()

    def run(name: str, org: str | None, outcome: str, exc: str = "") -> None:
        org = org or m.NO_TENANT
        c[m.TASK_RECEIVED, name, org, ""] += 1
        c[m.TASK_STARTED, name, org, ""] += 1
        c[outcome, name, org, exc] += 1

    for name, args, org, times in WORKLOAD:
        for _ in range(times):
            if name == FAIL:
                run(name, org, m.TASK_FAILED, args[0])
            elif name == FLAKY:
                for _ in range(args[0]):
                    run(name, org, m.TASK_RETRIED)
                    c[m.TASK_SENT, name, org or m.NO_TENANT, ""] += 1  # the retry's message
                run(name, org, m.TASK_SUCCEEDED)
            elif name == FANOUT:
                run(name, org, m.TASK_SUCCEEDED)
                for _ in range(args[0]):
                    c[m.TASK_SENT, OK, org or m.NO_TENANT, ""] += 1
                    run(OK, org, m.TASK_SUCCEEDED)
            else:
                run(name, org, m.TASK_SUCCEEDED)
    return c


EVENTS = expected_events()
_LABEL_INDEX = {m.NAME: 1, m.TENANT: 2, m.EXCEPTION: 3}


def counts(metric: str, by: tuple[str, ...] = ()) -> dict[tuple, float]:
    out: Counter = Counter()
    for key, n in EVENTS.items():
        if key[0] != metric:
            continue
        out[tuple(HOSTNAME if b == m.WORKER else key[_LABEL_INDEX[b]] for b in by)] += n
    return dict(out)


def ratio(by: tuple[str, ...] = ()) -> dict[tuple, float]:
    ok, failed = counts(m.TASK_SUCCEEDED, by), counts(m.TASK_FAILED, by)
    return {k: failed.get(k, 0) / (ok.get(k, 0) + failed.get(k, 0)) for k in {*ok, *failed}}


def keys(*metrics: str, by: tuple[str, ...]) -> set[tuple]:
    return {k for metric in metrics for k in counts(metric, by)}


@dataclass
class Expect:
    """What one panel query must return: series keyed by the ``by`` labels' values."""

    by: tuple[str, ...] = ()
    values: dict[tuple, float] | None = None  # exact values
    rate: bool = False  # per-second: multiply by the window to compare with counts
    bounds: tuple[float, float] | None = None  # every value within (for percentiles)
    series: set[tuple] = field(default_factory=set)  # with bounds: the series expected
    allowed: set[tuple] | None = None  # with bounds: series that may also be there


def pct(by: tuple[str, ...] = (), series: set[tuple] | None = None,
        hi: float = 10.0, allowed: set[tuple] | None = None) -> Expect:
    return Expect(by, bounds=(0.0, hi), series=series if series is not None else {()},
                  allowed=allowed)


N, T, X, W = m.NAME, m.TENANT, m.EXCEPTION, m.WORKER
_RUN_NAMES = keys(m.TASK_STARTED, by=(N,))
# Queue wait needs the publish time the instrumentation puts in the message headers: tasks
# the worker publishes (fanout's children, retries) always have it; the test's own messages
# have it too when an earlier test module instrumented this process (Celery's publish signals
# are global), so the others may or may not show.
_WAIT_NAMES = {(OK,), (FLAKY,)}

PANELS: dict[tuple[str, str, str], Expect] = {
    # --- overview
    ("Celery overview", "Workers up", "A"): Expect(values={(): 1}),
    ("Celery overview", "Failure ratio", "A"): Expect(values=ratio()),
    ("Celery overview", "Stuck chords", "A"): Expect(values={(): 1}),
    ("Celery overview", "Queued messages", "A"): Expect(values={(): sum(BACKLOG.values())}),
    ("Celery overview", "Task throughput", "A"): Expect(values=counts(m.TASK_SENT), rate=True),
    ("Celery overview", "Task throughput", "B"): Expect(values=counts(m.TASK_RECEIVED),
                                                        rate=True),
    ("Celery overview", "Task throughput", "C"): Expect(values=counts(m.TASK_SUCCEEDED),
                                                        rate=True),
    ("Celery overview", "Task throughput", "D"): Expect(values=counts(m.TASK_FAILED),
                                                        rate=True),
    ("Celery overview", "Task throughput", "E"): Expect(values=counts(m.TASK_RETRIED),
                                                        rate=True),
    ("Celery overview", "Failure ratio by task", "A"): Expect((N,), ratio((N,))),
    ("Celery overview", "Retries by task", "A"): Expect((N,), counts(m.TASK_RETRIED, (N,)),
                                                        rate=True),
    ("Celery overview", "Failures by exception", "A"): Expect(
        (X,), counts(m.TASK_FAILED, (X,)), rate=True),
    ("Celery overview", "Task runtime", "A"): pct(),
    ("Celery overview", "Task runtime", "B"): pct(),
    ("Celery overview", "Task runtime", "C"): pct(),
    ("Celery overview", "Queue wait", "A"): pct(),
    ("Celery overview", "Queue wait", "B"): pct(),
    ("Celery overview", "Queue wait", "C"): pct(),
    ("Celery overview", "Queue length", "A"): Expect(
        (m.QUEUE,), {("backlog",): sum(BACKLOG.values()), ("celery",): 0}),
    ("Celery overview", "Chords", "A"): Expect((N,), {(CB,): 2}),
    ("Celery overview", "Chords", "B"): Expect((N,), {(CB,): 1}),
    ("Celery overview", "Workers", "A"): Expect((W,), {(HOSTNAME,): 1}),
    # --- task drill-down
    ("Celery task drill-down", "Outcomes by task", "A"): Expect(
        (N,), counts(m.TASK_SUCCEEDED, (N,)), rate=True),
    ("Celery task drill-down", "Outcomes by task", "B"): Expect(
        (N,), counts(m.TASK_FAILED, (N,)), rate=True),
    ("Celery task drill-down", "Failure ratio by task", "A"): Expect((N,), ratio((N,))),
    ("Celery task drill-down", "Failures by task and exception", "A"): Expect(
        (N, X), counts(m.TASK_FAILED, (N, X)), rate=True),
    ("Celery task drill-down", "Retries by task", "A"): Expect(
        (N,), counts(m.TASK_RETRIED, (N,)), rate=True),
    ("Celery task drill-down", "Runtime by task", "A"): pct((N,), _RUN_NAMES),
    ("Celery task drill-down", "Runtime by task", "B"): pct((N,), _RUN_NAMES),
    ("Celery task drill-down", "Runtime by task", "C"): pct((N,), _RUN_NAMES),
    ("Celery task drill-down", "Queue wait by task", "A"): pct((N,), _WAIT_NAMES,
                                                                allowed=_RUN_NAMES),
    ("Celery task drill-down", "Runs by worker", "A"): Expect(
        (W,), counts(m.TASK_STARTED, (W,)), rate=True),
    ("Celery task drill-down", "Published by task", "A"): Expect(
        (N,), counts(m.TASK_SENT, (N,)), rate=True),
    ("Celery task drill-down", "Runs in range", "A"): Expect((N,), counts(m.TASK_STARTED, (N,))),
    # --- tenants
    ("Celery tenants", "Top tenants", "A"): Expect((T,), counts(m.TASK_RECEIVED, (T,))),
    ("Celery tenants", "Tasks by tenant", "A"): Expect(
        (T,), counts(m.TASK_RECEIVED, (T,)), rate=True),
    ("Celery tenants", "Tasks by tenant and task", "A"): Expect(
        (T, N), counts(m.TASK_STARTED, (T, N)), rate=True),
    ("Celery tenants", "Failures by tenant", "A"): Expect(
        (T,), counts(m.TASK_FAILED, (T,)), rate=True),
    ("Celery tenants", "Failure ratio by tenant", "A"): Expect((T,), ratio((T,))),
    ("Celery tenants", "Retries by tenant", "A"): Expect(
        (T,), counts(m.TASK_RETRIED, (T,)), rate=True),
    ("Celery tenants", "Runtime p95 by tenant", "A"): pct(
        (T,), keys(m.TASK_STARTED, by=(T,))),
}

#: Alerts the workload must trigger (as pending: the test is shorter than any ``for``), and
#: the series each fires for.
FIRING = {
    "CeleryTaskHighFailureRatio": {(NAMESPACE, FAIL)},
    "CeleryQueueBacklog": {(NAMESPACE, "backlog")},
    "CeleryStuckChords": {(NAMESPACE, CB)},
    "CeleryRetryStorm": {(NAMESPACE, FLAKY)},
    "CeleryWorkerDown": set(),
}
ALERT_LABELS = {
    "CeleryTaskHighFailureRatio": (q.NAMESPACE, N),
    "CeleryQueueBacklog": (q.NAMESPACE, m.QUEUE),
    "CeleryStuckChords": (q.NAMESPACE, N),
    "CeleryRetryStorm": (q.NAMESPACE, N),
    "CeleryWorkerDown": (q.NAMESPACE, W),
}


def committed_dashboards() -> list[dict[str, Any]]:
    return [json.loads((build.HERE / name).read_text()) for name in build.DASHBOARDS]


@dataclass
class Scenario:
    prom: Any
    t0_ms: int
    t1_ms: int
    worker: Any
    multiproc: Path

    # One millisecond more than t1 - t0: the sample at t0 is inside the range whether the
    # range is closed (Prometheus 2) or left-open (Prometheus 3). The extrapolation over that
    # millisecond is at most 0.1% (t1 - t0 is at least one scrape interval), below the 0.5%
    # tolerance, while one event too many or too few is more than 0.5% of every count here.
    @property
    def window(self) -> str:
        return f"{self.t1_ms - self.t0_ms + 1}ms"

    @property
    def window_s(self) -> float:
        return (self.t1_ms - self.t0_ms + 1) / 1000

    @property
    def t1(self) -> float:
        return self.t1_ms / 1000

    def variables(self) -> dict[str, str]:
        return {"namespace": NAMESPACE, "queue": ".*", "task": ".*", "tenant": ".*",
                "__rate_interval": self.window, "__range": self.window}


def _publish(client: Celery) -> None:
    for name, args, org, times in WORKLOAD:
        headers = {s.ORGANIZATION_ID: org} if org else None
        for _ in range(times):
            client.send_task(name, args, headers=headers)


def _finished_total() -> int:
    return sum(n for k, n in EVENTS.items() if k[0] in (m.TASK_SUCCEEDED, m.TASK_FAILED))


@pytest.fixture(scope="module")
def scenario(redis_server, tmp_path_factory):
    binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus-e2e")
    broker = redis_server.url(PROM_DB)
    redis_server.client(PROM_DB).flushdb()
    port = free_port()
    env = {"BROKER_URL": broker, "METRICS_DIR": str(tmp / "multiproc"),
           "METRICS_PORT": str(port), "METRICS_QUEUES": "celery,backlog"}
    config = tmp / "prometheus.yml"
    write_config(config, alert_rules.WORKER_JOB, f"127.0.0.1:{port}",
                 {q.NAMESPACE: NAMESPACE}, [build.HERE / build.ALERTS_FILE])
    # Pool children are replaced every few tasks: their counts must survive their exit.
    worker = start_worker("tests.support.apps.instrumented", tmp, env=env, pool="prefork",
                          concurrency=2, hostname=HOSTNAME,
                          extra_args=["--max-tasks-per-child", str(MAX_TASKS_PER_CHILD)])
    client = client_app(broker, set_as_current=False)
    try:
        with running_prometheus(tmp, config) as prom:
            up = f'up{{job="{alert_rules.WORKER_JOB}"}}'
            wait_for(lambda: prom.scalar(up) == 1, timeout=30,
                     message=lambda: "Prometheus to scrape the worker:\n" + prom.log())
            for priority, n in BACKLOG.items():
                for _ in range(n):
                    client.send_task(OK, [1], queue="backlog", priority=priority)
            finished = (f"sum({m.TASK_SUCCEEDED}{{job=\"{alert_rules.WORKER_JOB}\"}}) + "
                        f"sum({m.TASK_FAILED})")

            def finished_in_prometheus(runs: int) -> bool:
                return prom.scalar(finished) == runs * _finished_total()

            def stuck(runs: int) -> str:
                return (f"{runs * _finished_total()} finished tasks in Prometheus (has "
                        f"{prom.scalar(finished)}); worker stderr:\n{worker.stderr()[-2000:]}")

            def last_scrape_ms() -> int:
                # The worker's own series have a sample only from successful scrapes (a failed
                # one marks them stale): its timestamp is a scrape every series has.
                stamp = wait_for(lambda: prom.scalar(f"timestamp({m.WORKER_UP})"), timeout=10,
                                 message="a successful scrape of the worker")
                return round(stamp * 1000)

            _publish(client)  # run 1: creates every series
            wait_for(lambda: finished_in_prometheus(1), timeout=60, message=lambda: stuck(1))
            # The latest scrape holds run 1's final counts and nothing of run 2.
            t0_ms = last_scrape_ms()
            _publish(client)  # run 2: measured
            wait_for(lambda: finished_in_prometheus(2), timeout=60, message=lambda: stuck(2))
            t1_ms = last_scrape_ms()
            yield Scenario(prom, t0_ms, t1_ms, worker, tmp / "multiproc")
    finally:
        worker.stop()
        client.close()


def _series(result: list[dict[str, Any]], by: tuple[str, ...]) -> dict[tuple, float]:
    out = {}
    for item in result:
        key = tuple(item["metric"].get(b, "") for b in by)
        assert key not in out, f"two series for {key}: {result}"
        out[key] = float(item["value"][1])
    return out


def _panel_query_ids() -> list[tuple[str, str, str]]:
    return [(p.dashboard, p.panel, p.ref_id) for d in committed_dashboards()
            for p in build.panel_queries(d)]


class TestPanels:
    def test_every_panel_query_has_an_expectation(self):
        """A new panel must say what it should show for the workload."""
        assert set(_panel_query_ids()) == set(PANELS)

    @pytest.mark.parametrize("panel_id", sorted(PANELS), ids=lambda p: f"{p[0]}/{p[1]}/{p[2]}")
    def test_panel_returns_what_the_workload_did(self, scenario, panel_id):
        """The panel's query, from the committed JSON, agrees with the workload's counts."""
        query = next(p for d in committed_dashboards() for p in build.panel_queries(d)
                     if (p.dashboard, p.panel, p.ref_id) == panel_id)
        expr = q.substitute(query.expr, scenario.variables())
        expect = PANELS[panel_id]
        got = _series(scenario.prom.query(expr, scenario.t1), expect.by)
        assert got, f"no data for {panel_id}: {expr}"
        if expect.bounds is not None:
            assert expect.series <= set(got) <= (expect.allowed or expect.series), (expr, got)
            lo, hi = expect.bounds
            assert all(lo <= v <= hi for v in got.values()), (expr, got)
            return
        scale = scenario.window_s if expect.rate else 1.0
        assert set(got) == set(expect.values), (expr, got)
        for key, want in expect.values.items():
            assert got[key] * scale == pytest.approx(want, rel=5e-3, abs=1e-6), (expr, key, got)

    def test_variables_list_the_workload_labels(self, scenario):
        """Each template variable's label_values() query finds the labels the worker exported."""
        want = {"namespace": {NAMESPACE}, "queue": {"celery"}, "task": _RUN_NAMES,
                "tenant": keys(m.TASK_RECEIVED, by=(T,))}
        for dashboard in committed_dashboards():
            for name, query in build.variable_queries(dashboard).items():
                inner = q.substitute(query, scenario.variables())
                assert inner.startswith("label_values(") and inner.endswith(")")
                selector, label = inner[len("label_values("):-1].rsplit(",", 1)
                got = set(scenario.prom.api(f"label/{label.strip()}/values",
                                            **{"match[]": selector}))
                expected = {v[0] if isinstance(v, tuple) else v for v in want[name]}
                assert got == expected, (dashboard["title"], name, inner)


class TestAlerts:
    @pytest.mark.parametrize("alert", alert_rules.ALERTS, ids=lambda a: a.name)
    def test_alert_values_return_data_and_fire_as_expected(self, scenario, alert):
        for value in alert.values():
            assert scenario.prom.query(value, scenario.t1), f"no data for {alert.name}: {value}"
        fired = _series(scenario.prom.query(alert.expr, scenario.t1), ALERT_LABELS[alert.name])
        assert set(fired) == FIRING[alert.name]

    def test_prometheus_evaluates_the_rules_file(self, scenario):
        """Prometheus loaded alerts.yaml: every rule healthy, the expected alerts pending."""
        prom = scenario.prom

        def pending() -> set[str]:
            return {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]}

        want = {name for name, series in FIRING.items() if series}
        wait_for(lambda: pending() == want, timeout=20,
                 message=lambda: f"pending alerts {want}, have {pending()}")
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        assert {r["name"] for r in rules} == {a.name for a in alert_rules.ALERTS}
        assert all(r["health"] == "ok" for r in rules), rules


class TestCounts:
    def test_raw_counters_match_the_workload(self, scenario):
        """Both runs, straight from the counters: nothing lost or double counted by the
        multiprocess merge of the pool's children."""
        for metric in (m.TASK_RECEIVED, m.TASK_STARTED, m.TASK_SUCCEEDED, m.TASK_FAILED,
                       m.TASK_RETRIED, m.TASK_SENT):
            got = _series(scenario.prom.query(f"sum by ({N}) ({metric})", scenario.t1), (N,))
            assert got == {k: 2 * v for k, v in counts(metric, (N,)).items()}, metric

    def test_recycled_pool_children_were_replaced(self, scenario):
        """The counts above include children that exited (--max-tasks-per-child)."""
        assert sum(n for k, n in EVENTS.items() if k[0] == m.TASK_STARTED) * 2 \
            > 4 * MAX_TASKS_PER_CHILD
        runs = scenario.multiproc.glob("*/counter_*.db")
        assert len(list(runs)) > 3  # the main process and more children than the pool's 2

    def test_backlog_counts_priority_sub_queues(self, scenario, redis_server):
        """The 50 priority-9 messages sit in kombu's sub-queue list, and are counted."""
        sub = redis_server.client(PROM_DB).llen(m.queue_keys("backlog")[-1])
        assert sub == BACKLOG[9]
        assert scenario.prom.scalar(
            f'{m.QUEUE_LENGTH}{{queue="backlog"}}', scenario.t1) == sum(BACKLOG.values())


class TestDashboardJson:
    @pytest.mark.parametrize("dashboard", committed_dashboards(), ids=lambda d: d["uid"])
    def test_structure(self, dashboard):
        """Unique panel ids, panels inside the 24-column grid, the four filter variables."""
        panels = list(dashboard["panels"])
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)) and 0 not in ids
        assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
        names = {v["name"] for v in dashboard["templating"]["list"]}
        assert names == {"datasource", *q.VARIABLES}
        for p in panels:
            if p["type"] != "row":
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert p.get("description"), p["title"]


class TestZWorkerDown:
    """Last (it stops the scenario's worker): a worker that goes away fires CeleryWorkerDown."""

    def test_worker_down_fires(self, scenario):
        scenario.worker.stop()
        prom = scenario.prom

        def firing() -> set[str]:
            return {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]}

        wait_for(lambda: "CeleryWorkerDown" in firing(), timeout=20,
                 message=lambda: f"CeleryWorkerDown among {firing()}")


def test_promtool_accepts_the_rules():
    import subprocess

    out = subprocess.run([binary("promtool"), "check", "rules",
                          str(build.HERE / build.ALERTS_FILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alert_rules.ALERTS)} rules found" in out.stdout


def test_committed_files_match_the_code():
    """dashboards/*.json and alerts.yaml are what `python -m dashboards.build` renders."""
    for name, text in build.render().items():
        path = Path(build.HERE / name)
        assert path.exists() and path.read_text() == text, (
            f"{name} is stale: run `python -m dashboards.build`")


def test_build_check_reports_stale_files(tmp_path, capsys):
    """`python -m dashboards.build --check` fails on a stale or missing file, passes after a
    build into the same directory."""
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert build.main(["--out", str(tmp_path)]) == 0
    assert build.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / build.ALERTS_FILE).write_text("groups: []\n")
    assert build.main(["--check", "--out", str(tmp_path)]) == 1

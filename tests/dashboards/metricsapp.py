"""A small instrumented Celery app with metrics, for tests/dashboards/test_prometheus.py.

Run by the test as a real ``celery worker`` (prefork) subprocess. Environment:
``BROKER_URL``, ``METRICS_DIR`` (multiprocess directory), ``METRICS_PORT`` (the standalone
``/metrics`` server, started once the worker is ready) and ``METRICS_QUEUES`` (comma-separated
queues whose length is exported).
"""

from __future__ import annotations

import os

from celery import Celery

from instrumentation import instrument
from instrumentation.metrics import ChordCounts, enable_metrics, set_chord_counts
from tests.support import simulate_work

app = Celery("metricsapp", broker=os.environ["BROKER_URL"])
app.conf.update(
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
instrument(app, service="metricsapp", environment="test", tracing=False)
enable_metrics(
    app,
    multiprocess_dir=os.environ["METRICS_DIR"],
    tenant_label=True,
    max_tenants=10,
    queues=os.environ.get("METRICS_QUEUES", "celery").split(","),
    port=int(os.environ["METRICS_PORT"]),
    addr="127.0.0.1",
)

_ERRORS = {"ValueError": ValueError, "KeyError": KeyError}


@app.task(name="metricsapp.ok")
def ok(ms: float = 10) -> float:
    simulate_work(ms / 1000)
    return ms


@app.task(name="metricsapp.fail")
def fail(kind: str) -> None:
    raise _ERRORS[kind](f"failing on purpose: {kind}")


@app.task(bind=True, name="metricsapp.flaky", max_retries=10)
def flaky(self, times: int) -> int:
    """Retry ``times`` times (immediately), then succeed."""
    if self.request.retries < times:
        raise self.retry(countdown=0, exc=ConnectionError("dependency unavailable"))
    return self.request.retries


@app.task(name="metricsapp.fanout")
def fanout(n: int) -> None:
    """Publish ``n`` ok tasks from inside the worker (they inherit the tenant)."""
    for _ in range(n):
        ok.delay(5)


@app.task(name="metricsapp.report_chords")
def report_chords(in_flight: dict[str, int], stuck: dict[str, int]) -> None:
    """What the chord monitor does: push its counts (from a pool child, like a real task)."""
    set_chord_counts(ChordCounts(in_flight, stuck))

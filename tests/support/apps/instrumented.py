"""The instrumented test worker: one small Celery app with ``instrument()`` (and, when asked,
``enable_metrics()``), run by the tests as a real ``celery worker`` subprocess.

    start_worker("tests.support.apps.instrumented", tmp_path, env={"BROKER_URL": ...,
                 "CELERY_RESULT_BACKEND": ...}, pool="prefork")

Every test of what the instrumentation writes or exports on a real worker uses it: the event
lines and spans (``tests/instrumentation``), the Prometheus metrics and dashboards
(``tests/dashboards/test_prometheus.py``), the Log Analytics SQL (``tests/queries/test_sql.py``),
and the recorded analyzer samples (``tests/support/sample_logs.py``).

Configured from the environment like a real deployment:

* ``BROKER_URL`` (required) and ``CELERY_RESULT_BACKEND`` (optional: without it results are
  not stored, as on a worker that ignores them);
* ``TAPP_LOG_PAYLOADS=1`` logs args, kwargs and results;
* ``METRICS_DIR`` turns the metrics on (multiprocess directory), with ``METRICS_PORT`` (the
  standalone ``/metrics`` server, started once the worker is ready) and ``METRICS_QUEUES``
  (comma-separated queues whose length is exported).

Tasks ack late (prefetch 1), like the reference worker. ``tapp.hold`` also rejects on a lost
worker, so a pool process killed in it gets its message requeued; every other task records
such a loss as a failure (Celery's default), which is what ``tapp.crash`` is for.
"""

from __future__ import annotations

import logging
import os

import structlog
from celery import Celery, chord

from instrumentation import get_tenant, instrument
from instrumentation.metrics import ChordCounts, enable_metrics, set_chord_counts
from tests.support import simulate_work

app = Celery(
    "tapp",
    broker=os.environ["BROKER_URL"],
    backend=os.environ.get("CELERY_RESULT_BACKEND") or None,
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    result_expires=600,
    task_ignore_result=not os.environ.get("CELERY_RESULT_BACKEND"),
)
instrument(
    app,
    service="tapp",
    environment="test",
    project="test-project",
    log_payloads=os.environ.get("TAPP_LOG_PAYLOADS") == "1",
)
if os.environ.get("METRICS_DIR"):
    enable_metrics(
        app,
        multiprocess_dir=os.environ["METRICS_DIR"],
        tenant_label=True,
        max_tenants=10,
        queues=os.environ.get("METRICS_QUEUES", "celery").split(","),
        port=int(os.environ["METRICS_PORT"]),
        addr="127.0.0.1",
    )

stdlib_log = logging.getLogger("tapp.tasks")
slog = structlog.get_logger("tapp")

PARKED_QUEUE = "parked"  # not consumed: a chord member published there never runs
_ERRORS = {"ValueError": ValueError, "KeyError": KeyError, "TimeoutError": TimeoutError}


@app.task(name="tapp.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="tapp.ok")
def ok(ms: float = 10) -> float:
    """Succeed after ``ms`` milliseconds of work (a non-zero run time for the histograms)."""
    simulate_work(ms / 1000)
    return ms


@app.task(name="tapp.fail")
def fail(kind: str, detail: str = "x") -> None:
    """Raise ``kind`` (ValueError, KeyError, TimeoutError) with ``detail`` in the message."""
    raise _ERRORS[kind](f"request {detail} failed after 3.5s")


@app.task(bind=True, name="tapp.flaky")
def flaky(self, times: int, limit: int = 3) -> int:
    """Retry ``times`` times (at once), then succeed; past ``limit`` retries it fails for good."""
    if self.request.retries < times:
        raise self.retry(countdown=0, exc=ConnectionError("upstream 503"),
                         max_retries=limit)
    return self.request.retries


@app.task(name="tapp.member", bind=True, max_retries=3)
def member(self, i: int, mode: str = "ok") -> dict:
    """A chord member: ``ok`` succeeds, ``fail`` raises, ``retry`` retries once, then succeeds."""
    stdlib_log.info("member %s running", i)
    if mode == "fail":
        raise ValueError(f"member {i} failed on purpose")
    if mode == "retry" and self.request.retries == 0:
        raise self.retry(exc=ConnectionError(f"member {i} transient error"), countdown=0.2)
    return {"i": i, "ok": True}


@app.task(name="tapp.collect")
def collect(results: list) -> dict:
    tenant = get_tenant()
    slog.info("collecting results", count=len(results))
    stdlib_log.warning("collected %d results", len(results))
    return {"count": len(results),
            "organization_id": tenant.organization_id if tenant else None}


@app.task(name="tapp.make_chord")
def make_chord(size: int, parked: bool = False) -> str:
    """Publish a chord of ``size`` ``ok`` members (plus one parked where nobody consumes, so
    the chord never completes, if asked) with ``collect`` as its callback."""
    header = [ok.s(5) for _ in range(size)]
    if parked:
        header.append(ok.s(5).set(queue=PARKED_QUEUE))
    return chord(header)(collect.s()).parent.id


@app.task(name="tapp.fanout")
def fanout(n: int) -> None:
    """Publish ``n`` ok tasks from inside the worker (they inherit the tenant)."""
    for _ in range(n):
        ok.delay(5)


@app.task(name="tapp.spawn", bind=True)
def spawn(self) -> str:
    """Publishes a child from inside a task: the child must inherit the tenant."""
    return add.delay(1, 2).id


@app.task(name="tapp.report_chords")
def report_chords(in_flight: dict[str, int], stuck: dict[str, int]) -> None:
    """What the chord monitor does: push its counts (from a pool child, like a real task)."""
    set_chord_counts(ChordCounts(in_flight, stuck))


@app.task(name="tapp.secret")
def secret() -> None:
    slog.info("connecting", broker_url="redis://:hunter2@db:6379/0", api_key="sk-live-123")
    raise ConnectionError("cannot connect to redis://:hunter2@db:6379/0 (password=hunter2)")


@app.task(name="tapp.chatty")
def chatty() -> str:
    print("a stray print from task code")
    stdlib_log.info("stdlib line inside a task")
    slog.info("structlog line inside a task", step=1)
    return "ok"


@app.task(name="tapp.kwtenant")
def kwtenant(organization_id: str | None = None, user_id: str | None = None) -> dict:
    tenant = get_tenant()
    return {"organization_id": tenant.organization_id if tenant else None}


@app.task(name="tapp.crash")
def crash() -> None:
    """Kills its pool process: the worker reports WorkerLostError (prefork only)."""
    os._exit(13)


@app.task(name="tapp.sleepy", time_limit=1)
def sleepy(seconds: float = 5) -> None:
    simulate_work(seconds)


@app.task(name="tapp.hold", bind=True, requires_tenant=False, acks_late=True,
          reject_on_worker_lost=True)
def hold(self, key: str) -> int:
    """Count runs in Redis under ``key``; the first run blocks on a Redis list until the test
    kills the pool process running it (the message is then requeued), later runs return."""
    runs = int(self.backend.client.incr(key))
    if runs == 1:
        # Blocks until the test kills this process (the timeout only bounds a broken test).
        self.backend.client.blpop([f"{key}:never"], timeout=60)
    return runs

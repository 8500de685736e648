"""instrumentation.metrics in this process: events in, exposition text out, real Redis and
real forked processes for the multiprocess mode. The end-to-end check against a real worker
and a real Prometheus is in test_prometheus.py."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import structlog
from celery import Celery
from kombu import Connection, Exchange, Producer, Queue
from prometheus_client.parser import text_string_to_metric_families

from instrumentation import log_event, metrics, schema
from instrumentation.events import notify
from tests.support import REPO, wait_for


@pytest.fixture(autouse=True)
def _reset_metrics():
    env_before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    yield
    metrics.disable_metrics()
    structlog.contextvars.clear_contextvars()
    if env_before is None:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = env_before


def samples(accept: str | None = None) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label items): value} of what /metrics would show now."""
    body, _ = metrics.render_metrics(accept)
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metric: str, /, **labels: str) -> float | None:
    return samples().get((metric, tuple(sorted(labels.items()))))


def task_fields(name="t.add", queue="celery", worker="w1@h", org=None, **extra):
    return {
        schema.TASK_ID: "id-1",
        schema.TASK_NAME: name,
        schema.QUEUE: queue,
        schema.WORKER: worker,
        schema.ORGANIZATION_ID: org,
        **extra,
    }


@pytest.fixture
def app(broker_url: str) -> Celery:
    return Celery("metrics-test", broker=broker_url, set_as_current=False)


class TestObserver:
    def test_each_task_event_increments_its_counter(self, app):
        """Every task event maps to the celery-exporter counter, labelled name/queue/worker."""
        metrics.enable_metrics(app, queue_length=False)
        for event in metrics.TASK_COUNTERS:
            log_event(event, "x", **task_fields(**{schema.EXCEPTION_TYPE: "builtins.ValueError"}))
        log_event(schema.Event.TASK_SUCCEEDED, "x", **task_fields())
        labels = {"name": "t.add", "queue": "celery", "worker": "w1@h"}
        assert value(metrics.TASK_SUCCEEDED, **labels) == 2
        for metric in set(metrics.TASK_COUNTERS.values()) - {
            metrics.TASK_SUCCEEDED,
            metrics.TASK_FAILED,
        }:
            assert value(metric, **labels) == 1, metric
        assert value(metrics.TASK_FAILED, exception="builtins.ValueError", **labels) == 1

    def test_durations_feed_the_histograms(self, app):
        """duration_ms on finished events and queue_wait_ms on started become seconds."""
        metrics.enable_metrics(app, queue_length=False)
        log_event(schema.Event.TASK_STARTED, "x", **task_fields(**{schema.QUEUE_WAIT_MS: 70.0}))
        log_event(schema.Event.TASK_SUCCEEDED, "x", **task_fields(**{schema.DURATION_MS: 30.0}))
        log_event(schema.Event.TASK_FAILED, "x", **task_fields(**{schema.DURATION_MS: 2000.0}))
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields(**{schema.DURATION_MS: 5.0}))
        labels = {"name": "t.add", "queue": "celery", "worker": "w1@h"}
        assert value(metrics.TASK_RUNTIME + "_count", **labels) == 2
        assert value(metrics.TASK_RUNTIME + "_sum", **labels) == pytest.approx(2.03)
        assert value(metrics.TASK_RUNTIME + "_bucket", le="0.05", **labels) == 1
        assert value(metrics.TASK_RUNTIME + "_bucket", le="2.5", **labels) == 2
        assert value(metrics.TASK_QUEUE_WAIT + "_sum", **labels) == pytest.approx(0.07)

    def test_fields_bound_in_context_are_used(self, app):
        """Inside a task the handlers pass only the event's own fields; the rest is bound."""
        metrics.enable_metrics(app, queue_length=False, tenant_label=True)
        structlog.contextvars.bind_contextvars(
            **{
                schema.TASK_NAME: "t.ctx",
                schema.QUEUE: "q2",
                schema.WORKER: "w2@h",
                schema.ORGANIZATION_ID: "org-9",
            }
        )
        log_event(schema.Event.TASK_SUCCEEDED, "x", **{schema.DURATION_MS: 1.0})
        assert value(metrics.TASK_SUCCEEDED, name="t.ctx", queue="q2", worker="w2@h",
                     organization_id="org-9") == 1

    def test_fields_of_the_running_task_are_used(self, app):
        """The handlers bind the running task's fields once (instrumentation.context)."""
        from instrumentation.context import bind_task, unbind_task

        metrics.enable_metrics(app, queue_length=False)
        token = bind_task({schema.TASK_NAME: "t.bound", schema.QUEUE: "q3", schema.WORKER: "w3@h"})
        try:
            log_event(schema.Event.TASK_FAILED, "x", **{schema.EXCEPTION_TYPE: "KeyError"})
        finally:
            unbind_task(token)
        assert value(metrics.TASK_FAILED, name="t.bound", queue="q3", worker="w3@h",
                     exception="KeyError") == 1

    def test_worker_up_follows_ready_and_shutdown(self, app):
        metrics.enable_metrics(app, queue_length=False)
        log_event(schema.Event.WORKER_READY, "x", **{schema.WORKER: "w1@h"})
        assert value(metrics.WORKER_UP, worker="w1@h") == 1
        log_event(schema.Event.WORKER_SHUTDOWN, "x", **{schema.WORKER: "w1@h"})
        assert value(metrics.WORKER_UP, worker="w1@h") == 0

    def test_no_tenant_label_unless_enabled(self, app):
        metrics.enable_metrics(app, queue_length=False)
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields(org="org-1"))
        keys = [k for k in samples() if k[0] == metrics.TASK_RECEIVED]
        assert keys and all("organization_id" not in dict(k[1]) for k in keys)

    def test_tenant_label_is_capped(self, app):
        """Beyond max_tenants distinct tenants, new ones are counted as "other"."""
        metrics.enable_metrics(app, queue_length=False, tenant_label=True, max_tenants=2,
                         tenants=["vip"])
        for org in ["a", "b", "c", "d", "a", None, "vip"]:
            log_event(schema.Event.TASK_RECEIVED, "x", **task_fields(org=org))
        by_org = {dict(k[1])["organization_id"]: v for k, v in samples().items()
                  if k[0] == metrics.TASK_RECEIVED}
        assert by_org == {"a": 2, "b": 1, metrics.OTHER_TENANT: 2, metrics.NO_TENANT: 1, "vip": 1}

    def test_disable_stops_counting(self, app):
        metrics.enable_metrics(app, queue_length=False)
        metrics.disable_metrics()
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        assert not metrics.metrics_enabled()
        assert b"not enabled" in metrics.render_metrics()[0]

    def test_render_negotiates_openmetrics(self, app):
        metrics.enable_metrics(app, queue_length=False)
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        body, ctype = metrics.render_metrics("application/openmetrics-text; version=1.0.0")
        assert ctype.startswith("application/openmetrics-text")
        assert body.rstrip().endswith(b"# EOF")
        body, ctype = metrics.render_metrics(None)
        assert ctype.startswith("text/plain") and b"celery_task_received_total{" in body


class TestTenantLimiter:
    def test_negative_cap_is_an_error(self):
        with pytest.raises(ValueError, match="max_tenants"):
            metrics.TenantLimiter(-1)


class TestQueueLength:
    def test_counts_every_priority_sub_queue_like_kombu(self, app, broker_url):
        """LLEN over our keys equals kombu's own count of the queue, priorities included."""
        queue = Queue("prio", Exchange("prio"), routing_key="prio",
                      queue_arguments={"x-max-priority": 9})
        with Connection(broker_url) as conn:
            producer = Producer(conn.default_channel)
            queue(conn.default_channel).declare()
            for priority in (0, 0, 1, 4, 9, 9, 9):
                producer.publish({"n": priority}, exchange=queue.exchange, routing_key="prio",
                                 priority=priority, declare=[queue])
            kombu_count = conn.default_channel.queue_declare("prio", passive=True).message_count
        metrics.enable_metrics(app, queues=["prio", "empty"])
        assert kombu_count == 7
        assert value(metrics.QUEUE_LENGTH, queue="prio") == 7
        assert value(metrics.QUEUE_LENGTH, queue="empty") == 0

    def test_keys_match_kombu_layout(self):
        assert metrics.queue_keys("q") == ["q", "q\x06\x163", "q\x06\x166", "q\x06\x169"]
        assert metrics.queue_keys("q", [0, 5], sep=":", prefix="p/") == ["p/q", "p/q:5"]

    def test_default_queues_come_from_the_app(self, app, redis_server, redis_dbs):
        app.conf.task_default_queue = "defq"
        redis_server.client(redis_dbs[0]).rpush("defq", b"x", b"y")
        metrics.enable_metrics(app)
        assert value(metrics.QUEUE_LENGTH, queue="defq") == 2

    def test_redis_down_leaves_the_metric_out(self, app):
        """No answer from Redis: no queue series (not a false zero), the rest still renders."""
        from tests.support import free_port

        app.conf.broker_url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
        metrics.enable_metrics(app, queues=["celery"])
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        body, _ = metrics.render_metrics()
        assert b"celery_queue_length" not in body and b"s3cret" not in body
        assert b"celery_task_received_total{" in body

    def test_non_redis_broker_is_a_clear_error_when_asked_for(self):
        other = Celery("x", broker="amqp://guest@localhost//", set_as_current=False)
        with pytest.raises(ValueError, match="Redis broker"):
            metrics.enable_metrics(other, queue_length=True)

    def test_non_redis_broker_skips_queue_length_by_default(self):
        other = Celery("x", broker="amqp://guest@localhost//", set_as_current=False)
        metrics.enable_metrics(other)
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        body, _ = metrics.render_metrics()
        assert b"celery_queue_length" not in body and b"celery_task_received_total{" in body


class TestChords:
    def test_source_is_read_at_each_scrape(self, app):
        """chord_source is the whole current view: gone callbacks are gone from /metrics."""
        views = iter([metrics.ChordCounts({"t.cb": 3, "t.other": 1}, {"t.cb": 1}),
                      metrics.ChordCounts({"t.cb": 2}, {})])
        metrics.enable_metrics(app, queue_length=False, chord_source=lambda: next(views))
        first = samples()
        assert first[(metrics.CHORDS_IN_FLIGHT, (("name", "t.cb"),))] == 3
        assert first[(metrics.CHORDS_STUCK, (("name", "t.cb"),))] == 1
        second = samples()
        assert second[(metrics.CHORDS_IN_FLIGHT, (("name", "t.cb"),))] == 2
        assert (metrics.CHORDS_IN_FLIGHT, (("name", "t.other"),)) not in second
        assert not [k for k in second if k[0] == metrics.CHORDS_STUCK]

    def test_one_family_per_name_with_a_source(self, app):
        """Pushes are ignored with a source: /metrics never shows a metric twice."""
        metrics.enable_metrics(app, queue_length=False,
                         chord_source=lambda: metrics.ChordCounts({"t.cb": 1}, {}))
        metrics.set_chord_counts(metrics.ChordCounts({"t.cb": 9}, {"t.cb": 9}))
        body = metrics.render_metrics()[0].decode()
        assert body.count(f"# TYPE {metrics.CHORDS_IN_FLIGHT} gauge") == 1
        assert value(metrics.CHORDS_IN_FLIGHT, name="t.cb") == 1

    def test_pushed_counts_zero_callbacks_that_are_gone(self, app):
        metrics.enable_metrics(app, queue_length=False)
        metrics.set_chord_counts(metrics.ChordCounts({"t.cb": 3, "t.other": 1}, {"t.cb": 1}))
        metrics.set_chord_counts(metrics.ChordCounts({"t.cb": 2}, {}))
        assert value(metrics.CHORDS_IN_FLIGHT, name="t.cb") == 2
        assert value(metrics.CHORDS_IN_FLIGHT, name="t.other") == 0
        assert value(metrics.CHORDS_STUCK, name="t.cb") == 0

    def test_a_failing_source_does_not_break_the_scrape(self, app):
        def broken():
            raise RuntimeError("redis gone")

        metrics.enable_metrics(app, queue_length=False, chord_source=broken)
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        body = metrics.render_metrics()[0]
        assert b"celery_task_received_total{" in body and b"celery_chords" not in body

    def test_set_without_enable_is_a_no_op(self):
        metrics.set_chord_counts(metrics.ChordCounts({"t.cb": 4}, {}))
        assert not metrics.metrics_enabled()


def _fork_child(n: int) -> int:
    """Fork a child that counts ``n`` successes and exits; returns its pid.

    The child only notifies the observers (no logging: another thread of the test process
    may hold the stdout lock at fork time) and leaves with ``os._exit``.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            for _ in range(n):
                notify(schema.Event.TASK_SUCCEEDED, task_fields(**{schema.DURATION_MS: 10.0}))
            notify(schema.Event.WORKER_READY, {schema.WORKER: f"child-{os.getpid()}"})
            code = 0
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int) -> int:
    def reaped():
        done, status = os.waitpid(pid, os.WNOHANG)
        return (done == pid) and (os.waitstatus_to_exitcode(status),)

    return wait_for(reaped, timeout=10, message=f"forked child {pid} to exit")[0]


def _multiprocess_scenario(broker_url: str, tmp: str) -> None:
    """Forked children count into their own files; the parent's /metrics sums them, and a
    dead child's counters stay while its live gauges go (mark_process_dead)."""
    app = Celery("metrics-test", broker=broker_url, set_as_current=False)
    metrics.enable_metrics(app, queue_length=False, multiprocess_dir=Path(tmp))
    children = [_fork_child(n) for n in (2, 3)]
    assert [_exit_code(pid) for pid in children] == [0, 0]
    log_event(schema.Event.TASK_SUCCEEDED, "x", **task_fields(**{schema.DURATION_MS: 10.0}))
    labels = {"name": "t.add", "queue": "celery", "worker": "w1@h"}
    assert value(metrics.TASK_SUCCEEDED, **labels) == 6
    assert value(metrics.TASK_RUNTIME + "_count", **labels) == 6
    dead = f"child-{children[0]}"
    assert value(metrics.WORKER_UP, worker=dead) == 1
    from celery import signals

    signals.worker_process_shutdown.send(sender=None, pid=children[0], exitcode=0)
    assert value(metrics.WORKER_UP, worker=dead) is None
    assert value(metrics.TASK_SUCCEEDED, **labels) == 6
    metrics.disable_metrics()


class TestMultiprocess:
    def test_children_counts_are_merged_and_kept_after_exit(self, broker_url, tmp_path):
        """The prefork scenario, in a fresh interpreter: forking the pytest process itself,
        which holds gRPC and DuckDB threads from other tests by then, crashed with SIGSEGV."""
        code = ("from tests.instrumentation.test_metrics import _multiprocess_scenario as run; "
                f"run({broker_url!r}, {str(tmp_path)!r})")
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr[-3000:]

    def test_each_run_starts_from_zero_and_stale_runs_are_removed(self, app, tmp_path):
        """A previous run's files (same dir, e.g. an emptyDir after a restart) never add up."""
        stale = tmp_path / f"{os.getpid()}-1"  # our pid: an earlier incarnation's directory
        stale.mkdir()
        (stale / "counter_1.db").write_bytes(b"junk")
        metrics.enable_metrics(app, queue_length=False, multiprocess_dir=tmp_path)
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        metrics.enable_metrics(app, queue_length=False, multiprocess_dir=tmp_path)
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        assert value(metrics.TASK_RECEIVED, name="t.add", queue="celery", worker="w1@h") == 1
        runs = [p for p in Path(tmp_path).iterdir()]
        assert len(runs) == 1 and runs[0] != stale
        metrics.disable_metrics()
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ or os.environ[
            "PROMETHEUS_MULTIPROC_DIR"] != str(runs[0])


class TestServer:
    def test_standalone_server_serves_metrics(self, app):
        from tests.support import free_port

        metrics.enable_metrics(app, queue_length=False)
        log_event(schema.Event.TASK_RECEIVED, "x", **task_fields())
        port = metrics.start_metrics_server(free_port(), "127.0.0.1")
        assert metrics.start_metrics_server(0, "127.0.0.1") == port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read()
        assert b'celery_task_received_total{name="t.add"' in body

    def test_server_needs_enable(self):
        with pytest.raises(RuntimeError, match="enable_metrics"):
            metrics.start_metrics_server(0)

"""instrument()/uninstrument(), tenant headers on real messages, and a real in-thread worker
(Celery's own embedded test worker, solo pool) for spans, state cleanup and failure safety."""

from __future__ import annotations

import io
import json

import pytest
from celery import Celery, signals
from celery.contrib.testing.worker import start_worker
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from instrumentation import (
    active_task_count,
    add_observer,
    configure_logging,
    dropped_lines,
    get_tenant,
    instrument,
    remove_observer,
    schema,
    tenant_context,
    uninstrument,
)
from instrumentation.tracing import ATTRIBUTE_PREFIX
from tests.support import wait_for

OUR_SIGNALS = [signals.before_task_publish, signals.after_task_publish, signals.task_received,
               signals.task_prerun, signals.task_postrun, signals.task_success,
               signals.task_failure, signals.task_retry, signals.task_revoked,
               signals.task_rejected, signals.task_unknown, signals.task_internal_error,
               signals.worker_ready, signals.worker_shutdown, signals.worker_process_init,
               signals.setup_logging]


def receiver_counts() -> list[int]:
    return [len(sig.receivers) for sig in OUR_SIGNALS]


@pytest.fixture
def app(broker_url, backend_url) -> Celery:
    app = Celery("inproc", broker=broker_url, backend=backend_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                    task_acks_late=True, broker_connection_retry_on_startup=True)

    @app.task(name="inproc.add", shared=False)
    def add(x, y):
        return x + y

    @app.task(name="inproc.boom", shared=False)
    def boom():
        raise RuntimeError("boom")

    @app.task(name="inproc.retry", shared=False, bind=True, max_retries=2)
    def flaky(self):
        if self.request.retries < 1:
            raise self.retry(countdown=0.05)
        return "recovered"

    @app.task(name="inproc.whoami", shared=False)
    def whoami():
        tenant = get_tenant()
        return tenant.organization_id if tenant else None

    @app.task(name="inproc.housekeeping", shared=False, requires_tenant=False)
    def housekeeping():
        return "swept"

    return app


class TestInstrumentPair:
    """instrument()/uninstrument() connect and disconnect the same handlers, idempotently."""

    def test_twice_is_harmless_and_uninstrument_restores(self, app):
        before = receiver_counts()
        instrument(app, tracing=False, configure_logging=False)
        once = receiver_counts()
        instrument(app, tracing=False, configure_logging=False)
        assert receiver_counts() == once
        assert all(b <= o for b, o in zip(before, once, strict=True)) and once != before
        uninstrument()
        assert receiver_counts() == before
        assert not instrumentation.is_instrumented()


class TestTenantHeaders:
    """tenant_context puts the tenant into the real message on the broker."""

    def _queued_headers(self, redis_server, redis_dbs) -> list[dict]:
        raw = redis_server.client(redis_dbs[0]).lrange("celery", 0, -1)
        return [json.loads(m)["headers"] for m in raw]

    def test_headers_on_the_wire(self, app, redis_server, redis_dbs):
        configure_logging(stream=io.StringIO())
        instrument(app, tracing=False)
        with tenant_context(organization_id="org-1", user_id="u-1"):
            app.send_task("inproc.add", (1, 2))
        app.send_task("inproc.add", (1, 2))  # outside the block: no tenant
        with tenant_context(organization_id="org-ctx"):
            app.send_task("inproc.add", (1, 2), headers={schema.ORGANIZATION_ID: "org-explicit"})
        headers = self._queued_headers(redis_server, redis_dbs)
        orgs = sorted(str(h.get(schema.ORGANIZATION_ID)) for h in headers)
        assert orgs == ["None", "org-1", "org-explicit"]
        assert [
            h.get(schema.USER_ID) for h in headers if h.get(schema.ORGANIZATION_ID) == "org-1"
        ] == ["u-1"]

    def test_context_restored_after_block(self):
        with tenant_context(organization_id="a"):
            with tenant_context(organization_id="b"):
                assert get_tenant().organization_id == "b"
            assert get_tenant().organization_id == "a"
        assert get_tenant() is None


class TestEmbeddedWorker:
    """A real worker thread: spans, no per-task state leak, failures never fail tasks."""

    def run_workload(self, app) -> None:
        with tenant_context(organization_id="org-span", user_id="u-span"):
            oks = [app.send_task("inproc.add", (i, i)) for i in range(10)]
            fail = app.send_task("inproc.boom")
            retry = app.send_task("inproc.retry")
            who = app.send_task("inproc.whoami")
        assert [r.get(timeout=20) for r in oks] == [2 * i for i in range(10)]
        with pytest.raises(RuntimeError):
            fail.get(timeout=20)
        assert retry.get(timeout=20) == "recovered"
        assert who.get(timeout=20) == "org-span"

    def test_spans_attributes_and_no_leak(self, app, span_exporter):
        out = io.StringIO()
        configure_logging(stream=out)
        instrument(app, project="p1")
        span_exporter.clear()
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="INFO"):
            self.run_workload(app)
            # postrun runs after the result is stored: wait for the cleanup, don't assume it.
            wait_for(lambda: active_task_count() == 0, timeout=10,
                     message=lambda: f"per-task state to drain ({active_task_count()} left)")
        runs = [sp for sp in span_exporter.get_finished_spans()
                if sp.name.startswith("run/inproc.")]
        assert len(runs) >= 14  # 10 adds, boom, retry twice, whoami
        for sp in runs:
            assert sp.attributes[ATTRIBUTE_PREFIX + schema.ORGANIZATION_ID] == "org-span"
            assert sp.attributes[ATTRIBUTE_PREFIX + schema.USER_ID] == "u-span"
        # Log lines written inside a span carry that span's ids.
        lines = [json.loads(x) for x in out.getvalue().splitlines()]
        started = [r for r in lines if r[schema.EVENT] == schema.Event.TASK_STARTED]
        span_ids = {f"{sp.context.span_id:016x}" for sp in runs}
        assert started and all(r[schema.SPAN_ID] in span_ids for r in started)
        assert all(r[schema.TRACE].startswith("projects/p1/traces/") for r in started)

    def test_broken_stream_and_failing_observer_do_not_fail_tasks(self, app):
        class Broken(io.StringIO):
            def write(self, _):
                raise OSError(5, "Input/output error")

        def bad_observer(event, fields):
            raise RuntimeError("observer bug")

        configure_logging(stream=Broken())
        instrument(app, tracing=False)
        add_observer(bad_observer)
        try:
            with start_worker(app, pool="solo", perform_ping_check=False):
                self.run_workload(app)
                wait_for(lambda: active_task_count() == 0, timeout=10, message="state drained")
        finally:
            remove_observer(bad_observer)
        assert dropped_lines() > 0
        assert instrumentation.events.observer_errors > 0

    def test_broken_tracing_does_not_fail_tasks(self, app, span_exporter):
        """A span processor that raises on every span start and end: tasks still succeed."""

        class BrokenProcessor(SimpleSpanProcessor):
            enabled = True

            def on_start(self, span, parent_context=None):
                if self.enabled:
                    raise RuntimeError("tracing backend down")

            def on_end(self, span):
                if self.enabled:
                    raise RuntimeError("tracing backend down")

        broken = BrokenProcessor(InMemorySpanExporter())
        trace.get_tracer_provider().add_span_processor(broken)
        out = io.StringIO()
        configure_logging(stream=out)
        instrument(app)
        try:
            # The worker's log level governs our events too (the test worker defaults to ERROR).
            with start_worker(app, pool="solo", perform_ping_check=False, loglevel="INFO"):
                self.run_workload(app)
                wait_for(lambda: active_task_count() == 0, timeout=10, message="state drained")
        finally:
            broken.enabled = False  # providers cannot drop a processor; disarm it instead
        events = [json.loads(x)[schema.EVENT] for x in out.getvalue().splitlines()]
        assert events.count(schema.Event.TASK_SUCCEEDED) >= 12

    def test_observers_get_the_same_fields(self, app):
        seen: list[tuple[str, dict]] = []
        configure_logging(stream=io.StringIO())
        instrument(app, tracing=False)
        observer = lambda event, fields: seen.append((event, dict(fields)))  # noqa: E731
        add_observer(observer)
        try:
            with start_worker(app, pool="solo", perform_ping_check=False):
                assert app.send_task("inproc.housekeeping").get(timeout=20) == "swept"
                assert app.send_task("inproc.add", (2, 3)).get(timeout=20) == 5
                wait_for(lambda: any(e == schema.Event.TASK_SUCCEEDED for e, _ in seen), timeout=10,
                         message="task_succeeded observed")
        finally:
            remove_observer(observer)
        events = [e for e, _ in seen]
        # task_published is written after the broker accepted the message, so a fast worker
        # thread may receive the task first: only the worker-side order is fixed.
        assert schema.Event.TASK_PUBLISHED in events
        assert events.index(schema.Event.TASK_RECEIVED) < events.index(schema.Event.TASK_STARTED) \
            < events.index(schema.Event.TASK_SUCCEEDED)
        done = dict(seen)[schema.Event.TASK_SUCCEEDED]
        assert done[schema.DURATION_MS] >= 0
        # Only the task that needs a tenant warns; requires_tenant=False opts out.
        no_tenant = [f for e, f in seen if e == schema.Event.TASK_NO_TENANT]
        assert len(no_tenant) == 1 and "inproc.add" in str(no_tenant)

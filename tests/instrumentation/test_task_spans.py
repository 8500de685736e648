"""Task spans opened by our own handlers (instrumentation/task_spans.py): names, kinds,
publish -> run parentage, attributes, failures and retries, in a real embedded worker with the
in-memory exporter; CeleryInstrumentor's spans used instead when the app instrumented it; the
unsampled path; instrument()/uninstrument() with tracing as a matched pair."""

from __future__ import annotations

import io
import json

import pytest
from celery import Celery, signals
from celery.app.task import Context
from celery.contrib.testing.worker import start_worker
from opentelemetry import trace
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind, StatusCode

from instrumentation import (
    active_task_count,
    configure_logging,
    instrument,
    schema,
    tenant_context,
    uninstrument,
)
from instrumentation import task_spans as ts
from instrumentation.tracing import ATTRIBUTE_PREFIX, task_spans
from tests.support import wait_for

SPAN_SIGNALS = [signals.before_task_publish, signals.after_task_publish, signals.task_prerun,
                signals.task_postrun, signals.task_failure, signals.task_retry]


@pytest.fixture
def app(broker_url, backend_url) -> Celery:
    app = Celery("spans", broker=broker_url, backend=backend_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                    broker_connection_retry_on_startup=True)

    @app.task(name="spans.add", shared=False)
    def add(x, y):
        return x + y

    @app.task(name="spans.boom", shared=False)
    def boom():
        raise RuntimeError("boom")

    @app.task(name="spans.expected", shared=False, throws=(KeyError,))
    def expected():
        raise KeyError("an expected error")

    @app.task(name="spans.retry", shared=False, bind=True, max_retries=2)
    def flaky(self):
        if self.request.retries < 1:
            raise self.retry(countdown=0.05)
        return "recovered"

    @app.task(name="spans.parent", shared=False)
    def parent():
        app.send_task("spans.add", (1, 1))
        return "sent"

    return app


def finished(exporter: InMemorySpanExporter, name: str) -> list:
    return [sp for sp in exporter.get_finished_spans() if sp.name == name]


def run_in_worker(app, *calls) -> list:
    """Send each (name, args) and wait for its result, in a real embedded solo worker."""
    out = []
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="INFO"):
        results = [app.send_task(name, args) for name, args in calls]
        for result in results:
            try:
                out.append(result.get(timeout=20))
            except Exception as exc:  # the failing tasks' results are their exceptions
                out.append(exc)
        wait_for(lambda: active_task_count() == 0, timeout=10, message="per-task state drained")
    return out


def test_publish_and_run_spans_are_parent_and_child(app, span_exporter):
    configure_logging(stream=io.StringIO())
    instrument(app, project="p1")
    span_exporter.clear()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("http-request") as request_span, \
            tenant_context(organization_id="org-t", user_id="u-t"):
        assert run_in_worker(app, ("spans.add", (2, 3))) == [5]
    (publish,) = finished(span_exporter, "apply_async/spans.add")
    (run,) = finished(span_exporter, "run/spans.add")
    assert publish.kind == SpanKind.PRODUCER and run.kind == SpanKind.CONSUMER
    # One trace: the request, its publish, the run in the worker.
    assert publish.parent.span_id == request_span.get_span_context().span_id
    assert run.parent.span_id == publish.context.span_id
    assert run.context.trace_id == publish.context.trace_id == \
        request_span.get_span_context().trace_id
    task_id = run.attributes[ts.MESSAGE_ID]
    assert publish.attributes[ts.MESSAGE_ID] == task_id
    assert publish.attributes[ts.ACTION] == "apply_async"
    assert publish.attributes[ts.DESTINATION] == "celery"
    assert run.attributes[ts.ACTION] == "run"
    assert run.attributes[ts.TASK_NAME] == "spans.add"
    assert run.attributes[ts.STATE] == "SUCCESS"
    assert run.attributes[ts.DESTINATION] == "celery"
    assert run.attributes[ts.HOSTNAME]
    assert run.attributes[ATTRIBUTE_PREFIX + schema.ORGANIZATION_ID] == "org-t"
    assert run.status.status_code == StatusCode.UNSET
    assert task_spans().open_publishes() == 0


def test_a_task_published_by_a_task_continues_its_trace(app, span_exporter):
    configure_logging(stream=io.StringIO())
    instrument(app)
    span_exporter.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="INFO"):
        assert app.send_task("spans.parent").get(timeout=20) == "sent"
        wait_for(lambda: finished(span_exporter, "run/spans.add"), timeout=20,
                 message="the child task's span")
        wait_for(lambda: active_task_count() == 0, timeout=10, message="state drained")
    (parent,) = finished(span_exporter, "run/spans.parent")
    (child_publish,) = finished(span_exporter, "apply_async/spans.add")
    (child,) = finished(span_exporter, "run/spans.add")
    assert child_publish.parent.span_id == parent.context.span_id
    assert child.parent.span_id == child_publish.context.span_id
    assert child.context.trace_id == parent.context.trace_id


def test_failures_and_retries_on_the_span(app, span_exporter):
    configure_logging(stream=io.StringIO())
    instrument(app)
    span_exporter.clear()
    results = run_in_worker(app, ("spans.boom", ()), ("spans.expected", ()),
                            ("spans.retry", ()))
    assert isinstance(results[0], RuntimeError) and results[2] == "recovered"
    (boom,) = finished(span_exporter, "run/spans.boom")
    assert boom.status.status_code == StatusCode.ERROR
    assert boom.status.description == "boom"
    assert [e.attributes["exception.type"] for e in boom.events] == ["RuntimeError"]
    assert boom.attributes[ts.STATE] == "FAILURE"
    # An exception in the task's `throws` is expected: no error status, nothing recorded.
    (expected,) = finished(span_exporter, "run/spans.expected")
    assert expected.status.status_code == StatusCode.UNSET and not expected.events
    retried, recovered = sorted(finished(span_exporter, "run/spans.retry"),
                                key=lambda sp: sp.start_time)
    assert retried.attributes[ts.STATE] == "RETRY"
    assert "Retry in" in retried.attributes[ts.RETRY_REASON]
    assert recovered.attributes[ts.STATE] == "SUCCESS"
    assert recovered.attributes[ts.RETRIES] == 1


def test_celery_instrumentor_makes_the_spans_when_the_app_instrumented_it(app, span_exporter):
    """No second set of spans: ours stay off, theirs carry our attributes."""
    instrumentor = CeleryInstrumentor()
    instrumentor.instrument()
    try:
        configure_logging(stream=io.StringIO())
        instrument(app)
        assert task_spans() is None
        span_exporter.clear()
        with tenant_context(organization_id="org-o"):
            assert run_in_worker(app, ("spans.add", (1, 2))) == [3]
        (run,) = finished(span_exporter, "run/spans.add")
        assert run.attributes[ATTRIBUTE_PREFIX + schema.ORGANIZATION_ID] == "org-o"
        assert len(finished(span_exporter, "apply_async/spans.add")) == 1
    finally:
        uninstrument()
        instrumentor.uninstrument()


def test_instrument_and_uninstrument_with_tracing_are_a_pair(app):
    before = [len(sig.receivers) for sig in SPAN_SIGNALS]
    instrument(app, configure_logging=False)
    assert task_spans() is not None
    instrument(app, configure_logging=False)
    uninstrument()
    assert [len(sig.receivers) for sig in SPAN_SIGNALS] == before
    assert task_spans() is None


def test_unsampled_spans_still_carry_the_trace_to_the_task():
    """Nothing exported (parent-based always-off): the span is not recorded, costs no
    attributes, and its context still goes to the task through the headers."""
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = ts.TaskSpans(provider)
    headers: dict = {"id": "t-1"}
    spans.start_publish("spans.add", "t-1", headers, "celery", None)
    traceparent = headers["traceparent"]
    assert int(traceparent.split("-")[3], 16) & 1 == 0  # valid ids, the sampled flag off
    spans.end_publish("t-1")
    request = Context({"id": "t-1", "traceparent": traceparent, "hostname": "w",
                       "delivery_info": {"routing_key": "celery"}})

    class Task:
        name = "spans.add"

    run = spans.start_run(Task, "t-1", request)
    current = trace.get_current_span().get_span_context()
    assert current.trace_id == int(traceparent.split("-")[1], 16)
    assert not run.span.is_recording()
    ts.TaskSpans.end_run(run, "SUCCESS")
    assert not trace.get_current_span().get_span_context().is_valid
    assert exporter.get_finished_spans() == () and spans.open_publishes() == 0


def test_a_publish_that_never_completes_is_bounded():
    spans = ts.TaskSpans(TracerProvider())
    for i in range(ts.MAX_OPEN_PUBLISHES + 10):
        spans.start_publish("x", f"t-{i}", {}, None, None)
    assert spans.open_publishes() == ts.MAX_OPEN_PUBLISHES


def test_log_lines_of_a_task_carry_its_run_span(app, span_exporter):
    out = io.StringIO()
    configure_logging(stream=out)
    instrument(app)
    span_exporter.clear()
    assert run_in_worker(app, ("spans.add", (1, 1))) == [2]
    (run,) = finished(span_exporter, "run/spans.add")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    started = [r for r in lines if r[schema.EVENT] == schema.Event.TASK_STARTED]
    succeeded = [r for r in lines if r[schema.EVENT] == schema.Event.TASK_SUCCEEDED]
    assert started and succeeded
    for line in started + succeeded:
        assert line[schema.OTEL_SPAN_ID] == f"{run.context.span_id:016x}"
        assert line[schema.TRACE_ID] == f"{run.context.trace_id:032x}"


class _Task:
    name = "spans.add"


@pytest.mark.parametrize("traceparent, tracestate", [
    (None, None),  # a message from an uninstrumented publisher: a new trace
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "k=v"),  # not sampled
    ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02", None),  # random id, unsampled
])
def test_unsampled_runs_get_the_span_the_sdk_would_make(traceparent, tracestate):
    """With ParentBased(ALWAYS_OFF) the run span of an unsampled message is made without the
    SDK's general path: same trace id, flags and trace state as the SDK's own."""
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    headers = {k: v for k, v in (("traceparent", traceparent), ("tracestate", tracestate)) if v}
    request = Context({"id": "t-1", "hostname": "w", **headers})
    run = ts.TaskSpans(provider).start_run(_Task, "t-1", request)
    ours = run.span.get_span_context()
    ts.TaskSpans.end_run(run, "SUCCESS")
    from opentelemetry.propagate import extract

    parent = extract(headers) if headers else None
    theirs = provider.get_tracer("sdk").start_span("run/spans.add", context=parent)
    expected = theirs.get_span_context()
    assert not run.span.is_recording() and not theirs.is_recording()
    assert ours.is_valid and ours.span_id != expected.span_id
    assert (ours.trace_flags, ours.trace_state, ours.is_remote) == \
        (expected.trace_flags, expected.trace_state, expected.is_remote)
    if traceparent:
        assert ours.trace_id == expected.trace_id == int(traceparent.split("-")[1], 16)


def test_a_sampled_parent_is_recorded_through_the_sdk():
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    request = Context({"id": "t-2", "hostname": "w",
                       "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    run = ts.TaskSpans(provider).start_run(_Task, "t-2", request)
    ts.TaskSpans.end_run(run, "SUCCESS")
    (span,) = exporter.get_finished_spans()
    assert span.parent.span_id == 0xB7AD6B7169203331
    assert span.attributes[ts.STATE] == "SUCCESS"


def test_other_samplers_decide_for_themselves():
    """The default sampler (parent-based always-on) records a run with no parent."""
    run = ts.TaskSpans(TracerProvider()).start_run(_Task, "t-3", Context({"id": "t-3"}))
    ts.TaskSpans.end_run(run, None)
    assert run.span.is_recording() is False  # ended
    assert run.span.get_span_context().trace_flags.sampled

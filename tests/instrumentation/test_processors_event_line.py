"""The fused renderer of our events (processors.EventLine) writes the same line as the
structlog chain, leaves empty values out, and redacts what it writes."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import configure_logging, log_event, tenant_context
from instrumentation import processors as p
from instrumentation import schema as s
from instrumentation.context import bind_task, unbind_task

CONTEXT = {s.TASK_ID: "t-1", s.TASK_NAME: "app.work", s.GROUP_ID: None, s.RETRIES: 0,
           s.QUEUE: "q", s.WORKER: "celery@w1", s.CHORD_CALLBACK_ID: "cb-1"}


def both_paths(event: str, message: str | None, **fields) -> tuple[dict, dict]:
    """The same event through log_event (fused) and through a structlog logger (chain)."""
    out = io.StringIO()
    configure_logging(stream=out, service="svc", environment="env", project="proj",
                      labels=True)
    tracer = TracerProvider().get_tracer("t")
    token = bind_task(CONTEXT)
    try:
        with tracer.start_as_current_span("run"), tenant_context("org-1", "u-1"):
            try:
                raise ConnectionError("cannot reach redis://:hunter2@db:6379/0")
            except ConnectionError as exc:
                log_event(event, message, exc_info=exc, **dict(fields))
                structlog.get_logger().warning(
                    message or "", exc_info=exc,
                    **{p.EVENT_NAME_KEY: event, p.SEVERITY_KEY: s.EVENT_SEVERITY[event],
                       **fields})
    finally:
        unbind_task(token)
    fused, chain = (json.loads(line) for line in out.getvalue().splitlines())
    return fused, chain


@pytest.mark.parametrize(("event", "message"), [
    (s.Event.TASK_RETRIED, None),
    (s.Event.CHORD_STUCK, "Chord stuck: token=abc123"),
])
def test_fused_line_equals_the_chain(event, message):
    fields = {s.DURATION_MS: 1.5, s.CHORD_CALLBACK_ID: None, "password": "pw",
              s.REASON: "size key missing"}
    fused, chain = both_paths(event, message, **fields)
    assert fused.pop(s.TIME) and chain.pop(s.TIME)
    assert fused == chain
    head = [s.SEVERITY, s.EVENT, s.MESSAGE] if message else [s.SEVERITY, s.EVENT]
    assert list(fused)[:len(head)] == head == list(chain)[:len(head)]  # what humans read first
    # What both wrote: the task's context and tenant, secrets masked, no empty value.
    assert fused[s.TASK_ID] == "t-1" and fused[s.ORGANIZATION_ID] == "org-1"
    assert fused["password"] == "***" and "hunter2" not in json.dumps(fused)
    assert s.GROUP_ID not in fused and s.CHORD_CALLBACK_ID not in fused  # None clears context
    assert fused[s.LABELS] == {s.SERVICE: "svc", s.ENVIRONMENT: "env"}
    assert fused[s.TRACE].startswith("projects/proj/traces/") and fused[s.TRACE_SAMPLED]
    assert fused[s.EXCEPTION_TYPE] == "ConnectionError"
    assert (s.MESSAGE in fused) is bool(message)


def test_labels_are_opt_in():
    out = io.StringIO()
    configure_logging(stream=out, service="svc", environment="env")
    log_event(s.Event.WORKER_READY, "ready")
    rec = json.loads(out.getvalue())
    assert s.LABELS not in rec and rec[s.MESSAGE] == "ready"
    assert set(s.ALWAYS_FIELDS) <= set(rec)


def test_context_is_filtered_once_per_task():
    """Two lines of one task reuse the filtered context; a new task gets its own."""
    out = io.StringIO()
    configure_logging(stream=out)
    for task_id in ("a", "b"):
        token = bind_task({**CONTEXT, s.TASK_ID: task_id})
        log_event(s.Event.TASK_STARTED)
        log_event(s.Event.TASK_SUCCEEDED, **{s.DURATION_MS: 2.0})
        unbind_task(token)
    recs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r[s.TASK_ID] for r in recs] == ["a", "a", "b", "b"]
    assert all(None not in r.values() and s.GROUP_ID not in r for r in recs)

"""The fused renderer of our events (processors.EventLine) writes the same line as the
structlog chain, leaves empty values out, and redacts what it writes."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import configure_logging, log_event, processors, schema, tenant_context
from instrumentation.context import bind_task, unbind_task

CONTEXT = {
    schema.TASK_ID: "t-1",
    schema.TASK_NAME: "app.work",
    schema.GROUP_ID: None,
    schema.RETRIES: 0,
    schema.QUEUE: "q",
    schema.WORKER: "celery@w1",
    schema.CHORD_CALLBACK_ID: "cb-1",
}


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
                    message or "",
                    exc_info=exc,
                    **{
                        processors.EVENT_NAME_KEY: event,
                        processors.SEVERITY_KEY: schema.EVENT_SEVERITY[event],
                        **fields,
                    },
                )
    finally:
        unbind_task(token)
    fused, chain = (json.loads(line) for line in out.getvalue().splitlines())
    return fused, chain


@pytest.mark.parametrize(("event", "message"), [
    (schema.Event.TASK_RETRIED, None),
    (schema.Event.CHORD_STUCK, "Chord stuck: token=abc123"),
])
def test_fused_line_equals_the_chain(event, message):
    fields = {schema.DURATION_MS: 1.5, schema.CHORD_CALLBACK_ID: None, "password": "pw",
              schema.REASON: "size key missing"}
    fused, chain = both_paths(event, message, **fields)
    assert fused.pop(schema.TIME) and chain.pop(schema.TIME)
    assert fused == chain
    head = (
        [schema.SEVERITY, schema.EVENT, schema.MESSAGE]
        if message
        else [schema.SEVERITY, schema.EVENT]
    )
    assert list(fused)[:len(head)] == head == list(chain)[:len(head)]  # what humans read first
    # What both wrote: the task's context and tenant, secrets masked, no empty value.
    assert fused[schema.TASK_ID] == "t-1" and fused[schema.ORGANIZATION_ID] == "org-1"
    assert fused["password"] == "***" and "hunter2" not in json.dumps(fused)
    assert (
        schema.GROUP_ID not in fused and schema.CHORD_CALLBACK_ID not in fused
    )  # None clears context
    assert fused[schema.LABELS] == {schema.SERVICE: "svc", schema.ENVIRONMENT: "env"}
    assert fused[schema.TRACE].startswith("projects/proj/traces/") and fused[schema.TRACE_SAMPLED]
    assert fused[schema.EXCEPTION_TYPE] == "ConnectionError"
    assert (schema.MESSAGE in fused) is bool(message)


def test_labels_are_opt_in():
    out = io.StringIO()
    configure_logging(stream=out, service="svc", environment="env")
    log_event(schema.Event.WORKER_READY, "ready")
    rec = json.loads(out.getvalue())
    assert schema.LABELS not in rec and rec[schema.MESSAGE] == "ready"
    assert set(schema.ALWAYS_FIELDS) <= set(rec)


def test_context_is_filtered_once_per_task():
    """Two lines of one task reuse the filtered context; a new task gets its own."""
    out = io.StringIO()
    configure_logging(stream=out)
    for task_id in ("a", "b"):
        token = bind_task({**CONTEXT, schema.TASK_ID: task_id})
        log_event(schema.Event.TASK_STARTED)
        log_event(schema.Event.TASK_SUCCEEDED, **{schema.DURATION_MS: 2.0})
        unbind_task(token)
    recs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r[schema.TASK_ID] for r in recs] == ["a", "a", "b", "b"]
    assert all(None not in r.values() and schema.GROUP_ID not in r for r in recs)

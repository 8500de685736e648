"""OpenTelemetry spans for every task: the tracer provider, and chord span links.

``instrument(app, tracing=True)`` calls ``setup_tracing``; you rarely need this module
directly. What it decides:

* The spans themselves (``run/<task>``, ``apply_async/<task>``, as
  opentelemetry-instrumentation-celery names them) are opened and closed by our own signal
  handlers (``task_spans``), in the same call that writes the task's line. If the application
  or ``opentelemetry-instrument`` already instrumented Celery with ``CeleryInstrumentor``,
  its spans are used instead and we add none (``task_spans()`` is then None).

* If the application already installed an SDK ``TracerProvider``, it is used as is.
* Otherwise one is created with ``service.name``; spans get real trace ids (so log lines can be
  correlated) but are exported only when the standard variables ask for it:
  ``OTEL_TRACES_EXPORTER=otlp`` (needs the ``otlp`` extra) or ``console`` (one JSON span per
  line on stderr), or ``OTEL_EXPORTER_OTLP_ENDPOINT``/``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``.
  With none of these set nothing is exported, and a task's span is recorded only when its
  publisher's trace is sampled (sampler ``parentbased_always_off`` unless
  ``OTEL_TRACES_SAMPLER`` says otherwise): trace context still propagates to child tasks at a
  fraction of the cost, and log lines link to the publisher's trace where one is kept.
  Lines of an unsampled span carry no trace ids (``processors.AddTraceContext``).
* Prefork children are safe: the SDK's batch processor restarts its thread after fork, and
  ``instrument`` re-checks the provider in ``worker_process_init``.
* Chords: the callback's span links to the span of every member (OpenTelemetry span links),
  so a trace viewer goes from the callback to each member. Each sampled member appends its
  span context to a short-lived Redis list named for the callback
  (``remember_chord_member``); the member that completes the chord, which publishes the
  callback, copies that list into the callback's message (``chord_links_header``); the
  callback adds the links when it starts (``link_chord_members``). Redis result backend only
  (the one that completes a chord in the last member), at most ``MAX_CHORD_LINKS`` links, and
  nothing at all for unsampled spans.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from opentelemetry import trace

from instrumentation.task_spans import TaskSpans

log = logging.getLogger(__name__)

#: Prefix of our span attributes; the rest of the name is the schema field.
ATTRIBUTE_PREFIX = "rhesis."

#: Message header that carries the members' span contexts to the chord callback.
CHORD_LINKS_HEADER = "rhesis_chord_links"

#: Most links a callback gets (the SDK's default limit of links per span).
MAX_CHORD_LINKS = 128

#: How long the members' span contexts wait in Redis for their callback.
CHORD_LINKS_TTL_S = 24 * 3600

_spans: TaskSpans | None = None


def _exporter_from_env() -> Any | None:
    name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if name in ("", "none") and not (name == "" and endpoint):
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # One line per span on stderr: stdout is reserved for the JSON log lines.
        return ConsoleSpanExporter(
            out=sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        log.warning("OTLP trace export requested but opentelemetry-exporter-otlp-proto-http is "
                    "not installed: pip install 'rhesis-logs[otlp]'; spans are not exported")
        return None
    return OTLPSpanExporter()


def setup_tracing(service: str | None = None, environment: str | None = None) -> None:
    """Install a TracerProvider when the app has none, then start our task spans unless
    OpenTelemetry's own Celery instrumentation runs already (idempotent)."""
    global _spans
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        from opentelemetry.sdk.resources import Resource

        attributes = {"service.name": service or os.environ.get("OTEL_SERVICE_NAME", "celery")}
        if environment:
            attributes["deployment.environment"] = environment
        exporter = _exporter_from_env()
        sampler = None  # the SDK reads OTEL_TRACES_SAMPLER, default parent-based always-on
        if exporter is None and not os.environ.get("OTEL_TRACES_SAMPLER"):
            # Nothing is exported, so recording spans (attributes, events, timing) would be
            # pure cost on every task; but a publisher whose trace is sampled keeps it
            # somewhere, and the task's log lines should link to it.
            from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

            sampler = ParentBased(ALWAYS_OFF)
        provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
        if exporter is not None:
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    # Instrumented by the application or by opentelemetry-instrument: a second set of spans
    # would double every trace.
    _spans = None if CeleryInstrumentor().is_instrumented_by_opentelemetry else TaskSpans()


def teardown_tracing() -> None:
    """Stop opening task spans (setup_tracing starts again)."""
    global _spans
    _spans = None


def task_spans() -> TaskSpans | None:
    """Our task spans, or None when tracing is off or CeleryInstrumentor makes the spans."""
    return _spans


def annotate_span(span: Any, fields: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Copy ``fields[key]`` for ``keys`` (tenant, group and chord ids) onto the running task's
    span (``None``: the current span) as attributes, when the span is recorded."""
    if span is None:
        span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes = {ATTRIBUTE_PREFIX + key: fields[key] for key in keys
                  if fields.get(key) is not None}
    if attributes:
        span.set_attributes(attributes)


def _links_key(callback_id: str) -> str:
    return f"rhesis-chord-links-{callback_id}"


def _redis_client(backend: Any) -> Any | None:
    from celery.backends.redis import RedisBackend

    return backend.client if isinstance(backend, RedisBackend) else None


def remember_chord_member(backend: Any, callback_id: str) -> None:
    """Append the running member's span context to its callback's list (sampled spans only:
    one Redis round trip per member of a traced chord, none otherwise)."""
    ctx = trace.get_current_span().get_span_context()
    if not (ctx.is_valid and ctx.trace_flags.sampled):
        return
    client = _redis_client(backend)
    if client is None:
        return
    key = _links_key(callback_id)
    with client.pipeline(transaction=False) as pipe:
        pipe.rpush(key, f"{ctx.trace_id:032x}-{ctx.span_id:016x}")
        pipe.expire(key, CHORD_LINKS_TTL_S)
        pipe.execute()


def chord_links_header(backend: Any, callback_id: str) -> list[str]:
    """The members' span contexts remembered for ``callback_id`` (read once, by the member
    that publishes the callback), oldest first, at most ``MAX_CHORD_LINKS``."""
    client = _redis_client(backend)
    if client is None:
        return []
    key = _links_key(callback_id)
    with client.pipeline(transaction=False) as pipe:
        pipe.lrange(key, 0, MAX_CHORD_LINKS - 1)
        pipe.delete(key)
        values, _ = pipe.execute()
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def link_chord_members(values: Any) -> int:
    """Link the running callback's span to each member span in ``values`` (the header's
    list); returns how many links were added. Malformed entries are skipped."""
    span = trace.get_current_span()
    if not isinstance(values, list | tuple) or not span.is_recording():
        return 0
    added = 0
    for value in values[:MAX_CHORD_LINKS]:
        try:
            trace_hex, span_hex = str(value).split("-")
            ctx = trace.SpanContext(int(trace_hex, 16), int(span_hex, 16), is_remote=True,
                                    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
        except ValueError:
            continue
        if ctx.is_valid:
            span.add_link(ctx)
            added += 1
    return added

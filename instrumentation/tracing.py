"""OpenTelemetry spans for every task, via opentelemetry-instrumentation-celery.

``instrument(app, tracing=True)`` calls ``setup_tracing``; you rarely need this module
directly. What it decides:

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
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from opentelemetry import trace

log = logging.getLogger(__name__)

#: Prefix of our span attributes; the rest of the name is the schema field.
ATTRIBUTE_PREFIX = "rhesis."

_instrumentor: Any = None


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
    """Install a TracerProvider when the app has none, then instrument Celery (idempotent)."""
    global _instrumentor
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

    instrumentor = CeleryInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
    _instrumentor = instrumentor


def teardown_tracing() -> None:
    """Disconnect the Celery span handlers that setup_tracing connected."""
    global _instrumentor
    if _instrumentor is not None and _instrumentor.is_instrumented_by_opentelemetry:
        _instrumentor.uninstrument()
    _instrumentor = None


def annotate_current_span(fields: dict[str, Any]) -> None:
    """Copy tenant, group and chord ids onto the running task's span as attributes."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    for key, value in fields.items():
        if value is not None:
            span.set_attribute(ATTRIBUTE_PREFIX + key, value)

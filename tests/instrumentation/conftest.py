"""Reset the process-wide logging and signal configuration around every instrumentation test,
so that one test's instrument() never leaks into the next (structlog's testing advice); and
``span_exporter``, the spans a test module's workers end."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import reset_logging, uninstrument


@pytest.fixture(autouse=True)
def _reset_instrumentation() -> Iterator[None]:
    uninstrument()
    reset_logging()
    yield
    uninstrument()
    reset_logging()


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture(scope="module")
def span_exporter() -> InMemorySpanExporter:
    """Every span the module's tests end, through the process's one recording provider
    (``tests/conftest.py`` installs it; OpenTelemetry lets it be set once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter

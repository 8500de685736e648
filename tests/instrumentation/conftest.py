"""Reset the process-wide logging and signal configuration around every instrumentation test,
so that one test's instrument() never leaks into the next (structlog's testing advice)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

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

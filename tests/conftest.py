"""Fixtures shared by the whole suite: a real, private Redis for every test session.

``redis_server`` starts ``redis-server`` on a free port in a temp dir (nothing is persisted)
unless ``REDIS_URL`` is set, in which case that server is used. ``broker_url`` and
``backend_url`` give each test two freshly flushed databases of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (see below)
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from tests.support import RedisServer, redis_from_env, start_redis_server

# Importing hypothesis up front is a workaround for a CPython 3.11.7 bug (fixed in 3.11.8):
# once any ast compile in the process has failed, a later ast.parse raises "AST constructor
# recursion depth mismatch". Hypothesis' pytest plugin imports hypothesis lazily at the end
# of the run, where pytest's assertion rewriter parses it and hits that bug.

# One recording TracerProvider for the whole test process, installed before any test calls
# instrument(): OpenTelemetry lets the global provider be set once, and instrument() would
# otherwise install its unsampled one (nothing is exported in tests), leaving span tests with
# no spans whenever another test module happened to instrument the process first.
trace.set_tracer_provider(TracerProvider())

_db_numbers = itertools.cycle(range(2, 30, 2))

_CHAOS = Path(__file__).parent / "chaos"


def _is_chaos(item: pytest.Item) -> bool:
    return item.path.is_relative_to(_CHAOS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Chaos tests last: their scenarios run in the background from the first test on."""
    items.sort(key=_is_chaos)


@pytest.fixture(scope="session", autouse=True)
def chaos_in_background(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """When the run includes the chaos suite, start its scenarios with the first test.

    They are minutes of outages and waiting; started here they overlap the rest of the
    suite instead of adding to it. ``None`` when no chaos test was collected.
    """
    items = request.session.items
    if not items or not _is_chaos(items[-1]):
        yield None
        return
    from tests.chaos.conftest import started

    with started(tmp_path_factory) as runs:
        yield runs


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = redis_from_env()
    if server is not None:
        yield server
        return
    server = start_redis_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_dbs(redis_server: RedisServer) -> tuple[int, int]:
    """Two flushed database numbers (broker, backend) for one test."""
    broker_db = next(_db_numbers)
    for db in (broker_db, broker_db + 1):
        redis_server.client(db).flushdb()
    return broker_db, broker_db + 1


@pytest.fixture
def broker_url(redis_server: RedisServer, redis_dbs: tuple[int, int]) -> str:
    return redis_server.url(redis_dbs[0])


@pytest.fixture
def backend_url(redis_server: RedisServer, redis_dbs: tuple[int, int]) -> str:
    return redis_server.url(redis_dbs[1])

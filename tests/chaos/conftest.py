"""Run every chaos scenario at once, each on its own thread with its own Redis and workers,
so the suite takes as long as its longest scenario (the 3-minute outage) and not the sum.

In a whole-suite run they start with the first test and overlap the rest of the suite, and
their tests run last (``tests/conftest.py``), so the chaos minutes add almost nothing to CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

import pytest

from tests.chaos import scenarios
from tests.chaos.harness import REDELIVER_ENV, Scenario, Verdict

SCENARIOS: dict[str, Callable[[Scenario], Verdict]] = {
    # Three short outages in a row: closing a lost connection fails only sometimes.
    "redis_outage_5s_x3": partial(scenarios.redis_outage, seconds=5, times=3),
    "redis_outage_30s": partial(scenarios.redis_outage, seconds=30),
    "pool_process_killed": scenarios.pool_process_killed,
    "worker_terminated": scenarios.worker_terminated,
    "worker_killed": scenarios.worker_killed,
    "broker_down_at_start": scenarios.broker_down_at_start,
    # kombu's kill-instant race, planted: only the chord monitor can finish these runs.
    "orphaned_in_unacked": scenarios.orphaned_in_unacked,
    # kombu's BRPOP window, planted: a member in no queue and not in unacked.
    "member_lost_in_delivery": scenarios.member_lost_in_delivery,
    # The long pole; every other scenario finishes while it runs.
    "redis_outage_180s": partial(scenarios.redis_outage, seconds=180),
}


@contextmanager
def started(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, tuple[Scenario, Future]]]:
    """Start every scenario on its own thread; on exit cancel what is left and clean up."""
    # CHAOS_SCENARIOS=a,b runs only those (while working on one); the others then fail.
    only = set(filter(None, os.environ.get("CHAOS_SCENARIOS", "").split(",")))
    pool = ThreadPoolExecutor(max_workers=len(SCENARIOS), thread_name_prefix="chaos")
    runs: dict[str, tuple[Scenario, Future]] = {}
    for seed, (name, fn) in enumerate(SCENARIOS.items(), start=11):
        if only and name not in only:
            continue
        scenario = Scenario(name, tmp_path_factory.mktemp(name), seed=seed,
                            env=REDELIVER_ENV if name == "worker_killed" else None)
        runs[name] = (scenario, pool.submit(fn, scenario))
    try:
        yield runs
    finally:
        for _, future in runs.values():
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        for scenario, _ in runs.values():
            scenario.close()


@pytest.fixture(scope="session")
def chaos_runs(chaos_in_background: dict[str, tuple[Scenario, Future]] | None,
               tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[dict[str, tuple[Scenario, Future]]]:
    """Every scenario: the ones the suite started with its first test (see
    ``tests/conftest.py``), or started now when only chaos tests were collected."""
    if chaos_in_background is not None:
        yield chaos_in_background
        return
    with started(tmp_path_factory) as runs:
        yield runs

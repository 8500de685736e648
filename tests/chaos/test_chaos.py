"""Redis and worker faults with the demo workload in flight: nothing lost.

Each test is one scenario (see ``scenarios.py``); all run concurrently from the first test
on. A scenario passes when every run reached its callback exactly once with every test's
result (directly, or through the chord monitor's ``recover`` for a chord it names as stuck
with a recoverable reason, such as a member orphaned in ``unacked`` by kombu's kill-instant
race, or one lost in kombu's BRPOP window (re-published from the recorder's copy), or its
``orphans --restore`` for any other message orphaned there; only messages no worker had
received may be put back or re-published), every telemetry batch ended in the state its kind
promises, and /health said 503 with the cause during a Redis outage and 200 within one
probe period after.
"""

from __future__ import annotations

import pytest

from tests.chaos.conftest import SCENARIOS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_loses_nothing(chaos_runs, name: str) -> None:
    if name not in chaos_runs:
        pytest.fail(f"{name} was not run (CHAOS_SCENARIOS excludes it)")
    scenario, future = chaos_runs[name]
    verdict = future.result(timeout=560)
    report = (f"{name}: {verdict.completed}/{verdict.runs} runs completed, callbacks "
              f"{verdict.callback_successes}, recovered {verdict.recovered}, timings "
              f"{verdict.timings}, health {scenario.health_summary()}, kill-instant orphans "
              f"{verdict.orphans_seen}")
    print(report)
    assert verdict.runs >= 6, report
    for entry in verdict.recovered:
        # Only what Celery cannot promise may need the monitor, and only if it says so.
        assert entry["recoverable"] and entry.get("recover_exit") == 0, report
    problems = "\n".join(verdict.problems)
    assert not verdict.problems, "\n".join(
        [report, problems, scenario.lines_about(problems), scenario.logs_tail(1500)])

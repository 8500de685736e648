"""The test-run workload: a run fans out one task per test as a chord; a callback collects.

    from worker.launch import send_with_tenant
    from worker.tasks.execution import execute_test_run

    send_with_tenant(execute_test_run, args=("run-1", 20),
                     kwargs={"sim": {"latency_ms": [10, 50], "failure_rate": 0.1}},
                     organization_id="org-1", user_id="u-1")

``execute_test_run`` returns the ids to follow (``callback_id`` is the run's summary);
``execute_single_test`` *always* returns a result dict — ``passed``, ``failed`` or ``error``
(retries used up, bad settings, soft time limit) — so one bad test never leaves the chord
without its callback;
``collect_results`` gets every member's result and the run's tenant (from the headers the
members inherit) and returns the summary.

``sequential=True`` runs the tests one after the other inside the run task (retrying inline
with the same backoff), then publishes the same ``collect_results`` callback.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from celery import chord, group, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from instrumentation import get_tenant
from worker.simulation import Simulation
from worker.tasks.base import PermanentError, TenantTask, TransientError

PASSED, FAILED, ERROR = "passed", "failed", "error"


def test_result(run_id: str, test_index: int, status: str, *, attempts: int,
                duration_ms: float, error: str | None = None) -> dict[str, Any]:
    """The normalized result of one test (the shape ``collect_results`` relies on)."""
    return {"run_id": run_id, "test_index": test_index, "status": status,
            "attempts": attempts, "duration_ms": round(duration_ms, 3), "error": error}


def _attempt(sim: Simulation, run_id: str, test_index: int, attempt: int) -> str:
    """Run one attempt of a simulated test: return its status or raise TransientError."""
    outcome = sim.roll(run_id, test_index, attempt)
    time.sleep(outcome.latency_s)
    if outcome.transient:
        raise TransientError(f"simulated transient error in test {test_index} of {run_id}")
    return FAILED if outcome.failed else PASSED


def _simulation(sim: dict[str, Any] | None) -> Simulation:
    try:
        return Simulation.from_dict(sim)
    except ValueError as exc:
        raise PermanentError(f"bad simulation settings: {exc}") from exc


@shared_task(bind=True, base=TenantTask, name="rhesis.execution.execute_single_test")
def execute_single_test(self: TenantTask, run_id: str, test_index: int,
                        sim: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one simulated test; retry transient errors; always return a result dict."""
    attempt = self.request.retries or 0
    started = time.monotonic()
    try:
        simulation = _simulation(sim)
        status = _attempt(simulation, run_id, test_index, attempt)
    except TransientError as exc:
        if self.retries_left() > 0:
            raise self.retry_with_backoff(exc) from exc
        return test_result(run_id, test_index, ERROR, attempts=attempt + 1,
                           duration_ms=(time.monotonic() - started) * 1000, error=str(exc))
    except PermanentError as exc:
        # Still a result: the chord must complete even when a test is misconfigured.
        return test_result(run_id, test_index, ERROR, attempts=attempt + 1,
                           duration_ms=(time.monotonic() - started) * 1000, error=str(exc))
    except SoftTimeLimitExceeded:
        # A hung test is a failed test, not a broken run: report it and let the chord finish.
        # (The hard time_limit kills the process instead; that is the chord monitor's case.)
        return test_result(run_id, test_index, ERROR, attempts=attempt + 1,
                           duration_ms=(time.monotonic() - started) * 1000,
                           error="soft time limit exceeded")
    return test_result(run_id, test_index, status, attempts=attempt + 1,
                       duration_ms=(time.monotonic() - started) * 1000)


@shared_task(bind=True, base=TenantTask, name="rhesis.execution.collect_results")
def collect_results(self: TenantTask, results: list[dict[str, Any]], run_id: str,
                    n_tests: int | None = None, mode: str = "chord") -> dict[str, Any]:
    """Chord callback: summarize every test result of a run, with the run's tenant."""
    tenant = get_tenant()
    counts = Counter(r.get("status", ERROR) if isinstance(r, dict) else ERROR for r in results)
    return {
        "run_id": run_id,
        "mode": mode,
        "n_tests": n_tests if n_tests is not None else len(results),
        "n_results": len(results),
        "counts": {k: counts.get(k, 0) for k in (PASSED, FAILED, ERROR)},
        "organization_id": tenant.organization_id if tenant else None,
        "user_id": tenant.user_id if tenant else None,
        "results": sorted(results, key=lambda r: r.get("test_index", 0)
                          if isinstance(r, dict) else 0),
    }


@shared_task(bind=True, base=TenantTask, name="rhesis.execution.execute_test_run")
def execute_test_run(self: TenantTask, run_id: str, n_tests: int,
                     sim: dict[str, Any] | None = None,
                     sequential: bool = False) -> dict[str, Any]:
    """Fan a run out as a chord of per-test tasks (or run them in sequence) -> collect_results.
    """
    if not isinstance(n_tests, int) or n_tests < 1:
        raise PermanentError(f"n_tests must be a positive integer, got {n_tests!r}")
    simulation = _simulation(sim)  # fail here, not n_tests times, on bad settings
    if sequential:
        results = [_run_inline(self, simulation, run_id, i) for i in range(n_tests)]
        callback = collect_results.apply_async(
            args=(results,), kwargs={"run_id": run_id, "n_tests": n_tests,
                                     "mode": "sequential"})
        return {"run_id": run_id, "mode": "sequential", "n_tests": n_tests,
                "chord_id": None, "callback_id": callback.id}
    header = group(execute_single_test.s(run_id, i, sim=simulation.to_dict())
                   for i in range(n_tests))
    callback = chord(header)(collect_results.s(run_id=run_id, n_tests=n_tests, mode="chord"))
    return {"run_id": run_id, "mode": "chord", "n_tests": n_tests,
            "chord_id": callback.parent.id if callback.parent else None,
            "callback_id": callback.id}


def _run_inline(task: TenantTask, sim: Simulation, run_id: str, test_index: int
                ) -> dict[str, Any]:
    """One test of a sequential run, retried in place with the task's backoff."""
    started = time.monotonic()
    max_attempts = (task.max_retries or 0) + 1
    for attempt in range(max_attempts):
        try:
            status = _attempt(sim, run_id, test_index, attempt)
        except TransientError as exc:
            if attempt + 1 == max_attempts:
                return test_result(run_id, test_index, ERROR, attempts=attempt + 1,
                                   duration_ms=(time.monotonic() - started) * 1000,
                                   error=str(exc))
            time.sleep(task.backoff(attempt))
            continue
        return test_result(run_id, test_index, status, attempts=attempt + 1,
                           duration_ms=(time.monotonic() - started) * 1000)
    raise AssertionError("unreachable")  # pragma: no cover

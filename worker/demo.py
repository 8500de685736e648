"""Publish a mixed, realistic workload against running workers (``rhesis-worker demo``).

    from worker.demo import DemoPlan, publish_demo, wait_for_demo

    published = publish_demo(DemoPlan(runs=5, tests_per_run=(3, 12), seed=1))
    summaries = wait_for_demo(published, timeout=120)

What it sends, spread over a few tenants: test runs as chords (and one in sequential mode)
with simulated latency, failures and transient errors; telemetry batches of which some
retry and succeed, some exhaust their retries, some are malformed (permanent failure), one
carries its tenant only in kwargs (the fallback) and one has no tenant at all (the
``task_no_tenant`` warning); and a maintenance heartbeat. Everything the analyzer reports on
shows up in the worker's log stream.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from celery.result import AsyncResult

from worker.launch import send_with_tenant

TENANTS = (("org-acme", "u-alice"), ("org-acme", "u-bob"), ("org-globex", "u-carol"),
           ("org-initech", "u-dave"))


@dataclass(frozen=True)
class DemoPlan:
    """How much to publish and how the simulated tests behave."""

    runs: int = 5
    tests_per_run: tuple[int, int] = (3, 12)
    latency_ms: tuple[float, float] = (20.0, 300.0)
    failure_rate: float = 0.15
    retry_rate: float = 0.15
    telemetry_batches: int = 6
    seed: int | None = None


@dataclass
class Published:
    """Ids of what ``publish_demo`` sent, by kind."""

    runs: list[dict[str, Any]] = field(default_factory=list)  # run_id, task_id, tenant
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    maintenance: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "telemetry": self.telemetry, "maintenance": self.maintenance}


def publish_demo(plan: DemoPlan) -> Published:
    """Publish the workload of ``plan``; returns what was sent (nothing is awaited)."""
    from worker.tasks.execution import execute_test_run
    from worker.tasks.maintenance import heartbeat
    from worker.tasks.telemetry import ingest_batch

    rng = random.Random(plan.seed)
    out = Published()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    sim = {"latency_ms": list(plan.latency_ms), "failure_rate": plan.failure_rate,
           "retry_rate": plan.retry_rate, "seed": plan.seed}
    for i in range(plan.runs):
        org, user = rng.choice(TENANTS)
        run_id = f"run-{stamp}-{i}"
        n_tests = rng.randint(*plan.tests_per_run)
        sequential = i == plan.runs - 1 and plan.runs > 1  # one run shows the sequential mode
        result = send_with_tenant(execute_test_run, (run_id, n_tests),
                                  {"sim": sim, "sequential": sequential},
                                  organization_id=org, user_id=user)
        out.runs.append({"run_id": run_id, "task_id": result.id, "n_tests": n_tests,
                         "sequential": sequential, "organization_id": org, "user_id": user})
    for j in range(plan.telemetry_batches):
        org, user = rng.choice(TENANTS)
        batch_id = f"batch-{stamp}-{j}"
        kind = ("ok", "flaky", "exhausted", "malformed", "kwargs-tenant", "no-tenant")[j % 6]
        kwargs: dict[str, Any] = {"size": rng.randint(10, 500), "latency_ms": 5}
        if kind == "flaky":
            kwargs["fail_attempts"] = 1
        elif kind == "exhausted":
            kwargs["fail_attempts"] = 99
        elif kind == "malformed":
            kwargs["permanent"] = True
        if kind == "kwargs-tenant":
            result = ingest_batch.apply_async(
                args=(batch_id,), kwargs={**kwargs, "organization_id": org, "user_id": user})
        elif kind == "no-tenant":
            result = ingest_batch.apply_async(args=(batch_id,), kwargs=kwargs)
        else:
            result = send_with_tenant(ingest_batch, (batch_id,), kwargs,
                                      organization_id=org, user_id=user)
        out.telemetry.append({"batch_id": batch_id, "task_id": result.id, "kind": kind})
    out.maintenance.append(heartbeat.apply_async().id)
    return out


def wait_for_demo(published: Published, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Wait for every run's summary (the chord callback's result); returns them in order.

    Raises ``TimeoutError`` naming the runs that did not finish in time.
    """
    deadline = time.monotonic() + timeout
    summaries = []
    for run in published.runs:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            launched = AsyncResult(run["task_id"]).get(timeout=remaining, propagate=True)
            remaining = max(0.1, deadline - time.monotonic())
            summary = AsyncResult(launched["callback_id"]).get(timeout=remaining)
        except Exception as exc:  # celery's TimeoutError and task errors alike
            raise TimeoutError(f"run {run['run_id']} did not finish: "
                               f"{type(exc).__name__}: {exc}") from exc
        summaries.append({k: summary[k] for k in ("run_id", "mode", "n_tests", "counts",
                                                  "organization_id", "user_id")})
    return summaries

"""An instrumented Celery app whose logs feed the Log Analytics SQL comparison
(tests/queries/test_sql.py): successes, failures, retries (some exhausted), slow tasks,
tenants and chords, one of them stuck because a member sits on a queue nobody consumes.

Environment: ``BROKER_URL``, ``RESULT_BACKEND``.
"""

from __future__ import annotations

import os

from celery import Celery, chord

from instrumentation import instrument
from tests.support import simulate_work

app = Celery("logsapp", broker=os.environ["BROKER_URL"], backend=os.environ["RESULT_BACKEND"])
app.conf.update(worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)
instrument(app, service="logsapp", environment="test", tracing=False)

PARKED_QUEUE = "parked"  # not consumed: a chord member published there never runs
_ERRORS = {"ValueError": ValueError, "KeyError": KeyError, "TimeoutError": TimeoutError}


@app.task(name="logsapp.ok")
def ok(ms: float = 5) -> float:
    simulate_work(ms / 1000)
    return ms


@app.task(name="logsapp.fail")
def fail(kind: str, detail: str) -> None:
    raise _ERRORS[kind](f"request {detail} failed after 3.5s")


@app.task(bind=True, name="logsapp.flaky", max_retries=3)
def flaky(self, times: int) -> int:
    """Retry ``times`` times, then succeed; more than max_retries and it fails for good."""
    if self.request.retries < times:
        raise self.retry(countdown=0, exc=ConnectionError("upstream 503"))
    return self.request.retries


@app.task(name="logsapp.collect")
def collect(results: list) -> int:
    return len(results)


@app.task(name="logsapp.make_chord")
def make_chord(size: int, parked: bool = False) -> str:
    """Publish a chord of ``size`` members (one parked where nobody consumes, if asked)."""
    header = [ok.s(5) for _ in range(size)]
    if parked:
        header.append(ok.s(5).set(queue=PARKED_QUEUE))
    return chord(header)(collect.s()).parent.id

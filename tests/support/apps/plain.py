"""The plain test worker: a Celery app *without* our instrumentation, logging in Celery's
default text format (run as a real ``celery worker`` subprocess; its log is its stderr).

    start_worker("tests.support.apps.plain", tmp_path, env={"BROKER_URL": ...,
                 "CELERY_RESULT_BACKEND": ...}, wait_ready=lambda w: " ready." in w.stderr())

It records the real plain-Celery samples the analyzer is tested on (``tests/fixtures``, through
``tests/support/sample_logs.py``) and the bundled ``examples/celery-plain.log``
(``scripts/make_examples.py``): successes, failures with tracebacks, retries, a time limit
and a lost pool process, as a worker that is not instrumented yet logs them.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.utils.log import get_task_logger

from tests.support import simulate_work

app = Celery(
    "plainapp",
    broker=os.environ["BROKER_URL"],
    backend=os.environ["CELERY_RESULT_BACKEND"],
)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                broker_connection_retry_on_startup=True, result_expires=600,
                worker_hijack_root_logger=True)
log = get_task_logger(__name__)


@app.task(name="plain.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="plain.member", bind=True, max_retries=3)
def member(self, i: int, mode: str = "ok") -> int:
    log.info("member %s running in mode %s", i, mode)
    if mode == "fail":
        raise ValueError(f"member {i} failed on purpose")
    if mode == "retry" and self.request.retries == 0:
        raise self.retry(exc=ConnectionError(f"member {i} transient error"), countdown=0.2)
    return i


@app.task(name="plain.collect")
def collect(results: list) -> int:
    return sum(results)


@app.task(name="plain.crash")
def crash() -> None:
    os._exit(13)


@app.task(name="plain.sleepy", time_limit=1)
def sleepy(seconds: float = 5) -> None:
    simulate_work(seconds)

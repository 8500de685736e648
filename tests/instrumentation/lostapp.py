"""An instrumented app with the reference worker's delivery settings (``acks_late`` +
``reject_on_worker_lost``): a pool process killed mid-task gets its message requeued.

``lost.hold`` counts its runs in Redis; its first run blocks on a Redis list until the test
kills the pool process running it, later runs return at once.
"""

from __future__ import annotations

import os

from celery import Celery

from instrumentation import instrument

app = Celery(
    "lostapp",
    broker=os.environ.get("BROKER_URL", "redis://127.0.0.1:1/0"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:1/1"),
)
app.conf.update(
    task_serializer="json", result_serializer="json", accept_content=["json"],
    task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True, result_expires=600,
)
instrument(app, service="lostapp", tracing=False)


@app.task(name="lost.hold", bind=True, requires_tenant=False)
def hold(self, key: str) -> int:
    runs = int(self.backend.client.incr(key))
    if runs == 1:
        # Blocks until the test kills this process (the timeout only bounds a broken test).
        self.backend.client.blpop([f"{key}:never"], timeout=60)
    return runs

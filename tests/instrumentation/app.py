"""A small instrumented Celery app the instrumentation tests run as a real worker.

Configured from the environment (BROKER_URL, CELERY_RESULT_BACKEND) like a real deployment.
"""

from __future__ import annotations

import logging
import os

import structlog
from celery import Celery

from instrumentation import get_tenant, instrument
from tests.support import simulate_work

app = Celery(
    "tapp",
    broker=os.environ.get("BROKER_URL", "redis://localhost:6379/0"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/1"),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    result_expires=600,
)
instrument(
    app,
    service="tapp",
    environment="test",
    project="test-project",
    log_payloads=os.environ.get("TAPP_LOG_PAYLOADS") == "1",
)

stdlib_log = logging.getLogger("tapp.tasks")
slog = structlog.get_logger("tapp")


@app.task(name="tapp.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="tapp.member", bind=True, max_retries=3)
def member(self, i: int, mode: str = "ok") -> dict:
    """A chord member: ``ok`` succeeds, ``fail`` raises, ``retry`` retries once, then succeeds."""
    stdlib_log.info("member %s running", i)
    if mode == "fail":
        raise ValueError(f"member {i} failed on purpose")
    if mode == "retry" and self.request.retries == 0:
        raise self.retry(exc=ConnectionError(f"member {i} transient error"), countdown=0.2)
    return {"i": i, "ok": True}


@app.task(name="tapp.collect")
def collect(results: list) -> dict:
    tenant = get_tenant()
    slog.info("collecting results", count=len(results))
    stdlib_log.warning("collected %d results", len(results))
    return {"count": len(results),
            "organization_id": tenant.organization_id if tenant else None}


@app.task(name="tapp.secret")
def secret() -> None:
    slog.info("connecting", broker_url="redis://:hunter2@db:6379/0", api_key="sk-live-123")
    raise ConnectionError("cannot connect to redis://:hunter2@db:6379/0 (password=hunter2)")


@app.task(name="tapp.spawn", bind=True)
def spawn(self) -> str:
    """Publishes a child from inside a task: the child must inherit the tenant."""
    return add.delay(1, 2).id


@app.task(name="tapp.chatty")
def chatty() -> str:
    print("a stray print from task code")
    stdlib_log.info("stdlib line inside a task")
    slog.info("structlog line inside a task", step=1)
    return "ok"


@app.task(name="tapp.kwtenant")
def kwtenant(organization_id: str | None = None, user_id: str | None = None) -> dict:
    tenant = get_tenant()
    return {"organization_id": tenant.organization_id if tenant else None}


@app.task(name="tapp.crash")
def crash() -> None:
    """Kills its pool process: the worker reports WorkerLostError (prefork only)."""
    os._exit(13)


@app.task(name="tapp.sleepy", time_limit=1)
def sleepy(seconds: float = 5) -> None:
    simulate_work(seconds)

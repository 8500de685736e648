"""Publish a task on behalf of a tenant.

    from worker.launch import send_with_tenant
    from worker.tasks.execution import execute_test_run

    result = send_with_tenant(execute_test_run, ("run-7", 10), {"sim": {"retry_rate": 0.2}},
                              organization_id="org-1", user_id="u-1", countdown=5)

The tenant travels in the message headers (``instrumentation.tenant_context``), not in the
task's arguments, so any task gets it without changing its signature, and every task it
publishes inherits it. Extra options go to ``apply_async`` unchanged.

A countdown or ETA longer than the broker's ``visibility_timeout`` is refused: Redis would hand
the waiting message to a second worker and the task would run twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.result import AsyncResult

# The tasks are shared_tasks: they publish through the current app. Importing the configured
# app here means ``from worker.tasks.execution import execute_test_run`` + send_with_tenant
# sends to BROKER_URL, not to Celery's unconfigured default app.
import worker.app  # noqa: F401
from instrumentation import tenant_context
from instrumentation.tenant import inject_headers


def send_with_tenant(
    task: Task,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    *,
    organization_id: str | None,
    user_id: str | None = None,
    **options: Any,
) -> AsyncResult:
    """``task.apply_async(args, kwargs, **options)`` with the tenant in the headers."""
    if organization_id is None and user_id is None:
        raise ValueError("send_with_tenant needs an organization_id or a user_id")
    _check_delay(task, options)
    # The headers are set here explicitly, not only through tenant_context's publish hook:
    # the launcher must carry the tenant even in a process that is not instrumented (or was
    # uninstrumented). tenant_context still binds it for log lines written while publishing.
    headers = dict(options.pop("headers", None) or {})
    with tenant_context(organization_id=organization_id, user_id=user_id):
        inject_headers(headers)  # the publish hook's own function; explicit headers still win
        return task.apply_async(args=tuple(args or ()), kwargs=dict(kwargs or {}),
                                headers=headers, **options)


def _check_delay(task: Task, options: Mapping[str, Any]) -> None:
    transport = task.app.conf.broker_transport_options or {}
    timeout = transport.get("visibility_timeout")
    if not timeout:
        return
    delay = options.get("countdown")
    eta = options.get("eta")
    if eta is not None:
        if isinstance(eta, str):
            eta = datetime.fromisoformat(eta)
        if eta.tzinfo is None:
            eta = eta.replace(tzinfo=UTC)
        delay = (eta - datetime.now(UTC)).total_seconds()
    if delay is not None and float(delay) >= float(timeout):
        raise ValueError(
            f"countdown of {float(delay):.0f}s is not shorter than the broker visibility_timeout "
            f"({timeout}s): the task would be delivered twice; use a shorter delay or a "
            "scheduler")

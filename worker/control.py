"""A remote-control command the stock ``inspect scheduled`` lacks: retries and tenants.

Celery's ``scheduled`` reply leaves out how many times a waiting task has been retried. This
module registers ``rhesis_scheduled`` (imported by ``worker.app``, so every worker of this app
answers it), used by ``rhesis-worker retries``::

    app.control.inspect(timeout=2).rhesis_scheduled()
    # {"celery@host": [{"id": ..., "name": ..., "eta": ..., "retries": 2, ...}]}
"""

from __future__ import annotations

from typing import Any

from celery.worker.control import inspect_command
from celery.worker.request import Request

from instrumentation import schema


def _scheduled_requests(timer: Any) -> list[dict[str, Any]]:
    out = []
    for waiting in list(timer.schedule.queue):
        try:
            request = waiting.entry.args[0]
        except (AttributeError, IndexError, TypeError):
            continue
        if not isinstance(request, Request):
            continue
        headers = request.request_dict or {}
        out.append({
            "id": request.id,
            "name": request.name,
            "eta": request.eta.isoformat() if request.eta else None,
            schema.RETRIES: headers.get("retries", 0),
            schema.ORGANIZATION_ID: headers.get(schema.ORGANIZATION_ID),
            schema.USER_ID: headers.get(schema.USER_ID),
            schema.ROOT_ID: request.root_id,
            schema.PARENT_ID: request.parent_id,
        })
    return out


@inspect_command()
def rhesis_scheduled(state: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Scheduled (ETA/countdown) tasks with their retry count and tenant."""
    return _scheduled_requests(state.consumer.timer)

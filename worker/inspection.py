"""Ask running workers what they are doing: the library behind ``rhesis-worker status``,
``task info|revoke|forget`` and ``retries``.

    from worker.app import app
    from worker.inspection import worker_status, find_task, scheduled_retries

    for w in worker_status(app, timeout=2.0):
        print(w.hostname, w.pool_size, w.active)

Every function takes the Celery app and a ``timeout`` for the broadcast; a call that no worker
answers raises :class:`NoWorkersError` (the CLI turns it into a non-zero exit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from instrumentation import schema


class NoWorkersError(RuntimeError):
    """No worker answered the broadcast within the timeout."""


@dataclass
class WorkerStatus:
    """One worker as ``inspect`` sees it."""

    hostname: str
    pool: str | None
    pool_size: int | None
    registered: int
    active: int
    reserved: int
    scheduled: int
    pid: int | None = None
    uptime_s: float | None = None
    total_tasks: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _inspect(app: Celery, timeout: float, destination: list[str] | None = None) -> Any:
    return app.control.inspect(timeout=timeout, destination=destination)


def _count(replies: Mapping[str, Any] | None, host: str) -> int:
    return len((replies or {}).get(host) or [])


def responding_workers(app: Celery, timeout: float = 2.0) -> list[str]:
    """Node names of the workers that answer a ping within ``timeout`` (which it waits out:
    a broadcast cannot know how many workers exist)."""
    return sorted(_inspect(app, timeout).ping() or {})


def worker_status(app: Celery, timeout: float = 2.0,
                  destination: list[str] | None = None) -> list[WorkerStatus]:
    """Every answering worker with its pool size, registered tasks and queue counts."""
    hosts = destination or responding_workers(app, timeout)
    if not hosts:
        raise NoWorkersError(
            f"no worker answered within {timeout:g}s on {_broker_label(app)}")
    # Addressed to the known workers, each call returns as soon as they have all replied.
    insp = _inspect(app, timeout, hosts)
    stats = insp.stats() or {}
    active, reserved = insp.active() or {}, insp.reserved() or {}
    scheduled, registered = insp.scheduled() or {}, insp.registered() or {}
    out = []
    for host in sorted(stats or dict.fromkeys(hosts)):
        info = stats.get(host) or {}
        pool = info.get("pool") or {}
        out.append(WorkerStatus(
            hostname=host,
            pool=_pool_name(pool.get("implementation")),
            pool_size=pool.get("max-concurrency"),
            registered=_count(registered, host),
            active=_count(active, host),
            reserved=_count(reserved, host),
            scheduled=_count(scheduled, host),
            pid=info.get("pid"),
            uptime_s=info.get("uptime"),
            total_tasks=dict(info.get("total") or {}),
        ))
    return out


def _pool_name(implementation: str | None) -> str | None:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork``."""
    if not implementation:
        return None
    return implementation.split(":", 1)[0].rsplit(".", 1)[-1]


def _broker_label(app: Celery) -> str:
    from instrumentation.redaction import redact_url

    return redact_url(str(app.conf.broker_url))


@dataclass
class TaskLocation:
    """Where a task id was found: on a worker (active/reserved/scheduled) and/or in results."""

    task_id: str
    state: str
    where: str | None = None  # "active", "reserved", "scheduled" or None
    worker: str | None = None
    name: str | None = None
    eta: str | None = None
    args: Any = None
    kwargs: Any = None
    result: Any = None
    traceback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_task(app: Celery, task_id: str, timeout: float = 2.0) -> TaskLocation:
    """Look for ``task_id`` in every worker's active, reserved and scheduled lists, then in the
    result backend. A task nobody knows comes back with state ``PENDING`` (Celery cannot tell
    unknown from waiting)."""
    hosts = responding_workers(app, timeout)
    insp = _inspect(app, timeout, hosts)
    for where, call in (("active", insp.active), ("reserved", insp.reserved),
                        ("scheduled", insp.scheduled)):
        if not hosts:
            break
        for host, entries in (call() or {}).items():
            for entry in entries or []:
                request = entry.get("request", entry) if where == "scheduled" else entry
                if request.get("id") == task_id:
                    return TaskLocation(
                        task_id, state="STARTED" if where == "active" else "RECEIVED",
                        where=where, worker=host, name=request.get("name"),
                        eta=entry.get("eta") if where == "scheduled" else None,
                        args=request.get("args"), kwargs=request.get("kwargs"))
    result = AsyncResult(task_id, app=app)
    meta = result.backend.get_task_meta(task_id)
    value = meta.get("result")
    return TaskLocation(
        task_id, state=meta.get("status", "PENDING"), name=meta.get("name"),
        worker=meta.get("worker"), args=meta.get("args"), kwargs=meta.get("kwargs"),
        result=value if isinstance(value, str | int | float | bool | dict | list | None)
        else repr(value),
        traceback=meta.get("traceback"))


def revoke_task(app: Celery, task_id: str, terminate: bool = False,
                signal: str = "SIGTERM", timeout: float = 2.0) -> list[dict[str, Any]]:
    """Revoke ``task_id`` on every worker (terminating it if running and ``terminate``);
    returns the workers' replies. Revoking is remembered by the workers, so a task still in
    the queue is discarded when it arrives."""
    hosts = responding_workers(app, timeout)
    replies = app.control.revoke(task_id, terminate=terminate, signal=signal, reply=True,
                                 timeout=timeout, destination=hosts or None,
                                 limit=len(hosts) or None) if hosts else []
    if not replies:
        raise NoWorkersError(f"no worker acknowledged the revoke within {timeout:g}s")
    return replies


def forget_task(app: Celery, task_id: str) -> None:
    """Delete the stored result of ``task_id`` from the result backend."""
    AsyncResult(task_id, app=app).forget()


def scheduled_retries(app: Celery, timeout: float = 2.0,
                      include_first_attempts: bool = False) -> list[dict[str, Any]]:
    """Tasks waiting on a worker for their retry ETA (``retries`` >= 1), soonest first.

    Uses the ``rhesis_scheduled`` remote-control command (``worker.control``), which adds the
    retry count and tenant that Celery's own ``scheduled`` leaves out.
    """
    hosts = responding_workers(app, timeout)
    replies: dict[str, Any] = {}
    if hosts:
        for reply in app.control.broadcast("rhesis_scheduled", reply=True, timeout=timeout,
                                           destination=hosts, limit=len(hosts)) or []:
            replies.update(reply)
    if not replies:
        raise NoWorkersError(f"no worker answered within {timeout:g}s on {_broker_label(app)}")
    rows = []
    for host, entries in replies.items():
        for entry in entries or []:
            if include_first_attempts or (entry.get(schema.RETRIES) or 0) >= 1:
                rows.append({schema.WORKER: host, **entry})
    return sorted(rows, key=lambda r: r.get("eta") or "")

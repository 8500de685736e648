"""Emit one of our events as a structured line, and tell the observers (metrics) about it.

    from instrumentation import log_event, schema

    log_event(schema.Event.CHORD_RECOVERED, "Chord callback run by the monitor",
              **{schema.CHORD_ID: chord_id, schema.ACTION: "recover"})

The signal handlers in ``signals.py`` use the same function, so every task event goes through
here. Task events take no message (``None``): their event and task name say it. Observers
are plain callables ``fn(event, fields)``; ``instrumentation.metrics`` is one. Nothing here
raises: a failing observer or a broken log stream is swallowed (and counted), because an
event about a task must never be the reason the task fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from instrumentation import logconfig, processors, schema
from instrumentation.context import task_fields
from instrumentation.tenant import get_tenant

Observer = Callable[[str, Mapping[str, Any]], None]

_observers: list[Observer] = []
# Follows configure_logging/reset_logging by itself (it binds when used, not when created).
_logger = logconfig.get_logger()
observer_errors = 0


def add_observer(fn: Observer) -> None:
    """Call ``fn(event, fields)`` for every event emitted; adding twice has no effect."""
    if fn not in _observers:
        _observers.append(fn)


def remove_observer(fn: Observer) -> None:
    if fn in _observers:
        _observers.remove(fn)


def notify(event: str, fields: Mapping[str, Any]) -> None:
    """Tell every observer; an observer that raises is counted, never propagated."""
    global observer_errors
    for fn in tuple(_observers):
        try:
            fn(event, fields)
        except Exception:
            observer_errors += 1


def _with_context(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields as the log line will carry them: the running task's bound fields and the
    tenant, overridden by the event's own fields."""
    merged: dict[str, Any] = dict(task_fields() or {})
    tenant = get_tenant()
    if tenant:
        merged.setdefault(schema.ORGANIZATION_ID, tenant.organization_id)
        merged.setdefault(schema.USER_ID, tenant.user_id)
    merged.update(fields)
    return merged


def log_event(
    event: str,
    message: str | None = None,
    severity: str | None = None,
    *,
    exc_info: Any = None,
    **fields: Any,
) -> None:
    """Write one structured line for ``event`` (a ``schema.Event``) and notify observers."""
    try:
        if _observers:
            notify(event, _with_context(fields))
        sev = severity or schema.EVENT_SEVERITY.get(event, "INFO")
        if exc_info is not None:
            fields["exc_info"] = exc_info
        if logconfig.emit_event(event, sev, message, fields):
            return
        # Logging not configured by us: structlog's own configuration decides.
        fields[processors.EVENT_NAME_KEY] = event
        fields[processors.SEVERITY_KEY] = sev
        _logger.log(logconfig.SEVERITY_LEVELS.get(sev, 20), message or event, **fields)
    except Exception:
        # The stream, a processor or an odd value failed: drop this line, keep the task.
        logconfig.note_drop()

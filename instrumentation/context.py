"""The running task's fields, bound for every line the task writes.

One contextvar holding one dict, rather than one structlog contextvar per field: merging it
is a dict walk, where ``structlog.contextvars.merge_contextvars`` scans the whole context.
That matters on the hot path (every line of every task). Users' own
``structlog.contextvars.bind_contextvars`` still works; both are merged.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

_task_fields: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "rhesis_task_fields", default=None
)


def bind_task(fields: Mapping[str, Any]) -> contextvars.Token:
    """Bind ``fields`` for the current task; return the token ``unbind_task`` takes."""
    return _task_fields.set(dict(fields))


def unbind_task(token: contextvars.Token) -> None:
    try:
        _task_fields.reset(token)
    except ValueError:
        # Reset from another context (a signal sent from a different thread): clear instead.
        _task_fields.set(None)


def task_fields() -> Mapping[str, Any] | None:
    return _task_fields.get()

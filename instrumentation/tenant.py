"""Carry the tenant (organization and user) from the code that publishes a task to every log
line the task writes, and on to the tasks it publishes in turn.

Publishing side::

    from instrumentation import tenant_context

    with tenant_context(organization_id="org-42", user_id="u-7"):
        execute_test_run.delay(run_id)       # message headers carry the tenant

Worker side: ``instrument(app)`` reads the headers in ``task_prerun`` and binds the tenant for
the task's duration (a contextvar plus structlog's contextvars), so every structlog *and* stdlib
line carries it, and tasks published from inside the task (chord members, the chord callback,
retries) inherit it through the same headers.

Precedence, when several sources name a tenant for one task:
  1. explicit ``headers={"organization_id": ...}`` given to ``apply_async``;
  2. the message headers set from ``tenant_context`` (or inherited from the parent task);
  3. the task's keyword arguments ``organization_id`` / ``user_id`` (a fallback for publishers
     that are not instrumented).
Headers win over kwargs because headers are set by the platform, kwargs by callers: a kwarg
that disagrees is far more likely a bug than an override.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from instrumentation import schema as s

#: Message header names that carry the tenant. Same spelling as the log fields, on purpose:
#: Celery copies custom headers onto ``task.request`` under these names.
TENANT_HEADERS = (s.ORGANIZATION_ID, s.USER_ID)


@dataclass(frozen=True)
class Tenant:
    organization_id: str | None = None
    user_id: str | None = None

    def __bool__(self) -> bool:
        return bool(self.organization_id or self.user_id)

    def as_fields(self) -> dict[str, str | None]:
        return {s.ORGANIZATION_ID: self.organization_id, s.USER_ID: self.user_id}


_current: contextvars.ContextVar[Tenant | None] = contextvars.ContextVar(
    "rhesis_tenant", default=None
)


def get_tenant() -> Tenant | None:
    """The tenant bound in this context: by ``tenant_context`` or by the running task."""
    tenant = _current.get()
    return tenant if tenant else None


def set_tenant(tenant: Tenant | None) -> contextvars.Token:
    """Bind ``tenant``; return the token that ``reset_tenant`` takes to undo it."""
    return _current.set(tenant)


def reset_tenant(token: contextvars.Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def tenant_context(
    organization_id: str | None = None, user_id: str | None = None
) -> Iterator[Tenant]:
    """Bind a tenant for the block; tasks published inside carry it in their headers."""
    tenant = Tenant(
        None if organization_id is None else str(organization_id),
        None if user_id is None else str(user_id),
    )
    # Log lines inside the block get the tenant from this contextvar too (processors.py).
    token = _current.set(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)


def inject_headers(headers: dict[str, Any]) -> None:
    """Put the current tenant into outgoing message headers unless the caller set them."""
    tenant = _current.get()
    if not tenant:
        return
    if tenant.organization_id is not None:
        headers.setdefault(s.ORGANIZATION_ID, tenant.organization_id)
    if tenant.user_id is not None:
        headers.setdefault(s.USER_ID, tenant.user_id)


def tenant_from_request(request: Any, kwargs: Mapping[str, Any] | None = None) -> Tenant:
    """The tenant of a running task: request headers first, then task kwargs (see module doc)."""
    headers = getattr(request, "headers", None)
    if headers is not None and headers.__class__ is not dict and not isinstance(headers, Mapping):
        headers = None
    org = user = None
    if headers:
        org, user = headers.get(s.ORGANIZATION_ID), headers.get(s.USER_ID)
    # Celery copies custom headers onto the request as attributes too.
    if org is None:
        org = getattr(request, s.ORGANIZATION_ID, None)
        if org is None and kwargs:
            org = kwargs.get(s.ORGANIZATION_ID)
    if user is None:
        user = getattr(request, s.USER_ID, None)
        if user is None and kwargs:
            user = kwargs.get(s.USER_ID)
    return Tenant(None if org is None else str(org), None if user is None else str(user))

"""The base class of every reference-worker task: tenant, retries, permanent failures.

Tasks declare ``base=TenantTask`` (the app's default task class, so ``@shared_task`` is
enough) and raise:

* :class:`TransientError` (or any type in ``retry_on``) for a failure worth retrying: the task
  is retried with exponential backoff, ``RETRY_BACKOFF * 2**retries`` seconds capped at
  ``RETRY_BACKOFF_MAX``, with jitter between half and all of that delay, at most
  ``TASK_MAX_RETRIES`` times; after that the task fails with the last error;
* :class:`PermanentError` for a failure no retry can fix (bad input, a missing record): the task
  fails at once, whatever ``retry_on`` says.

The tenant of a running task is ``self.tenant`` (also ``instrumentation.get_tenant()``):

1. the message headers ``organization_id``/``user_id``, set by ``send_with_tenant`` /
   ``instrumentation.tenant_context`` at publish time (or inherited from a parent task);
2. failing that, the task's keyword arguments ``organization_id``/``user_id`` — a fallback for
   publishers that are not instrumented. The tenant found there is bound for the task's run, so
   its log lines and the tasks it publishes carry it like a header tenant;
3. failing both, the task runs without a tenant and a ``task_no_tenant`` warning is logged:
   by the instrumentation's ``task_prerun`` handler when the app is instrumented (rate-limited
   per task name), else by this class (first attempt only, and not for tasks with
   ``requires_tenant = False``).
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from celery import Task

from instrumentation import get_tenant, is_instrumented, log_event, schema, tenant_context
from instrumentation.tenant import Tenant


class PermanentError(Exception):
    """A failure that retrying cannot fix: the task fails immediately."""


class TransientError(Exception):
    """A failure that may go away (a timeout, a flaky dependency): the task is retried."""


def backoff_delay(retries: int, base: float, cap: float, jitter: bool = True,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retries + 1``.

    ``base * 2**retries`` capped at ``cap``; with ``jitter``, a uniform draw between half and
    all of it, so that a burst of failures does not come back as a burst of retries (and never
    as an immediate retry, which full jitter allows).
    """
    delay = min(cap, base * (2 ** max(retries, 0)))
    if jitter and delay > 0:
        delay = (rng or random).uniform(delay / 2, delay)
    return delay


class TenantTask(Task):
    """Celery task with tenant resolution and capped exponential-backoff retries."""

    #: Exceptions that trigger a retry with backoff (PermanentError never does).
    retry_on: tuple[type[BaseException], ...] = (TransientError,)
    #: Warn (``task_no_tenant``) when the task runs without a tenant.
    requires_tenant: bool = True
    retry_backoff_base: float = 1.0
    retry_backoff_cap: float = 60.0
    retry_jitter_enabled: bool = True
    max_retries = 3

    @classmethod
    def configure(cls, *, max_retries: int, backoff: float, backoff_max: float,
                  jitter: bool) -> None:
        """Apply the worker settings to every task class built on this one."""
        cls.max_retries = max_retries
        cls.retry_backoff_base = backoff
        cls.retry_backoff_cap = backoff_max
        cls.retry_jitter_enabled = jitter

    @property
    def tenant(self) -> Tenant | None:
        """The tenant of the running task (None outside a task or when it has none)."""
        return get_tenant()

    def backoff(self, retries: int | None = None) -> float:
        """Delay before the next retry of the running task."""
        if retries is None:
            retries = self.request.retries or 0
        return backoff_delay(retries, self.retry_backoff_base, self.retry_backoff_cap,
                             self.retry_jitter_enabled)

    def retry_with_backoff(self, exc: BaseException) -> Any:
        """Retry the running task after :meth:`backoff` seconds (raises ``Retry``), or re-raise
        ``exc`` when the retries are used up."""
        return self.retry(exc=exc, countdown=self.backoff(), max_retries=self.max_retries)

    def retries_left(self) -> int:
        return max(0, (self.max_retries or 0) - (self.request.retries or 0))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._tenant_bound(kwargs):
            try:
                return super().__call__(*args, **kwargs)
            except PermanentError:
                raise
            except self.retry_on as exc:
                raise self.retry_with_backoff(exc) from exc

    def _tenant_bound(self, kwargs: dict[str, Any]) -> contextlib.AbstractContextManager:
        """Bind the kwargs tenant when the headers carried none; warn when there is none."""
        if get_tenant() is not None:
            return contextlib.nullcontext()
        org, user = kwargs.get(schema.ORGANIZATION_ID), kwargs.get(schema.USER_ID)
        if org is not None or user is not None:
            return tenant_context(organization_id=org, user_id=user)
        # When instrumented, the task_prerun handler already logged task_no_tenant for this
        # run; a second line would double-count it in the analyzer.
        if self.requires_tenant and not (self.request.retries or 0) and not is_instrumented():
            # Never let the warning itself fail the task.
            with contextlib.suppress(Exception):
                log_event(
                    schema.Event.TASK_NO_TENANT,
                    "Task runs without a tenant",
                    **{schema.TASK_ID: self.request.id, schema.TASK_NAME: self.name,
                       schema.REASON: "no organization_id/user_id in headers or kwargs"},
                )
        return contextlib.nullcontext()

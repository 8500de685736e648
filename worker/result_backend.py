"""The worker's Redis result backend: Celery's, with the chord join retried through an outage
and a task's final state never overwritten by an earlier attempt's late write.

Selected by :func:`worker.app.create_app` for ``redis://`` and ``rediss://`` backends
(``app.backend_cls``); ``result_backend`` stays the plain URL, so everything else reading it
(health, chord monitor, tools) is unchanged.

Why: with ``result_backend_always_retry`` Celery retries ``store_result`` while Redis is down,
but not the chord join that follows it. ``RedisBackend.on_chord_part_return``
(celery/backends/redis.py) runs the join script outside any retry, so a member finishing
while Redis is away stores its result once Redis is back, but its join raises
``ConnectionError`` into the tracer, which logs an internal error and acks the message: the
member is never counted and the chord never calls its callback. Here the join goes through
the backend's own retry loop (``BaseBackend._ensure_retryable``, same limits as result
writes). Retrying is safe: the join script records ``task_id:index`` in the chord's ``.d``
set, so a join that did run before its reply was lost is not counted twice. In that rare case
the retry cannot take the dispatch claim (the lost attempt holds it until it expires), so the
chord waits with every member joined: the chord monitor reports it as
``callback_not_dispatched`` and ``rhesis-worker chords recover`` runs the callback once.

Why the state guard: ``Task.retry`` (celery/app/task.py) publishes the next attempt *before*
the tracer stores this attempt's ``RETRY`` (celery/app/trace.py ``handle_retry``). When Redis
goes away in between, that store waits in the backend's retry loop (seconds of backoff) while
the next attempt, delivered once Redis is back, runs and stores ``FAILURE``; the late ``RETRY``
then lands on top, and the task reads as retrying forever (seen in the chaos suite: a batch
that had used up its retries ended as ``RETRY``). Celery's ``_store_result``
(celery/backends/base.py) already refuses to overwrite ``SUCCESS``; here no state that is not
final (``RETRY``, ``STARTED``, ...) overwrites any final one (``SUCCESS``, ``FAILURE``,
``REVOKED``). Like Celery's own guard it reads, then writes: the read happens after the retry
loop's wait, just before the write.
"""

from __future__ import annotations

from typing import Any

from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str


class ResilientRedisBackend(RedisBackend):
    """Celery's Redis backend whose chord join waits for Redis like a result write does."""

    def __init__(self, app: Any, url: str | None = None, **kwargs: Any) -> None:
        # Chosen through app.backend_cls, Celery passes no URL: it is the configured one.
        super().__init__(app=app, url=url or app.conf.result_backend, **kwargs)

    def on_chord_part_return(self, request: Any, state: str, result: Any,
                             **kwargs: Any) -> Any:
        join = super().on_chord_part_return
        return self._ensure_retryable(join, request, state, result, **kwargs)

    def _store_result(self, task_id: Any, result: Any, state: str, traceback: Any = None,
                      request: Any = None, **kwargs: Any) -> Any:
        # Celery's BaseKeyValueStoreBackend._store_result, with its SUCCESS guard widened to
        # every final state for a write that is not final itself (see the module docstring).
        meta = self._get_result_meta(result=result, state=state, traceback=traceback,
                                     request=request)
        meta["task_id"] = bytes_to_str(task_id)
        current = self._get_task_meta_for(task_id)["status"]
        if current == states.SUCCESS or (current in states.READY_STATES
                                         and state not in states.READY_STATES):
            return result
        try:
            self._set_with_state(self.get_key_for_task(task_id), self.encode(meta), state)
        except BackendStoreError as exc:
            raise BackendStoreError(str(exc), state=state, task_id=task_id) from exc
        return result

"""The worker's Redis result backend: Celery's, with the chord join retried through an outage.

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
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend


class ResilientRedisBackend(RedisBackend):
    """Celery's Redis backend whose chord join waits for Redis like a result write does."""

    def __init__(self, app: Any, url: str | None = None, **kwargs: Any) -> None:
        # Chosen through app.backend_cls, Celery passes no URL: it is the configured one.
        super().__init__(app=app, url=url or app.conf.result_backend, **kwargs)

    def on_chord_part_return(self, request: Any, state: str, result: Any,
                             **kwargs: Any) -> Any:
        join = super().on_chord_part_return
        return self._ensure_retryable(join, request, state, result, **kwargs)

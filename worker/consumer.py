"""The worker's Celery consumer: reconnects to the broker forever, at most a few seconds
apart. Selected by ``worker_consumer`` in :meth:`worker.config.Settings.celery_config`.

Why a subclass: Celery's ``Consumer.ensure_connected`` (celery/worker/consumer/consumer.py)
calls kombu's ``Connection.ensure_connection`` without interval arguments, so kombu's defaults
apply (``interval_start=2, interval_step=2, interval_max=30``, kombu/connection.py
``_ensure_connection``) and no setting changes them. After a long Redis outage the worker then
waits up to 30 s more before it consumes again. This consumer passes a capped schedule
(1 s, 2 s, ... up to ``BROKER_RECONNECT_MAX_S``, 5 s by default) and otherwise is Celery's.
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer

#: Key of the app configuration holding the cap (set by ``Settings.celery_config``).
RECONNECT_MAX_KEY = "rhesis_broker_reconnect_max_s"
DEFAULT_RECONNECT_MAX_S = 5.0


class ResilientConsumer(Consumer):
    """Celery's consumer with a reconnect schedule capped at ``BROKER_RECONNECT_MAX_S``."""

    def ensure_connected(self, conn: Any) -> Any:
        cap = float(self.app.conf.get(RECONNECT_MAX_KEY) or DEFAULT_RECONNECT_MAX_S)
        ensure = conn.ensure_connection

        def capped(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("interval_start", min(1.0, cap))
            kwargs.setdefault("interval_step", min(1.0, cap))
            kwargs.setdefault("interval_max", cap)
            return ensure(*args, **kwargs)

        conn.ensure_connection = capped
        return super().ensure_connected(conn)

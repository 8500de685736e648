"""The worker's Celery consumer: survives losing the broker, reconnects forever, at most a
few seconds apart. Selected by ``worker_consumer`` in
:meth:`worker.config.Settings.celery_config`; otherwise it is Celery's own consumer.

Two Celery/kombu behaviours it works around (both found by ``tests/chaos``):

* **The reconnect schedule cannot be configured.** ``Consumer.ensure_connected``
  (celery/worker/consumer/consumer.py) calls kombu's ``Connection.ensure_connection`` without
  interval arguments, so kombu's defaults apply (``interval_start=2, interval_step=2,
  interval_max=30``, kombu/connection.py ``_ensure_connection``). After a long Redis outage the
  worker waited up to 30 s more before consuming again. Here: 1 s, 2 s, ... up to
  ``BROKER_RECONNECT_MAX_S`` (5 s by default).
* **Closing the dead connection can end the worker.** On connection loss
  ``Consumer.on_connection_error_after_connected`` first calls ``connection.collect()``, then
  ``ignore_errors(connection, connection.close)``. When the channel close inside ``collect``
  is interrupted (restoring unacked messages to a Redis that is down raises), ``collect`` still
  drops the transport's client (kombu/connection.py ``Connection.collect``); the second close
  then tries the restore again and kombu's ``Channel._connparams``
  (kombu/transport/redis.py) reads ``self.connection.client.hostname`` of ``None``. That
  ``AttributeError`` is not a connection error, so ``ignore_errors`` lets it through and the
  worker stops with "Unrecoverable error" in the middle of a 5-second outage (intermittently:
  it depends on where the first close stopped). Here a failure to close a connection that is
  already dead is logged and ignored; nothing is lost, because the messages that restore was
  for stay in Redis's ``unacked`` hash, acked by their tasks when they finish or redelivered
  after ``VISIBILITY_TIMEOUT``. The same torn-down channel is the one the tasks still running
  acknowledge on when they finish (``Message.ack`` uses the channel of the delivery), and its
  ack raised the same ``AttributeError`` past ``ack_log_error``: the worker stopped at the first
  task finishing after a reconnect. So the lost channel gets a connection pool of its own
  again (from ``worker.redis_client``), and those acks reach Redis.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer

log = logging.getLogger(__name__)

#: Key of the app configuration holding the cap (set by ``Settings.celery_config``).
RECONNECT_MAX_KEY = "rhesis_broker_reconnect_max_s"
DEFAULT_RECONNECT_MAX_S = 5.0


class ResilientConsumer(Consumer):
    """Celery's consumer with a capped reconnect schedule, a close of the lost connection
    that cannot end the worker, and prompt redelivery of what the lost connection dropped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Delivery tags the lost connection(s) dropped, to restore once connected again.
        self._dropped: dict[str, None] = {}

    def ensure_connected(self, conn: Any) -> Any:
        conn = self._ensure_connected(conn)
        self._restore_dropped(conn)
        return conn

    def _ensure_connected(self, conn: Any) -> Any:
        cap = float(self.app.conf.get(RECONNECT_MAX_KEY) or DEFAULT_RECONNECT_MAX_S)
        ensure = conn.ensure_connection

        def capped(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("interval_start", min(1.0, cap))
            kwargs.setdefault("interval_step", min(1.0, cap))
            kwargs.setdefault("interval_max", cap)
            return ensure(*args, **kwargs)

        conn.ensure_connection = capped
        return super().ensure_connected(conn)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        self._remember_dropped(connection)
        if connection is not None:
            close = connection.close

            def close_dead_connection() -> Any:
                try:
                    return close()
                except Exception as error:  # the connection is gone either way
                    log.warning("closing the lost broker connection failed; its unacked "
                                "messages stay in Redis: %r", error)
                    return None

            connection.close = close_dead_connection
        channel = getattr(connection, "_default_channel", None)
        super().on_connection_error_after_connected(exc)
        self._keep_acks_working(channel)

    def _keep_acks_working(self, channel: Any) -> None:
        """Tasks running through the outage ack on the lost channel when they finish: give
        it a pool if closing it took its own (and with it the way to build a new one)."""
        if channel is None or getattr(channel, "_pool", True) is not None:
            return
        try:
            from worker.redis_client import make_client, tls_settings

            channel._pool = make_client(self.app.conf.broker_url, tls_settings(),
                                        what="broker URL").connection_pool
        except Exception:  # then an ack fails as it would have; the message is redelivered
            log.warning("could not reopen the lost channel for acks", exc_info=True)

    def _remember_dropped(self, connection: Any) -> None:
        """The lost channel's unacked delivery tags, minus those of running tasks (they ack
        when they finish): what Celery is about to forget."""
        from celery.worker.state import active_requests

        try:
            channel = getattr(connection, "_default_channel", None)
            delivered = list(getattr(getattr(channel, "qos", None), "_delivered", None) or ())
            running = {getattr(getattr(r, "_message", None), "delivery_tag", None)
                       for r in tuple(active_requests)}
            for tag in delivered:
                if tag not in running:
                    self._dropped[tag] = None
        except Exception:  # never let bookkeeping break the reconnect
            log.warning("could not list the messages of the lost connection", exc_info=True)

    def _restore_dropped(self, conn: Any) -> None:
        """Put the dropped messages back in their queues, on the new connection."""
        if not self._dropped:
            return
        count = len(self._dropped)
        try:
            channel = conn.default_channel
            client = channel.client
            for tag in list(self._dropped):
                channel.qos.restore_by_tag(tag, client=client)
                del self._dropped[tag]
        except Exception as exc:  # Redis went away again: the next reconnect retries
            log.warning("restoring %d message(s) dropped with the lost connection failed: "
                        "%r", len(self._dropped), exc)
            return
        log.info("put %d message(s) of the lost broker connection back in their queues "
                 "(those not already acked or restored)", count)

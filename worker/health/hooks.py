"""Start the health server from the first second of a ``celery worker``, stop it at shutdown.

    from worker.health import hooks
    hooks.install(app, settings)     # in the app module (worker/app.py does this)

Why ``celeryd_init``: it is the first signal of the ``celery worker`` command, sent in the
main process before the pool forks and before the consumer connects to the broker (Celery 5:
``celery/apps/worker.py``, ``Worker.on_before_init``; the broker connection is made later by
the Consumer bootstep, which retries while the broker is down). Serving from there, ``/health``
answers 503 "broker unreachable since ..." while the worker waits for Redis, instead of no
answer at all. Only the worker command sends it: tools and tests that import the app do not
open a port. ``worker_ready`` marks the worker as consuming (``/health`` turns 200 once the
broker answers too); ``worker_shutdown`` closes the server.

Prefork children forked later (``max_tasks_per_child``, a replaced child) inherit the
listening sockets; ``worker.health.server`` closes them in every child at fork.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import signals

from instrumentation import get_logger, schema
from worker.config import Settings

_log = get_logger("worker.health")


class _WorkerHealth:
    """The server of this worker process and whether the worker consumes yet."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.server: Any = None
        self.consuming = threading.Event()

    def start(self, sender: Any = None, **kwargs: Any) -> None:
        if not self.settings.health_server or self.server is not None:
            return
        from worker.health.endpoints import HealthContext
        from worker.health.server import DebugAccess, DebugConfigError, HealthServer, log_listening

        hostname = sender if isinstance(sender, str) else getattr(sender, "hostname", None)
        context = HealthContext(self.settings, self.app, worker_hostname=hostname,
                                ready=self.consuming.is_set)
        try:
            debug = DebugAccess.from_env()
        except DebugConfigError as exc:
            _log.error("debug endpoints stay off", **{schema.REASON: str(exc)})
            debug = DebugAccess()
        try:
            self.server = HealthServer(context, debug=debug).start()
        except OSError as exc:  # a port in use is worth a log line, not a dead worker
            _log.error("health server could not start",
                       **{schema.REASON: f"port {self.settings.health_port}: {exc}"})
            return
        log_listening(self.server)

    def ready(self, **kwargs: Any) -> None:
        self.consuming.set()

    def stop(self, **kwargs: Any) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def install(app: Any, settings: Settings) -> None:
    """Connect the health server of ``app``'s worker to Celery's worker signals."""
    health = _WorkerHealth(app, settings)
    signals.celeryd_init.connect(health.start, weak=False)
    signals.worker_ready.connect(health.ready, weak=False)
    signals.worker_shutdown.connect(health.stop, weak=False)

"""Health and debug HTTP server for the reference worker (what kubelet, Prometheus and
``kubectl port-forward`` read).

Started by the worker itself before it connects to the broker (``celery -A worker.app worker``
with ``HEALTH_SERVER=1``, the default; see ``worker.health.hooks``), by the container
entrypoint, or alone::

    python -m worker.health            # serves on HEALTH_HOST:HEALTH_PORT (0.0.0.0:8080)

Probe listener (``HEALTH_HOST:HEALTH_PORT``, the pod address):

=================  =======================================================================
``/ping``          ``pong`` (liveness: the process answers)
``/health/basic``  200 while the worker process is up (readiness)
``/health``        a real PING round trip to broker and result backend on fresh connections;
                   200, or 503 with the reason ("broker unreachable since <UTC time> ...")
``/metrics``       Prometheus metrics of the worker (when ``METRICS_PORT`` is not 0)
anything else      404 with a JSON body
=================  =======================================================================

Debug endpoints, off unless ``HEALTH_DEBUG=1`` (then on ``127.0.0.1:HEALTH_DEBUG_PORT``,
8081) or ``HEALTH_DEBUG_TOKEN`` is set (then also on the probe listener, for
``Authorization: Bearer <token>``):

=================== ==================================================================
``/debug``          TLS, URL schemes, Redis connectivity, Celery configuration, process
``/debug/redis``    broker and backend host/port/db, connectivity, server version
``/debug/env``      the worker's configuration variables (secrets masked) and only the
                    *names* of every other variable
``/debug/detailed`` an ``inspect ping`` of this worker (or of all workers when standalone)
=================== ==================================================================

Modules: ``checks`` (Redis round trips with a deadline), ``endpoints`` (what each path
answers), ``server`` (the listeners and the HTTP loop), ``hooks`` (the Celery signals that
start and stop it), ``__main__`` (the standalone server). Every URL and message that leaves
the server goes through ``instrumentation.redaction``.
"""

from worker.health.checks import ProbeTimeout, check_redis, redis_round_trip, run_with_deadline
from worker.health.endpoints import HealthContext, describe_environment, known_variables
from worker.health.server import DebugAccess, DebugConfigError, HealthServer, ServerLimits

__all__ = ["DebugAccess", "DebugConfigError", "HealthContext", "HealthServer", "ProbeTimeout",
           "ServerLimits", "check_redis", "describe_environment", "known_variables",
           "redis_round_trip", "run_with_deadline"]

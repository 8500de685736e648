"""Container entrypoint: check the broker, serve health, run the worker, shut down warmly.

    python -m worker.entrypoint                      # default worker arguments
    python -m worker.entrypoint --pool solo -Q execution

1. Validate the settings (a bad environment exits 2, ``ExitStatus.USAGE``, with every problem
   named).
2. Serve the health endpoints (``worker.health``) from this process, so ``/ping`` and
   ``/health/basic`` answer from the first second and ``/health`` says "broker unreachable
   since ..." while the broker is awaited.
3. Wait up to ``BROKER_WAIT_S`` (default 60) for a PING round trip to the broker, with
   capped backoff; exit 4 (``ExitStatus.UNAVAILABLE``) if it never answers, so the pod's
   restart reason is in the logs and not a worker stuck retrying.
4. Run ``celery -A worker.app worker`` as a child and forward SIGTERM/SIGINT to it as
   SIGTERM — Celery's warm shutdown: finish running tasks, requeue prefetched ones — and
   SIGQUIT as is (cold shutdown). The child serves health and ``/metrics`` on ``HEALTH_PORT``
   itself (this process hands the port over); with ``HEALTH_SERVER=0`` this process keeps
   serving health (``/health/basic`` turns 503 if the worker dies) and the child serves
   ``/metrics`` on ``METRICS_PORT``.
5. Exit with the worker's exit code.

Extra arguments go to ``celery worker``; without any, the defaults are
``--pool prefork --concurrency $WORKER_CONCURRENCY (2) --queues $WORKER_QUEUES (all)``.
The node name is ``$WORKER_HOSTNAME`` or ``celery@<pod hostname>``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from instrumentation import configure_logging, get_logger, schema
from instrumentation.exit_status import ExitStatus
from worker.config import QUEUES, ConfigError, Settings, load_settings

EXIT_CONFIG = ExitStatus.USAGE
EXIT_BROKER = ExitStatus.UNAVAILABLE


def _log() -> Any:
    # Fetched at each use: instrumentation.get_logger binds the configuration current at the
    # call, and this module is imported before configure_logging runs.
    return get_logger("worker.entrypoint")


def wait_for_broker(settings: Settings, wait_s: float) -> dict:
    """PING the broker until it answers or ``wait_s`` passes; the last check's result."""
    from worker.health import redis_round_trip

    deadline = time.monotonic() + wait_s
    delay = 0.5
    while True:
        result = redis_round_trip(settings.broker_url, settings, settings.health_timeout)
        if result["ok"] or time.monotonic() + delay > deadline:
            return result
        _log().warning("broker not reachable yet", **{schema.REASON: result.get("reason"),
                                                   schema.RETRY_IN_S: delay})
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def worker_command(args: Sequence[str], hostname: str) -> list[str]:
    cmd = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--hostname", hostname]
    if args:
        return cmd + list(args)
    return [*cmd, "--pool", "prefork",
            "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2"),
            "--queues", os.environ.get("WORKER_QUEUES", ",".join(QUEUES))]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        configure_logging("INFO")
        _log().critical("invalid configuration, not starting", **{schema.REASON: str(exc)})
        return EXIT_CONFIG
    configure_logging(settings.log_level, service=settings.service,
                      environment=settings.environment, project=settings.project)

    from worker.health import DebugAccess, DebugConfigError, HealthContext, HealthServer
    from worker.health.server import log_listening

    try:
        debug = DebugAccess.from_env()
    except DebugConfigError as exc:
        _log().critical("invalid configuration, not starting", **{schema.REASON: str(exc)})
        return EXIT_CONFIG

    from worker.app import app

    hostname = os.environ.get("WORKER_HOSTNAME") or f"celery@{socket.gethostname()}"
    child: subprocess.Popen | None = None
    # Health from the first second: while the broker is awaited, /health says since when it
    # has been unreachable and /ping answers, so probes can tell waiting from dead.
    server = None
    try:
        server = HealthServer(HealthContext(
            settings, app, worker_hostname=hostname,
            alive=lambda: child is None or child.poll() is None), debug=debug).start()
        log_listening(server)
    except OSError as exc:
        _log().error("health server could not start", **{schema.REASON: str(exc)})

    wait_s = float(os.environ.get("BROKER_WAIT_S", "60"))
    check = wait_for_broker(settings, wait_s)
    if not check["ok"]:
        _log().critical(f"broker unreachable after {wait_s:g}s, not starting",
                     **{schema.REASON: check.get("reason")})
        if server is not None:
            server.stop()
        return EXIT_BROKER

    env = dict(os.environ)
    if settings.health_server and server is not None:
        # Hand the port over: the worker serves /ping, /health and /metrics itself from its
        # first second (before it connects), one port for probes and scrapes. The port is
        # closed for the second or two the worker takes to import: a probe in that gap fails
        # once, well within the startup probe's 90 s and liveness' three failures.
        server.stop()
        server = None
    else:
        env["HEALTH_SERVER"] = "0"  # this process keeps serving; the worker must not bind
    child = subprocess.Popen(worker_command(args, hostname), env=env)

    forwarded: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        # No logging in here: the log writer holds a lock the interrupted code may own.
        sent = signal.SIGQUIT if signum == signal.SIGQUIT else signal.SIGTERM
        forwarded.append(int(sent))
        if child is not None and child.poll() is None:
            child.send_signal(sent)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, forward)

    code = child.wait()
    if server is not None:
        server.stop()
    for sent in forwarded:
        _log().info("forwarded a shutdown signal to the worker", **{schema.SIGNUM: sent})
    _log().info(f"worker exited with code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Health and debug HTTP server for the reference worker (what `kubectl exec ... curl` reads).

Started by the worker itself once it is ready (``HEALTH_SERVER=1``, the default), by the
container entrypoint, or alone::

    python -m worker.health            # serves on HEALTH_HOST:HEALTH_PORT (0.0.0.0:8080)

=================  =======================================================================
``/ping``          ``pong`` (liveness: the process answers)
``/health/basic``  200 while the worker process is up (readiness)
``/health``        a real PING round trip to broker and result backend on fresh connections;
                   200, or 503 with the reason
``/debug``         TLS, URL schemes, Redis connectivity, Celery configuration, process info
``/debug/redis``   broker and backend host/port/db, connectivity, server version, transport
                   options
``/debug/env``     the environment with every secret-looking value masked
``/debug/detailed`` an ``inspect ping`` of this worker (or of all workers when standalone)
anything else      404 with a JSON body
=================  =======================================================================

Why a thread per check with a deadline: a Redis that accepts the TCP connection and never
answers, or a DNS lookup that hangs, must not hold a probe past ``HEALTH_TIMEOUT``; the socket
timeouts alone do not bound DNS or TLS handshakes. Requests are served each on its own thread
(``ThreadingHTTPServer``), so one slow probe never blocks another.

Every URL and message that leaves this server goes through ``instrumentation.redaction``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis

from instrumentation.redaction import redact_mapping, redact_text, redact_url
from worker.config import Settings, describe_url


class ProbeTimeout(Exception):
    """The check did not finish within its deadline."""


def run_with_deadline(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` on a daemon thread; return its value, re-raise its error, or raise
    ``ProbeTimeout`` after ``timeout`` seconds (the thread is abandoned, never joined)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="health-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ProbeTimeout(f"no answer within {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def redis_client(url: str, settings: Settings, timeout: float) -> redis.Redis:
    """A fresh client for ``url`` from the shared factory (``worker.redis_client``): TLS
    options, ``timeout`` on connect and reads, and one attempt: a probe reports what it sees
    now, where retries would keep the probe thread alive long after its deadline."""
    from worker.redis_client import make_client

    return make_client(url, settings, timeout=timeout, retries=0)


def redis_round_trip(url: str, settings: Settings, timeout: float,
                     with_info: bool = False) -> dict[str, Any]:
    """PING ``url`` on a new connection within ``timeout``; a dict saying how it went."""
    described = describe_url(url)
    if described["scheme"] not in ("redis", "rediss"):
        return {"ok": True, "checked": False, "reason": f"{described['scheme']}:// not checked"}
    started = time.monotonic()

    def ping() -> dict[str, Any]:
        client = redis_client(url, settings, timeout)
        try:
            client.ping()
            out: dict[str, Any] = {}
            if with_info:
                info = client.info("server")
                out["redis_version"] = info.get("redis_version")
            return out
        finally:
            client.close()

    try:
        extra = run_with_deadline(ping, timeout)
    except Exception as exc:
        return {"ok": False, "checked": True,
                "reason": redact_text(f"{type(exc).__name__}: {exc}"),
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1)}
    return {"ok": True, "checked": True,
            "latency_ms": round((time.monotonic() - started) * 1000, 1), **(extra or {})}


def check_redis(settings: Settings, timeout: float, with_info: bool = False
                ) -> dict[str, dict[str, Any]]:
    """Round trips to broker and backend, in parallel so the pair takes one ``timeout``."""
    urls = {"broker": settings.broker_url, "backend": settings.result_backend}
    results: dict[str, dict[str, Any]] = {}

    def check(name: str) -> None:
        results[name] = redis_round_trip(urls[name], settings, timeout, with_info)

    threads = [threading.Thread(target=check, args=(name,), daemon=True) for name in urls]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for name in urls:
        results.setdefault(name, {"ok": False, "checked": True,
                                  "reason": f"no answer within {timeout:g}s"})
    return {name: results[name] for name in urls}


@dataclass
class HealthContext:
    """What the endpoints report on."""

    settings: Settings
    app: Any = None  # the Celery app, for inspect and configuration
    worker_hostname: str | None = None  # None: /debug/detailed pings every worker
    alive: Callable[[], bool] = field(default=lambda: True)
    started: float = field(default_factory=time.time)

    @property
    def timeout(self) -> float:
        return self.settings.health_timeout


# --- endpoint bodies (pure-ish functions: context in, (status, body) out) ---------------------

Response = tuple[int, Any]


def ping(ctx: HealthContext) -> Response:
    return HTTPStatus.OK, "pong"


def health_basic(ctx: HealthContext) -> Response:
    up = ctx.alive()
    status = HTTPStatus.OK if up else HTTPStatus.SERVICE_UNAVAILABLE
    return status, {"status": "ok" if up else "down", "pid": os.getpid(),
                    "uptime_s": round(time.time() - ctx.started, 1)}


def health(ctx: HealthContext) -> Response:
    checks = check_redis(ctx.settings, ctx.timeout)
    failing = {name: check["reason"] for name, check in checks.items() if not check["ok"]}
    body: dict[str, Any] = {"status": "error" if failing else "ok", **checks}
    if failing:
        body["reason"] = "; ".join(f"{name}: {reason}" for name, reason in failing.items())
        return HTTPStatus.SERVICE_UNAVAILABLE, body
    return HTTPStatus.OK, body


def _celery_summary(ctx: HealthContext) -> dict[str, Any]:
    if ctx.app is None:
        return {}
    conf = ctx.app.conf
    return {
        "main": ctx.app.main,
        "tasks": sorted(n for n in ctx.app.tasks if not n.startswith("celery.")),
        "queues": [q.name for q in (conf.task_queues or ())],
        "routes": conf.task_routes,
        "acks_late": conf.task_acks_late,
        "reject_on_worker_lost": conf.task_reject_on_worker_lost,
        "prefetch_multiplier": conf.worker_prefetch_multiplier,
        "track_started": conf.task_track_started,
        "serializer": conf.task_serializer,
        "accept_content": list(conf.accept_content or ()),
        "timezone": conf.timezone,
        "result_expires": conf.result_expires.total_seconds()
        if hasattr(conf.result_expires, "total_seconds") else conf.result_expires,
        "visibility_timeout": (conf.broker_transport_options or {}).get("visibility_timeout"),
        "max_retries": ctx.settings.max_retries,
        "retry_backoff_s": ctx.settings.retry_backoff,
        "retry_backoff_max_s": ctx.settings.retry_backoff_max,
    }


def _process_info(ctx: HealthContext) -> dict[str, Any]:
    info: dict[str, Any] = {
        "pid": os.getpid(), "ppid": os.getppid(), "hostname": socket.gethostname(),
        "worker": ctx.worker_hostname, "python": sys.version.split()[0],
        "platform": platform.platform(), "threads": threading.active_count(),
        "uptime_s": round(time.time() - ctx.started, 1),
    }
    try:
        import resource

        info["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):  # pragma: no cover - not on Linux
        pass
    return info


def debug(ctx: HealthContext) -> Response:
    broker = describe_url(ctx.settings.broker_url)
    backend = describe_url(ctx.settings.result_backend)
    return HTTPStatus.OK, {
        "tls": {"broker": broker["tls"], "backend": backend["tls"]},
        "url_scheme": {"broker": broker["scheme"], "backend": backend["scheme"]},
        "ssl_cert_reqs": ctx.settings.ssl_cert_reqs if (broker["tls"] or backend["tls"])
        else None,
        "redis": check_redis(ctx.settings, ctx.timeout),
        "celery": _celery_summary(ctx),
        "process": _process_info(ctx),
    }


def debug_redis(ctx: HealthContext) -> Response:
    checks = check_redis(ctx.settings, ctx.timeout, with_info=True)
    out: dict[str, Any] = {}
    for name, url in (("broker", ctx.settings.broker_url),
                      ("backend", ctx.settings.result_backend)):
        out[name] = {"url": redact_url(url), **describe_url(url), "connectivity": checks[name]}
    out["transport_options"] = ctx.settings.transport_options()
    if ctx.app is not None:
        ssl_opts = ctx.app.conf.broker_use_ssl
        # ssl.VerifyMode prints as "0"; its name is what an operator recognises.
        out["broker_use_ssl"] = ({k: getattr(v, "name", str(v)) for k, v in ssl_opts.items()}
                                 if ssl_opts else None)
    return HTTPStatus.OK, redact_mapping(out)


def debug_env(ctx: HealthContext) -> Response:
    return HTTPStatus.OK, redact_mapping(dict(sorted(os.environ.items())))


def debug_detailed(ctx: HealthContext) -> Response:
    if ctx.app is None:
        return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "error", "reason": "no Celery app"}
    destination = [ctx.worker_hostname] if ctx.worker_hostname else None

    def inspect_ping() -> Any:
        return ctx.app.control.inspect(destination=destination, timeout=ctx.timeout).ping()

    started = time.monotonic()
    try:
        replies = run_with_deadline(inspect_ping, ctx.timeout + 1.0)
    except Exception as exc:
        return HTTPStatus.SERVICE_UNAVAILABLE, {
            "status": "error", "worker": ctx.worker_hostname,
            "reason": redact_text(f"{type(exc).__name__}: {exc}")}
    elapsed = round((time.monotonic() - started) * 1000, 1)
    if not replies:
        return HTTPStatus.SERVICE_UNAVAILABLE, {
            "status": "error", "worker": ctx.worker_hostname, "elapsed_ms": elapsed,
            "reason": f"no worker answered inspect ping within {ctx.timeout:g}s"}
    return HTTPStatus.OK, {"status": "ok", "worker": ctx.worker_hostname, "replies": replies,
                           "elapsed_ms": elapsed, "process": _process_info(ctx)}


ROUTES: dict[str, Callable[[HealthContext], Response]] = {
    "/ping": ping,
    "/health/basic": health_basic,
    "/health": health,
    "/debug": debug,
    "/debug/redis": debug_redis,
    "/debug/env": debug_env,
    "/debug/detailed": debug_detailed,
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # A client that connects and sends nothing must not hold a thread forever.
    timeout = 10

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        endpoint = ROUTES.get(path)
        if endpoint is None:
            self._send(HTTPStatus.NOT_FOUND, {"status": "error", "reason": "not found",
                                              "path": redact_text(path),
                                              "endpoints": sorted(ROUTES)})
            return
        try:
            status, body = endpoint(self.server.context)
        except Exception as exc:  # an endpoint bug must answer 500, not kill the thread
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {
                "status": "error", "reason": redact_text(f"{type(exc).__name__}: {exc}")}
        self._send(status, body)

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, str):
            data, ctype = (body + "\n").encode(), "text/plain; charset=utf-8"
        else:
            data = json.dumps(body, default=str, indent=2).encode() + b"\n"
            ctype = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes hit this every few seconds; their access log is noise in the task logs.
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: HealthContext):
        super().__init__(address, _Handler)
        self.context = context


class HealthServer:
    """The HTTP server on a background thread: ``start()``, ``port``, ``stop()``."""

    def __init__(self, context: HealthContext, host: str | None = None,
                 port: int | None = None):
        self.context = context
        self._server = _Server((host or context.settings.health_host,
                                context.settings.health_port if port is None else port),
                               context)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> HealthServer:
        self._thread = threading.Thread(target=self.serve_forever, name="health-server",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._server.serve_forever()

    def run(self) -> None:
        """Serve in the foreground until Ctrl-C, then close the socket."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to notice; it would wait forever if it never ran.
        if getattr(self, "_serving", False):
            self._server.shutdown()
        self._server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Serve the endpoints without a worker in this process (``python -m worker.health``)."""
    from worker.config import ConfigError

    try:
        from worker.app import app, settings
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2

    context = HealthContext(settings, app, worker_hostname=os.environ.get("WORKER_HOSTNAME"))
    server = HealthServer(context)
    from instrumentation import get_logger

    get_logger(__name__).info(f"health server listening on port {server.port}")
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

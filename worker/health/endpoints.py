"""What each health and debug endpoint answers: context and request headers in, (status, body)
out. No HTTP here (``worker.health.server`` serves these), so each can be called directly.

Probe endpoints (``PROBE_ROUTES``) are what kubelet and Prometheus read on the pod address;
debug endpoints (``DEBUG_ROUTES``) describe the configuration and are only served where
``worker.health.server`` allows them (loopback, or with the debug token).
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from instrumentation.redaction import MASK, is_secret_key, redact_mapping, redact_text, redact_url
from worker.config import ConfigError, Settings, describe_url, load_settings
from worker.health.checks import Outage, check_redis, run_with_deadline


@dataclass(frozen=True)
class Raw:
    """A body sent as is (``/metrics``), with its content type."""

    data: bytes
    content_type: str


Response = tuple[int, Any]


@dataclass
class HealthContext:
    """What the endpoints report on.

    ``alive`` says whether the worker process is up (the entrypoint watches its child);
    ``ready`` whether the worker has connected and consumes (None: not known in this process,
    e.g. a standalone server).
    """

    settings: Settings
    app: Any = None  # the Celery app, for inspect and configuration
    worker_hostname: str | None = None  # None: /debug/detailed pings every worker
    alive: Callable[[], bool] = field(default=lambda: True)
    ready: Callable[[], bool] | None = None
    started: float = field(default_factory=time.time)
    outage: Outage | None = None

    def __post_init__(self) -> None:
        if self.outage is None:
            self.outage = Outage(self.started)

    @property
    def timeout(self) -> float:
        return self.settings.health_timeout


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- probes -------------------------------------------------------------------------------------


def ping(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
    return HTTPStatus.OK, "pong"


def health_basic(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
    up = ctx.alive()
    status = HTTPStatus.OK if up else HTTPStatus.SERVICE_UNAVAILABLE
    return status, {"status": "ok" if up else "down", "pid": os.getpid(),
                    "uptime_s": round(time.time() - ctx.started, 1)}


def health(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
    """200 when broker and backend answer a PING and the worker consumes; else 503 with the
    reason, "broker unreachable since <UTC time> (<n>s): <error>" while the broker is down."""
    checks = check_redis(ctx.settings, ctx.timeout)
    assert ctx.outage is not None
    since = ctx.outage.record(bool(checks["broker"]["ok"]))
    body: dict[str, Any] = {"status": "ok", **checks}
    reasons = []
    if since is not None:
        body["broker_unreachable_since"] = _iso(since)
        reasons.append(f"broker unreachable since {_iso(since)} "
                       f"({time.time() - since:.0f}s): {checks['broker'].get('reason')}")
    if not checks["backend"]["ok"]:
        reasons.append(f"backend: {checks['backend'].get('reason')}")
    if not reasons and ctx.ready is not None and not ctx.ready():
        reasons.append("worker not consuming yet: the broker answers, the worker is still "
                       "connecting")
    if not ctx.alive():
        reasons.append("worker process is not running")
    if reasons:
        body.update(status="error", reason="; ".join(reasons))
        return HTTPStatus.SERVICE_UNAVAILABLE, body
    return HTTPStatus.OK, body


def metrics(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
    """Prometheus exposition of this process (and its prefork children, multiprocess mode)."""
    from instrumentation.metrics import render_metrics

    data, content_type = render_metrics(headers.get("accept"))
    return HTTPStatus.OK, Raw(data, content_type)


# --- debug --------------------------------------------------------------------------------------


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


def debug(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
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


def debug_redis(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
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


#: Variables the worker reads besides those of ``worker.config.load_settings``: the
#: entrypoint's and the debug server's own.
OTHER_KNOWN_VARIABLES = frozenset({
    "BROKER_WAIT_S", "WORKER_CONCURRENCY", "WORKER_QUEUES", "WORKER_HOSTNAME",
    "HEALTH_DEBUG", "HEALTH_DEBUG_PORT", "HEALTH_DEBUG_TOKEN",
})
#: Known variables whose whole value is a secret, whatever it looks like.
SECRET_VARIABLES = frozenset({"HEALTH_DEBUG_TOKEN"})


class _ReadRecorder(Mapping[str, str]):
    """An environment that remembers which names were looked up."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.env[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self.env

    def __iter__(self) -> Any:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def known_variables(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every environment variable the worker's configuration reads: what ``load_settings``
    looks up (recorded, so this list cannot fall behind ``worker/config.py``) and
    ``OTHER_KNOWN_VARIABLES``."""
    recorder = _ReadRecorder(os.environ if env is None else env)
    # A bad value was still read: the names are what matters here.
    with contextlib.suppress(ConfigError):
        load_settings(recorder)
    return frozenset(recorder.read) | OTHER_KNOWN_VARIABLES


def describe_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The allowlist view of ``env``: known configuration variables with their values
    (secrets masked: whole value for secret names, passwords and tokens inside URLs), and only
    the names of every other variable. An unknown variable's value is never shown, so a secret
    does not have to be recognized by its name to stay hidden."""
    env = os.environ if env is None else env
    known = known_variables(env)
    configuration: dict[str, str] = {}
    for name in sorted(known & set(env)):
        value = env[name]
        if name in SECRET_VARIABLES or is_secret_key(name):
            configuration[name] = MASK if value else ""
        else:
            configuration[name] = redact_text(redact_url(value))
    return {"configuration": configuration,
            "other_variables": sorted(set(env) - known),
            "note": "values of variables the worker does not read are never shown"}


def debug_env(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
    return HTTPStatus.OK, describe_environment()


def debug_detailed(ctx: HealthContext, headers: Mapping[str, str]) -> Response:
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


Endpoint = Callable[[HealthContext, Mapping[str, str]], Response]

#: Served on the pod address to anyone: kubelet probes and Prometheus.
PROBE_ROUTES: dict[str, Endpoint] = {
    "/ping": ping,
    "/health/basic": health_basic,
    "/health": health,
    "/metrics": metrics,
}
#: Served only on the loopback debug listener, or with the debug token.
DEBUG_ROUTES: dict[str, Endpoint] = {
    "/debug": debug,
    "/debug/redis": debug_redis,
    "/debug/env": debug_env,
    "/debug/detailed": debug_detailed,
}
#: Answered on the server's event loop: instant, so they never wait behind a slow check.
INLINE = frozenset({"/ping", "/health/basic"})
#: One check at a time however many probes ask at once; they all get its answer.
COALESCED = frozenset({"/health"})

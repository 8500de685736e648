"""The reference worker's settings, read from the environment and validated once.

Everything the worker, the health server and ``rhesis-worker`` need is one frozen
:class:`Settings` built by :func:`load_settings` (environment in, settings out, or a
:class:`ConfigError` naming every bad variable at once)::

    from worker.config import load_settings

    settings = load_settings()               # os.environ
    app.conf.update(settings.celery_config())

Environment variables (defaults in brackets):

==================================  ==============================================================
``BROKER_URL``                      broker [``redis://localhost:6379/0``]; ``rediss://`` = TLS
``CELERY_RESULT_BACKEND``           result backend [``redis://localhost:6379/1``]
``REDIS_SSL_CERT_REQS``             ``required`` | ``optional`` | ``none`` for ``rediss://``
                                    [``required``]; a ``ssl_cert_reqs=`` query parameter in the
                                    URL wins over it
``REDIS_SSL_CA_CERTS``              CA bundle to verify the server with (must exist if given)
``VISIBILITY_TIMEOUT``              seconds before Redis redelivers an unacked message [3600]
``UNACKED_RESTORE_INTERVAL``        seconds between scans for such messages [10]
``RESULT_EXPIRES``                  seconds results are kept [86400]
``BROKER_SOCKET_TIMEOUT``           socket timeout for broker and backend [10]
``BROKER_CONNECT_TIMEOUT``          connect timeout for broker and backend [5]
``BROKER_RECONNECT_MAX_S``          longest wait between two reconnect attempts to the broker;
                                    the worker retries forever [5]
``RESULT_BACKEND_MAX_RETRIES``      retries of a result write or chord join while the backend
                                    is unreachable (200, about 8 minutes) [200]
``PUBLISH_MAX_RETRIES``             retries of a publish from a task (retry, chord, callback)
                                    while the broker is unreachable, 5 s apart at most [100]
``TASK_MAX_RETRIES``                retries of a task before it fails [3]
``RETRY_BACKOFF``                   first retry delay in seconds, doubled each retry [1]
``RETRY_BACKOFF_MAX``               cap of the retry delay in seconds [60]
``RETRY_JITTER``                    randomize retry delays (``1``/``0``) [1]
``MAX_COUNTDOWN``                   longest countdown/ETA a publisher may ask for, seconds [300]
``TASK_SOFT_TIME_LIMIT``            soft time limit of the execution tasks, seconds [300]
``TASK_TIME_LIMIT``                 hard time limit of the execution tasks, seconds [360]
``CELERY_TASK_ROUTES``              extra routes, JSON ``{"name or glob": {"queue": ...}}``
``CELERY_TASK_ANNOTATIONS``         extra annotations, JSON ``{"task name": {...}}``
``HEALTH_PORT`` / ``HEALTH_HOST``   health and debug server [8080 / ``0.0.0.0``]
``HEALTH_SERVER``                   start it inside the worker (``1``/``0``) [1]
``HEALTH_TIMEOUT``                  seconds a probe may wait for Redis or the worker [2]
``LOG_LEVEL``, ``SERVICE_NAME``,    logging: level [INFO], service [``rhesis-worker``],
``ENVIRONMENT``, ``GCP_PROJECT``    environment [``dev``], project for trace links
``LOG_PAYLOADS``, ``TRACING``       opt-in payload logging [0], OpenTelemetry spans [1]
``METRICS_PORT``                    Prometheus ``/metrics`` of the worker, 0 = off [9808]
``PROMETHEUS_MULTIPROC_DIR``        where prefork children share metric values
                                    [``$TMPDIR/rhesis-metrics``]
``METRICS_TENANT_LABEL``            label task metrics with ``organization_id`` [0]
``CHORD_METRICS_INTERVAL``          seconds between chord surveys for the chord gauges,
                                    0 = off [60]
==================================  ==============================================================

Why the visibility-timeout check: with Redis, a message that is not acked within
``visibility_timeout`` is handed to another worker. ETA and countdown tasks (retries included)
are held unacked by the worker until they run, so a countdown longer than the timeout makes the
task run twice. That is a silent production bug, so it is a start-up error here.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kombu import Exchange, Queue

#: Queues the worker consumes, and which task-name prefix is routed to each.
DEFAULT_QUEUE = "celery"
EXECUTION_QUEUE = "execution"
TELEMETRY_QUEUE = "telemetry"
QUEUES = (DEFAULT_QUEUE, EXECUTION_QUEUE, TELEMETRY_QUEUE)
ROUTE_PREFIXES: dict[str, str] = {
    "rhesis.execution.*": EXECUTION_QUEUE,
    "rhesis.telemetry.*": TELEMETRY_QUEUE,
}

_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "cert_required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "cert_optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_none": ssl.CERT_NONE,
}
_REDIS_SCHEMES = ("redis", "rediss")
_KNOWN_SCHEMES = (*_REDIS_SCHEMES, "memory", "amqp", "amqps")


class ConfigError(ValueError):
    """The environment does not describe a worker that can run; the message says why."""


@dataclass(frozen=True)
class Settings:
    """Validated worker settings (build with :func:`load_settings`)."""

    broker_url: str = "redis://localhost:6379/0"
    result_backend: str = "redis://localhost:6379/1"
    ssl_cert_reqs: str = "required"
    ssl_ca_certs: str | None = None
    visibility_timeout: int = 3600
    unacked_restore_interval: int = 10
    result_expires: int = 86400
    socket_timeout: float = 10.0
    connect_timeout: float = 5.0
    reconnect_max_s: float = 5.0
    backend_max_retries: int = 200
    publish_max_retries: int = 100
    max_retries: int = 3
    retry_backoff: float = 1.0
    retry_backoff_max: float = 60.0
    retry_jitter: bool = True
    max_countdown: float = 300.0
    soft_time_limit: float = 300.0
    time_limit: float = 360.0
    extra_routes: Mapping[str, Any] = field(default_factory=dict)
    extra_annotations: Mapping[str, Any] = field(default_factory=dict)
    health_host: str = "0.0.0.0"
    health_port: int = 8080
    health_server: bool = True
    health_timeout: float = 2.0
    log_level: str = "INFO"
    service: str = "rhesis-worker"
    environment: str = "dev"
    project: str | None = None
    log_payloads: bool = False
    tracing: bool = True
    metrics_port: int = 9808
    metrics_dir: str = field(default_factory=lambda: os.path.join(tempfile.gettempdir(),
                                                                  "rhesis-metrics"))
    metrics_tenant_label: bool = False
    chord_metrics_interval: float = 60.0

    # --- derived -----------------------------------------------------------------------
    @property
    def broker_tls(self) -> bool:
        return urlsplit(self.broker_url).scheme == "rediss"

    @property
    def backend_tls(self) -> bool:
        return urlsplit(self.result_backend).scheme == "rediss"

    @property
    def longest_countdown(self) -> float:
        """The longest delay a message may wait unacked: a capped retry or a countdown."""
        return max(self.retry_backoff_max, self.max_countdown)

    def ssl_options(self, url: str) -> dict[str, Any] | None:
        """``broker_use_ssl``/``redis_backend_use_ssl`` for ``url``, or None when not TLS."""
        parts = urlsplit(url)
        if parts.scheme != "rediss":
            return None
        # A query parameter in the URL is the most specific setting; it wins.
        from_url = parse_qs(parts.query).get("ssl_cert_reqs", [None])[0]
        # An unknown value was already reported by load_settings; verify rather than guess.
        reqs = _CERT_REQS.get((from_url or self.ssl_cert_reqs).lower(), ssl.CERT_REQUIRED)
        options: dict[str, Any] = {"ssl_cert_reqs": reqs}
        if self.ssl_ca_certs and reqs != ssl.CERT_NONE:
            options["ssl_ca_certs"] = self.ssl_ca_certs
        return options

    def transport_options(self) -> dict[str, Any]:
        return {
            "visibility_timeout": self.visibility_timeout,
            "unacked_restore_interval": self.unacked_restore_interval,
            # Scan on every interval, so redelivery happens within a predictable time.
            "unacked_restore_throttle": 1,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "socket_keepalive": True,
            "retry_on_timeout": True,
            "health_check_interval": 25,
        }

    def task_routes(self) -> dict[str, Any]:
        routes: dict[str, Any] = {k: {"queue": q} for k, q in ROUTE_PREFIXES.items()}
        routes.update(self.extra_routes)
        return routes

    def task_annotations(self) -> dict[str, Any]:
        limits = {"soft_time_limit": self.soft_time_limit, "time_limit": self.time_limit}
        annotations: dict[str, Any] = {
            "rhesis.execution.execute_test_run": dict(limits),
            "rhesis.execution.execute_single_test": dict(limits),
            "rhesis.execution.collect_results": dict(limits),
            # Telemetry must not pile up behind a slow sink: short limits.
            "rhesis.telemetry.ingest_batch": {"soft_time_limit": 60, "time_limit": 90},
        }
        for name, values in self.extra_annotations.items():
            annotations.setdefault(name, {}).update(values)
        return annotations

    def celery_config(self) -> dict[str, Any]:
        """The Celery configuration mapping (for ``app.conf.update``)."""
        default_exchange = Exchange(DEFAULT_QUEUE, type="direct")
        conf: dict[str, Any] = {
            "broker_url": self.broker_url,
            "result_backend": self.result_backend,
            "task_serializer": "json",
            "result_serializer": "json",
            "accept_content": ["json"],
            "result_accept_content": ["json"],
            "timezone": "UTC",
            "enable_utc": True,
            "result_expires": self.result_expires,
            "result_extended": True,
            "task_acks_late": True,
            # With acks_late, a task whose pool process dies goes back to the queue instead of
            # being lost; the price is that a task that kills its process is retried forever.
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "task_track_started": True,
            "task_send_sent_event": False,
            # A broker outage of any length must not end the worker: retry forever, at most
            # reconnect_max_s apart (worker.consumer; Celery alone waits up to 30 s).
            "broker_connection_retry_on_startup": True,
            "broker_connection_retry": True,
            "broker_connection_max_retries": None,
            "broker_connection_timeout": self.connect_timeout,
            "worker_consumer": "worker.consumer:ResilientConsumer",
            "rhesis_broker_reconnect_max_s": self.reconnect_max_s,
            # Cancelling acks_late tasks on connection loss stores them as REVOKED and fails
            # their chord. Let them finish: their result write waits for the backend (below),
            # and a message whose ack was lost with the connection is redelivered, which the
            # chord's dedup set and done marker make harmless.
            "worker_cancel_long_running_tasks_on_connection_loss": False,
            # A result written while Redis is down waits for it (bounded), instead of the task
            # failing with ConnectionError.
            "result_backend_always_retry": True,
            "result_backend_max_retries": self.backend_max_retries,
            "result_backend_base_sleep_between_retries_ms": 200,
            "result_backend_max_sleep_between_retries_ms": 5000,
            # Publishes from inside tasks (retries, chords, the chord callback) wait out an
            # outage the same way instead of failing the task.
            "task_publish_retry": True,
            "task_publish_retry_policy": {
                "max_retries": self.publish_max_retries,
                "interval_start": 0,
                "interval_step": 1,
                "interval_max": 5,
            },
            "broker_transport_options": self.transport_options(),
            "result_backend_transport_options": {"visibility_timeout": self.visibility_timeout},
            "redis_socket_timeout": self.socket_timeout,
            "redis_socket_connect_timeout": self.connect_timeout,
            "redis_retry_on_timeout": True,
            "redis_socket_keepalive": True,
            "task_default_queue": DEFAULT_QUEUE,
            "task_default_exchange": DEFAULT_QUEUE,
            "task_default_routing_key": DEFAULT_QUEUE,
            "task_queues": tuple(
                Queue(name, Exchange(name, type="direct") if name != DEFAULT_QUEUE
                      else default_exchange, routing_key=name)
                for name in QUEUES
            ),
            "task_routes": self.task_routes(),
            "task_annotations": self.task_annotations(),
            "task_default_retry_delay": self.retry_backoff,
            "worker_send_task_events": False,
            # Our JSON logging (instrumentation.configure_logging) owns the root logger; Celery
            # must not replace its handlers. print() in tasks still reaches it, as log records.
            "worker_hijack_root_logger": False,
        }
        if (broker_ssl := self.ssl_options(self.broker_url)) is not None:
            conf["broker_use_ssl"] = broker_ssl
        if (backend_ssl := self.ssl_options(self.result_backend)) is not None:
            conf["redis_backend_use_ssl"] = backend_ssl
        return conf


# --- loading -------------------------------------------------------------------------------


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings from ``environ`` (default ``os.environ``).

    Raises :class:`ConfigError` listing every problem found, not only the first.
    """
    env = os.environ if environ is None else environ
    errors: list[str] = []
    reader = _Reader(env, errors)
    settings = Settings(
        broker_url=reader.url("BROKER_URL", Settings.broker_url),
        result_backend=reader.url("CELERY_RESULT_BACKEND", Settings.result_backend),
        ssl_cert_reqs=reader.choice("REDIS_SSL_CERT_REQS", "required", _CERT_REQS),
        ssl_ca_certs=env.get("REDIS_SSL_CA_CERTS") or None,
        visibility_timeout=int(reader.number("VISIBILITY_TIMEOUT", 3600, minimum=1)),
        unacked_restore_interval=int(reader.number("UNACKED_RESTORE_INTERVAL", 10, minimum=1)),
        result_expires=int(reader.number("RESULT_EXPIRES", 86400, minimum=1)),
        socket_timeout=reader.number("BROKER_SOCKET_TIMEOUT", 10, minimum=0.1),
        connect_timeout=reader.number("BROKER_CONNECT_TIMEOUT", 5, minimum=0.1),
        reconnect_max_s=reader.number("BROKER_RECONNECT_MAX_S", 5, minimum=0.1, maximum=300),
        backend_max_retries=int(reader.number("RESULT_BACKEND_MAX_RETRIES", 200, minimum=0)),
        publish_max_retries=int(reader.number("PUBLISH_MAX_RETRIES", 100, minimum=0)),
        max_retries=int(reader.number("TASK_MAX_RETRIES", 3, minimum=0)),
        retry_backoff=reader.number("RETRY_BACKOFF", 1, minimum=0),
        retry_backoff_max=reader.number("RETRY_BACKOFF_MAX", 60, minimum=0),
        retry_jitter=reader.flag("RETRY_JITTER", True),
        max_countdown=reader.number("MAX_COUNTDOWN", 300, minimum=0),
        soft_time_limit=reader.number("TASK_SOFT_TIME_LIMIT", 300, minimum=1),
        time_limit=reader.number("TASK_TIME_LIMIT", 360, minimum=1),
        extra_routes=reader.json_object("CELERY_TASK_ROUTES"),
        extra_annotations=reader.json_object("CELERY_TASK_ANNOTATIONS"),
        health_host=env.get("HEALTH_HOST", "0.0.0.0"),
        health_port=int(reader.number("HEALTH_PORT", 8080, minimum=0, maximum=65535)),
        health_server=reader.flag("HEALTH_SERVER", True),
        health_timeout=reader.number("HEALTH_TIMEOUT", 2, minimum=0.1),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        service=env.get("SERVICE_NAME", "rhesis-worker"),
        environment=env.get("ENVIRONMENT", "dev"),
        project=env.get("GCP_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or None,
        log_payloads=reader.flag("LOG_PAYLOADS", False),
        tracing=reader.flag("TRACING", True),
        metrics_port=int(reader.number("METRICS_PORT", 9808, minimum=0, maximum=65535)),
        metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR")
        or os.path.join(tempfile.gettempdir(), "rhesis-metrics"),
        metrics_tenant_label=reader.flag("METRICS_TENANT_LABEL", False),
        chord_metrics_interval=float(reader.number("CHORD_METRICS_INTERVAL", 60, minimum=0,
                                                   maximum=86400)),
    )
    errors.extend(validate(settings))
    if errors:
        raise ConfigError("invalid worker configuration:\n  - " + "\n  - ".join(errors))
    return settings


def validate(settings: Settings) -> list[str]:
    """Cross-field problems of ``settings`` (empty when it is fine)."""
    errors = []
    if settings.visibility_timeout <= settings.longest_countdown:
        errors.append(
            f"VISIBILITY_TIMEOUT={settings.visibility_timeout}s must be longer than the longest "
            f"countdown a task can wait unacked ({settings.longest_countdown:g}s = max of "
            "RETRY_BACKOFF_MAX and MAX_COUNTDOWN): otherwise Redis redelivers waiting tasks "
            "and they run twice"
        )
    if settings.soft_time_limit >= settings.time_limit:
        errors.append("TASK_SOFT_TIME_LIMIT must be shorter than TASK_TIME_LIMIT")
    if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        errors.append(f"LOG_LEVEL={settings.log_level!r} is not a logging level")
    for name, url in (("BROKER_URL", settings.broker_url),
                      ("CELERY_RESULT_BACKEND", settings.result_backend)):
        if urlsplit(url).scheme != "rediss":
            continue
        reqs = settings.ssl_options(url) or {}
        if (reqs.get("ssl_cert_reqs") == ssl.CERT_REQUIRED and settings.ssl_ca_certs
                and not os.path.isfile(settings.ssl_ca_certs)):
            errors.append(f"REDIS_SSL_CA_CERTS={settings.ssl_ca_certs!r} (for {name}) "
                          "is not a readable file")
    return errors


def check_task_names(
    registered: set[str] | frozenset[str],
    routes: Mapping[str, Any],
    annotations: Mapping[str, Any],
) -> list[str]:
    """Routing or annotation keys that name no registered task (a misspelt key does nothing
    silently in Celery). Route keys may be globs; annotation keys must be exact names."""
    problems = []
    for key in routes:
        if not any(fnmatchcase(name, key) for name in registered):
            problems.append(f"task route {key!r} matches no registered task")
    for key in annotations:
        if key != "*" and key not in registered:
            problems.append(f"task annotation {key!r} names no registered task")
    return problems


def describe_url(url: str) -> dict[str, Any]:
    """Scheme, host, port, db and TLS of a broker/backend URL, without credentials."""
    parts = urlsplit(url)
    db: int | None = None
    path = parts.path.lstrip("/")
    if path.isdigit():
        db = int(path)
    elif parts.scheme in _REDIS_SCHEMES:
        db = 0
    try:
        port = parts.port
    except ValueError:
        port = None
    return {
        "scheme": parts.scheme,
        "host": parts.hostname,
        "port": port,
        "db": db,
        "tls": parts.scheme in ("rediss", "amqps"),
        "has_password": bool(parts.password),
    }


class _Reader:
    """Typed reads of environment variables that collect errors instead of raising."""

    def __init__(self, env: Mapping[str, str], errors: list[str]):
        self.env = env
        self.errors = errors

    def url(self, name: str, default: str) -> str:
        value = self.env.get(name) or default
        parts = urlsplit(value)
        if parts.scheme not in _KNOWN_SCHEMES:
            self.errors.append(f"{name}: scheme {parts.scheme!r} is not one of "
                               f"{', '.join(_KNOWN_SCHEMES)}")
            return value
        if parts.scheme in _REDIS_SCHEMES:
            try:
                parts.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                self.errors.append(f"{name}: the port is not a number")
            if not parts.hostname:
                self.errors.append(f"{name}: no host in the URL")
            path = parts.path.lstrip("/")
            if path and not path.isdigit():
                self.errors.append(f"{name}: database {path!r} is not a number")
            reqs = parse_qs(parts.query).get("ssl_cert_reqs", [None])[0]
            if reqs is not None and reqs.lower() not in _CERT_REQS:
                self.errors.append(f"{name}: ssl_cert_reqs={reqs!r} is not one of "
                                   "required, optional, none")
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None,
               maximum: float | None = None) -> float:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return float(default)
        try:
            value = float(raw)
        except ValueError:
            self.errors.append(f"{name}={raw!r} is not a number")
            return float(default)
        if minimum is not None and value < minimum:
            self.errors.append(f"{name}={raw} is below the minimum {minimum:g}")
        if maximum is not None and value > maximum:
            self.errors.append(f"{name}={raw} is above the maximum {maximum:g}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        self.errors.append(f"{name}={raw!r} is not a boolean (1/0, true/false)")
        return default

    def choice(self, name: str, default: str, choices: Mapping[str, Any]) -> str:
        raw = (self.env.get(name) or default).lower()
        if raw not in choices:
            self.errors.append(f"{name}={raw!r} is not one of {', '.join(choices)}")
            return default
        return raw

    def json_object(self, name: str) -> dict[str, Any]:
        raw = self.env.get(name)
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            self.errors.append(f"{name} is not valid JSON: {exc}")
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            self.errors.append(f"{name} must be a JSON object of objects")
            return {}
        return value

"""The one place a Redis client is built: worker tools, health checks, metrics, chord monitor.

Every client gets the worker's TLS options (``REDIS_SSL_CERT_REQS``, ``REDIS_SSL_CA_CERTS``,
or a ``?ssl_cert_reqs=`` in the URL; see :mod:`worker.config`), a socket and a connect
timeout, and a bounded retry policy, so no caller can block forever on a Redis that accepts
the connection and never answers::

    from worker.redis_client import make_client, ping, RedisUnavailable, RedisURLError

    client = make_client("rediss://:pw@10.0.0.3:6378/1", timeout=2.0)   # settings from env
    try:
        ping("redis://localhost:6379/0", timeout=1.0)   # one PING within 1 s, or an error
    except RedisURLError as exc:       # the URL cannot be parsed: a usage error
        ...
    except RedisUnavailable as exc:    # refused, wrong password, TLS, timeout: one line
        ...

Both errors carry a one-line message with the password masked (``str(exc)``). The
command-line tools turn them into ``ExitStatus.USAGE`` and ``ExitStatus.UNAVAILABLE``.

Why ``ping`` runs on a thread with a deadline: socket timeouts bound each read, but not a DNS
lookup or a TLS handshake that hangs; the caller's deadline must hold anyway.
"""

from __future__ import annotations

# getaddrinfo() imports the ``idna`` codec on its first call in a process. The health server
# and the chord gauges call it from threads while the prefork pool forks its children; a child
# forked while another thread is inside that import inherits the module lock held, and its first
# Redis connection then waits on it forever (seen in the chaos suite as a chord member stuck in
# importlib's ``_lock_unlock_module`` until its soft time limit). Importing it here, before any
# of our threads exist, removes the race.
import encodings.idna  # noqa: F401
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from instrumentation.redaction import redact_text, redact_url
from worker.config import Settings

T = TypeVar("T")

_SCHEMES = ("redis", "rediss", "unix")


class RedisURLError(ValueError):
    """A Redis URL that cannot be parsed or uses another scheme (the caller typed it wrong)."""


class RedisUnavailable(ConnectionError):
    """Redis could not be used: refused, unreachable, wrong password, TLS, no answer in time."""


class DeadlineExceeded(TimeoutError):
    """The call did not finish within its deadline."""


def tls_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings carrying only the TLS options of ``environ`` (for tools that do not need, or
    cannot load, the whole worker configuration, such as the chord monitor on another app)."""
    env = os.environ if environ is None else environ
    return Settings(ssl_cert_reqs=(env.get("REDIS_SSL_CERT_REQS") or "required").lower(),
                    ssl_ca_certs=env.get("REDIS_SSL_CA_CERTS") or None)


def check_url(url: str | None, what: str = "Redis URL") -> str:
    """``url`` when redis-py can use it, else :class:`RedisURLError` saying why."""
    if not url:
        raise RedisURLError(f"{what}: empty")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise RedisURLError(f"{what} {redact_url(url)!r} cannot be parsed: {exc}") from exc
    if parts.scheme not in _SCHEMES:
        raise RedisURLError(f"{what} {redact_url(url)!r}: scheme {parts.scheme!r} is not "
                            "redis://, rediss:// or unix://")
    if parts.scheme != "unix" and not parts.hostname:
        raise RedisURLError(f"{what} {redact_url(url)!r}: no host")
    path = parts.path.lstrip("/")
    if parts.scheme != "unix" and path and not path.isdigit():
        raise RedisURLError(f"{what} {redact_url(url)!r}: database {path!r} is not a number")
    return url


def client_options(url: str, settings: Settings | None = None, *, timeout: float | None = None,
                   retries: int = 2) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url(url, **options)``.

    ``timeout`` bounds every connect and every read (default: the settings' connect and socket
    timeouts). ``retries`` is how often a failed command is retried on a new connection, with
    capped exponential backoff (timeouts included: redis-py retries them by default); 0 for
    probes, which must report what they see now.
    """
    settings = settings or tls_settings()
    options: dict[str, Any] = {
        "socket_timeout": timeout if timeout is not None else settings.socket_timeout,
        "socket_connect_timeout": timeout if timeout is not None else settings.connect_timeout,
        "socket_keepalive": True,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), retries) if retries > 0
        else Retry(NoBackoff(), 0),
        "health_check_interval": 25,
    }
    options.update(settings.ssl_options(url) or {})
    return options


def make_client(url: str, settings: Settings | None = None, *, timeout: float | None = None,
                retries: int = 2, what: str = "Redis URL") -> redis.Redis:
    """A client for ``url`` with TLS, timeouts and retries (see :func:`client_options`).

    Connects lazily. Raises :class:`RedisURLError` for a URL that cannot be used.
    """
    check_url(url, what)
    try:
        return redis.Redis.from_url(url, **client_options(url, settings, timeout=timeout,
                                                          retries=retries))
    except ValueError as exc:
        raise RedisURLError(f"{what} {redact_url(url)!r}: {exc}") from exc


def describe_error(exc: BaseException) -> str:
    """One line naming what went wrong, password masked (for messages and ``/health``)."""
    if isinstance(exc, redis.AuthenticationError):
        kind = "authentication failed"
    elif isinstance(exc, redis.TimeoutError | DeadlineExceeded):
        kind = "no answer in time"
    elif isinstance(exc, redis.ConnectionError | OSError):
        kind = "connection failed"
    elif isinstance(exc, redis.ResponseError) and any(
            word in str(exc) for word in ("NOAUTH", "WRONGPASS", "invalid password")):
        kind = "authentication failed"
    else:
        kind = type(exc).__name__
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(f"{kind}: {text}")


def call_with_deadline(fn: Callable[[], T], deadline: float) -> T:
    """``fn()`` on a daemon thread: its value, its error, or :class:`DeadlineExceeded` after
    ``deadline`` seconds (the thread is abandoned, never joined)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="redis-deadline", daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        raise DeadlineExceeded(f"no answer within {deadline:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def ping(url: str, settings: Settings | None = None, *, timeout: float,
         what: str = "Redis") -> None:
    """One PING on a new connection, finished within ``timeout`` seconds.

    Raises :class:`RedisURLError` for an unusable URL and :class:`RedisUnavailable` (one-line
    message naming ``what`` and the redacted URL) for everything else.
    """
    client = make_client(url, settings, timeout=timeout, retries=0, what=f"{what} URL")

    def once() -> None:
        try:
            client.ping()
        finally:
            client.close()

    try:
        call_with_deadline(once, timeout)
    except RedisURLError:
        raise
    except (redis.RedisError, OSError, ValueError) as exc:
        raise RedisUnavailable(f"{what} {redact_url(url)}: {describe_error(exc)}") from exc

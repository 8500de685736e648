"""Redis checks with a deadline, for the health server's probes and the entrypoint.

    from worker.health.checks import check_redis, redis_round_trip

    redis_round_trip(settings.broker_url, settings, timeout=2)   # {"ok": True, "latency_ms": ..}
    check_redis(settings, timeout=2)    # {"broker": {...}, "backend": {...}}, in parallel

Why a thread per check with a deadline: a Redis that accepts the TCP connection and never
answers, or a DNS lookup that hangs, must not hold a probe past ``HEALTH_TIMEOUT``; the socket
timeouts alone do not bound DNS or TLS handshakes. ``Outage`` remembers since when the broker
has been unreachable, so ``/health`` can say "broker unreachable since ..." from the first
second of a worker that starts while Redis is down.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from instrumentation.redaction import redact_text
from worker.config import Settings, describe_url
from worker.redis_client import DeadlineExceeded, call_with_deadline, make_client

#: A check that did not finish within its deadline (the shared Redis helpers' error).
ProbeTimeout = DeadlineExceeded
#: Run a check on a daemon thread within a deadline (``worker.redis_client``'s helper).
run_with_deadline = call_with_deadline


def redis_client(url: str, settings: Settings, timeout: float) -> redis.Redis:
    """A fresh client for ``url`` from the shared factory (``worker.redis_client``): TLS
    options, ``timeout`` on connect and reads, and one attempt: a probe reports what it sees
    now, where retries would keep the probe thread alive long after its deadline."""
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




class Outage:
    """Since when the broker has been unreachable (thread-safe).

    A process that has never reached the broker has been waiting for it since it started, not
    since the first probe that happened to ask; ``started`` is that moment (epoch seconds).
    """

    def __init__(self, started: float | None = None) -> None:
        self._lock = threading.Lock()
        self._since: float | None = time.time() if started is None else started

    def record(self, reachable: bool, now: float | None = None) -> float | None:
        """Note one check; return the start of the current outage (None when reachable)."""
        with self._lock:
            if reachable:
                self._since = None
            elif self._since is None:
                self._since = time.time() if now is None else now
            return self._since

    @property
    def since(self) -> float | None:
        return self._since

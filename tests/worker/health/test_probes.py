"""The health and debug server over real HTTP: with a worker, with a broken or slow broker,
with TLS Redis, and with secrets planted in its environment."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import RedisServer, WorkerProcess, free_port, wait_for
from tests.worker.conftest import FAST, TLSRedis, http_get

pytestmark = pytest.mark.slow


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) and never answers: a hung Redis."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


class TestWithWorker:
    def test_every_endpoint_answers_with_redis_up(self, prefork_worker: WorkerProcess,
                                                  worker_env: dict[str, str],
                                                  client: Any) -> None:
        port = int(worker_env["HEALTH_PORT"])
        assert http_get(port, "/ping")[:2] == (200, "pong\n")
        status, body, _ = http_get(port, "/health/basic")
        assert status == 200 and body["status"] == "ok"
        status, body, _ = http_get(port, "/health")
        assert status == 200, body
        assert body["broker"]["ok"] and body["backend"]["ok"]

        debug_port = int(worker_env["HEALTH_DEBUG_PORT"])
        assert http_get(port, "/debug")[0] == 404  # not on the probe port
        status, body, _ = http_get(debug_port, "/debug")
        assert status == 200
        assert body["tls"] == {"broker": False, "backend": False}
        assert body["url_scheme"]["broker"] == "redis"
        assert body["redis"]["broker"]["ok"]
        assert body["celery"]["acks_late"] is True
        assert body["celery"]["queues"] == ["celery", "execution", "telemetry"]
        assert "rhesis.execution.execute_test_run" in body["celery"]["tasks"]
        assert body["process"]["worker"] == prefork_worker.hostname

        status, body, _ = http_get(debug_port, "/debug/redis")
        assert status == 200
        assert body["broker"]["db"] == int(worker_env["BROKER_URL"].rsplit("/", 1)[1])
        assert body["broker"]["connectivity"]["redis_version"]
        assert body["transport_options"]["visibility_timeout"] == 3600

        status, body, _ = http_get(debug_port, "/debug/detailed")
        assert status == 200, body
        assert prefork_worker.hostname in body["replies"]

        # The worker's Prometheus endpoint counts what its prefork children ran, on the
        # health port (one port); METRICS_PORT is not opened beside it.
        client.tasks["rhesis.maintenance.heartbeat"].apply_async().get(timeout=20)
        counted = re.compile(r'celery_task_succeeded_total\{[^}]*name="rhesis.maintenance.'
                             r'heartbeat"[^}]*\} 1\.0')

        def scraped() -> str | None:
            # The result is stored before the child's task_succeeded handler counts it.
            status, metrics, _ = http_get(port, "/metrics")
            assert status == 200
            return metrics if counted.search(metrics) else None

        wait_for(scraped, timeout=10, message=lambda: http_get(port, "/metrics")[1][:2000])
        with pytest.raises(OSError):
            http_get(int(worker_env["METRICS_PORT"]), "/metrics", timeout=2)

        status, body, _ = http_get(port, "/nope")
        assert status == 404 and body["reason"] == "not found"


class TestBrokenBroker:
    def test_wrong_broker_url_is_503_within_the_probe_timeout(
            self, health_process: Any, backend_url: str) -> None:
        closed = free_port()  # nothing listens there
        server = health_process({**FAST, "BROKER_URL": f"redis://127.0.0.1:{closed}/0",
                                 "CELERY_RESULT_BACKEND": backend_url})
        status, body, elapsed = server.get("/health")
        assert status == 503
        assert body["broker"]["ok"] is False and body["backend"]["ok"] is True
        assert "broker" in body["reason"] and "Connection" in body["reason"]
        assert elapsed < float(FAST["HEALTH_TIMEOUT"]) + 1.0
        assert server.get("/health/basic")[0] == 200  # the process itself is fine
        status, body, _ = server.get("/debug/detailed")
        assert status == 503 and body["status"] == "error"

    def test_a_hung_redis_cannot_hold_a_probe_or_block_other_requests(
            self, health_process: Any, black_hole: int) -> None:
        url = f"redis://127.0.0.1:{black_hole}/0"
        server = health_process({**FAST, "BROKER_URL": url, "CELERY_RESULT_BACKEND": url})
        slow: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: slow.update(r=server.get("/health")))
        thread.start()
        # While /health waits on the silent Redis, /ping is served by another thread.
        status, _, ping_elapsed = server.get("/ping")
        thread.join(10)
        assert status == 200 and ping_elapsed < 0.5
        status, body, elapsed = slow["r"]
        assert status == 503
        assert "Timeout" in body["reason"] or "no answer" in body["reason"]
        assert elapsed < float(FAST["HEALTH_TIMEOUT"]) + 1.0


class TestTLS:
    def test_rediss_url_shape_is_reported_and_checked(
            self, health_process: Any, redis_server: RedisServer) -> None:
        """A rediss:// URL pointing at a plain-text Redis: TLS detected, handshake fails."""
        url = f"rediss://:planted-tls-pass@127.0.0.1:{redis_server.port}/3?ssl_cert_reqs=none"
        server = health_process({**FAST, "BROKER_URL": url, "CELERY_RESULT_BACKEND": url})
        bodies = {path: server.get(path) for path in ("/debug", "/health", "/debug/redis",
                                                       "/debug/env")}
        status, body, _ = bodies["/debug"]
        assert status == 200
        assert body["tls"] == {"broker": True, "backend": True}
        assert body["url_scheme"] == {"broker": "rediss", "backend": "rediss"}
        status, body, elapsed = bodies["/health"]
        assert status == 503 and elapsed < float(FAST["HEALTH_TIMEOUT"]) + 1.0
        status, body, _ = bodies["/debug/redis"]
        assert body["broker"]["url"].startswith("rediss://:***@127.0.0.1")
        assert body["broker"]["tls"] is True and body["broker"]["db"] == 3
        assert "CERT_NONE" in body["broker_use_ssl"]["ssl_cert_reqs"]
        for path, (_, body, _) in bodies.items():
            assert "planted-tls-pass" not in str(body), path

    @pytest.mark.parametrize(("query", "ca", "expected"), [
        ("", True, 200),                          # CERT_REQUIRED with our CA file
        ("ssl_cert_reqs=none", False, 200),       # no verification
        ("ssl_cert_reqs=required", False, 503),   # system CAs do not trust a self-signed cert
    ])
    def test_real_tls_redis(self, health_process: Any, tls_redis: TLSRedis, query: str,
                            ca: bool, expected: int) -> None:
        env = {**FAST, "BROKER_URL": tls_redis.url(0, query),
               "CELERY_RESULT_BACKEND": tls_redis.url(1, query),
               "REDIS_SSL_CERT_REQS": "required"}
        if ca:
            env["REDIS_SSL_CA_CERTS"] = str(tls_redis.ca_file)
        status, body, _ = health_process(env).get("/health")
        assert status == expected, body
        if expected == 503:
            assert "certificate verify failed" in body["reason"].lower()


PLANTED = {
    "REDIS_PASS": "planted-01",
    "DB_PASSWORD": "planted-02",
    "API_TOKEN": "planted-03",
    "GCP_PRIVATE_KEY": "planted-04",
    "SENTRY_DSN": "https://planted-05@o1.ingest.example.io/1",
    "CACHE_URL": "redis://cache-user:planted-06@cache:6379/0",
    "AWS_SECRET_ACCESS_KEY": "planted-07",
    "OAUTH_CLIENT_SECRET": "planted-08",
    "GITHUB_TOKEN": "planted-09",
    "MY_APIKEY": "planted-10",
    "AUTH_HEADER": "Bearer planted-11-abcdefgh",
    "EXTRA_OPTS": "--password=planted-12 --verbose",
}


def test_debug_env_leaks_no_planted_secret(health_process: Any, redis_server: RedisServer,
                                           backend_url: str) -> None:
    broker = f"redis://:planted-13@127.0.0.1:{redis_server.port}/2"
    server = health_process({**FAST, **PLANTED, "BROKER_URL": broker,
                             "CELERY_RESULT_BACKEND": backend_url})
    status, body, _ = server.get("/debug/env")
    assert status == 200
    config = body["configuration"]
    assert config["HEALTH_TIMEOUT"] == FAST["HEALTH_TIMEOUT"]  # ordinary values stay readable
    assert config["BROKER_URL"].startswith("redis://:***@127.0.0.1")
    # Variables the worker does not read: their names only, whatever they are called.
    assert set(PLANTED) <= set(body["other_variables"])
    assert not set(PLANTED) & set(config)
    for path in ("/debug/env", "/debug", "/debug/redis", "/health"):
        text = str(server.get(path)[1])
        leaked = sorted(set(re.findall(r"planted-\d+", text)))
        assert not leaked, f"{path} leaks {leaked}"

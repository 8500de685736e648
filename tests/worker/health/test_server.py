"""The health server as an attacker on the pod network meets it: /debug is not there without
the token, slow and numerous clients cannot hold it, and /debug/env shows an allowlist.

In-process servers (``HealthServer`` on real sockets) where the test needs its limits or
addresses; ``python -m worker.health`` in a subprocess where threads are counted.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import free_port, wait_for
from tests.worker.conftest import FAST
from worker.config import load_settings
from worker.health import (
    DebugAccess,
    DebugConfigError,
    HealthContext,
    HealthServer,
    ServerLimits,
    describe_environment,
    known_variables,
)

pytestmark = pytest.mark.slow

TOKEN = "t0k3n-for-the-debug-endpoints-9f2c"


def _non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (the pod address in a pod)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for addr in out.stdout.split():
        if "." in addr and not addr.startswith("127."):
            return addr
    return None


def request(host: str, port: int, path: str, headers: dict[str, str] | None = None,
            timeout: float = 10) -> tuple[int, Any, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        body = json.loads(raw) if "json" in resp.getheader("Content-Type", "") else raw.decode()
        return resp.status, body, time.monotonic() - started
    finally:
        conn.close()


@pytest.fixture
def settings(broker_url: str, backend_url: str) -> Any:
    return load_settings({**FAST, "BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend_url})


@pytest.fixture
def serve(settings: Any) -> Iterator[Any]:
    started: list[HealthServer] = []

    def factory(host: str = "127.0.0.1", debug: DebugAccess | None = None,
                limits: ServerLimits | None = None) -> HealthServer:
        server = HealthServer(HealthContext(settings), host=host, port=0,
                              debug=debug or DebugAccess(), limits=limits).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


class TestDebugAccess:
    def test_debug_is_off_by_default(self, serve: Any) -> None:
        server = serve()
        assert server.debug_port is None
        assert request("127.0.0.1", server.port, "/ping")[:2] == (200, "pong\n")
        assert request("127.0.0.1", server.port, "/health")[0] == 200
        for path in ("/debug", "/debug/env", "/debug/redis", "/debug/detailed"):
            status, body, _ = request("127.0.0.1", server.port, path)
            assert status == 404, path
            assert all(not e.startswith("/debug") for e in body["endpoints"])
        # A token does nothing where no token is configured.
        assert request("127.0.0.1", server.port, "/debug/env",
                       {"Authorization": f"Bearer {TOKEN}"})[0] == 404

    def test_token_on_the_pod_address_and_loopback_only_listener(self, serve: Any) -> None:
        pod = _non_loopback_address() or "127.0.0.1"
        server = serve(host=pod, debug=DebugAccess(enabled=True, port=free_port(),
                                                   token=TOKEN))
        assert request(pod, server.port, "/ping")[0] == 200
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                        {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": f"Bearer {TOKEN[:-1]}"}):
            status, body, _ = request(pod, server.port, "/debug/env", headers)
            assert status == 401, headers
            assert "configuration" not in body
        status, body, _ = request(pod, server.port, "/debug/env",
                                  {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and "configuration" in body
        # The token-free debug listener is on loopback only.
        assert request("127.0.0.1", server.debug_port, "/debug/env")[0] == 200
        if pod != "127.0.0.1":
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((pod, server.debug_port), timeout=2).close()

    @pytest.mark.parametrize(("env", "message"), [
        ({"HEALTH_DEBUG_TOKEN": "short"}, "shorter than"),
        ({"HEALTH_DEBUG": "maybe"}, "HEALTH_DEBUG"),
        ({"HEALTH_DEBUG_PORT": "80808"}, "HEALTH_DEBUG_PORT"),
    ])
    def test_unusable_settings_are_refused(self, env: dict[str, str], message: str) -> None:
        with pytest.raises(DebugConfigError, match=message):
            DebugAccess.from_env(env)

    def test_from_env(self) -> None:
        assert DebugAccess.from_env({}) == DebugAccess()
        access = DebugAccess.from_env({"HEALTH_DEBUG": "1", "HEALTH_DEBUG_PORT": "9000",
                                       "HEALTH_DEBUG_TOKEN": TOKEN})
        assert (access.enabled, access.port, access.token) == (True, 9000, TOKEN)
        assert TOKEN not in repr(access)


class TestHeldConnections:
    def test_the_connection_cap_refuses_the_excess_fast(self, serve: Any) -> None:
        server = serve(limits=ServerLimits(max_connections=10, request_deadline=30))
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(10)]
        try:
            wait_for(lambda: server.connections == 10, timeout=10,
                     message=lambda: f"10 open connections (have {server.connections})")
            status, body, elapsed = request("127.0.0.1", server.port, "/ping")
            assert status == 503 and body["reason"] == "too many connections"
            assert elapsed < 0.5
            assert server.refused >= 1
        finally:
            for sock in idle:
                sock.close()
        wait_for(lambda: server.connections == 0, timeout=10, message="connections closed")
        assert request("127.0.0.1", server.port, "/ping")[0] == 200

    def test_listen_backlog_is_128(self, serve: Any) -> None:
        import shutil

        if shutil.which("ss") is None:
            pytest.skip("ss (iproute2) is needed to read a listening socket's backlog")
        server = serve(debug=DebugAccess(enabled=True, port=free_port()))
        out = subprocess.run(["ss", "-ltn", f"( sport = :{server.port} or sport = "
                              f":{server.debug_port} )"], capture_output=True, text=True,
                             timeout=10).stdout
        backlogs = [line.split()[2] for line in out.splitlines()[1:] if line.strip()]
        assert backlogs == ["128", "128"], out

    def test_a_request_that_does_not_arrive_in_time_is_cut(self, serve: Any) -> None:
        server = serve(limits=ServerLimits(request_deadline=1.0))
        sock = socket.create_connection(("127.0.0.1", server.port))
        started = time.monotonic()
        sock.settimeout(10)
        sock.sendall(b"GET /ping HTTP/1.1\r\n")  # and never the end of the headers
        try:
            data = sock.recv(1024)
        except ConnectionResetError:
            data = b""
        assert data == b""  # closed without an answer
        assert 0.9 < time.monotonic() - started < 3.0
        assert server.timed_out == 1
        sock.close()

    def test_oversized_and_malformed_requests_get_a_clear_status(self, serve: Any) -> None:
        server = serve()
        for raw, status in ((b"GET /ping HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
                            (b"NONSENSE\r\n\r\n", 400),
                            (b"POST /ping HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", 413),
                            (b"DELETE /ping HTTP/1.1\r\n\r\n", 405)):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(raw)
                answer = sock.recv(1024)
            assert answer.startswith(f"HTTP/1.1 {status}".encode()), (raw[:30], answer[:80])

    def test_200_slow_clients_cannot_delay_health(self, health_process: Any, broker_url: str,
                                                  backend_url: str) -> None:
        """200 clients each sending one byte every 2 s: /health still answers within 1 s,
        the server's thread count does not follow the clients, and each is cut at the
        request deadline."""
        server = health_process({**FAST, "BROKER_URL": broker_url,
                                 "CELERY_RESULT_BACKEND": backend_url, "HEALTH_DEBUG": "0"})
        tasks = f"/proc/{server.process.pid}/task"
        assert server.get("/health")[0] == 200
        threads_idle = len(os.listdir(tasks))
        clients = []
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"G")
            clients.append((sock, time.monotonic()))
        stop = threading.Event()
        cut: dict[int, float] = {}

        def trickle() -> None:
            # The slow clients' behaviour: one more byte every 2 s, at most 5 rounds.
            for _ in range(5):
                if stop.wait(2):
                    return
                for i, (sock, _t) in enumerate(clients):
                    if i in cut:
                        continue
                    try:
                        sock.sendall(b"E")
                    except OSError:
                        cut[i] = time.monotonic()

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            timings, threads = [], []
            for _ in range(5):
                status, body, elapsed = server.get("/health", timeout=5)
                assert status == 200, body
                timings.append(elapsed)
                threads.append(len(os.listdir(tasks)))
            assert max(timings) < 1.0, timings
            assert max(threads) <= threads_idle + 8, (threads_idle, threads)

            def all_cut() -> bool:
                for i, (sock, _t) in enumerate(clients):
                    if i in cut:
                        continue
                    sock.setblocking(False)
                    try:
                        if sock.recv(1) == b"":
                            cut[i] = time.monotonic()
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        cut[i] = time.monotonic()
                return len(cut) == len(clients)

            wait_for(all_cut, timeout=15, interval=0.2,
                     message=lambda: f"slow clients cut ({len(cut)} of {len(clients)})")
            held = [cut[i] - t for i, (_s, t) in enumerate(clients)]
            assert max(held) < 5.0 + 2.5, max(held)  # the 5 s request deadline, and a margin
            print(f"\n/health with 200 slow clients: max {max(timings) * 1000:.0f} ms; "
                  f"threads idle {threads_idle}, with clients max {max(threads)}; "
                  f"slow clients cut after {min(held):.1f}-{max(held):.1f} s")
        finally:
            stop.set()
            trickler.join(5)
            for sock, _t in clients:
                sock.close()


class TestDebugEnv:
    PLANTED = {
        "GITHUB_PAT": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "STRIPE_KEY": "sk_live_51Habcdefghijklmnopqrstuv",
        "REDIS_AUTH": "planted-redis-auth",
        "WEBHOOK_URL": "https://hooks.slack.com/services/T0A1B2C3/B0A1B2C3/aB3dE6gH9jK2mN5pQ8rS",
        "MYSQL_PWD": "planted-mysql-pwd",
        "PW": "planted-pw",
        "SIGNING_KEY": "planted-signing-key",
        "DSN": "postgresql://app:planted-dsn@db:5432/app",
        "COMPLETELY_INNOCENT": "planted-not-recognizable-by-name",
    }

    def test_only_known_variables_show_values(self) -> None:
        env = {**self.PLANTED, "HEALTH_TIMEOUT": "2", "HOME": "/home/worker",
               "BROKER_URL": "rediss://default:planted-broker@10.0.0.3:6378/0",
               "HEALTH_DEBUG_TOKEN": TOKEN}
        out = describe_environment(env)
        text = json.dumps(out)
        for value in (*self.PLANTED.values(), "planted-broker", TOKEN):
            assert value not in text
        assert out["configuration"]["HEALTH_TIMEOUT"] == "2"
        assert out["configuration"]["BROKER_URL"] == "rediss://default:***@10.0.0.3:6378/0"
        assert out["configuration"]["HEALTH_DEBUG_TOKEN"] == "***"
        assert set(self.PLANTED) | {"HOME"} <= set(out["other_variables"])
        assert "/home/worker" not in text  # not a secret, but not known either: name only

    def test_known_variables_follow_the_configuration_module(self) -> None:
        import worker.config

        known = known_variables({})
        documented = {line.split("``")[1] for line in worker.config.__doc__.splitlines()
                      if line.startswith("``") and line.split("``")[1].isupper()}
        assert documented - known == set(), documented - known
        assert {"BROKER_URL", "CELERY_RESULT_BACKEND", "HEALTH_DEBUG_TOKEN",
                "BROKER_WAIT_S"} <= known

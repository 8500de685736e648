"""Fixtures for the reference-worker tests: fast settings, a publishing client, workers.

Every test gets its own flushed broker/backend databases (``broker_url``/``backend_url``) and
its own ``HEALTH_PORT``. Retry delays are tiny so the whole directory runs in well under the
suite's budget; tests that need a slow retry override them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, WorkerProcess, free_port, start_worker, wait_for

FAST = {
    "RETRY_BACKOFF": "0.05",
    "RETRY_BACKOFF_MAX": "0.2",
    "RETRY_JITTER": "0",
    "MAX_COUNTDOWN": "1",
    "TASK_MAX_RETRIES": "2",
    "HEALTH_TIMEOUT": "1",
    "LOG_LEVEL": "INFO",
}


@pytest.fixture
def worker_env(broker_url: str, backend_url: str) -> dict[str, str]:
    # /debug/* on a loopback listener of its own (HEALTH_DEBUG=1), as in a pod where an
    # operator reaches it with kubectl port-forward.
    return {**FAST, "BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend_url,
            "HEALTH_PORT": str(free_port()), "METRICS_PORT": str(free_port()),
            "HEALTH_DEBUG": "1", "HEALTH_DEBUG_PORT": str(free_port())}


@pytest.fixture
def client(worker_env: dict[str, str]) -> Iterator[Any]:
    """A Celery app on the test's broker with every task registered, for publishing."""
    import worker.app  # noqa: F401 - instruments this process (tenant headers on publish)
    from worker.app import create_app
    from worker.config import load_settings

    app = create_app(load_settings(worker_env), set_as_current=False)
    try:
        yield app
    finally:
        # AsyncResult.__del__ unsubscribes from the backend: let it happen now, while this
        # test's Redis is up, not at interpreter exit (20 reconnect attempts per result).
        gc.collect()
        # And stop listening for results: a result subscription left open reconnects 20
        # times, a second apart, once the session's redis-server stops at the end.
        with contextlib.suppress(Exception):
            consumer = app.backend.result_consumer
            consumer.subscribed_to.clear()
            consumer.stop()
        app.close()


@pytest.fixture
def prefork_worker(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    worker = start_worker("worker.app", tmp_path, env=worker_env, pool="prefork",
                          concurrency=2)
    # The health server starts in a worker_ready handler that may run after the handler
    # logging worker_ready: wait until it serves, or a test's first GET races it.
    wait_for(lambda: _serves(int(worker_env["HEALTH_PORT"])), timeout=20,
             message="the worker's health server to listen")
    try:
        yield worker
    finally:
        worker.stop()


def _serves(port: int) -> bool:
    try:
        return http_get(port, "/ping", timeout=2)[0] == 200
    except OSError:
        return False


def http_get(port: int, path: str, timeout: float = 10.0) -> tuple[int, Any, float]:
    """GET http://127.0.0.1:port/path -> (status, JSON body or text, seconds taken)."""
    import time

    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        status, raw, ctype = err.code, err.read(), err.headers.get("Content-Type", "")
    elapsed = time.monotonic() - started
    body = json.loads(raw) if "json" in ctype else raw.decode()
    return status, body, elapsed


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``rhesis-worker ARGS`` in a subprocess with ``env`` (the CLI reads its settings at
    import, so each configuration needs its own process)."""
    import os

    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], env=full_env,
                          cwd=str(REPO), capture_output=True, text=True, timeout=timeout)


# --- a TLS Redis (rediss://) with a self-signed certificate ------------------------------------


class TLSRedis:
    def __init__(self, port: int, ca_file: Path, process: subprocess.Popen):
        self.port, self.ca_file, self.process = port, ca_file, process

    def url(self, db: int = 0, query: str = "") -> str:
        return f"rediss://127.0.0.1:{self.port}/{db}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedis]:
    """redis-server speaking only TLS, its certificate signed by itself (the CA file)."""
    import shutil

    import redis

    from tests.support import wait_for

    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the TLS Redis certificate")
    tmp = tmp_path_factory.mktemp("tls-redis")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file",
         str(cert), "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
         "--dir", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = TLSRedis(port, cert, proc)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"TLS redis-server exited with {proc.returncode}")
        try:
            return bool(redis.Redis.from_url(server.url(), ssl_cert_reqs="required",
                                             ssl_ca_certs=str(cert)).ping())
        except redis.exceptions.ConnectionError:
            return False

    wait_for(up, timeout=15, message="TLS redis-server to answer PING")
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- the health server on its own (python -m worker.health) ----------------------------------


class HealthProcess:
    def __init__(self, process: subprocess.Popen, port: int, log: Path,
                 debug_port: int | None = None):
        self.process, self.port, self.log, self.debug_port = process, port, log, debug_port

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, Any, float]:
        """GET ``path``: probes from the probe port, ``/debug*`` from the loopback debug
        listener (where an operator's port-forward reaches it)."""
        if path.startswith("/debug") and self.debug_port is not None:
            return http_get(self.debug_port, path, timeout)
        return http_get(self.port, path, timeout)


def start_health(tmp_path: Path, env: dict[str, str]) -> HealthProcess:
    """Start ``python -m worker.health`` with ``env`` and wait until /ping answers."""
    import os

    from tests.support import wait_for

    port = int(env.get("HEALTH_PORT") or free_port())
    log = tmp_path / f"health-{port}.log"
    env = {"HEALTH_DEBUG": "1", "HEALTH_DEBUG_PORT": str(free_port()), **env}
    debug_port = int(env["HEALTH_DEBUG_PORT"]) if env["HEALTH_DEBUG"] == "1" else None
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env, "HEALTH_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "worker.health"], env=full_env,
                            cwd=str(REPO), stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = HealthProcess(proc, port, log, debug_port)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"health server exited {proc.returncode}:\n{log.read_text()}")
        try:
            return server.get("/ping", timeout=1)[0] == 200
        except OSError:
            return False

    wait_for(up, timeout=30, message=lambda: f"health server on {port}: {log.read_text()}")
    return server


@pytest.fixture
def health_process(tmp_path: Path) -> Iterator[Any]:
    """A factory: ``health_process(env)`` starts a standalone server, stopped at teardown."""
    started: list[HealthProcess] = []

    def factory(env: dict[str, str]) -> HealthProcess:
        server = start_health(tmp_path, env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()

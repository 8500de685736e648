"""Fixtures for the reference-worker tests: fast settings, a publishing client, workers.

Every test gets its own flushed broker/backend databases (``broker_url``/``backend_url``) and
its own ``HEALTH_PORT``. Retry delays are tiny so the whole directory runs in well under the
suite's budget; tests that need a slow retry override them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, WorkerProcess, free_port, start_worker

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
    return {**FAST, "BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend_url,
            "HEALTH_PORT": str(free_port())}


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
        app.close()


@pytest.fixture
def prefork_worker(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    worker = start_worker("worker.app", tmp_path, env=worker_env, pool="prefork",
                          concurrency=2)
    try:
        yield worker
    finally:
        worker.stop()


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

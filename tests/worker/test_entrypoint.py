"""The container entrypoint as a real process: broker check, health server, warm shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from instrumentation import schema
from instrumentation.exit_status import ExitStatus
from tests.support import REPO, free_port, wait_for
from tests.worker.conftest import http_get

pytestmark = pytest.mark.slow


def _start(env: dict[str, str], out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "worker.entrypoint", *args],
                            env={**os.environ, "PYTHONPATH": str(REPO), **env},
                            cwd=str(REPO), stdout=out.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _events(out: Path) -> list[dict]:
    lines = []
    for line in out.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_unreachable_broker_exits_unavailable_with_the_reason(tmp_path: Path,
                                                    worker_env: dict[str, str]) -> None:
    out = tmp_path / "entry.log"
    env = {**worker_env, "BROKER_URL": f"redis://:hunter2@127.0.0.1:{free_port()}/0",
           "BROKER_WAIT_S": "1"}
    proc = _start(env, out)
    assert proc.wait(timeout=30) == ExitStatus.UNAVAILABLE
    (critical,) = [e for e in _events(out) if e.get(schema.SEVERITY) == "CRITICAL"]
    assert "broker unreachable" in critical[schema.MESSAGE]
    assert "Connection" in critical[schema.REASON]
    assert "hunter2" not in out.read_text()


def test_health_answers_while_the_broker_is_awaited(tmp_path: Path,
                                                  worker_env: dict[str, str]) -> None:
    out = tmp_path / "entry.log"
    port = int(worker_env["HEALTH_PORT"])
    env = {**worker_env, "BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
           "BROKER_WAIT_S": "30"}
    proc = _start(env, out)
    try:
        def answer() -> tuple | None:
            try:
                return http_get(port, "/health", timeout=3)
            except OSError:
                return None

        status, body, _ = wait_for(answer, timeout=20, message=lambda: out.read_text())
        assert status == 503 and body["reason"].startswith("broker unreachable since ")
        assert http_get(port, "/ping")[0] == 200
        assert proc.poll() is None  # still waiting, not exited
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bad_configuration_exits_usage(tmp_path: Path, worker_env: dict[str, str]) -> None:
    out = tmp_path / "entry.log"
    proc = _start({**worker_env, "VISIBILITY_TIMEOUT": "5", "RETRY_BACKOFF_MAX": "60"}, out)
    assert proc.wait(timeout=30) == ExitStatus.USAGE
    assert "VISIBILITY_TIMEOUT" in out.read_text()


def test_runs_the_worker_serves_health_and_forwards_sigterm(
        tmp_path: Path, worker_env: dict[str, str]) -> None:
    out = tmp_path / "entry.log"
    port = int(worker_env["HEALTH_PORT"])
    env = {**worker_env, "WORKER_HOSTNAME": "entry@test"}
    proc = _start(env, out, "--pool", "solo", "--without-gossip", "--without-mingle",
                  "--without-heartbeat")
    try:
        wait_for(
            lambda: any(e.get(schema.EVENT) == schema.Event.WORKER_READY for e in _events(out)),
            timeout=60,
            message=lambda: "worker ready:\n" + out.read_text()[-3000:],
        )
        assert http_get(port, "/ping")[0] == 200
        assert http_get(port, "/health/basic")[0] == 200
        # The worker took the port over: it serves /metrics beside the probes (one port).
        status, metrics, _ = http_get(port, "/metrics")
        assert status == 200 and "celery_worker_up" in metrics, metrics[:500]
        status, body, _ = http_get(int(worker_env["HEALTH_DEBUG_PORT"]), "/debug/detailed")
        assert status == 200 and "entry@test" in body["replies"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = out.read_text()
    assert any(e.get(schema.SIGNUM) == signal.SIGTERM for e in _events(out)), text[-2000:]
    assert any(e.get(schema.EVENT) == schema.Event.WORKER_SHUTDOWN for e in _events(out))
    assert "Warm shutdown" in text

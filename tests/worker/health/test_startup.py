"""Health from the first second: a real ``celery -A worker.app worker`` started while no Redis
listens answers ``/ping`` and a 503 "broker unreachable since ..." at once, and 200 once Redis
is up and the worker consumes. Its prefork children do not keep the listening socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import WorkerProcess, free_port, start_worker, wait_for
from tests.worker.conftest import FAST, http_get

pytestmark = pytest.mark.slow


def _redis_on(port: int, tmpdir: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmpdir,
         "--save", "", "--appendonly", "no", "--logfile", os.path.join(tmpdir, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            return bool(redis.Redis(port=port).ping())
        except redis.exceptions.ConnectionError:
            return False

    wait_for(up, timeout=15, message="redis-server to answer PING")
    return proc


def _answer(port: int, path: str) -> tuple[int, Any, float] | None:
    try:
        return http_get(port, path, timeout=3)
    except OSError:
        return None


def _listening_inode(port: int) -> str | None:
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                return fields[9]
    return None


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _children(pid: int) -> list[int]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


@pytest.fixture
def redis_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="rhesis-health-start-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_health_answers_before_the_broker_exists(tmp_path: Path, redis_dir: str) -> None:
    redis_port, health_port = free_port(), free_port()
    env = {**FAST, "BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
           "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
           "HEALTH_PORT": str(health_port), "METRICS_PORT": str(free_port()),
           "HEALTH_DEBUG": "0"}
    launched = time.time()
    worker: WorkerProcess = start_worker("worker.app", tmp_path, env=env, pool="prefork",
                                         concurrency=1, wait_ready=lambda w: True)
    redis_proc = None
    try:
        first = wait_for(lambda: _answer(health_port, "/health"), timeout=30, interval=0.1,
                         message=lambda: "a /health answer:\n" + worker.stdout()[-3000:])
        first_answer_s = time.time() - launched
        status, body, _ = first
        assert status == 503, body
        assert body["reason"].startswith("broker unreachable since "), body["reason"]
        since = datetime.fromisoformat(body["broker_unreachable_since"].replace("Z", "+00:00"))
        # Since the worker process started, not since the first probe asked.
        assert launched - 2 <= since.timestamp() <= launched + first_answer_s, (launched, since)
        assert http_get(health_port, "/ping")[:2] == (200, "pong\n")
        assert not worker.events("worker_ready")

        # The pool child forked after the server started holds no copy of its socket.
        inode = _listening_inode(health_port)
        assert inode is not None and inode in _socket_inodes(worker.process.pid)
        children = wait_for(lambda: _children(worker.process.pid), timeout=30,
                            message="the prefork pool child")
        for child in children:
            # The child closes its copy in its at-fork hook; a child seen the instant it was
            # forked may not have run it yet, so wait for it (bounded) rather than race it.
            wait_for(lambda child=child: inode not in _socket_inodes(child), timeout=10,
                     message=f"pool child {child} still holds the listening socket")

        redis_proc = _redis_on(redis_port, redis_dir)
        redis_up = time.time()

        def healthy() -> Any:
            answer = _answer(health_port, "/health")
            return answer if answer and answer[0] == 200 else None

        status, body, _ = wait_for(healthy, timeout=90, interval=0.2,
                                   message=lambda: "/health 200 after Redis came up:\n"
                                   + str(_answer(health_port, "/health")))
        print(f"\nfirst /health answer {first_answer_s:.1f} s after launch (503 broker "
              f"unreachable); 200 {time.time() - redis_up:.1f} s after Redis came up")
        assert worker.events("worker_ready")
        assert body["broker"]["ok"] and "broker_unreachable_since" not in body
    finally:
        worker.stop()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)

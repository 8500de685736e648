"""Fixtures for the chord monitor tests: a client app publishing chords by task name (the
worker runs ``tests.support.apps.chords``), the monitor CLI as a real subprocess, and
helpers to wait on Redis state."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery, chord

from tests.support import REPO, WorkerProcess, start_worker, wait_for
from tests.support.chord_gates import gate_key, runs_key, started_key
from worker.chord_monitor import record
from worker.chord_monitor.keys import normalize_prefix


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"not JSON (rc={self.code}):\n{self.stdout}\n{self.stderr}"
                                 ) from exc

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The structured log lines the command wrote to stderr."""
        out = []
        for line in self.stderr.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if event is None or rec.get("event") == event:
                out.append(rec)
        return out


@dataclass
class ChordLab:
    """One test's world: broker/backend URLs, a client app, a worker, the CLI."""

    broker_url: str
    backend_url: str
    prefix: str
    app: Celery
    tmp_path: Path
    worker: WorkerProcess | None = None

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.backend_url)

    @property
    def env(self) -> dict[str, str]:
        return {"CHORDAPP_BROKER": self.broker_url, "CHORDAPP_BACKEND": self.backend_url,
                "CHORDAPP_KEYPREFIX": self.prefix}

    def start_worker(self, pool: str = "solo", concurrency: int = 1,
                     queues: str | None = None) -> WorkerProcess:
        self.worker = start_worker("tests.support.apps.chords", self.tmp_path,
                                   env=self.env, pool=pool, concurrency=concurrency,
                                   queues=queues)
        return self.worker

    def chord(self, n: int, *, tag: str, gate: str | None = None, gate_from: int = 0,
              fail_member: int | None = None, fail_callback: bool = False,
              callback_options: dict[str, Any] | None = None, **member_kwargs: Any):
        """Publish chord([member(i) ...])(collect(tag)); returns the callback's AsyncResult.
        Members from index ``gate_from`` on wait at ``gate``."""
        header = [self.app.signature("chordapp.member", args=(i,),
                                     kwargs={"gate": gate if i >= gate_from else None,
                                             "fail": i == fail_member, **member_kwargs})
                  for i in range(n)]
        body = self.app.signature("chordapp.collect", kwargs={"tag": tag, "fail": fail_callback},
                                  **(callback_options or {}))
        return chord(header, app=self.app)(body)

    def key(self, gid: str, suffix: str = "") -> str:
        return f"{normalize_prefix(self.prefix)}celery-taskset-meta-{gid}{suffix}"

    def open_gate(self, gate: str) -> None:
        self.redis.rpush(gate_key(gate), 1)

    def wait_started(self, gate: str, count: int = 1) -> None:
        wait_for(lambda: self.redis.llen(started_key(gate)) >= count, timeout=30,
                 message=lambda: f"{count} member(s) at gate {gate}; worker stderr:\n"
                 + (self.worker.stderr()[-2000:] if self.worker else ""))

    def runs(self, tag: str) -> list[Any]:
        return [json.loads(v) for v in self.redis.lrange(runs_key(tag), 0, -1)]

    def meta_state(self, task_id: str) -> str | None:
        raw = self.redis.get(f"{normalize_prefix(self.prefix)}celery-task-meta-{task_id}")
        return json.loads(raw)["status"] if raw else None

    def cli(self, *args: str, broker: bool = True, timeout: float = 60) -> CliResult:
        """Run ``python -m worker.chord_monitor`` for real."""
        cmd = [sys.executable, "-m", "worker.chord_monitor", "--backend", self.backend_url,
               "--timeout", "0.5"]
        if broker:
            cmd += ["--broker", self.broker_url]
        return _run([*cmd, *args], timeout)

    def fix_chords(self, *args: str, timeout: float = 60) -> CliResult:
        code = ("import sys; from worker.chord_monitor.cli import fix_chords; "
                "fix_chords(sys.argv[1:], prog_name='fix-chords')")
        return _run([sys.executable, "-c", code, "--backend", self.backend_url,
                     "--broker", self.broker_url, "--timeout", "0.5", *args], timeout)

    def dump_backend(self) -> dict[bytes, Any]:
        """Every key of the backend with its value and type (to prove nothing changed)."""
        out = {}
        r = self.redis
        for key in r.scan_iter(count=1000):
            kind = r.type(key)
            if kind == b"string":
                out[key] = r.get(key)
            elif kind == b"hash":
                out[key] = r.hgetall(key)
            elif kind == b"zset":
                out[key] = r.zrange(key, 0, -1, withscores=True)
            elif kind == b"list":
                out[key] = r.lrange(key, 0, -1)
            elif kind == b"set":
                out[key] = r.smembers(key)
        return out


def _run(cmd: list[str], timeout: float) -> CliResult:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CELERY_RESULT_BACKEND", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=str(REPO))
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def close_lab(lab: ChordLab) -> None:
    """Kill the worker, stop recording, and forget the result subscriptions (AsyncResults
    collected after the session's redis-server stopped would try to unsubscribe)."""
    if lab.worker is not None:
        lab.worker.kill()
    record.uninstall(lab.app)
    consumer = lab.app.backend.result_consumer
    consumer.subscribed_to.clear()
    with contextlib.suppress(Exception):
        consumer.stop()
    lab.app.close()


def make_lab(broker_url: str, backend_url: str, tmp_path: Path, prefix: str = "",
             recorded: bool = True) -> ChordLab:
    app = Celery("chord-monitor-test-client", broker=broker_url, backend=backend_url,
                 set_as_current=False)
    app.conf.broker_connection_retry_on_startup = True
    if prefix:
        app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    if recorded:
        record.install(app)
    return ChordLab(broker_url, backend_url, prefix, app, tmp_path)


@pytest.fixture
def lab(broker_url: str, backend_url: str, tmp_path: Path) -> Iterator[ChordLab]:
    lab = make_lab(broker_url, backend_url, tmp_path)
    try:
        yield lab
    finally:
        close_lab(lab)

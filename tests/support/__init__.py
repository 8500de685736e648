"""Helpers the test suite shares: a private redis-server, real Celery worker subprocesses,
and a wait-for-condition that fails loudly.

Why subprocesses: the prefork pool forks, installs signal handlers and hijacks logging; a
worker inside the pytest process would test something other than what runs in production.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parents[2]

#: Prose Celery writes with os.write() straight to fd 1 from its signal handlers
#: (celery/apps/worker.py safe_say): no logging hook exists for it, so it is the one kind of
#: non-JSON line an instrumented worker may print. The analyzer recognizes these lines too.
CELERY_RAW_LINE = re.compile(
    r"^worker: (Warm|Cold) shutdown \(MainProcess\)$|^worker: Hitting Ctrl\+C again"
    r"|^Waiting gracefully for cold shutdown|^Restarting celery worker"
)


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {text}")
        time.sleep(interval)


def hold_for(seconds: float, invariant: Callable[[], Any], interval: float = 0.2) -> bool:
    """Keep a fixed-length period (an outage a scenario imposes) while checking ``invariant``
    throughout; True if it held at every check. Unlike ``wait_for`` the period's length is the
    point, so it never ends early; the caller decides what a broken invariant fails."""
    deadline = time.monotonic() + seconds
    held = True
    while True:
        held = bool(invariant()) and held
        left = deadline - time.monotonic()
        if left <= 0:
            return held
        time.sleep(min(interval, left))


def simulate_work(seconds: float) -> None:
    """A test task's simulated work: it takes ``seconds`` (hard time limits need a busy task,
    runtime histograms a non-zero duration). This is workload inside a worker, not a test
    waiting for something; tests wait with ``wait_for``."""
    time.sleep(seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisServer:
    """A redis-server we started (or the one REDIS_URL names)."""

    host: str
    port: int
    password: str | None = None
    process: subprocess.Popen | None = None
    tmpdir: str | None = None

    def url(self, db: int = 0) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db))

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.client().shutdown(nosave=True)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def start_redis_server(password: str | None = None) -> RedisServer:
    """Start a private redis-server on a free port in a temp dir; nothing persisted."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: run scripts/test (it installs it), "
            "or `apt-get install redis-server`"
        )
    tmpdir = tempfile.mkdtemp(prefix="rhesis-redis-")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmpdir,
            "--save", "", "--appendonly", "no", "--databases", "32",
            "--logfile", os.path.join(tmpdir, "redis.log")]
    if password:
        args += ["--requirepass", password]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer("127.0.0.1", port, password, proc, tmpdir)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            return bool(server.client().ping())
        except redis.exceptions.ConnectionError:
            return False

    wait_for(up, timeout=15, message="redis-server to answer PING")
    return server


def redis_from_env() -> RedisServer | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    client = redis.Redis.from_url(url)
    kw = client.connection_pool.connection_kwargs
    return RedisServer(kw.get("host", "127.0.0.1"), int(kw.get("port", 6379)), kw.get("password"))


@dataclass
class WorkerProcess:
    """A real ``celery worker`` subprocess whose stdout/stderr go to files we can read."""

    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    hostname: str
    _closed: bool = field(default=False)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """Every stdout line parsed as JSON; a non-JSON line fails the test (except Celery's
        signal-handler prose, see CELERY_RAW_LINE)."""
        out = []
        for line in self.stdout().splitlines():
            if not line.strip() or CELERY_RAW_LINE.match(line):
                continue
            try:
                out.append(json.loads(line))
            except ValueError as exc:  # pragma: no cover - the assertion is the point
                raise AssertionError(f"worker wrote a non-JSON line: {line!r}") from exc
        return out

    def events(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        lines = []
        for line in self.stdout().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if event is not None and rec.get("event") != event:
                continue
            if all(rec.get(k) == v for k, v in match.items()):
                lines.append(rec)
        return lines

    def wait_for_event(self, event: str, timeout: float = 30, count: int = 1, **match: Any):
        return wait_for(
            lambda: len(found := self.events(event, **match)) >= count and found,
            timeout=timeout,
            message=lambda: f"{count}x {event} {match} in worker output; stderr tail:\n"
            + self.stderr()[-3000:] + "\nstdout tail:\n" + self.stdout()[-3000:],
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30) -> int:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if self._closed:
            return self.process.returncode
        self._closed = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group (the worker and its pool children)."""
        self._closed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_worker(
    app: str,
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    pool: str = "solo",
    concurrency: int = 1,
    queues: str | None = None,
    hostname: str | None = None,
    loglevel: str = "INFO",
    extra_args: list[str] | None = None,
    ready_timeout: float = 60,
    wait_ready: Callable[[WorkerProcess], Any] | None = None,
) -> WorkerProcess:
    """Start ``celery -A app worker`` and wait until ``wait_ready`` (default: worker answers a
    ping over the broker is too slow to rely on; we wait for a ``worker_ready`` JSON event or
    Celery's "ready." line)."""
    hostname = hostname or f"w{free_port()}@test"
    stem = hostname.replace("@", "_").replace("/", "_")  # unique per worker: celery@a, celery@b
    out = tmp_path / f"{stem}.stdout"
    err = tmp_path / f"{stem}.stderr"
    cmd = [sys.executable, "-m", "celery", "-A", app, "worker", "--pool", pool,
           "--concurrency", str(concurrency), "--loglevel", loglevel, "--hostname", hostname,
           "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if queues:
        cmd += ["--queues", queues]
    cmd += extra_args or []
    full_env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    full_env.update(env or {})
    # O_APPEND: like the pipe a container runtime gives, every write(2) lands whole at the end.
    proc = subprocess.Popen(cmd, stdout=out.open("ab"), stderr=err.open("ab"), env=full_env,
                            cwd=str(REPO), start_new_session=True)
    worker = WorkerProcess(proc, out, err, hostname)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(
                f"worker exited with {proc.returncode}:\n{worker.stderr()[-4000:]}\n"
                f"{worker.stdout()[-4000:]}")
        if wait_ready is not None:
            return bool(wait_ready(worker))
        text = worker.stdout() + worker.stderr()
        return '"worker_ready"' in text or " ready." in text

    wait_for(ready, timeout=ready_timeout, message=lambda: f"worker {hostname} to be ready:\n"
             + worker.stderr()[-3000:] + worker.stdout()[-3000:])
    return worker


@contextlib.contextmanager
def running_worker(*args: Any, **kwargs: Any) -> Iterator[WorkerProcess]:
    worker = start_worker(*args, **kwargs)
    try:
        yield worker
    finally:
        worker.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on a free loopback port that accepts every connection and never answers
    (a hung Redis: the connect succeeds, every read waits). Yields the port."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)  # kept open, never read nor written

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()

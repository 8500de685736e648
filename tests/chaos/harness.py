"""The chaos suite's machinery: a restartable redis-server with AOF, the reference worker
(prefork, concurrency 2) as a real subprocess, the demo workload published by
``rhesis-worker demo``, a /health sampler, and the final accounting of every run and task.

A :class:`Scenario` owns one Redis, its workers and its logs, so scenarios run side by side
(each on its own thread, see ``conftest.py``) without sharing anything but the CPU. Its
:meth:`Scenario.verdict` reads the outcome straight from Redis and the workers' JSON lines:
which runs reached their callback, how many times each callback succeeded, which task results
are missing or wrong, and what /health said when.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from instrumentation import schema
from tests.support import REPO, WorkerProcess, free_port, hold_for, start_worker, wait_for

RUN = "rhesis.execution.execute_test_run"
MEMBER = "rhesis.execution.execute_single_test"
CALLBACK = "rhesis.execution.collect_results"

#: The demo's telemetry batch kinds and the state each must end in (worker/demo.py).
TELEMETRY_EXPECTED = {"ok": "SUCCESS", "flaky": "SUCCESS", "exhausted": "FAILURE",
                      "malformed": "FAILURE", "kwargs-tenant": "SUCCESS",
                      "no-tenant": "SUCCESS"}

#: The worker settings under test: production's, except retry delays short enough for a
#: test. VISIBILITY_TIMEOUT stays an hour, so a message whose ack was lost in an outage stays
#: in ``unacked`` and the suite sees it (a shorter timeout would redeliver it and hide the
#: loss); only the scenario that SIGKILLs a whole worker shortens it (:data:`REDELIVER_ENV`).
CHAOS_ENV = {
    "RETRY_BACKOFF": "0.2",
    "RETRY_BACKOFF_MAX": "1",
    "RETRY_JITTER": "0",
    "MAX_COUNTDOWN": "2",
    "TASK_MAX_RETRIES": "2",
    "VISIBILITY_TIMEOUT": "3600",
    "UNACKED_RESTORE_INTERVAL": "2",
    "HEALTH_TIMEOUT": "1",
    "BROKER_CONNECT_TIMEOUT": "2",
    "BROKER_SOCKET_TIMEOUT": "5",
    "METRICS_PORT": "0",
    "CHORD_METRICS_INTERVAL": "0",
    "LOG_LEVEL": "INFO",
}

#: A SIGKILLed worker cannot give its messages back: Redis redelivers them after
#: VISIBILITY_TIMEOUT (an hour in production, 20 s here).
REDELIVER_ENV = {"VISIBILITY_TIMEOUT": "20"}

#: The probe period a Kubernetes probe would use: /health must turn 200 within it.
PROBE_PERIOD_S = 10.0


class AofRedis:
    """redis-server with the append-only file fsynced on every write, on a fixed port so
    it can be SIGKILLed and started again with the same data."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.dir = tmp / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int) -> redis.Redis:
        return redis.Redis.from_url(self.url(db), socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--databases", "4", "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                return bool(self.client(0).ping())
            except redis.exceptions.ConnectionError:
                return False

        wait_for(up, timeout=30, message=f"redis-server on {self.port} to answer")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; what the AOF holds is what survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self.kill()


@dataclass
class Probe:
    started: float
    status: int | None  # None: nothing listens (connection refused) or no answer
    reason: str | None


class HealthSampler:
    """GET /health every ``interval`` seconds on a thread; every answer kept with its time."""

    def __init__(self, port: int, interval: float = 0.5):
        self.port = port
        self.interval = interval
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> HealthSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            status, reason = None, None
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health",
                                            timeout=5) as resp:
                    status, reason = resp.status, None
            except urllib.error.HTTPError as err:
                status = err.code
                with contextlib.suppress(Exception):
                    reason = json.loads(err.read()).get("reason")
            except OSError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self.probes.append(Probe(started, status, reason))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


@dataclass
class Verdict:
    """What a scenario ended with (``problems`` empty means it kept every promise)."""

    runs: int = 0
    completed: int = 0
    callback_successes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    recovered: list[dict[str, Any]] = field(default_factory=list)
    #: Messages kombu registered in ``unacked`` as Redis was SIGKILLed, as the suite saw
    #: them before asking the monitor (:meth:`Scenario.kill_instant_orphans`); the monitor
    #: must have put each back (``recovered``) and its run must complete like any other.
    orphans_seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


class Scenario:
    """One Redis, its workers and the demo workload; the fault is the caller's."""

    def __init__(self, name: str, tmp: Path, seed: int = 7,
                 env: dict[str, str] | None = None):
        self.name = name
        self.tmp = tmp
        self.seed = seed
        self.redis = AofRedis(tmp)
        self.health_port = free_port()
        self.env = {**CHAOS_ENV, "BROKER_URL": self.redis.url(0),
                    "CELERY_RESULT_BACKEND": self.redis.url(1),
                    "HEALTH_PORT": str(self.health_port), **(env or {})}
        self.workers: list[WorkerProcess] = []
        self.published: dict[str, Any] = {}
        self.sampler = HealthSampler(self.health_port)
        self.marks: dict[str, float] = {"start": time.monotonic()}
        self.kills: list[float] = []  # wall-clock time of each Redis SIGKILL
        self.recovered: list[dict[str, Any]] = []
        self.orphans_seen: dict[str, dict[str, Any]] = {}

    # --- parts ------------------------------------------------------------------------------
    def mark(self, what: str) -> float:
        self.marks[what] = time.monotonic()
        if what == "redis_down":
            self.kills.append(time.time())
        return self.marks[what]

    def start_worker(self, *, wait_ready: bool = True) -> WorkerProcess:
        n = len(self.workers)
        hostname = f"chaos-{self.name}-{n}@test"
        if wait_ready:
            worker = start_worker("worker.app", self.tmp, env=self.env, pool="prefork",
                                  concurrency=2, hostname=hostname, ready_timeout=120)
        else:
            worker = start_worker("worker.app", self.tmp, env=self.env, pool="prefork",
                                  concurrency=2, hostname=hostname,
                                  wait_ready=lambda w: True)
        self.workers.append(worker)
        return worker

    @property
    def worker(self) -> WorkerProcess:
        return self.workers[-1]

    def publish(self, runs: int = 6) -> dict[str, Any]:
        """``rhesis-worker demo`` for real: chords, a sequential run, telemetry batches that
        succeed, retry, exhaust their retries, fail permanently, and a heartbeat."""
        proc = subprocess.run(
            [sys.executable, "-m", "worker.cli", "demo", "--runs", str(runs), "--tests", "3-6",
             "--latency-ms", "300-1200", "--failure-rate", "0.15", "--retry-rate", "0.15",
             "--seed", str(self.seed), "--json", "--timeout", "10"],
            env={**os.environ, "PYTHONPATH": str(REPO), **self.env, "LOG_LEVEL": "WARNING"},
            cwd=str(REPO), capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"demo failed ({proc.returncode}): {proc.stderr[-2000:]}")
        self.published = json.loads(proc.stdout)
        self.mark("published")
        return self.published

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [e for w in self.workers for e in w.events(event, **match)]

    def wait_mid_run(self, started: int = 3, timeout: float = 60) -> None:
        """Until ``started`` chord members have started: the fault hits a run in flight."""
        wait_for(lambda: len(self.events(schema.Event.TASK_STARTED, **{schema.TASK_NAME: MEMBER}))
                 >= started, timeout=timeout, message=f"{self.name}: members to start")

    def pool_pids(self) -> list[int]:
        """The prefork children of the current worker (from /proc)."""
        parent = self.worker.process.pid
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent:
                    out.append(int(entry.name))
        return out

    def outage(self, seconds: float) -> None:
        """Redis SIGKILLed now, started again ``seconds`` later (same port, same AOF)."""
        self.redis.kill()
        self.mark("redis_down")
        # The outage itself: its length is the scenario; the worker must live through it.
        if not hold_for(seconds, self.worker.alive):
            self.mark("worker_died_in_outage")
        self.redis.start()
        self.mark("redis_up")

    def orphan(self, task_id: str, queue: str, age_s: float = 300) -> None:
        """Leave ``task_id``'s message as kombu's kill-instant race leaves one: taken from
        ``queue`` and written to ``unacked`` like ``QoS.append`` (``ZADD unacked_index``,
        ``HSET unacked tag [message, exchange, routing_key]``), delivered ``age_s`` ago, no
        worker told. Only the chord monitor (or an hour's VISIBILITY_TIMEOUT) brings it back."""
        from kombu.utils.json import dumps, loads

        broker = self.redis.client(0)
        for raw in broker.lrange(queue, 0, -1):
            message = loads(raw)
            if message["headers"].get("id") != task_id:
                continue
            if broker.lrem(queue, 1, raw) != 1:
                raise AssertionError(f"{task_id} left {queue} before it could be orphaned")
            info = message["properties"]["delivery_info"]
            tag = message["properties"]["delivery_tag"]
            broker.zadd("unacked_index", {tag: time.time() - age_s})
            broker.hset("unacked", tag, dumps([message, info["exchange"], info["routing_key"]]))
            self.orphans_seen[str(message["headers"].get("root_id") or task_id)] = {
                "task_id": task_id, "task": message["headers"].get("task"), "planted": True}
            return
        raise AssertionError(f"no message of {task_id} in {queue}")

    def lose_member(self, queue: str = "execution", timeout: float = 60) -> dict[str, Any]:
        """Take one chord member's message off ``queue`` as the first step of kombu's delivery
        does (``BRPOP``) for a worker killed before the second (``QoS.append`` writing
        ``unacked``): the message is then nowhere. The workers race for the same messages;
        ``LREM`` decides who got each, so this waits for the first member it wins."""
        broker = self.redis.client(0)

        def take() -> dict[str, Any] | None:
            for raw in broker.lrange(queue, 0, -1):
                headers = json.loads(raw).get("headers") or {}
                if (headers.get("task") == MEMBER and headers.get("group")
                        and broker.lrem(queue, 1, raw) == 1):
                    return {"task_id": headers["id"], "group_id": headers["group"],
                            "group_index": headers.get("group_index"),
                            "root_id": headers.get("root_id")}
            return None

        lost = wait_for(take, timeout=timeout, interval=0.01,
                        message=f"{self.name}: a chord member to take off {queue}")
        self.mark("member_lost")
        return lost

    # --- outcome ----------------------------------------------------------------------------
    def _meta(self, client: redis.Redis, task_id: str) -> dict[str, Any] | None:
        raw = client.get(f"celery-task-meta-{task_id}")
        return json.loads(raw) if raw else None

    def runs_done_for(self, run: dict[str, Any]) -> bool:
        client = self.redis.client(1)
        meta = self._meta(client, run["task_id"])
        if not meta or meta["status"] != "SUCCESS":
            return False
        callback = self._meta(client, meta["result"]["callback_id"])
        return bool(callback and callback["status"] == "SUCCESS")

    def runs_done(self) -> bool:
        client = self.redis.client(1)
        for run in self.published.get("runs", []):
            meta = self._meta(client, run["task_id"])
            if not meta or meta["status"] not in ("SUCCESS", "FAILURE"):
                return False
            if meta["status"] == "FAILURE":
                continue  # a failed run cannot finish: judge it now
            callback = self._meta(client, meta["result"]["callback_id"])
            if not callback or callback["status"] not in ("SUCCESS", "FAILURE", "REVOKED"):
                return False
        return True

    def wait_done(self, timeout: float) -> bool:
        """Until every run has its callback; gives up early when no worker is left."""
        try:
            wait_for(lambda: self.runs_done() or not any(w.alive() for w in self.workers),
                     timeout=timeout, interval=0.5,
                     message=f"{self.name}: every run's callback")
        except AssertionError:
            return False
        if not self.runs_done():
            return False
        self.mark("done")
        return True

    def settled(self) -> bool:
        """Nothing left to deliver: queues empty and no message held unacked (a message whose
        ack was lost with the connection sits in ``unacked`` until it is redelivered; a
        kill-instant orphan, until the monitor puts it back)."""
        broker = self.redis.client(0)
        return not broker.hlen("unacked") and not any(
            broker.llen(q) for q in ("celery", "execution", "telemetry"))

    def settle(self, timeout: float = 90) -> bool:
        """Wait until :meth:`settled`, so a late duplicate is counted before the verdict."""
        try:
            wait_for(self.settled, timeout=timeout, interval=0.5,
                     message=f"{self.name}: queues and unacked to drain")
        except AssertionError:
            return False
        self.mark("settled")
        return True

    def recover_stuck(self, attempts: int = 3) -> list[dict[str, Any]]:
        """What Celery could not finish: ask the chord monitor, recover what it can (a chord
        whose member waits orphaned in ``unacked`` gets it back in its queue; a chord whose
        member is lost, taken by ``BRPOP`` from a worker killed before it wrote ``unacked``,
        gets it re-published from the recorder's copy), then put back any other orphaned
        message (a run or a telemetry batch never received).

        The grace is shorter than the monitor's default because here every orphan comes from
        a kill at a known instant, at least this long ago; the grace only has to cover a
        delivery in progress. A round where the workers' replies were incomplete is tried
        again: the monitor calls nothing orphaned, and re-publishes nothing, on a partial
        answer."""
        self.orphans_seen.update(self.kill_instant_orphans())
        conn = ["--backend", self.env["CELERY_RESULT_BACKEND"], "--broker",
                self.env["BROKER_URL"], "--timeout", "1", "--orphan-grace", "20"]
        stuck: list[dict[str, Any]] = []
        handled: set[str] = set()
        for round_ in range(attempts):
            found = _run_monitor([*conn, "--json", "check", "--max-hours", "0"])
            stuck = json.loads(found.stdout or "{}").get("stuck", []) if found.stdout else []
            again = False
            for chord in stuck:
                if chord["chord_id"] in handled:
                    continue
                if (not chord["recoverable"] and "replies were incomplete" in chord["detail"]
                        and round_ < attempts - 1):
                    again = True  # ask again rather than give up on a dropped reply
                    continue
                handled.add(chord["chord_id"])
                entry = {"chord_id": chord["chord_id"], "reason": chord["reason"],
                         "recoverable": chord["recoverable"], "detail": chord["detail"]}
                if chord["recoverable"]:
                    entry["at"] = time.time()
                    done = _run_monitor([*conn, "--json", "recover", chord["chord_id"]])
                    entry["recover_exit"] = done.returncode
                    messages = [m for o in _outcomes(done) for m in o["messages"]
                                if m.get("done")]
                    entry["restored"] = [m for m in messages if not m.get("republished")]
                    entry["republished"] = [m for m in messages if m.get("republished")]
                self.recovered.append(entry)
            if not again:
                break
        for _ in range(attempts):
            at = time.time()
            listed = _run_monitor([*conn, "--json", "orphans", "--restore"])
            doc = json.loads(listed.stdout) if listed.stdout.strip() else {}
            for outcome in doc.get("outcomes", []):
                self.recovered.append({"chord_id": outcome["chord_id"] or None,
                                       "reason": "orphaned_in_unacked", "recoverable": True,
                                       "recover_exit": 0 if outcome["done"] else 1, "at": at,
                                       "restored": [m for m in outcome["messages"]
                                                    if m.get("done")]})
            if doc.get("workers_complete"):
                break
        return stuck

    def kill_instant_orphans(self, window_s: float = 1.0) -> dict[str, dict[str, Any]]:
        """Messages left in ``unacked`` that kombu registered at the instant Redis died.

        kombu's Redis transport delivers in two steps: BRPOP, then ZADD/HSET into
        ``unacked`` and the in-memory delivery (``QoS.append``, kombu/transport/redis.py).
        When Redis applies the HSET and is SIGKILLed before its reply arrives, the worker
        never learns of the message, and only ``VISIBILITY_TIMEOUT`` (an hour) brings it back.
        Returns them by root id (a chord member's root is its run's task): entries delivered
        within ``window_s`` before a kill, whose task no worker ever received."""
        broker = self.redis.client(0)
        out: dict[str, dict[str, Any]] = {}
        for tag, score in broker.zrange("unacked_index", 0, -1, withscores=True):
            raw = broker.hget("unacked", tag)
            if raw is None or not any(k - window_s <= score <= k for k in self.kills):
                continue
            headers = json.loads(raw)[0].get("headers") or {}
            if self.events(schema.Event.TASK_RECEIVED, **{schema.TASK_ID: headers.get("id")}):
                continue
            out[str(headers.get("root_id") or headers.get("id"))] = {
                "task_id": headers.get("id"), "task": headers.get("task"),
                "delivered_before_kill_s": round(min(k - score for k in self.kills
                                                     if k >= score), 3)}
        return out

    def restore_problems(self) -> list[str]:
        """The monitor may only have put back (or re-published) messages no worker had
        received: one that a worker received (same task id and retry) was held or had run
        (with acks_late a received message is in ``unacked`` until it ran, so never lost),
        and putting it back would run it twice. And every orphan the suite saw must have
        been put back."""
        problems = []
        restored = [(m, entry["at"]) for entry in self.recovered
                    for m in (*entry.get("restored", []), *entry.get("republished", []))]
        for m, at in restored:
            received = [
                e
                for e in self.events(
                    schema.Event.TASK_RECEIVED, **{schema.TASK_ID: m[schema.TASK_ID]}
                )
                if (e.get(schema.RETRIES) or 0) == (m.get(schema.RETRIES) or 0)
                and _epoch(e[schema.TIME]) < at
            ]
            if received:
                problems.append(
                    f"the monitor put back {m[schema.TASK_NAME]} {m[schema.TASK_ID]}, which "
                    f"{received[0].get(schema.WORKER)} had received: not an orphan"
                )
        put_back = {m[schema.TASK_ID] for m, _ in restored}
        for root, seen in self.orphans_seen.items():
            if seen["task_id"] not in put_back:
                problems.append(f"orphan {seen} (run {root}) was not put back by the monitor")
        return problems

    def verdict(self) -> Verdict:
        """Every run's callback exactly once with every test's result; every telemetry batch
        in the state its kind promises; the heartbeat stored."""
        v = Verdict(runs=len(self.published.get("runs", [])), recovered=self.recovered,
                    orphans_seen=self.orphans_seen)
        client = self.redis.client(1)
        v.problems += self.restore_problems()
        for run in self.published.get("runs", []):
            meta = self._meta(client, run["task_id"])
            if not meta or meta["status"] != "SUCCESS":
                v.problems.append(f"run {run['run_id']}: run task "
                                  f"{meta['status'] if meta else 'has no result'}"
                                  f"{': ' + str(meta.get('result')) if meta else ''}")
                continue
            callback_id = meta["result"]["callback_id"]
            callback = self._meta(client, callback_id)
            successes = len(
                self.events(schema.Event.TASK_SUCCEEDED, **{schema.TASK_ID: callback_id})
            )
            v.callback_successes[run["run_id"]] = successes
            if not callback or callback["status"] != "SUCCESS":
                v.problems.append(
                    f"run {run['run_id']}: callback {callback_id} "
                    f"{callback['status'] if callback else 'never ran'}"
                    f"{': ' + str(callback.get('result')) if callback else ''}")
                continue
            summary = callback["result"]
            indices = sorted(r.get("test_index") for r in summary["results"])
            if indices != list(range(run["n_tests"])):
                v.problems.append(f"run {run['run_id']}: results for tests {indices}, "
                                  f"expected 0..{run['n_tests'] - 1}")
            if summary["organization_id"] != run["organization_id"]:
                v.problems.append(f"run {run['run_id']}: tenant "
                                  f"{summary['organization_id']} != {run['organization_id']}")
            if successes != 1:
                v.problems.append(f"run {run['run_id']}: callback succeeded {successes} "
                                  "times, not once")
            v.completed += 1
        for batch in self.published.get("telemetry", []):
            meta = self._meta(client, batch["task_id"])
            want = TELEMETRY_EXPECTED[batch["kind"]]
            got = meta["status"] if meta else None
            if got != want:
                v.problems.append(f"telemetry {batch['kind']} {batch['task_id']}: {got}, "
                                  f"expected {want}")
        for task_id in self.published.get("maintenance", []):
            meta = self._meta(client, task_id)
            if not meta or meta["status"] != "SUCCESS":
                v.problems.append(f"heartbeat {task_id}: {meta['status'] if meta else None}")
        v.timings = {k: round(t - self.marks["start"], 1) for k, t in self.marks.items()}
        return v

    def health_problems(self, down: float, up: float, *, served_while_down: bool = True
                        ) -> list[str]:
        """/health while Redis was down (``down``..``up``) and after: 503 naming the broker
        throughout the outage, 200 within one probe period after it."""
        problems = []
        during = [p for p in self.sampler.probes if down + 0.5 <= p.started < up - 0.5]
        after = [p for p in self.sampler.probes if p.started >= up]
        for p in during:
            if p.status == 200:
                problems.append(f"/health said 200 at +{p.started - down:.1f}s of the outage")
            elif p.status == 503 and "broker" not in (p.reason or ""):
                problems.append(f"/health 503 without the cause: {p.reason}")
            elif p.status is None and served_while_down:
                problems.append(f"/health did not answer during the outage "
                                f"(first at +{p.started - down:.1f}s): {p.reason}")
                break  # once is enough: the worker (and its server) is gone
        if served_while_down and not any(p.status == 503 for p in during):
            problems.append("/health never said 503 during the outage")
        first_ok = next((p for p in after if p.status == 200), None)
        if first_ok is None:
            problems.append("/health never said 200 after the outage")
        elif first_ok.started - up > PROBE_PERIOD_S:
            problems.append(f"/health said 200 only {first_ok.started - up:.1f}s after Redis "
                            "came back")
        return problems

    def health_summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.sampler.probes:
            key = str(p.status)
            out[key] = out.get(key, 0) + 1
        return out

    def close(self) -> None:
        self.sampler.stop()
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.kill()
        self.redis.stop()

    def lines_about(self, text: str, limit: int = 80, width: int = 600) -> str:
        """Every worker's log lines that mention a task id found in ``text`` (a verdict's
        problems): the story of what went wrong, since the tmp dir may be gone by the time
        someone reads a CI log."""
        ids = set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                             text))
        found = [f"{w.hostname}: {line[:width]}" for w in self.workers
                 for line in (w.stderr() + "\n" + w.stdout()).splitlines()
                 if any(i in line for i in ids)]
        marks = ", ".join(f"{k} {t - self.marks['start']:.1f}s" for k, t in self.marks.items())
        return f"marks (monotonic since start): {marks}\n" + "\n".join(found[:limit])

    def logs_tail(self, n: int = 3000) -> str:
        return "\n".join(f"--- {w.hostname}\n{w.stderr()[-n:]}\n{w.stdout()[-n:]}"
                         for w in self.workers)


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _outcomes(proc: subprocess.CompletedProcess) -> list[dict[str, Any]]:
    return json.loads(proc.stdout).get("outcomes", []) if proc.stdout.strip() else []


def _run_monitor(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.chord_monitor", *args],
                          capture_output=True, text=True, timeout=120, cwd=str(REPO),
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)

"""Regenerate the bundled sample logs in examples/ from a real run of the reference worker.

    .venv/bin/python scripts/make_examples.py

What it does, all on this machine: starts a private redis-server and two instrumented
reference workers ("pods"), publishes the mixed demo workload (chords, retries, failures,
several tenants, a task without tenant) with ``rhesis-worker demo``, makes one chord stuck the
silent way (its size key deleted while members run, so the callback never fires), lets the
chord monitor find it (``rhesis-worker chords check``), then writes:

* ``examples/worker.jsonl``: every JSON line of the publisher, both workers and the monitor,
  in time order (what ``kubectl logs`` of all pods, or a Cloud Logging export, holds);
* ``examples/kubectl.log``: the same worker lines as ``kubectl logs --prefix --timestamps``
  prints them for two pods;
* ``examples/celery-plain.log``: the log of an uninstrumented Celery worker (stock format)
  running failing, retrying and succeeding tasks, for users who are not instrumented yet.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from instrumentation import schema as s  # noqa: E402
from tests.support import (  # noqa: E402
    running_worker,
    start_redis_server,
    start_worker,
    wait_for,
)
from tests.support.apps import client_app  # noqa: E402
from tests.support.sample_logs.entries import kubectl_line  # noqa: E402

EXAMPLES = REPO / "examples"
POD_NAMES = ("rhesis-worker-7d9f8b6c5-x2k4q", "rhesis-worker-7d9f8b6c5-p8m3z")


def worker_env(redis) -> dict[str, str]:
    return {
        "BROKER_URL": redis.url(0), "CELERY_RESULT_BACKEND": redis.url(1),
        "SERVICE_NAME": "rhesis-worker", "ENVIRONMENT": "demo", "GCP_PROJECT": "rhesis-demo",
        "METRICS_PORT": "0", "HEALTH_SERVER": "0", "LOG_LEVEL": "INFO",
        "TASK_MAX_RETRIES": "2", "RETRY_BACKOFF": "1", "RETRY_BACKOFF_MAX": "2",
        "RETRY_JITTER": "0", "VISIBILITY_TIMEOUT": "3600",
    }


def run_cli(args: list[str], env: dict[str, str],
            timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], env={**os.environ, **env},
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):  # a line cut short: not a record
                out.append(json.loads(line))
    return out


def make_stuck_chord(redis, env: dict[str, str], workers) -> str:
    """Publish a run whose members are slow, delete its size key while they run."""
    code = (
        "from worker.launch import send_with_tenant\n"
        "from worker.tasks.execution import execute_test_run\n"
        "r = send_with_tenant(execute_test_run, ('run-stuck-1', 4), "
        "{'sim': {'latency_ms': [1500, 2500], 'failure_rate': 0, 'retry_rate': 0, 'seed': 3}},"
        " organization_id='org-globex', user_id='user-hank')\n"
        "print(r.id)\n"
    )
    subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd=REPO,
                   check=True, capture_output=True, text=True)

    def member_started():
        for w in workers:
            for rec in w.events(s.Event.TASK_STARTED, organization_id="org-globex"):
                if rec.get(s.GROUP_ID) and rec.get(s.CHORD_CALLBACK_ID):
                    return rec[s.GROUP_ID]
        return None

    group_id = wait_for(member_started, timeout=60, message="a member of the stuck run")
    backend = redis.client(1)
    keys = [k.decode() for k in backend.scan_iter(match=f"*celery-taskset-meta-{group_id}.s")]
    assert keys, f"no size key for chord {group_id}"
    backend.delete(*keys)  # the silent failure: eviction or expiry of the size key
    return group_id


def plain_celery_log(redis, tmp: Path) -> str:
    """An uninstrumented worker's own log, in Celery's default format (the plain test app:
    successes, a retry that recovers, a failure)."""
    env = {"BROKER_URL": redis.url(4), "CELERY_RESULT_BACKEND": redis.url(5)}
    client = client_app(env["BROKER_URL"], env["CELERY_RESULT_BACKEND"])
    with running_worker("tests.support.apps.plain", tmp, env=env, pool="prefork",
                        concurrency=2, hostname="plain@worker-0",
                        wait_ready=lambda w: " ready." in w.stderr()) as worker:
        results = [client.send_task("plain.add", (i, i)) for i in range(5)]
        results += [client.send_task("plain.member", (i, mode))
                    for i, mode in enumerate(("ok", "retry", "fail"))]
        for r in results:
            with contextlib.suppress(Exception):  # failures are the point of the sample
                r.get(timeout=60)
    client.close()
    return worker.stderr()


def kubectl_format(lines_by_pod: dict[str, list[dict]]) -> str:
    """What ``kubectl logs --prefix --timestamps`` prints: the pod prefix, a 9-digit RFC 3339
    stamp (the kubelet's, taken here from the line's own time), the line as written."""
    rows = []
    for pod, recs in lines_by_pod.items():
        for rec in recs:
            t = rec[s.TIME]  # 2026-11-28T12:35:58.991236Z -> nanoseconds
            stamp = t[:-1] + "000Z" if t.endswith("Z") and len(t) == 27 else t
            line = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
            rows.append((stamp, kubectl_line(pod, stamp, line)))
    rows.sort(key=lambda r: r[0])
    return "\n".join(r[1] for r in rows) + "\n"


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    redis = start_redis_server()
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            env = worker_env(redis)
            workers = [
                start_worker("worker.app", tmp, env=env, pool="prefork", concurrency=2,
                             hostname=f"celery@{pod}", queues="celery,execution,telemetry")
                for pod in POD_NAMES
            ]
            try:
                demo = run_cli(["demo", "--runs", "10", "--tests", "3-8", "--seed", "11",
                                "--latency-ms", "20-200", "--wait", "--timeout", "240"], env)
                if demo.returncode != 0:
                    raise SystemExit(f"demo failed:\n{demo.stdout}\n{demo.stderr}")
                group_id = make_stuck_chord(redis, env, workers)
                # Let every member of the stuck chord finish: the callback never comes.
                wait_for(lambda: sum(len(w.events(s.Event.TASK_SUCCEEDED, group_id=group_id))
                                     for w in workers) >= 4, timeout=60,
                         message="members of the stuck chord to finish")
                check = run_cli(["chords", "--backend", redis.url(1), "--broker", redis.url(0),
                                 "check", "--max-hours", "0"], env)
                if check.returncode != 1:
                    raise SystemExit(f"chord monitor did not flag the stuck chord:\n"
                                     f"{check.stdout}\n{check.stderr}")
            finally:
                for w in workers:
                    w.stop()
            by_pod = {pod: w.json_lines() for pod, w in zip(POD_NAMES, workers, strict=True)}
            publisher = json_lines(demo.stderr) + json_lines(demo.stdout)
            monitor = json_lines(check.stderr)
            plain = plain_celery_log(redis, tmp)
    finally:
        redis.stop()

    everything = [r for recs in by_pod.values() for r in recs] + \
        [r for r in publisher if s.EVENT in r] + [r for r in monitor if s.EVENT in r]
    everything.sort(key=lambda r: r.get(s.TIME, ""))
    (EXAMPLES / "worker.jsonl").write_text(
        "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n"
                for r in everything))
    (EXAMPLES / "kubectl.log").write_text(kubectl_format(by_pod))
    (EXAMPLES / "celery-plain.log").write_text(plain)
    counts: dict[str, int] = {}
    for r in everything:
        counts[r[s.EVENT]] = counts.get(r[s.EVENT], 0) + 1
    print(f"examples/worker.jsonl: {len(everything)} lines; stuck chord {group_id}")
    print(json.dumps(counts, indent=1, sort_keys=True))
    print(f"examples/celery-plain.log: {len(plain.splitlines())} lines")


if __name__ == "__main__":
    main()

"""What does instrumentation cost? Throughput of the same worker with and without it.

    .venv/bin/python benchmarks/instrumentation_overhead.py [--tasks 3000] [--rounds 3]

One run, one private redis-server, one solo worker at a time (stock Celery at INFO, which logs
its own prose lines, vs the same app with ``instrument(app)``), the same workload of small
tasks queued up front. Throughput is counted from the first to the last stored result, so
worker start-up is not in it. Rounds alternate baseline/instrumented to spread machine noise
evenly; the median of each is reported, with the ratio.

Then the cost of one event line: ``log_event`` with a task's context bound, against a stdlib
``logging`` line in Celery's default format written to the same sink.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import start_redis_server, wait_for  # noqa: E402


def run_worker_round(redis, mode: str, n_tasks: int, tmp: Path) -> float:
    broker, backend = redis.url(0), redis.url(1)
    redis.client(0).flushdb()
    redis.client(1).flushdb()
    env = {**os.environ, "BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend,
           "BENCH_INSTRUMENT": mode,
           "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'benchmarks'}"}
    # Queue the workload first with a plain client, so publishing is not measured.
    from celery import Celery

    client = Celery("c", broker=broker, backend=backend)
    client.conf.update(task_serializer="json", accept_content=["json"])
    with client.producer_or_acquire() as producer:
        for i in range(n_tasks):
            client.send_task("bench.add", (i, i), producer=producer)
    out = (tmp / f"worker-{mode}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench_app", "worker", "--pool", "solo",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(REPO / "benchmarks"))
    results = redis.client(1)
    try:
        wait_for(lambda: results.dbsize() >= 1, timeout=60, interval=0.002,
                 message="first result")
        t0 = time.perf_counter()
        first = results.dbsize()
        wait_for(lambda: results.dbsize() >= n_tasks, timeout=600, interval=0.005,
                 message="all results")
        t1 = time.perf_counter()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        out.close()
    return (n_tasks - first) / (t1 - t0)


def event_line_cost(n: int = 50_000) -> tuple[float, float]:
    """µs per log_event line with task context bound, and per stdlib prose line."""

    from instrumentation import configure_logging, log_event, reset_logging
    from instrumentation import schema as s
    from instrumentation.context import bind_task, unbind_task

    sink = io.StringIO()
    configure_logging(stream=sink, service="bench", environment="bench")
    token = bind_task({
        s.TASK_ID: "0d7f5a52-5f0e-4f7e-9d1c-3b1a2c4d5e6f", s.TASK_NAME: "worker.tasks.run",
        s.ROOT_ID: "0d7f5a52-5f0e-4f7e-9d1c-3b1a2c4d5e6f", s.PARENT_ID: None,
        s.GROUP_ID: "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", s.GROUP_INDEX: 3, s.RETRIES: 0,
        s.QUEUE: "execution", s.WORKER: "celery@worker-1", s.ORGANIZATION_ID: "org-1",
        s.USER_ID: "user-1", s.CHORD_CALLBACK_ID: "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        s.CHORD_CALLBACK_NAME: "worker.tasks.collect_results", s.CHORD_SIZE: None})
    for _ in range(1000):  # warm-up: structlog caches the bound logger on first use
        log_event(s.Event.TASK_SUCCEEDED, "Task worker.tasks.run succeeded",
                  **{s.DURATION_MS: 12.5, s.STATE: "SUCCESS"})
    sink.seek(0)
    sink.truncate()
    t0 = time.perf_counter()
    for _ in range(n):
        log_event(s.Event.TASK_SUCCEEDED, "Task worker.tasks.run succeeded",
                  **{s.DURATION_MS: 12.5, s.STATE: "SUCCESS"})
    ours = (time.perf_counter() - t0) / n * 1e6
    unbind_task(token)
    reset_logging()

    # Baseline: what Celery writes today for the same moment, through stdlib logging.
    sink2 = io.StringIO()
    logger = logging.getLogger("bench.celery.app.trace")
    logger.propagate = False
    handler = logging.StreamHandler(sink2)
    handler.setFormatter(logging.Formatter(
        "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    ctx = {"name": "worker.tasks.run", "id": "0d7f5a52-5f0e-4f7e-9d1c-3b1a2c4d5e6f",
           "runtime": 0.0125, "return_value": "{'ok': True}"}
    t0 = time.perf_counter()
    for _ in range(n):
        logger.info("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s", ctx)
    stdlib = (time.perf_counter() - t0) / n * 1e6
    logger.removeHandler(handler)
    return ours, stdlib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    ours, stdlib = event_line_cost()
    print(f"one event line: {ours:.2f} µs (stdlib prose line {stdlib:.2f} µs, "
          f"ratio {ours / stdlib:.2f}x)")

    redis = start_redis_server()
    modes = {"0": "stock Celery", "notrace": "instrumented, no tracing",
             "1": "instrumented + tracing"}
    rates: dict[str, list[float]] = {m: [] for m in modes}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for mode in modes:
                    rates[mode].append(run_worker_round(redis, mode, args.tasks, Path(tmp)))
                print(f"round {r + 1}: " + ", ".join(
                    f"{modes[m]} {rates[m][-1]:.0f}/s" for m in modes), flush=True)
    finally:
        redis.stop()
    base = statistics.median(rates["0"])
    for mode, label in modes.items():
        med = statistics.median(rates[mode])
        print(f"median {label}: {med:.0f} tasks/s, ratio {med / base:.3f}")
    print("target: instrumented (with tracing) >= 0.97 of stock")


if __name__ == "__main__":
    main()

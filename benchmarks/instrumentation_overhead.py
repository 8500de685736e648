"""What does instrumentation cost? Throughput, CPU and bytes of the same worker with and without.

    .venv/bin/python benchmarks/instrumentation_overhead.py [--tasks 3000] [--rounds 3]
    .venv/bin/python benchmarks/instrumentation_overhead.py --profile 3000   # where time goes

One run, one private redis-server, one solo worker at a time: stock Celery at INFO (its own
prose lines), the same app with ``instrument(app, tracing=False)``, and with tracing on (the
default). The same workload of no-op tasks, published with a tenant as the reference worker's
publishers do, is queued up front so publishing is not measured. Counted from the first to the
last stored result, so start-up is not in it:

* throughput (tasks/s, wall clock);
* the worker's CPU seconds per task (``/proc/<pid>/stat``): what a busy fleet pays, and far less
  disturbed by other processes on the machine than wall time;
* bytes of log written per task.

Rounds alternate the modes (each round starting with the next one) to spread machine noise
evenly; the median of each is reported, with the ratio to stock Celery from the same run.

Then the cost of one event line in CPU time (median of 3 batches): ``log_event`` with a
task's context bound, against a stdlib ``logging`` line in Celery's default format written to
the same sink.

``--profile N`` runs N tasks on an instrumented, traced solo worker under cProfile and prints
the functions where its time goes (``docs/instrumentation.md`` records what it showed).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import start_redis_server, wait_for  # noqa: E402

MODES = {"0": "stock Celery", "notrace": "instrumented, no tracing",
         "1": "instrumented + tracing"}
TENANT = {"organization_id": "org-bench", "user_id": "user-bench"}
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    rate: float  # tasks per second, wall clock
    cpu_per_task: float  # worker CPU seconds per task
    bytes_per_task: float  # log bytes written per task


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def queue_tasks(broker: str, backend: str, n_tasks: int) -> None:
    from celery import Celery

    client = Celery("c", broker=broker, backend=backend)
    client.conf.update(task_serializer="json", accept_content=["json"])
    with client.producer_or_acquire() as producer:
        for i in range(n_tasks):
            client.send_task("bench.add", (i, i), producer=producer, headers=TENANT)


def worker_command(profile_to: Path | None = None) -> list[str]:
    prefix = [sys.executable]
    if profile_to is not None:
        prefix += ["-m", "cProfile", "-o", str(profile_to)]
    return [*prefix, "-m", "celery", "-A", "bench_app", "worker", "--pool", "solo",
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]


def run_worker_round(redis, mode: str, n_tasks: int, tmp: Path,
                     profile_to: Path | None = None) -> Round:
    broker, backend = redis.url(0), redis.url(1)
    redis.client(0).flushdb()
    redis.client(1).flushdb()
    env = {**os.environ, "BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend,
           "BENCH_INSTRUMENT": mode,
           "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'benchmarks'}"}
    queue_tasks(broker, backend, n_tasks)
    log_path = tmp / f"worker-{mode}.log"
    out = log_path.open("wb")
    proc = subprocess.Popen(worker_command(profile_to), stdout=out, stderr=subprocess.STDOUT,
                            env=env, cwd=str(REPO / "benchmarks"))
    results = redis.client(1)
    try:
        wait_for(lambda: results.dbsize() >= 1, timeout=60, interval=0.002,
                 message="first result")
        t0, cpu0, size0 = time.perf_counter(), cpu_seconds(proc.pid), log_path.stat().st_size
        first = results.dbsize()
        wait_for(lambda: results.dbsize() >= n_tasks, timeout=600, interval=0.005,
                 message="all results")
        t1, cpu1, size1 = time.perf_counter(), cpu_seconds(proc.pid), log_path.stat().st_size
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        out.close()
    done = n_tasks - first
    return Round(done / (t1 - t0), (cpu1 - cpu0) / done, (size1 - size0) / done)


def event_line_cost(n: int = 20_000, repeat: int = 3) -> tuple[float, float, int]:
    """µs per log_event line with a task's context bound (median of ``repeat`` batches), per
    stdlib prose line, and the bytes of one such event line."""

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

    def one() -> None:
        log_event(s.Event.TASK_SUCCEEDED, "succeeded",
                  **{s.DURATION_MS: 12.5, s.STATE: "SUCCESS"})

    for _ in range(1000):  # warm-up
        one()
    sink.seek(0)
    sink.truncate()
    one()
    line_bytes = len(sink.getvalue().encode())
    batches = []
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(n):
            one()
        batches.append(time.process_time() - t0)
        sink.seek(0)
        sink.truncate()
    ours = statistics.median(batches) / n * 1e6
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
    batches = []
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(n):
            logger.info("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
                        ctx)
        batches.append(time.process_time() - t0)
        sink2.seek(0)
        sink2.truncate()
    stdlib = statistics.median(batches) / n * 1e6
    logger.removeHandler(handler)
    return ours, stdlib, line_bytes


def profile(n_tasks: int, top: int = 30) -> None:
    """Run an instrumented, traced solo worker under cProfile and print where time goes."""
    redis = start_redis_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "worker.prof"
            rnd = run_worker_round(redis, "1", n_tasks, Path(tmp), profile_to=out)
            wait_for(out.exists, timeout=30, message="profile written")
            print(f"{rnd.rate:.0f} tasks/s under the profiler, "
                  f"{rnd.cpu_per_task * 1e6:.0f} µs CPU per task")
            stats = pstats.Stats(str(out))
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats("instrumentation|opentelemetry", top)
    finally:
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="profile N tasks on an instrumented worker instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return

    ours, stdlib, line_bytes = event_line_cost()
    print(f"one event line: {ours:.2f} µs, {line_bytes} bytes (stdlib prose line "
          f"{stdlib:.2f} µs, ratio {ours / stdlib:.2f}x)", flush=True)

    redis = start_redis_server()
    rounds: dict[str, list[Round]] = {m: [] for m in MODES}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            order = list(MODES)
            for r in range(args.rounds):
                # Each round starts with another mode, so none always runs first.
                for mode in order[r % len(order):] + order[:r % len(order)]:
                    rounds[mode].append(run_worker_round(redis, mode, args.tasks, Path(tmp)))
                print(f"round {r + 1}: " + ", ".join(
                    f"{MODES[m]} {rounds[m][-1].rate:.0f}/s "
                    f"{rounds[m][-1].cpu_per_task * 1e6:.0f} µs CPU/task "
                    f"{rounds[m][-1].bytes_per_task:.0f} B/task" for m in MODES), flush=True)
    finally:
        redis.stop()

    def med(mode: str, attr: str) -> float:
        return statistics.median(getattr(x, attr) for x in rounds[mode])

    base_rate, base_cpu = med("0", "rate"), med("0", "cpu_per_task")
    for mode, label in MODES.items():
        rate, cpu, size = med(mode, "rate"), med(mode, "cpu_per_task"), med(mode, "bytes_per_task")
        print(f"median {label}: {rate:.0f} tasks/s (ratio {rate / base_rate:.3f}), "
              f"{cpu * 1e6:.0f} µs CPU/task (throughput ratio by CPU {base_cpu / cpu:.3f}), "
              f"{size:.0f} bytes/task")
    print("targets: instrumented + tracing >= 0.97 of stock; one event line < 15 µs")


if __name__ == "__main__":
    main()

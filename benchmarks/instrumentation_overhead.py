"""What does instrumentation cost? Throughput, CPU and bytes of the same worker with and without.

    .venv/bin/python benchmarks/instrumentation_overhead.py [--tasks 3000] [--rounds 3]
    .venv/bin/python benchmarks/instrumentation_overhead.py --instructions 400  # + callgrind
    .venv/bin/python benchmarks/instrumentation_overhead.py --profile 3000   # where time goes

One run, one private redis-server, one solo worker at a time: stock Celery at INFO (its own
prose lines), the same app with ``instrument(app, tracing=False)``, and with tracing on (the
default). The same workload of no-op tasks, published with a tenant as the reference worker's
publishers do, is queued up front so publishing is not measured. Counted from the first to the
last stored result, so start-up is not in it. (``--side-by-side`` runs the three at once over
one window instead; on two cores they then compete for the CPU and its caches, which hurts
the larger code path more: a different question.) Per mode:

* throughput (tasks/s, wall clock);
* the worker's CPU seconds per task (``/proc/<pid>/stat``): what a busy fleet pays, and far less
  disturbed by other processes on the machine than wall time;
* bytes of log written per task.

Rounds rotate which mode runs first; the median over the rounds of each is reported, with the
ratio to stock Celery from the same run. On a busy machine, more and shorter rounds
(``--rounds 9 --tasks 1500``) give a steadier median.

Then the cost of one event line in CPU time (median of 3 batches): ``log_event`` with a
task's context bound, against a stdlib ``logging`` line in Celery's default format written to
the same sink.

And the cost of a task's prerun, success and postrun signals sent in one process, per mode
(``signal_path_cost``): our handlers and the spans, apart from Celery and Redis; also with
OpenTelemetry's ``CeleryInstrumentor`` making the spans, and with every span recorded through
a batch or a simple span processor (to an exporter that does nothing).

``--instructions N`` adds the one figure a shared machine does not disturb: the instructions
each mode's worker executes per task (valgrind's callgrind, read with ``callgrind_control`` at
the first and the last stored result), the four modes at once, with their ratios to stock
Celery. Needs valgrind; a few minutes.

``--profile N`` runs N tasks on an instrumented, traced solo worker under cProfile and prints
the functions where its time goes (``docs/instrumentation.md`` records what it showed).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import pstats
import re
import shutil
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


def run_concurrent_round(redis, n_tasks: int, tmp: Path) -> dict[str, Round]:
    """All modes at once, each a solo worker on its own queue: they share the machine's state
    (other jobs, caches, frequency) moment by moment, so their ratios are not at the mercy of
    which mode happened to run while another job took a core. Counted over one window for all:
    from when every worker has stored a result to when the first has stored 90 % of its own.
    """
    procs, logs, outs, dbs = {}, {}, {}, {}
    for i, mode in enumerate(MODES):
        broker_db, backend_db = 2 * i, 2 * i + 1
        dbs[mode] = backend_db
        for db in (broker_db, backend_db):
            redis.client(db).flushdb()
        queue_tasks(redis.url(broker_db), redis.url(backend_db), n_tasks)
    for i, mode in enumerate(MODES):
        env = {**os.environ, "BROKER_URL": redis.url(2 * i),
               "CELERY_RESULT_BACKEND": redis.url(2 * i + 1), "BENCH_INSTRUMENT": mode,
               "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'benchmarks'}"}
        logs[mode] = tmp / f"worker-{mode}.log"
        outs[mode] = logs[mode].open("wb")
        procs[mode] = subprocess.Popen(worker_command(), stdout=outs[mode],
                                       stderr=subprocess.STDOUT, env=env,
                                       cwd=str(REPO / "benchmarks"))
    clients = {mode: redis.client(db) for mode, db in dbs.items()}

    def snapshot() -> dict[str, tuple[float, int, float, int]]:
        return {m: (time.perf_counter(), clients[m].dbsize(), cpu_seconds(procs[m].pid),
                    logs[m].stat().st_size) for m in MODES}

    try:
        wait_for(lambda: all(c.dbsize() >= 1 for c in clients.values()), timeout=120,
                 interval=0.002, message="a first result from every worker")
        start = snapshot()
        wait_for(lambda: any(c.dbsize() >= 0.9 * n_tasks for c in clients.values()),
                 timeout=900, interval=0.005, message="a worker at 90 %")
        end = snapshot()
    finally:
        for proc in procs.values():
            proc.terminate()
        for mode, proc in procs.items():
            proc.wait(timeout=60)
            outs[mode].close()
    rounds = {}
    for m in MODES:
        (t0, n0, c0, b0), (t1, n1, c1, b1) = start[m], end[m]
        done = max(1, n1 - n0)
        rounds[m] = Round(done / (t1 - t0), (c1 - c0) / done, (b1 - b0) / done)
    return rounds


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


SIGNAL_PATH_CODE = """
import os, sys, time, uuid
from celery import Celery, signals
app = Celery("sp", broker="memory://", backend="cache+memory://", set_as_current=False)
@app.task(name="sp.add", shared=False)
def add(x, y):
    return x + y
app.finalize()
task = app.tasks["sp.add"]
mode = sys.argv[1]
if mode.startswith("sampled"):
    # Every span recorded and handed to a span processor whose exporter does nothing: what
    # the processor itself costs (the batch processor exports in its own thread, counted too).
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (BatchSpanProcessor, SimpleSpanProcessor,
                                                SpanExporter, SpanExportResult)
    class NullExporter(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS
    provider = TracerProvider()
    processor = BatchSpanProcessor if mode == "sampled-batch" else SimpleSpanProcessor
    provider.add_span_processor(processor(NullExporter()))
    trace.set_tracer_provider(provider)
if mode == "otel":
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    CeleryInstrumentor().instrument()
if mode != "0":
    from instrumentation import configure_logging, instrument
    configure_logging(stream=open(os.devnull, "w"))
    instrument(app, tracing=mode != "notrace", project="bench-project")
headers = {"organization_id": "org-bench", "user_id": "user-bench"}
def run(n):
    for _ in range(n):
        tid = str(uuid.uuid4())
        task.push_request(id=tid, args=(1, 2), kwargs={}, hostname="celery@bench",
                          delivery_info={"routing_key": "celery"}, headers=headers, **headers)
        signals.task_prerun.send(sender=task, task_id=tid, task=task, args=(1, 2), kwargs={})
        signals.task_success.send(sender=task, result=3)
        signals.task_postrun.send(sender=task, task_id=tid, task=task, args=(1, 2), kwargs={},
                                  retval=3, state="SUCCESS")
        task.pop_request()
run(2000)
best = []
for _ in range(3):
    t0 = time.process_time()
    run(10000)
    best.append((time.process_time() - t0) / 10000)
print(sorted(best)[1])
"""


#: Signal path modes besides MODES: spans from OpenTelemetry's CeleryInstrumentor instead of
#: ours; every span recorded, through a batch or a simple span processor (null exporter).
PATH_MODES = {**MODES, "otel": "spans by OpenTelemetry's CeleryInstrumentor",
              "sampled-batch": "every span recorded, BatchSpanProcessor",
              "sampled-simple": "every span recorded, SimpleSpanProcessor"}


def signal_path_cost() -> dict[str, float]:
    """CPU µs per task of sending a task's prerun, success and postrun signals in one process
    (so two of its three lines), per mode: what our handlers and the spans cost, apart
    from Celery, Redis and the machine's other jobs. Median of 3 batches, fresh process each."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = {}
    for mode in PATH_MODES:
        res = subprocess.run([sys.executable, "-c", SIGNAL_PATH_CODE, mode], env=env,
                             capture_output=True, text=True, check=True, cwd=str(REPO))
        out[mode] = float(res.stdout.strip()) * 1e6
    return out


INSTRUCTION_MODES = {**MODES, "otel": "spans by OpenTelemetry's CeleryInstrumentor"}


def callgrind_instructions(pid: int) -> int:
    """Instructions the process executed so far (all threads), asked of callgrind."""
    out = subprocess.run(["callgrind_control", "-e", "Ir", str(pid)], capture_output=True,
                         text=True, check=True).stdout
    counts = re.findall(r"^\s*Th\s+\d+\s+([\d,]+)", out, re.MULTILINE)
    if not counts:
        raise RuntimeError(f"callgrind_control gave no counts: {out!r}")
    return sum(int(c.replace(",", "")) for c in counts)


def instruction_counts(n_tasks: int) -> dict[str, float]:
    """Instructions per task of each mode's solo worker under callgrind, all at once (each
    on its own queue): counted by the CPU's work, not by time, so the machine's other jobs do
    not move them. Counted from the first to the last stored result, like the rounds."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    redis = start_redis_server()
    procs, outs, counts = {}, [], {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, mode in enumerate(INSTRUCTION_MODES):
                broker, backend = redis.url(2 * i), redis.url(2 * i + 1)
                queue_tasks(broker, backend, n_tasks)
                env = {**os.environ, "BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend,
                       "BENCH_INSTRUMENT": mode, "PYTHONHASHSEED": "0",
                       "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'benchmarks'}"}
                out = (Path(tmp) / f"worker-{mode}.log").open("wb")
                outs.append(out)
                procs[mode] = subprocess.Popen(
                    ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.%p",
                     *worker_command()], stdout=out, stderr=subprocess.STDOUT, env=env,
                    cwd=str(REPO / "benchmarks"))
            for i, mode in enumerate(INSTRUCTION_MODES):
                results = redis.client(2 * i + 1)
                wait_for(lambda r=results: r.dbsize() >= 1, timeout=900, interval=0.05,
                         message=f"first result of {mode} under valgrind")
                counts[mode] = (results.dbsize(), callgrind_instructions(procs[mode].pid))
            for i, mode in enumerate(INSTRUCTION_MODES):
                results = redis.client(2 * i + 1)
                wait_for(lambda r=results: r.dbsize() >= n_tasks, timeout=3600, interval=0.05,
                         message=f"all results of {mode} under valgrind")
                first, ir0 = counts[mode]
                counts[mode] = (callgrind_instructions(procs[mode].pid) - ir0) / (n_tasks - first)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=120)
        for out in outs:
            out.close()
        redis.stop()
    return counts


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


def print_round(r: int, rounds: dict[str, list[Round]]) -> None:
    print(f"round {r + 1}: " + ", ".join(
        f"{MODES[m]} {rounds[m][-1].rate:.0f}/s {rounds[m][-1].cpu_per_task * 1e6:.0f} µs "
        f"CPU/task {rounds[m][-1].bytes_per_task:.0f} B/task" for m in MODES), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--side-by-side", action="store_true",
                        help="run the three workers at once over one window")
    parser.add_argument("--instructions", type=int, metavar="N", default=0,
                        help="also count the worker's instructions per task over N tasks "
                             "under valgrind (deterministic; a few minutes)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="profile N tasks on an instrumented worker instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return

    ours, stdlib, line_bytes = event_line_cost()
    print(f"one event line: {ours:.2f} µs CPU, {line_bytes} bytes (stdlib prose line "
          f"{stdlib:.2f} µs, ratio {ours / stdlib:.2f}x)", flush=True)
    path = signal_path_cost()
    print("prerun+success+postrun signals, CPU per task, over stock Celery's "
          f"{path['0']:.1f} µs: " + ", ".join(
              f"{PATH_MODES[m]} +{us - path['0']:.1f} µs" for m, us in path.items() if m != "0"),
          flush=True)
    if args.instructions:
        counts = instruction_counts(args.instructions)
        print("instructions per task in the worker (callgrind, user space): " + ", ".join(
            f"{INSTRUCTION_MODES[m]} {n / 1e6:.3f} M (ratio {counts['0'] / n:.3f})"
            for m, n in counts.items()), flush=True)

    redis = start_redis_server()
    rounds: dict[str, list[Round]] = {m: [] for m in MODES}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            order = list(MODES)
            for r in range(args.rounds):
                if args.side_by_side:
                    for mode, rnd in run_concurrent_round(redis, args.tasks, Path(tmp)).items():
                        rounds[mode].append(rnd)
                    print_round(r, rounds)
                    continue
                # Each round starts with another mode, so none always runs first.
                for mode in order[r % len(order):] + order[:r % len(order)]:
                    rounds[mode].append(run_worker_round(redis, mode, args.tasks, Path(tmp)))
                print_round(r, rounds)
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

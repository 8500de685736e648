"""Generate realistic worker logs for the analyzer benchmarks (into ``benchmarks/.data``).

    python benchmarks/analyzer_data.py json 1000000      # -> benchmarks/.data/json_1000000.jsonl
    python benchmarks/analyzer_data.py kubectl 1000000   # -> .../kubectl_1000000.log

``json``: our instrumentation's JSON lines (about 330 bytes each): received/started/succeeded
triples, with failures and retries mixed in. ``kubectl``: ``kubectl logs --prefix
--timestamps`` output of three pods running plain-format Celery workers, interleaved line by
line, with multi-line tracebacks whose lines alternate between pods (the hard case for
stitching). Generation is deterministic (fixed seed) and vectorized enough to make 3 M lines
in a few seconds; files are reused when they already exist.
"""

from __future__ import annotations

import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from instrumentation import schema as s

DATA = Path(__file__).resolve().parent / ".data"
TASKS = ("rhesis.tasks.evaluate", "rhesis.tasks.generate", "rhesis.tasks.score", "tasks.add")
ORGS = ("org-acme", "org-globex", "org-initech", None)
START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _json_line(rng: random.Random, i: int, t: datetime) -> bytes:
    event = rng.choices(
        (s.Event.TASK_RECEIVED, s.Event.TASK_STARTED, s.Event.TASK_SUCCEEDED,
         s.Event.TASK_FAILED, s.Event.TASK_RETRIED),
        weights=(32, 32, 30, 3, 3),
    )[0]
    tid = str(uuid.UUID(int=rng.getrandbits(128)))
    rec: dict = {
        s.TIME: t.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        s.SEVERITY: s.EVENT_SEVERITY[event],
        s.MESSAGE: f"Task {event.split('_')[1]}",
        s.EVENT: str(event),
        s.TASK_ID: tid,
        s.TASK_NAME: TASKS[i % len(TASKS)],
        s.ORGANIZATION_ID: ORGS[i % len(ORGS)],
        s.ROOT_ID: tid,
        s.RETRIES: 0,
        s.QUEUE: "celery",
        s.WORKER: f"celery@worker-{i % 3}",
        s.PID: 1000 + i % 7,
    }
    if event in s.FINISHED_EVENTS:
        rec[s.DURATION_MS] = round(rng.expovariate(1 / 40), 3)
    if event in (s.Event.TASK_FAILED, s.Event.TASK_RETRIED):
        rec[s.EXCEPTION_TYPE] = "ValueError"
        rec[s.EXCEPTION_MESSAGE] = f"bad input {i}"
    return orjson.dumps(rec)


def write_json(n: int, path: Path) -> Path:
    rng = random.Random(42)
    with path.open("wb") as out:
        buf = []
        for i in range(n):
            buf.append(_json_line(rng, i, START + timedelta(milliseconds=i)))
            if len(buf) == 50_000:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            out.write(b"\n".join(buf) + b"\n")
    return path


_TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", line 453, in trace_task',
    "    R = retval = fun(*args, **kwargs)",
    '  File "/app/rhesis/tasks.py", line 88, in evaluate',
    "    raise ValueError(f'bad input {x}')",
    "ValueError: bad input 7",
)


def _celery_lines(rng: random.Random, i: int, t: datetime) -> list[str]:
    """One worker event in Celery's default format (several lines for a failure)."""
    stamp = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
    tid = str(uuid.UUID(int=rng.getrandbits(128)))
    name = TASKS[i % len(TASKS)]
    kind = rng.choices(("recv", "ok", "fail", "retry"), weights=(48, 46, 3, 3))[0]
    if kind == "recv":
        return [f"[{stamp}: INFO/MainProcess] Task {name}[{tid}] received"]
    if kind == "ok":
        dur = rng.expovariate(1 / 0.04)
        return [f"[{stamp}: INFO/ForkPoolWorker-{i % 4 + 1}] Task {name}[{tid}] "
                f"succeeded in {dur:.6f}s: None"]
    if kind == "retry":
        return [f"[{stamp}: INFO/ForkPoolWorker-{i % 4 + 1}] Task {name}[{tid}] retry: "
                f"Retry in 5s: ConnectionError('redis gone')"]
    return [f"[{stamp}: ERROR/ForkPoolWorker-{i % 4 + 1}] Task {name}[{tid}] raised "
            f"unexpected: ValueError('bad input 7')", *_TRACEBACK]


def write_kubectl(n: int, path: Path) -> Path:
    """About ``n`` lines of three pods' interleaved ``--prefix --timestamps`` output."""
    rng = random.Random(7)
    pods = [f"[pod/rhesis-worker-7d9f8-{c}/worker] " for c in ("abcde", "fghij", "klmno")]
    pending: list[list[str]] = [[], [], []]  # lines each pod still has to print
    written = 0
    i = 0
    with path.open("w") as out:
        buf = []
        while written < n:
            p = rng.randrange(3)
            if not pending[p]:
                pending[p] = _celery_lines(rng, i, START + timedelta(milliseconds=i))
                i += 1
            t = START + timedelta(milliseconds=i)
            ts = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}123Z"
            buf.append(f"{pods[p]}{ts} {pending[p].pop(0)}")
            written += 1
            if len(buf) == 50_000:
                out.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            out.write("\n".join(buf) + "\n")
    return path


def dataset(kind: str, n: int) -> Path:
    """The path of a generated data set, generating it first if needed."""
    DATA.mkdir(exist_ok=True)
    suffix = "jsonl" if kind == "json" else "log"
    path = DATA / f"{kind}_{n}.{suffix}"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        (write_json if kind == "json" else write_kubectl)(n, tmp)
        tmp.rename(path)
    return path


if __name__ == "__main__":
    print(dataset(sys.argv[1], int(sys.argv[2])))

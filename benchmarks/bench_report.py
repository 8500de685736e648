"""How long the report takes on a large normalized frame, against plain pandas passes.

    .venv/bin/python benchmarks/bench_report.py            # 1,000,000 rows
    .venv/bin/python benchmarks/bench_report.py 100000 3000000

Builds a synthetic frame shaped like a busy worker fleet's logs (received/started/finished
per task, 2 % failures, 3 % retries, chords, a few redeliveries, 50 tenants, 20 task names)
with the ingest's dtypes, then times ``build_report`` and, as a baseline measured in the
same run, one ``value_counts`` of the event column and one ``groupby(task_name).size()``.
Ingest is not included: ``benchmarks/`` has its own script for the end-to-end figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzers import frame as frame_mod
from analyzers.report import build_report
from benchmarks.timing import best_of
from instrumentation import schema


def synthetic_frame(n_rows: int, seed: int = 7):
    """About ``n_rows`` records: three per task execution, plus chord and failure details."""
    rng = np.random.default_rng(seed)
    n_tasks = n_rows // 3
    task_idx = np.repeat(np.arange(n_tasks), 3)
    phase = np.tile(np.arange(3), n_tasks)  # 0 received, 1 started, 2 finished
    ids = np.char.add("0b1c2d3e-4f50-6172-8394-", np.char.zfill(task_idx.astype(str), 12))
    names = np.array([f"tasks.job_{i:02d}" for i in range(20)])[task_idx % 20]
    tenants = np.array([f"org-{i}" for i in range(50)])[rng.integers(0, 50, n_tasks)][task_idx]
    start = np.sort(rng.uniform(0, 3600, n_tasks))[task_idx]
    dur = rng.lognormal(4, 1, n_tasks)[task_idx]
    outcome = rng.choice(
        np.array(
            [schema.Event.TASK_SUCCEEDED, schema.Event.TASK_FAILED, schema.Event.TASK_RETRIED],
            dtype=object,
        ),
        n_tasks,
        p=[0.95, 0.02, 0.03],
    )[task_idx]
    events = np.where(
        phase == 0, str(schema.Event.TASK_RECEIVED),
        np.where(phase == 1, str(schema.Event.TASK_STARTED), outcome.astype(str)),
    )
    t0 = np.datetime64("2026-11-28T10:00:00", "us")
    offset_s = start + phase * 0.005 + (phase == 2) * dur / 1000
    when = t0 + (offset_s * 1e6).astype("timedelta64[us]")
    failed = (events == str(schema.Event.TASK_FAILED)) | (events == str(schema.Event.TASK_RETRIED))
    exc = np.where(failed, np.where(task_idx % 2 == 0, "TimeoutError", "ValueError"), None)
    msg = np.where(failed, np.char.add("upstream 10.0.0.", (task_idx % 250).astype(str)), None)
    in_chord = (task_idx % 30) < 10
    group = np.where(in_chord, np.char.add("chord-", (task_idx // 30).astype(str)), None)
    callback = np.where(in_chord, np.char.add("cb-", (task_idx // 30).astype(str)), None)
    table = pa.table(
        {
            schema.TIME: pa.array(when, pa.timestamp("us", tz="UTC")),
            schema.EVENT: pa.array(events, pa.string()),
            schema.TASK_ID: pa.array(ids, pa.string()),
            schema.TASK_NAME: pa.array(names, pa.string()),
            schema.ORGANIZATION_ID: pa.array(tenants, pa.string()),
            schema.WORKER: pa.array(np.array(["w1", "w2", "w3"])[task_idx % 3], pa.string()),
            schema.DURATION_MS: pa.array(np.where(phase == 2, dur, np.nan), pa.float64()),
            schema.QUEUE_WAIT_MS: pa.array(np.where(phase == 1, 5.0, np.nan), pa.float64()),
            schema.EXCEPTION_TYPE: pa.array(exc, pa.string()),
            schema.EXCEPTION_MESSAGE: pa.array(msg, pa.string()),
            schema.RETRIES: pa.array(np.zeros(len(ids), dtype=np.int64)),
            schema.GROUP_ID: pa.array(group, pa.string()),
            schema.CHORD_CALLBACK_ID: pa.array(callback, pa.string()),
            schema.CHORD_SIZE: pa.array(np.where(in_chord, 10, 0)).cast(pa.int64()),
        }
    )
    return frame_mod.from_arrow(table)



def main(sizes: list[int]) -> None:
    for n in sizes:
        frame = synthetic_frame(n)
        base_vc = best_of(lambda f=frame: f[schema.EVENT].value_counts())
        base_gb = best_of(lambda f=frame: f.groupby(schema.TASK_NAME).size())
        report = best_of(lambda f=frame: build_report(f), repeat=2)
        per_m = report / len(frame) * 1e6
        print(
            f"{len(frame):>9,} rows: build_report {report:6.3f} s ({per_m:.3f} s per 1M rows); "
            f"value_counts(event) {base_vc:.3f} s -> ratio {report / base_vc:5.1f}x; "
            f"groupby(task_name).size() {base_gb:.3f} s -> ratio {report / base_gb:5.1f}x"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000_000])

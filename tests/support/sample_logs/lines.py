"""Synthetic JSON lines with known findings: the CLI test fixtures in
``tests/analyzers/report/fixtures/`` (written once, committed).

    .venv/bin/python -m tests.support.sample_logs synthetic

Lines have the shape the instrumentation writes (``time``, ``severity``, ``message``,
``event`` + schema fields), with fixed timestamps so that the findings are known:

``worker_small.jsonl``
    two tenants; 5 + 1 successful ``tasks.add``; 2 ``tasks.fetch`` failures (TimeoutError,
    org-a and org-b); ``tasks.fetch`` retried once then recovered; ``tasks.flaky`` id
    ``storm-1`` retried 8 times (a storm) while 4 other ids retry once; a completed chord
    ``chord-ok`` and a stuck chord ``chord-stuck`` (org-b, 1 of 3 members never finishes, no
    callback ``tasks.collect``); task ``dup-1`` delivered twice an hour apart; a lost worker;
    and one line of junk that no reader understands.
``healthy.jsonl``
    a few successful tasks and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from instrumentation import schema

FIXTURES = Path(__file__).resolve().parents[2] / "analyzers" / "report" / "fixtures"
T0 = pd.Timestamp("2026-11-28T10:00:00Z")


def line(event: str, seconds: float, message: str, **fields: Any) -> str:
    t = (T0 + pd.Timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    record = {
        schema.TIME: t,
        schema.SEVERITY: schema.EVENT_SEVERITY[event],
        schema.MESSAGE: message,
        schema.EVENT: str(event),
        **fields,
    }
    return json.dumps(record)


def execution(
    task_id: str,
    name: str,
    seconds: float,
    *,
    outcome: str = schema.Event.TASK_SUCCEEDED,
    duration_ms: float = 120.0,
    worker: str = "celery@worker-0",
    **fields: Any,
) -> list[str]:
    common = {schema.TASK_ID: task_id, schema.TASK_NAME: name, schema.WORKER: worker, schema.PID: 7,
              schema.QUEUE: "celery", schema.RETRIES: fields.pop(schema.RETRIES, 0), **fields}
    return [
        line(schema.Event.TASK_RECEIVED, seconds, f"Task {name} received", **common),
        line(schema.Event.TASK_STARTED, seconds + 0.01, f"Task {name} started",
             **common, **{schema.QUEUE_WAIT_MS: 10.0}),
        line(outcome, seconds + 0.01 + duration_ms / 1000,
             f"Task {name} {str(outcome).removeprefix('task_')}",
             **common, **{schema.DURATION_MS: duration_ms}),
    ]


def worker_small() -> list[str]:
    a = {schema.ORGANIZATION_ID: "org-a", schema.USER_ID: "u-1"}
    b = {schema.ORGANIZATION_ID: "org-b", schema.USER_ID: "u-2"}
    out: list[str] = []
    for i in range(5):
        out += execution(f"add-{i}", "tasks.add", i, **a)
    out += execution(
        "fail-1",
        "tasks.fetch",
        10,
        outcome=schema.Event.TASK_FAILED,
        **a,
        **{
            schema.EXCEPTION_TYPE: "TimeoutError",
            schema.EXCEPTION_MESSAGE: "upstream timed out after 30s",
        },
    )
    out += execution(
        "fail-2",
        "tasks.fetch",
        11,
        outcome=schema.Event.TASK_FAILED,
        **b,
        **{
            schema.EXCEPTION_TYPE: "TimeoutError",
            schema.EXCEPTION_MESSAGE: "upstream timed out after 12s",
        },
    )
    out += execution("retry-1", "tasks.fetch", 12, outcome=schema.Event.TASK_RETRIED, **a, **{
        schema.EXCEPTION_TYPE: "ConnectionError", schema.EXCEPTION_MESSAGE: "refused",
        schema.RETRY_IN_S: 5})
    out += execution("retry-1", "tasks.fetch", 17, **a, **{schema.RETRIES: 1})
    for i in range(8):
        out += execution(
            "storm-1",
            "tasks.flaky",
            20 + i,
            outcome=schema.Event.TASK_RETRIED,
            **b,
            **{
                schema.RETRIES: i,
                schema.EXCEPTION_TYPE: "ConnectionError",
                schema.EXCEPTION_MESSAGE: "refused",
            },
        )
    for i in range(4):
        out += execution(
            f"calm-{i}",
            "tasks.flaky",
            30 + i,
            outcome=schema.Event.TASK_RETRIED,
            **a,
            **{schema.EXCEPTION_TYPE: "ConnectionError", schema.EXCEPTION_MESSAGE: "refused"},
        )
        out += execution(f"calm-{i}", "tasks.flaky", 35 + i, **a, **{schema.RETRIES: 1})
    ok = {schema.GROUP_ID: "chord-ok", schema.CHORD_CALLBACK_ID: "cb-ok",
          schema.CHORD_CALLBACK_NAME: "tasks.collect", schema.CHORD_SIZE: 2, **a}
    out += execution("ok-m1", "tasks.member", 40, worker="celery@worker-1", **ok)
    out += execution("ok-m2", "tasks.member", 40, worker="celery@worker-2", **ok)
    out += execution("cb-ok", "tasks.collect", 41, **a)
    stuck = {schema.GROUP_ID: "chord-stuck", schema.CHORD_CALLBACK_ID: "cb-stuck",
             schema.CHORD_CALLBACK_NAME: "tasks.collect", schema.CHORD_SIZE: 3, **b}
    for i in range(3):
        out.append(line(schema.Event.TASK_PUBLISHED, 50, "Task tasks.member published", **{
            schema.TASK_ID: f"st-m{i}", schema.TASK_NAME: "tasks.member", **stuck}))
    out += execution("st-m0", "tasks.member", 51, worker="celery@worker-1", **stuck)
    out += execution("st-m1", "tasks.member", 52, worker="celery@worker-2", **stuck)
    out.append(
        line(
            schema.Event.TASK_RECEIVED,
            53,
            "Task tasks.member received",
            **{
                schema.TASK_ID: "st-m2",
                schema.TASK_NAME: "tasks.member",
                schema.WORKER: "celery@worker-0",
                **stuck,
            },
        )
    )
    out.append(
        line(
            schema.Event.WORKER_LOST,
            60,
            "Worker process lost while running tasks.member",
            **{
                schema.TASK_ID: "st-m2",
                schema.TASK_NAME: "tasks.member",
                schema.WORKER: "celery@worker-0",
                schema.REASON: "Worker exited prematurely: signal 9 (SIGKILL)",
                **stuck,
            },
        )
    )
    out.append("this is not a log line \x00\x01 {truncated")
    out += execution("dup-1", "tasks.report", 100, **a)
    out += execution("dup-1", "tasks.report", 3700, worker="celery@worker-1", **a)
    return out


def healthy() -> list[str]:
    out: list[str] = []
    for i in range(4):
        out += execution(f"h-{i}", "tasks.add", i * 10, **{schema.ORGANIZATION_ID: "org-a"})
    return out


def write(folder: Path = FIXTURES) -> None:
    """Write ``worker_small.jsonl`` and ``healthy.jsonl`` into ``folder``."""
    folder.mkdir(exist_ok=True)
    for name, lines in (("worker_small.jsonl", worker_small()), ("healthy.jsonl", healthy())):
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {folder / name}: {len(lines)} lines")

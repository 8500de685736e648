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

from instrumentation import schema as s

FIXTURES = Path(__file__).resolve().parents[2] / "analyzers" / "report" / "fixtures"
T0 = pd.Timestamp("2026-11-28T10:00:00Z")


def line(event: str, seconds: float, message: str, **fields: Any) -> str:
    t = (T0 + pd.Timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    record = {s.TIME: t, s.SEVERITY: s.EVENT_SEVERITY[event], s.MESSAGE: message,
              s.EVENT: str(event), **fields}
    return json.dumps(record)


def execution(task_id: str, name: str, seconds: float, *, outcome: str = s.Event.TASK_SUCCEEDED,
              duration_ms: float = 120.0, worker: str = "celery@worker-0", **fields: Any
              ) -> list[str]:
    common = {s.TASK_ID: task_id, s.TASK_NAME: name, s.WORKER: worker, s.PID: 7,
              s.QUEUE: "celery", s.RETRIES: fields.pop(s.RETRIES, 0), **fields}
    return [
        line(s.Event.TASK_RECEIVED, seconds, f"Task {name} received", **common),
        line(s.Event.TASK_STARTED, seconds + 0.01, f"Task {name} started",
             **common, **{s.QUEUE_WAIT_MS: 10.0}),
        line(outcome, seconds + 0.01 + duration_ms / 1000,
             f"Task {name} {str(outcome).removeprefix('task_')}",
             **common, **{s.DURATION_MS: duration_ms}),
    ]


def worker_small() -> list[str]:
    a = {s.ORGANIZATION_ID: "org-a", s.USER_ID: "u-1"}
    b = {s.ORGANIZATION_ID: "org-b", s.USER_ID: "u-2"}
    out: list[str] = []
    for i in range(5):
        out += execution(f"add-{i}", "tasks.add", i, **a)
    out += execution("fail-1", "tasks.fetch", 10, outcome=s.Event.TASK_FAILED, **a, **{
        s.EXCEPTION_TYPE: "TimeoutError", s.EXCEPTION_MESSAGE: "upstream timed out after 30s"})
    out += execution("fail-2", "tasks.fetch", 11, outcome=s.Event.TASK_FAILED, **b, **{
        s.EXCEPTION_TYPE: "TimeoutError", s.EXCEPTION_MESSAGE: "upstream timed out after 12s"})
    out += execution("retry-1", "tasks.fetch", 12, outcome=s.Event.TASK_RETRIED, **a, **{
        s.EXCEPTION_TYPE: "ConnectionError", s.EXCEPTION_MESSAGE: "refused",
        s.RETRY_IN_S: 5})
    out += execution("retry-1", "tasks.fetch", 17, **a, **{s.RETRIES: 1})
    for i in range(8):
        out += execution("storm-1", "tasks.flaky", 20 + i, outcome=s.Event.TASK_RETRIED, **b, **{
            s.RETRIES: i, s.EXCEPTION_TYPE: "ConnectionError", s.EXCEPTION_MESSAGE: "refused"})
    for i in range(4):
        out += execution(f"calm-{i}", "tasks.flaky", 30 + i, outcome=s.Event.TASK_RETRIED, **a,
                         **{s.EXCEPTION_TYPE: "ConnectionError", s.EXCEPTION_MESSAGE: "refused"})
        out += execution(f"calm-{i}", "tasks.flaky", 35 + i, **a, **{s.RETRIES: 1})
    ok = {s.GROUP_ID: "chord-ok", s.CHORD_CALLBACK_ID: "cb-ok",
          s.CHORD_CALLBACK_NAME: "tasks.collect", s.CHORD_SIZE: 2, **a}
    out += execution("ok-m1", "tasks.member", 40, worker="celery@worker-1", **ok)
    out += execution("ok-m2", "tasks.member", 40, worker="celery@worker-2", **ok)
    out += execution("cb-ok", "tasks.collect", 41, **a)
    stuck = {s.GROUP_ID: "chord-stuck", s.CHORD_CALLBACK_ID: "cb-stuck",
             s.CHORD_CALLBACK_NAME: "tasks.collect", s.CHORD_SIZE: 3, **b}
    for i in range(3):
        out.append(line(s.Event.TASK_PUBLISHED, 50, "Task tasks.member published", **{
            s.TASK_ID: f"st-m{i}", s.TASK_NAME: "tasks.member", **stuck}))
    out += execution("st-m0", "tasks.member", 51, worker="celery@worker-1", **stuck)
    out += execution("st-m1", "tasks.member", 52, worker="celery@worker-2", **stuck)
    out.append(line(s.Event.TASK_RECEIVED, 53, "Task tasks.member received", **{
        s.TASK_ID: "st-m2", s.TASK_NAME: "tasks.member", s.WORKER: "celery@worker-0", **stuck}))
    out.append(line(s.Event.WORKER_LOST, 60, "Worker process lost while running tasks.member", **{
        s.TASK_ID: "st-m2", s.TASK_NAME: "tasks.member", s.WORKER: "celery@worker-0",
        s.REASON: "Worker exited prematurely: signal 9 (SIGKILL)", **stuck}))
    out.append("this is not a log line \x00\x01 {truncated")
    out += execution("dup-1", "tasks.report", 100, **a)
    out += execution("dup-1", "tasks.report", 3700, worker="celery@worker-1", **a)
    return out


def healthy() -> list[str]:
    out: list[str] = []
    for i in range(4):
        out += execution(f"h-{i}", "tasks.add", i * 10, **{s.ORGANIZATION_ID: "org-a"})
    return out


def write(folder: Path = FIXTURES) -> None:
    """Write ``worker_small.jsonl`` and ``healthy.jsonl`` into ``folder``."""
    folder.mkdir(exist_ok=True)
    for name, lines in (("worker_small.jsonl", worker_small()), ("healthy.jsonl", healthy())):
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {folder / name}: {len(lines)} lines")

"""Honest line accounting: read = parsed + unparsed; only tracebacks join the record above."""

from __future__ import annotations

import pandas as pd

from analyzers import ingest
from instrumentation import schema as s

HEAD = "[2026-11-28 10:00:0{}: ERROR/MainProcess] "
TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/tasks.py", line 3, in add',
    "    raise ValueError('bad')",
    "ValueError: bad",
]


def read(*lines: str) -> ingest.IngestResult:
    result = ingest.read_records([("\n".join(lines) + "\n").encode()], source="t.log")
    assert result.lines_parsed + len(result.unparsed) == result.lines_read
    return result


def test_json_values_are_not_records() -> None:
    r = read('{"time":"2026-11-28T10:00:00Z","event":"task_received","task_id":"a"}',
             "[1,2,3]", "null", "42", '"text"')
    assert len(r.frame) == 1
    assert r.unparsed[s.REASON].tolist() == ["JSON that is not an object"] * 4
    assert r.unparsed[s.LINE_NO].tolist() == [2, 3, 4, 5]


def test_unrelated_text_lines_are_not_merged() -> None:
    r = read(HEAD.format("0,000") + "Task t.add[a1] received", "hello from print()",
             "another stray line")
    assert len(r.frame) == 1
    assert r.frame[s.MESSAGE].tolist() == ["Task t.add[a1] received"]
    assert r.unparsed[s.RAW].tolist() == ["hello from print()", "another stray line"]
    assert set(r.unparsed[s.REASON]) == {"not a log record"}


def test_a_traceback_joins_its_record() -> None:
    r = read(HEAD.format("0,000") + "Task t.add[a1] raised unexpected: ValueError('bad')",
             *TRACEBACK)
    assert r.lines_unparsed == 0 and len(r.frame) == 1
    row = r.frame.iloc[0]
    assert row[s.EVENT] == "task_failed"
    assert row[s.TRACEBACK].splitlines() == TRACEBACK
    assert row[s.EXCEPTION_TYPE] == "ValueError"


def test_a_line_after_a_finished_traceback_is_not_part_of_it() -> None:
    r = read(HEAD.format("0,000") + "Task t.add[a1] raised unexpected: ValueError('bad')",
             *TRACEBACK, "worker: Warm shutdown (MainProcess)")
    failed = r.frame.iloc[0]
    assert failed[s.EXCEPTION_TYPE] == "ValueError"
    assert "Warm shutdown" not in failed[s.TRACEBACK]
    assert r.unparsed[s.RAW].tolist() == ["worker: Warm shutdown (MainProcess)"]


def test_a_traceback_without_a_record_is_unparsed() -> None:
    r = read(*TRACEBACK)
    assert len(r.frame) == 0
    assert r.lines_unparsed == 4


def test_tracebacks_join_per_pod() -> None:
    a, b = "[pod/w-a/worker] ", "[pod/w-b/worker] "
    r = read(a + HEAD.format("0,000") + "Task t.add[a1] raised unexpected: ValueError('bad')",
             b + HEAD.format("0,001") + "Task t.add[b1] received",
             *[a + line for line in TRACEBACK],
             b + "a stray line of pod b")
    failed = r.frame[r.frame[s.EVENT] == "task_failed"].iloc[0]
    assert failed[s.POD] == "w-a"
    assert failed[s.TRACEBACK].splitlines() == TRACEBACK
    assert r.unparsed[[s.POD, s.RAW]].values.tolist() == [["w-b", "a stray line of pod b"]]


def test_celerys_banner_is_one_record() -> None:
    banner = [
        " -------------- celery@host v5.7.0 (collider)",
        "--- ***** ----- ",
        "-- ******* ---- Linux-6 2026-12-02 07:53:30",
        "- *** --- * --- ",
        "- ** ---------- [config]",
        "- ** ---------- .> app:         rw:0x7f4c541bb450",
        " -------------- [queues]",
        "                .> celery           exchange=celery(direct) key=celery",
        "",
        "[tasks]",
        "  . rw.add",
        "",
    ]
    r = read(*banner, HEAD.format("1,000") + "Task rw.add[a1] received")
    assert r.lines_unparsed == 0
    assert len(r.frame) == 2
    first = r.frame.iloc[0]
    assert first[s.EVENT] == "log" and first[s.FORMAT] == "text"
    assert "[tasks]" in first[s.MESSAGE] and "rw.add" in first[s.MESSAGE]


def test_any_worker_log_format_is_read() -> None:
    r = read("2026-12-02 07:53:40,712 INFO MainProcess Task rw.add[a1] received",
             "2026-12-02 07:53:40,750 INFO MainProcess Task rw.add[a1] succeeded in 0.01s: 3",
             "2026-12-02 07:53:40,760 INFO MainProcess charging order 100 "
             "(task rw.fail[fa55b3cb-619b-4049-b637-113a5f740a79])")
    assert r.frame[s.EVENT].tolist() == ["task_received", "task_succeeded", "log"]
    assert r.frame[s.SEVERITY].tolist() == ["INFO"] * 3
    assert r.frame[s.TIME].iloc[0] == pd.Timestamp("2026-12-02T07:53:40.712Z")
    assert r.frame[s.TASK_ID].tolist()[2] == "fa55b3cb-619b-4049-b637-113a5f740a79"


def test_json_logger_keys_found_by_content() -> None:
    """python-json-logger with rename_fields: time and message under keys nobody guessed."""
    r = read('{"t":"2026-12-02T10:00:00Z","lvl":"INFO","text":"Task rw.add[a1] received"}',
             '{"t":"2026-12-02T10:00:01Z","lvl":"INFO",'
             '"text":"MainProcess Task rw.add[a1] succeeded in 0.1s: 2"}')
    assert r.frame[s.EVENT].tolist() == ["task_received", "task_succeeded"]
    assert r.frame[s.TASK_ID].tolist() == ["a1", "a1"]
    assert r.frame[s.TIME].tolist() == [pd.Timestamp("2026-12-02T10:00:00Z"),
                                        pd.Timestamp("2026-12-02T10:00:01Z")]

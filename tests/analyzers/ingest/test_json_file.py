"""The whole-file fast path for JSON lines (``analyzers.ingest.json_file``).

It must give exactly what the batch pipeline gives, and step aside (None) for anything it
cannot read faithfully, so that the pipeline reports the bad lines.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analyzers import frame, ingest
from analyzers.ingest import json_file, pipeline
from analyzers.report import COLUMNS
from analyzers.sources.files import open_sources
from instrumentation import schema as s

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def through_pipeline(path: Path) -> ingest.IngestResult:
    """The batch pipeline's reading of a file (what the fast path must equal)."""
    return pipeline.read_records(path.read_bytes(), str(path))


def fast(path: Path, columns=None) -> ingest.IngestResult | None:
    parts = json_file.read_file(path, str(path), columns=columns)
    return None if parts is None else pipeline._finish(parts, columns)


def assert_same_frame(a: pd.DataFrame, b: pd.DataFrame, columns=s.FRAME_COLUMNS) -> None:
    frame.check_frame(a)
    frame.check_frame(b)
    pd.testing.assert_frame_equal(a[list(columns)], b[list(columns)])


def test_equals_the_pipeline_on_a_real_worker_log():
    path = EXAMPLES / "worker.jsonl"
    got = fast(path)
    assert got is not None, "a clean JSON-lines file must take the fast path"
    want = through_pipeline(path)
    assert (got.lines_read, got.lines_parsed) == (want.lines_read, want.lines_parsed)
    assert got.lines_read == len(got.frame) > 0
    assert_same_frame(got.frame, want.frame)


def test_columns_leave_only_the_others_null():
    path = EXAMPLES / "worker.jsonl"
    full, some = fast(path), fast(path, columns=COLUMNS)
    assert_same_frame(some.frame, full.frame, columns=sorted(COLUMNS))
    left_out = [c for c in s.FRAME_COLUMNS if c not in COLUMNS and full.frame[c].notna().any()]
    assert left_out, "the example must have a column the report does not read"
    assert all(some.frame[c].isna().all() for c in left_out)


def test_rows_stay_in_input_order_on_a_parallel_read(tmp_path: Path):
    """DuckDB turns the event IN-list into a join that reordered rows (duckdb#24398): it shows
    once the file spans several of DuckDB's read buffers (~40 MB here). Every line carries
    its own number in ``pid``."""
    events = [str(e) for e in s.Event]
    path = tmp_path / "many.jsonl"
    padding = "x" * 250
    with path.open("w") as fh:
        for i in range(120_000):
            fh.write(json.dumps({s.TIME: "2026-11-28T10:00:00Z", s.EVENT: events[i % len(events)],
                                 s.PID: i, s.TASK_ID: f"t{i}", s.MESSAGE: padding}) + "\n")
    for _ in range(4):  # the disorder depends on thread timing: give it several chances
        got = fast(path)
        assert got is not None
        assert (got.frame[s.PID].to_numpy() == range(120_000)).all()
        assert (got.frame[s.LINE_NO].to_numpy() == range(1, 120_001)).all()


GOOD = b'{"time":"2026-11-28T10:00:00Z","event":"task_received","task_id":"a"}\n'


#: The lines a worker writes that are not log records (root warning, "Warm shutdown")
#: are the only unparsed ones.
NON_RECORDS = -1
_NON_RECORD_MARKS = ("Warning", "recommended", "--uid", "uid=0", "_warn_or_raise",
                     "Warm shutdown")


@pytest.mark.parametrize(("name", "data", "unparsed"), [
    ("blank.jsonl", GOOD + b"\n" + GOOD, 0),
    # has a blank line, and Celery's "Warm shutdown" (not a log record: unparsed)
    ("fixture.jsonl", (FIXTURES / "worker.jsonl").read_bytes(), NON_RECORDS),
    ("spaces.jsonl", GOOD + b"   \n" + GOOD, 0),
    ("truncated.jsonl", GOOD + b'{"time":"2026-11-28T10:00:01Z","ev' + b"\n" + GOOD, 1),
    ("text.jsonl", GOOD + b"[2026-11-28 10:00:00,000: INFO/MainProcess] hello\n", 0),
    ("badutf8.jsonl", GOOD + b'{"message":"\xff\xfe"}\n' + GOOD, 1),
    ("wrongtype.jsonl", GOOD + b'{"retries":{"a":1}}\n', 0),  # a record, retries null
    ("array.jsonl", GOOD + b"[1,2]\n", 1),  # JSON that is not an object: not a record
    ("entries.ndjson", (FIXTURES / "entries.ndjson").read_bytes(), NON_RECORDS),
    ("glob[1].jsonl", GOOD, 0),
    ("epoch.jsonl", GOOD + b'{"time":1795860000.5,"event":"task_received"}\n', 0),
    ("asctime.jsonl", GOOD + b'{"time":"2026-11-28 11:50:32,160","event":"log"}\n', 0),
    ("plain.log", b"[2026-11-28 10:00:00,000: INFO/MainProcess] hello\n" + GOOD, 0),
])
def test_steps_aside_for_what_it_cannot_read(tmp_path: Path, name: str, data: bytes,
                                             unparsed: int):
    path = tmp_path / name
    path.write_bytes(data)
    assert fast(path) is None
    # ... and read_sources then gives the pipeline's answer, bad lines counted.
    got = ingest.read_sources(open_sources([path]), columns=COLUMNS)
    want = through_pipeline(path)
    assert got.lines_unparsed == want.lines_unparsed
    if unparsed == NON_RECORDS:
        assert got.lines_unparsed > 0
        assert all(any(m in raw for m in _NON_RECORD_MARKS) for raw in got.unparsed[s.RAW])
    else:
        assert got.lines_unparsed == unparsed
    assert got.lines_read == want.lines_read
    assert_same_frame(got.frame, want.frame, columns=sorted(COLUMNS))


def test_gzip_and_empty_files_step_aside(tmp_path: Path):
    gz = tmp_path / "w.jsonl.gz"
    gz.write_bytes(gzip.compress(GOOD * 3))
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert fast(gz) is None and fast(empty) is None
    r = ingest.read_sources(open_sources([gz, empty]))
    assert (r.lines_read, len(r.frame)) == (3, 3)


def test_line_numbers_and_sources_of_several_files(tmp_path: Path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    shutil.copy(EXAMPLES / "worker.jsonl", a)
    b.write_bytes(GOOD * 2)
    r = ingest.read_sources(open_sources([a, b]))
    n = len(a.read_bytes().splitlines())
    assert r.frame[s.SOURCE].tolist() == [str(a)] * n + [str(b)] * 2
    assert r.frame[s.LINE_NO].tolist() == [*range(1, n + 1), 1, 2]


def test_crlf_lines_take_the_fast_path_and_equal_the_pipeline(tmp_path: Path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes((EXAMPLES / "worker.jsonl").read_bytes().replace(b"\n", b"\r\n"))
    got = fast(path)
    assert got is not None
    assert_same_frame(got.frame, through_pipeline(path).frame)


def test_other_loggers_lines_step_aside_to_the_pipeline(tmp_path: Path):
    """level/msg/timestamp/asctime (python-json-logger, pino-style): not our lines, so the
    pipeline reads them (it finds time and message by content where the keys are unknown)."""
    path = tmp_path / "other.jsonl"
    path.write_bytes(
        b'{"timestamp":"2026-11-28T10:00:00.5Z","level":"warn","msg":"disk low"}\n'
        b'{"asctime":"2026-11-28 10:00:01,250","levelname":"ERROR","message":"boom",'
        b'"name":"app","process":7}\n'
        b'{"time":"2026-11-28T10:00:02+01:00","severity":"INFO","event":"task_received",'
        b'"task_id":"t1"}\n')
    assert fast(path) is None
    got = ingest.read_sources(open_sources([path]))
    assert got.frame[s.MESSAGE].tolist()[:2] == ["disk low", "boom"]
    assert got.frame[s.TIME].notna().all()  # the asctime line too (parsed after DuckDB)

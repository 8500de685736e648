"""--max-line: over-long lines are cut and counted, and memory does not follow the longest line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers import ingest
from analyzers.ingest.line_limit import LineLimit
from analyzers.sources.files import open_sources

RHESIS_LOGS = str(Path(sys.executable).with_name("rhesis-logs"))


def _expected(data: bytes, limit: int) -> tuple[bytes, int]:
    lines = data.split(b"\n")
    cut = sum(len(line) > limit for line in lines)
    return b"\n".join(line[:limit] for line in lines), cut


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=30),
    limit=st.integers(min_value=2, max_value=25),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=10),
)
def test_cuts_exactly_the_long_lines_however_the_chunks_fall(lines, limit, cuts):
    data = b"\n".join(bytes([97 + i % 26]) * n for i, n in enumerate(lines))
    chunks, pos = [], 0
    for size in cuts:
        chunks.append(data[pos : pos + size])
        pos += size
    chunks.append(data[pos:])
    limiter = LineLimit(limit)
    out = b"".join(limiter.wrap(chunks))
    want, count = _expected(data, limit)
    assert out == want
    assert limiter.truncated == count


def test_short_lines_pass_through_as_the_same_chunks():
    chunk = b"".join(b"x" * 90 + b"\n" for _ in range(1000))
    limiter = LineLimit(100)
    assert list(limiter.wrap([chunk, chunk])) == [chunk, chunk]
    assert limiter.truncated == 0


def test_a_long_json_line_in_a_file_is_cut_counted_and_unparsed(tmp_path):
    path = tmp_path / "w.jsonl"
    good = json.dumps({"event": "task_received", "time": "2026-11-28T10:00:00Z",
                       "task_id": "t1", "task_name": "a"})
    huge = json.dumps({"event": "task_failed", "time": "2026-11-28T10:00:01Z",
                       "message": "x" * 5000})
    path.write_text(f"{good}\n{huge}\n{good}\n")
    result = ingest.read_sources(open_sources([path]), max_line=1000)
    assert (result.lines_read, result.lines_parsed, result.lines_truncated) == (3, 2, 1)
    assert result.unparsed["line_no"].tolist() == [2]
    assert len(result.unparsed["raw"].iloc[0]) <= 2000
    whole = ingest.read_sources(open_sources([path]), max_line=10_000)
    assert (whole.lines_parsed, whole.lines_truncated) == (3, 0)


def test_the_report_counts_truncated_lines(tmp_path):
    path = tmp_path / "w.log"
    path.write_text("[2026-11-28 10:00:00,000: INFO/MainProcess] " + "y" * 3000 + "\nshort\n")
    done = subprocess.run([RHESIS_LOGS, "analyze", str(path), "--format", "json",
                           "--max-line", "1K"], capture_output=True, check=False)
    lines = json.loads(done.stdout)["lines"]
    assert lines["read"] == 2 and lines["truncated"] == 1


def test_a_150_mb_line_is_analyzed_in_under_300_mb(tmp_path):
    path = tmp_path / "huge.jsonl"
    head = b'{"event":"task_received","time":"2026-11-28T10:00:00Z","task_id":"t1"}\n'
    with path.open("wb") as out:
        out.write(head)
        out.write(b'{"event":"log","message":"')
        block = b"z" * (1 << 20)
        for _ in range(150):
            out.write(block)
        out.write(b'"}\n')
        out.write(head)
    # A fresh parent whose only child is the analyzer: RUSAGE_CHILDREN is then its peak.
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(done.returncode, peak, done.stdout.decode())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, RHESIS_LOGS, "analyze", str(path),
                           "--format", "json"], capture_output=True, check=True, text=True)
    code, peak_kb, report = done.stdout.split(" ", 2)
    lines = json.loads(report)["lines"]
    assert lines == {"read": 3, "parsed": 2, "unparsed": 1, "records": 2, "truncated": 1}
    assert int(code) in (0, 1)
    assert int(peak_kb) < 300 * 1024, f"peak RSS {int(peak_kb) // 1024} MB"


def _long_line_input(tmp_path: Path) -> Path:
    path = tmp_path / "piped.jsonl"
    good = json.dumps({"event": "task_received", "time": "2026-11-28T10:00:00Z",
                       "task_id": "t1", "task_name": "a"})
    with path.open("wb") as out:
        out.write(good.encode() + b"\n")
        out.write(b'{"event":"log","message":"' + b"z" * (8 << 20) + b'"}\n')  # 8 MB
        out.write(good.replace("t1", "t2").encode() + b"\n")
    return path


def test_parse_follow_cuts_long_lines_and_says_so(tmp_path):
    # -f reads as the bytes arrive: the limit must hold there too, not only in batch reads.
    with _long_line_input(tmp_path).open("rb") as stdin:
        done = subprocess.run([RHESIS_LOGS, "parse", "-f", "--max-line", "1K", "-o", "jsonl"],
                              stdin=stdin, capture_output=True, check=False, timeout=120)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r.get("task_id") for r in records if r.get("task_id")] == ["t1", "t2"]
    assert all(len(line) < 4096 for line in done.stdout.splitlines())
    assert b"1 line(s) longer than --max-line (1,024 bytes) were cut" in done.stderr


def test_analyze_follow_counts_truncated_lines(tmp_path):
    with _long_line_input(tmp_path).open("rb") as stdin:
        done = subprocess.run([RHESIS_LOGS, "analyze", "-f", "--max-line", "1K", "-o", "json"],
                              stdin=stdin, capture_output=True, check=False, timeout=120)
    lines = json.loads(done.stdout)["lines"]
    assert lines["read"] == 3 and lines["truncated"] == 1, lines

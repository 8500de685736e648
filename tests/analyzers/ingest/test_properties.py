"""Property tests: no input makes the ingest raise, and every line is accounted for."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzers import frame, ingest
from analyzers.ingest.detect import is_json_array
from instrumentation import schema as s

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SAMPLES = {
    name: [line.encode() for line in (FIXTURES / name).read_text().split("\n")[:40]
           if line.strip()]
    for name in ("worker.jsonl", "celery_plain.log", "kubectl_interleaved.log", "entries.ndjson")
}
REAL_LINES = [line for lines in SAMPLES.values() for line in lines]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=6)
schema_keys = st.sampled_from([*s.FRAME_COLUMNS, "level", "msg", "timestamp", "asctime",
                               "jsonPayload", "textPayload", s.LABELS])
json_objects = st.dictionaries(schema_keys | st.text(max_size=8), json_values, max_size=6)


@st.composite
def lines(draw) -> bytes:
    kind = draw(st.sampled_from(["real", "cut", "json", "bytes", "text", "prefixed"]))
    if kind == "real":
        return draw(st.sampled_from(REAL_LINES))
    if kind == "cut":
        line = draw(st.sampled_from(REAL_LINES))
        return line[: draw(st.integers(0, len(line)))]
    if kind == "json":
        return json.dumps(draw(json_objects)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=80)).replace(b"\n", b"")
    if kind == "text":
        return draw(st.text(max_size=80)).replace("\n", " ").encode("utf-8", "surrogatepass")
    pod = draw(st.sampled_from(["a", "b"]))
    return f"[pod/{pod}/c] 2026-11-28T10:00:00.123456789Z ".encode() + draw(
        st.sampled_from(REAL_LINES))


def nonblank(data: bytes) -> int:
    """Lines with content once the line ending (``\n`` or ``\r\n``) is taken off.

    Only one ``\r`` belongs to the ending: a stray ``\r`` before it is content, read and shown
    as unparsed rather than silently dropped (nothing is lost)."""
    return sum(1 for x in data.split(b"\n") if (x[:-1] if x.endswith(b"\r") else x))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), max_size=25))
def test_no_input_crashes_and_lines_add_up(batch):
    """Whatever the lines, parsed + unparsed == read, and the frame keeps its contract."""
    data = b"\n".join(batch)
    r = ingest.read_records([data], source="prop")
    if not is_json_array(data):  # an array counts entries, not lines
        assert r.lines_read == nonblank(data)
    assert r.lines_parsed + len(r.unparsed) == r.lines_read
    assert len(r.frame) <= r.lines_parsed
    frame.check_frame(r.frame)
    assert list(r.unparsed.columns) == list(frame.UNPARSED_COLUMNS)
    if len(r.unparsed):
        assert r.unparsed[s.LINE_NO].between(1, data.count(b"\n") + 1).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(REAL_LINES), min_size=1, max_size=30),
       st.integers(min_value=1, max_value=400))
def test_chunking_does_not_matter(batch, cut):
    """The same bytes split into chunks anywhere (mid-line, mid-character) read the same."""
    data = b"\n".join(batch)
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    whole = ingest.read_records([data])
    pieces = ingest.read_records(chunks)
    assert whole.lines_read == pieces.lines_read
    assert whole.frame[s.EVENT].tolist() == pieces.frame[s.EVENT].tolist()


@st.composite
def one_format(draw) -> list[bytes]:
    """Lines of one sample, in order, with some left out: what a followed stream looks like."""
    lines = SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))]
    start = draw(st.integers(0, len(lines) - 1))
    keep = draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
    return [x for x, k in zip(lines[start:], keep, strict=False) if k] or [lines[start]]


@settings(max_examples=40, deadline=None)
@given(one_format())
def test_streaming_parser_agrees_with_batch(batch):
    """parse --follow (line by line) yields the same records as reading the whole input."""
    data = b"\n".join(batch)
    whole = ingest.read_records([data])
    parser = ingest.StreamParser()
    streamed = []
    for line in batch:
        streamed += parser.feed(line + b"\n")
    streamed += parser.flush()
    key = [s.EVENT, s.TASK_ID, s.LINE_NO, s.TRACEBACK]
    assert sorted(tuple(str(r[k]) for k in key) for r in streamed) == sorted(
        tuple(str(v) for v in row) for row in whole.frame[key].astype(object)
        .where(whole.frame[key].notna(), None).itertuples(index=False))
    assert parser.lines_read == whole.lines_read
    assert parser.lines_parsed == whole.lines_parsed

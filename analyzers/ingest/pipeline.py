"""The columnar ingest: raw bytes in, normalized frame out (see ``analyzers.ingest``).

A source is read in batches of ``BATCH_BYTES`` (``read_source``); each batch goes through
these steps, each over whole columns:

1. ``detect``: a gcloud JSON array is unpacked into entries; otherwise the buffer is split into
   lines (NumPy newline scan) and checked for UTF-8 (Arrow); bad lines go to ``unparsed``.
2. Fast path: when every line starts with ``{`` (plain JSON lines or LogEntry NDJSON), the
   buffer goes straight to ``json_lines`` (DuckDB ``json_transform``, zero-copy from Arrow).
3. General path: the lines become a Polars column; ``kubectl.split_prefixes`` peels pod and
   timestamp prefixes; each body is classified (JSON object, Celery header, other text,
   binary junk); JSON bodies are decoded as in 2; text lines are grouped into records per
   pod/container (``kubectl.stitch``) and read with ``celery_text``. Records that may still
   continue (the last one of each stream) are carried into the next batch.
4. Everything is concatenated in input order and handed to pandas (``frame.from_arrow``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from analyzers import frame
from analyzers.ingest import celery_text, json_lines, kubectl
from analyzers.ingest._times import UTC_US, parse_times
from analyzers.ingest.detect import (
    Lines,
    first_bytes,
    invalid_utf8_mask,
    is_json_array,
    split_lines,
)
from instrumentation import schema as s

ORDER = "_order"  # position of a record in the whole input, for the final sort
_ERROR_EVENTS = [str(e) for e in (
    s.Event.TASK_FAILED, s.Event.TASK_RETRIED, s.Event.TASK_INTERNAL_ERROR, s.Event.CHORD_ERROR,
    s.Event.WORKER_LOST, s.Event.TIME_LIMIT_EXCEEDED, s.Event.TASK_UNKNOWN,
)]
_TRACEBACK_START = "Traceback (most recent call last)"
_BINARY = r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]"
# A line of a LogEntry export carries one of these keys; plain log lines never do.
_ENTRY_KEYS = (b'"textPayload"', b'"jsonPayload"', b'"protoPayload"', b'"insertId"')

_FINAL_SCHEMA = frame.ARROW_SCHEMA.append(pa.field(ORDER, pa.int64()))

_POLARS_TYPES = {
    c: (UTC_US if c == s.TIME else
        {"large_string": pl.String, "int64": pl.Int64, "double": pl.Float64, "bool": pl.Boolean}[
            str(frame.ARROW_SCHEMA.field(c).type)])
    for c in s.FRAME_COLUMNS
}


@dataclass
class IngestResult:
    """What reading some sources produced.

    ``frame`` has the columns ``schema.FRAME_COLUMNS`` (dtypes in ``analyzers.frame``);
    ``unparsed`` has ``frame.UNPARSED_COLUMNS``. ``lines_parsed + lines_unparsed ==
    lines_read`` always holds.
    """

    frame: pd.DataFrame
    unparsed: pd.DataFrame
    lines_read: int
    lines_parsed: int

    @property
    def lines_unparsed(self) -> int:
        return self.lines_read - self.lines_parsed


@dataclass
class _Parts:
    """Polars pieces of one or more sources, before the final assembly."""

    records: list[pa.Table] = field(default_factory=list)  # each in _FINAL_SCHEMA
    unparsed: list[pl.DataFrame] = field(default_factory=list)
    lines_read: int = 0
    # For a batch read with partial=True: where the unread tail starts (byte offset in the
    # batch, and its first line's number); None when everything was read.
    carry: int | None = None
    carry_line_no: int = 0
    # The second half of a text batch (parsing the records), running on the background
    # thread while the next batch is split and stitched; merged by read_source in order.
    deferred: Future[_Parts] | None = None

    def merge(self, other: _Parts) -> None:
        self.records += other.records
        self.unparsed += other.unparsed
        self.lines_read += other.lines_read


#: A source is read this many bytes at a time, so memory does not grow with the input. Why
#: 16 MB and not more: glibc hands blocks up to 32 MB back to its heap when freed, so the
#: next batch reuses warm pages; bigger ones are unmapped and every page faults again
#: (measured on this VM: 64 MB batches spent 2.7 s in the kernel per 1 M lines, 16 MB 1 s).
BATCH_BYTES = 16 << 20
#: A text record is considered possibly open at the end of a batch only if it began within
#: this many lines of the end (a traceback is never interleaved with 10 000 other lines).
OPEN_RECORD_WINDOW = 10_000


def read_records(chunks: Iterable[bytes | str], source: str = "stdin", *,
                 batch_bytes: int | None = None) -> IngestResult:
    """Read one source given as chunks of bytes (or text) in any supported format."""
    return _finish(read_source(chunks, source, batch_bytes=batch_bytes))


def read_sources(sources: Iterable[tuple[str, Iterable[bytes | str]]]) -> IngestResult:
    """Read several ``(source_name, chunks)`` pairs (what ``analyzers.sources`` yield)."""
    parts = _Parts()
    for n, (name, chunks) in enumerate(sources):
        parts.merge(read_source(chunks, name, order_base=n << 40))
    return _finish(parts)


def read_source(chunks: Iterable[bytes | str], source: str, order_base: int = 0,
                batch_bytes: int | None = None) -> _Parts:
    """One source, in batches of ``BATCH_BYTES`` while it is made of JSON lines only.

    A batch is cut after its last newline. Text records that may still go on (the last one of
    each pod/container, whose traceback may continue in the next batch) are not read: their
    lines are carried into the next batch. A gcloud JSON array is read as one buffer.
    """
    size = batch_bytes or BATCH_BYTES
    sequence: list[_Parts] = []  # in input order; text batches finish on a background thread
    executor = _background()
    blocks: list[bytes | memoryview] = []
    held = 0
    line_no = 1
    entries: bool | None = None
    batching = True
    for piece in _pieces(chunks, size):
        blocks.append(piece)
        held += len(piece)
        if not batching or held < size:
            continue
        buf = b"".join(blocks)  # the only copy: blocks are dropped right after
        blocks.clear()
        cut = buf.rfind(b"\n") + 1
        if cut == 0 or (line_no == 1 and is_json_array(buf)):
            batching = False  # one line longer than a batch, or an array: read as a whole
            blocks, held = [buf], len(buf)
            continue
        lines = split_lines(memoryview(buf)[:cut], line_no)
        if len(lines) and entries is None and first_bytes(buf, lines)[0] == ord("{"):
            entries = is_entry_line(buf[lines.starts[0] : lines.ends[0]])
        part = read_buffer(buf, source, line_no, order_base, entries, lines=lines,
                           partial=True, executor=executor)
        sequence.append(part)
        # At most two batches in flight: the background thread must not fall far behind.
        waiting = [p.deferred for p in sequence[-3:-1] if p.deferred is not None]
        for future in waiting[:-1]:
            future.result()
        if part.carry is None:
            rest, line_no = buf[cut:], line_no + lines.physical
        else:  # text records still open at the end of the batch: read them with the next
            rest, line_no = buf[part.carry :], part.carry_line_no
        blocks, held = ([rest], len(rest)) if rest else ([], 0)
        if part.carry == 0:
            size *= 2  # one record as long as the batch: take more next time
        del buf, lines, part
    pending = b"".join(blocks)
    del blocks
    sequence.append(read_buffer(pending, source, line_no, order_base, entries,
                                executor=executor))
    parts = _Parts()
    for part in sequence:
        parts.merge(part)
        if part.deferred is not None:
            parts.merge(part.deferred.result())
    return parts


_background_pool: ThreadPoolExecutor | None = None
_background_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """One thread that parses a text batch while the main thread prepares the next one."""
    global _background_pool
    with _background_lock:
        if _background_pool is None:
            _background_pool = ThreadPoolExecutor(max_workers=1,
                                                  thread_name_prefix="rhesis-ingest-text")
        return _background_pool


def read_entries(
    entries: Iterable[Mapping[str, Any]], source: str = "cloud-logging"
) -> IngestResult:
    """Read Cloud Logging ``LogEntry`` dicts (the API's JSON representation)."""
    buf = b"\n".join(orjson.dumps(e, default=str) for e in entries)
    return _finish(read_buffer(buf, source))


# ---------------------------------------------------------------------------------------
# One buffer
# ---------------------------------------------------------------------------------------


def _pieces(chunks: Iterable[bytes | str] | bytes | str, size: int
            ) -> Iterator[bytes | memoryview]:
    """The chunks cut to at most ``size`` bytes each (views, not copies)."""
    if isinstance(chunks, (bytes, bytearray, str)):
        chunks = [chunks]
    for chunk in chunks:
        data = chunk.encode("utf-8", "surrogateescape") if isinstance(chunk, str) else chunk
        if len(data) <= size:
            yield data
            continue
        view = memoryview(data)
        for i in range(0, len(view), size):
            yield view[i : i + size]


def read_buffer(buf: bytes | bytearray, source: str, first_line_no: int = 1, order_base: int = 0,
                entries: bool | None = None, lines: Lines | None = None,
                partial: bool = False, executor: ThreadPoolExecutor | None = None) -> _Parts:
    """Parse one buffer of a source into parts (``read_records`` without the assembly).

    ``entries`` forces reading JSON lines as LogEntry objects (True) or as log lines (False);
    by default the first line decides. ``lines`` may pass the buffer's lines if known.
    ``partial``: more of the source follows, so text records still open at the end are left
    unread (``parts.carry`` says where they start). ``executor``: parse text records there
    (``parts.deferred``) instead of before returning.
    """
    if first_line_no == 1 and is_json_array(buf):
        return _read_json_array(bytes(buf), source, order_base)
    if lines is None:
        lines = split_lines(buf, first_line_no)
    parts = _Parts(lines_read=len(lines))
    if len(lines) == 0:
        return parts
    all_lines = lines
    bad_utf8 = invalid_utf8_mask(buf, lines)
    if bad_utf8.any():
        parts.unparsed.append(_unparsed_from_lines(buf, lines.take(bad_utf8), source,
                                                   "invalid UTF-8"))
        buf = _blank_out(buf, lines.take(bad_utf8))
        lines = lines.take(~bad_utf8)
        if len(lines) == 0:
            return parts
    if (first_bytes(buf, lines) == ord("{")).all():
        if entries is None:
            entries = is_entry_line(buf[lines.starts[0] : lines.ends[0]])
        # (Not deferred to the background thread: DuckDB already keeps both cores busy.)
        _read_json_fast(buf, lines, source, order_base, parts, entries)
        return parts
    first_open = _read_general(buf, lines, source, order_base, parts, partial, executor)
    if first_open is not None:  # lines from first_open on are left for the next batch
        parts.carry = int(lines.starts[first_open])
        parts.carry_line_no = int(lines.line_no[first_open])
        parts.lines_read = int((all_lines.starts < parts.carry).sum())
        parts.unparsed = [u.filter(pl.col(s.LINE_NO) < parts.carry_line_no)
                          for u in parts.unparsed]
    return parts


def _blank_out(buf: bytes, lines: Lines) -> bytes:
    """A copy of ``buf`` with the given lines' bytes replaced by newlines."""
    out = bytearray(buf)
    view = np.frombuffer(out, dtype=np.uint8)
    for a, b in zip(lines.starts, lines.ends, strict=True):
        view[a:b] = 10
    return bytes(out)


def is_entry_line(line: bytes) -> bool:
    """Whether a JSON line is a Cloud Logging LogEntry (it has a payload or insertId key).

    A source is read either as log lines or as LogEntry objects, decided by its first line:
    exports and API pulls hold nothing but entries, and worker logs never hold one.
    """
    return any(k in line for k in _ENTRY_KEYS)


def _read_json_fast(buf: bytes, lines: Lines, source: str, order_base: int, parts: _Parts,
                    entries: bool) -> None:
    # Zero-copy: element i spans from line i's start to line i+1's start (terminator included;
    # JSON ignores trailing whitespace).
    offsets = np.concatenate((lines.starts, [lines.ends[-1]])).astype(np.int64)
    texts = pa.LargeStringArray.from_buffers(len(lines), pa.py_buffer(offsets), pa.py_buffer(buf))
    ctx = pl.DataFrame({s.LINE_NO: lines.line_no})
    if entries:
        _read_entries_table(json_lines.decode_entries(texts), ctx, buf, lines, source,
                            order_base, parts)
        return
    _add_json_records(json_lines.decode_plain(texts), ctx, buf, lines, source, order_base,
                      parts, frame.FORMAT_JSON)


def _add_json_records(table: pa.Table, ctx: pl.DataFrame, buf: bytes | None, lines: Lines | None,
                      source: str, order_base: int, parts: _Parts, fmt: str,
                      bodies: pl.Series | None = None) -> None:
    """Records from a decoded table (``json_lines``); its bad rows become unparsed lines.

    ``ctx`` holds, per decoded element (``_i``), line_no and optionally pod, container,
    namespace and prefix_time. Stays in Arrow: this is the hot path of a JSON log.
    """
    J = json_lines
    kinds = table.column(J.KIND)
    bad = pc.equal(kinds, J.KIND_BAD)
    if pc.any(bad).as_py():
        bad_idx = table.column(J.INDEX).filter(bad).to_numpy()
        if bodies is not None:
            _add_unparsed_texts(parts, source, ctx[bad_idx], bodies[bad_idx], "invalid JSON")
        else:
            _add_bad(parts, [(int(i), "invalid JSON") for i in bad_idx], buf, lines, source)
    keep = pc.equal(kinds, J.KIND_JSON)
    if not pc.all(keep).as_py():
        table = table.filter(keep)
    n = table.num_rows
    idx = table.column(J.INDEX).to_numpy()
    identity = n == ctx.height and (n == 0 or (idx[0] == 0 and idx[-1] == n - 1))
    here = ctx if identity else ctx[idx]
    time = table.column(s.TIME).cast(frame.ARROW_SCHEMA.field(s.TIME).type)
    raw_time = table.column(J.TIME_RAW)
    if raw_time.null_count < n:  # formats DuckDB does not know (asctime, epoch numbers)
        time = pc.coalesce(time, parse_times(pl.from_arrow(raw_time)).to_arrow())
    if kubectl.PREFIX_TIME in here.columns:
        time = pc.coalesce(time, here.get_column(kubectl.PREFIX_TIME).to_arrow())
    columns = {c: table.column(c) for c in J.WORKER_FIELDS}
    columns[s.TIME] = time
    line_no = here.get_column(s.LINE_NO).to_numpy()
    columns[s.LINE_NO] = pa.array(line_no)
    for name, key in ((s.POD, kubectl.POD), (s.CONTAINER, kubectl.CONTAINER),
                      (s.NAMESPACE, s.NAMESPACE)):
        if key in here.columns:
            columns[name] = here.get_column(key).to_arrow()
        elif name in table.column_names:
            columns[name] = table.column(name)
    columns[s.SOURCE] = pa.repeat(pa.scalar(source, pa.large_string()), n)
    columns[s.FORMAT] = pa.repeat(pa.scalar(fmt, pa.large_string()), n)
    columns[ORDER] = pa.array(line_no + order_base)
    parts.records.append(_final(pa.table(columns)))


def _final(table: pa.Table) -> pa.Table:
    """``table`` with exactly the frame's columns (nulls where missing) and ``_order``."""
    n = table.num_rows
    arrays = []
    for f in _FINAL_SCHEMA:
        if f.name in table.column_names:
            c = table.column(f.name)
            arrays.append(c if c.type == f.type else c.cast(f.type))
        else:
            arrays.append(json_lines.null_array(n, f.type))
    return json_lines.share_nulls(pa.table(arrays, schema=_FINAL_SCHEMA))


def _in_order(df: pl.DataFrame) -> pl.DataFrame:
    """DuckDB scans in parallel: put rows back in input order (a no-op when they are)."""
    idx = df.get_column(json_lines.INDEX)
    return df if idx.is_sorted() else df.sort(json_lines.INDEX)


def _add_unparsed_texts(parts: _Parts, source: str, ctx: pl.DataFrame, texts: pl.Series,
                        reason: str) -> None:
    parts.unparsed.append(pl.DataFrame({
        s.SOURCE: [source] * ctx.height,
        s.LINE_NO: ctx.get_column(s.LINE_NO),
        s.POD: ctx.get_column(kubectl.POD),
        s.CONTAINER: ctx.get_column(kubectl.CONTAINER),
        s.REASON: [reason] * ctx.height,
        s.RAW: [frame.truncate_raw(x) for x in texts.to_list()],
    }))


def _add_bad(parts: _Parts, bad: list[tuple[int, str]], buf: bytes, lines: Lines, source: str,
             pods: pl.DataFrame | None = None) -> None:
    if not bad:
        return
    idx = np.array([i for i, _ in bad], dtype=np.int64)
    df = _unparsed_from_lines(buf, lines.take(idx), source, [r for _, r in bad])
    if pods is not None:
        df = df.with_columns(pods[idx, kubectl.POD].alias(s.POD),
                             pods[idx, kubectl.CONTAINER].alias(s.CONTAINER))
    parts.unparsed.append(df)


def _unparsed_from_lines(buf: bytes, lines: Lines, source: str, reason: str | list[str]
                         ) -> pl.DataFrame:
    raws = [
        frame.truncate_raw(buf[a : min(b, a + 4 * frame.RAW_LIMIT)].decode("utf-8", "replace"))
        for a, b in zip(lines.starts, lines.ends, strict=True)
    ]
    return pl.DataFrame({
        s.SOURCE: [source] * len(raws),
        s.LINE_NO: lines.line_no,
        s.POD: pl.Series([None] * len(raws), dtype=pl.String),
        s.CONTAINER: pl.Series([None] * len(raws), dtype=pl.String),
        s.REASON: reason if isinstance(reason, list) else [reason] * len(raws),
        s.RAW: raws,
    }, schema_overrides={s.LINE_NO: pl.Int64})


# ---------------------------------------------------------------------------------------
# General path: prefixes, mixed formats, text records
# ---------------------------------------------------------------------------------------


def _lines_column(buf: bytes, lines: Lines) -> pl.Series:
    """Every line as a Polars string (with its terminator, stripped later): zero-copy Arrow."""
    offsets = np.concatenate((lines.starts, [lines.ends[-1]])).astype(np.int64)
    arr = pa.LargeStringArray.from_buffers(len(lines), pa.py_buffer(offsets), pa.py_buffer(buf))
    return pl.Series(kubectl.TEXT, arr)


def _read_general(buf: bytes, lines: Lines, source: str, order_base: int, parts: _Parts,
                  partial: bool = False, executor: ThreadPoolExecutor | None = None
                  ) -> int | None:
    """Lines with prefixes or text. With ``partial``, returns the index of the first line left
    unread (the start of the earliest record that may continue in the next batch), if any."""
    col = pl.col
    df = pl.DataFrame({"_i": np.arange(len(lines), dtype=np.int64),
                       kubectl.TEXT: _lines_column(buf, lines)})
    df = kubectl.split_prefixes(df).drop(kubectl.TEXT)
    body = col(kubectl.BODY)
    df = df.with_columns(
        pl.when(body == "").then(pl.lit(kubectl.EMPTY))
        .when(body.str.starts_with("{")).then(pl.lit(kubectl.JSON))
        .when(body.str.contains(celery_text.HEADER_START)).then(pl.lit(kubectl.HEADER))
        .otherwise(pl.lit(kubectl.PLAIN)).alias(kubectl.KIND),
        pl.concat_str(col(kubectl.POD).fill_null(""), col(kubectl.CONTAINER).fill_null(""),
                      separator="/").alias(kubectl.STREAM),
        pl.Series(s.LINE_NO, lines.line_no),
        pl.lit(None, pl.String).alias(s.NAMESPACE),
    )
    # Binary junk can only hide among the plain lines: look for control bytes there only.
    junk = df.filter(col(kubectl.KIND) == kubectl.PLAIN).filter(body.str.contains(_BINARY))
    if junk.height:
        df = df.with_columns(
            pl.when(col("_i").is_in(junk.get_column("_i").implode())).then(pl.lit(kubectl.BINARY))
            .otherwise(col(kubectl.KIND)).alias(kubectl.KIND))
    owners = kubectl.stitch(df.select("_i", kubectl.STREAM, kubectl.KIND))
    first_open = _first_open_record(df, owners) if partial else None
    if first_open is not None:  # records never span the cut: their owners stay valid
        df = df.filter(col("_i") < first_open)
        owners = owners.filter(col("_i") < first_open)
    _binary_unparsed(df, source, parts)
    if executor is not None:
        parts.deferred = executor.submit(_read_records_of, df, owners, source, order_base)
    else:
        parts.merge(_read_records_of(df, owners, source, order_base))
    return first_open


def _read_records_of(df: pl.DataFrame, owners: pl.DataFrame, source: str, order_base: int
                     ) -> _Parts:
    """The records of a classified, stitched batch: JSON bodies and text records."""
    parts = _Parts()
    js = df.filter(pl.col(kubectl.KIND) == kubectl.JSON)
    if js.height:  # one contiguous NDJSON buffer, decoded like the fast path
        _read_json_bodies(js, source, order_base, parts)
    _read_text(df, source, order_base, parts, owners)
    return parts


def _first_open_record(df: pl.DataFrame, owners: pl.DataFrame) -> int | None:
    """The latest line index ``p`` such that no record spans line ``p`` and the last text
    record of every stream starts at or after ``p`` (None: nothing can be left open)."""
    n = df.height
    if owners.height == 0:
        return None
    start = np.arange(n, dtype=np.int64)
    start[owners.get_column("_i").to_numpy()] = owners.get_column(kubectl.START).to_numpy()
    streams = df.get_column(kubectl.STREAM).to_numpy()[owners.get_column("_i").to_numpy()]
    last_starts = pl.DataFrame({"stream": streams, "start": owners.get_column(kubectl.START)}) \
        .group_by("stream").agg(pl.col("start").max()).get_column("start")
    # A stream whose last record began long before the end has gone quiet (kubectl without
    # --follow prints pod after pod): its record is over, do not hold the batch for it.
    recent = last_starts.filter(last_starts >= n - OPEN_RECORD_WINDOW)
    if recent.len() == 0:
        return None
    p = int(recent.min())
    # Move p back until no record that started before p has lines at or after it.
    suffix_min = np.minimum.accumulate(start[::-1])[::-1]
    while p > 0 and suffix_min[p] < p:
        p = int(suffix_min[p])
    return p


def _binary_unparsed(df: pl.DataFrame, source: str, parts: _Parts) -> None:
    junk = df.filter(pl.col(kubectl.KIND) == kubectl.BINARY)
    if junk.height:
        parts.unparsed.append(junk.select(
            pl.lit(source).alias(s.SOURCE), pl.col(s.LINE_NO),
            pl.col(kubectl.POD).alias(s.POD), pl.col(kubectl.CONTAINER).alias(s.CONTAINER),
            pl.lit("binary data").alias(s.REASON),
            pl.col(kubectl.BODY).map_elements(frame.truncate_raw, return_dtype=pl.String)
            .alias(s.RAW),
        ))


def _read_json_bodies(js: pl.DataFrame, source: str, order_base: int, parts: _Parts) -> None:
    bodies = js.get_column(kubectl.BODY)
    ctx = js.select(s.LINE_NO, kubectl.POD, kubectl.CONTAINER, s.NAMESPACE, kubectl.PREFIX_TIME)
    _add_json_records(json_lines.decode_plain(bodies.to_arrow()), ctx, None, None, source,
                      order_base, parts, frame.FORMAT_JSON, bodies=bodies)


def _read_text(df: pl.DataFrame, source: str, order_base: int, parts: _Parts,
               owners: pl.DataFrame | None = None) -> None:
    """Text lines (Celery headers and other text) of ``df`` become records, stitched per stream.

    ``df`` has ``_i`` (stitching order), ``kind``, ``stream``, ``body``, ``line_no``, ``pod``,
    ``container``, ``namespace`` and ``prefix_time``.
    """
    col = pl.col
    kinds = df.get_column(kubectl.KIND)
    if not kinds.is_in([kubectl.HEADER, kubectl.PLAIN]).any():
        return
    if owners is None:
        owners = kubectl.stitch(df.select("_i", kubectl.STREAM, kubectl.KIND))
    firsts = owners.filter(col(kubectl.START) == col("_i")).select("_i")
    recs = firsts.join(df.select("_i", kubectl.KIND, kubectl.BODY, s.LINE_NO, kubectl.POD,
                                 kubectl.CONTAINER, s.NAMESPACE, kubectl.PREFIX_TIME),
                       on="_i", how="left")
    blocks = kubectl.blocks(df, owners)
    del owners
    is_header = col(kubectl.KIND) == kubectl.HEADER
    parsed = celery_text.parse_headers(
        recs.filter(is_header).select("_i", kubectl.BODY, kubectl.PREFIX_TIME))
    recs = recs.join(parsed, on="_i", how="left")
    recs = recs.with_columns([
        pl.lit(None, _POLARS_TYPES[c]).alias(c)
        for c in (s.TASK_ID, s.TASK_NAME, s.ETA, s.CHORD_ID, s.WORKER, s.RESULT, s.DURATION_MS,
                  s.RETRY_IN_S, s.REASON, s.EXCEPTION_TYPE, s.EXCEPTION_MESSAGE, s.TIME,
                  s.SEVERITY, s.MESSAGE)
        if c not in recs.columns
    ])
    # Most records are one line: their message is the sentence (or the text line) and they
    # keep no raw copy when Celery's sentence was understood. Records with continuation
    # lines (few) are finished apart and joined back.
    out = recs.select(
        "_i",
        pl.coalesce(col(kubectl.PREFIX_TIME), col(s.TIME)).alias(s.TIME),
        col(s.SEVERITY),  # only from Celery's header: a stream's own severity lies
        pl.when(is_header).then(col(s.MESSAGE)).otherwise(col(kubectl.BODY)).alias(s.MESSAGE),
        col(s.EVENT).fill_null(str(s.Event.LOG)),
        *[col(c) for c in (s.TASK_ID, s.TASK_NAME, s.ETA, s.CHORD_ID, s.WORKER, s.RESULT,
                           s.DURATION_MS, s.RETRY_IN_S, s.REASON, s.EXCEPTION_TYPE,
                           s.EXCEPTION_MESSAGE)],
        pl.lit(None, pl.String).alias(s.TRACEBACK),
        col(s.LINE_NO), col(kubectl.POD).alias(s.POD), col(kubectl.CONTAINER).alias(s.CONTAINER),
        col(s.NAMESPACE),
        pl.lit(source).alias(s.SOURCE),
        pl.when(is_header).then(pl.lit(frame.FORMAT_CELERY_TEXT))
        .otherwise(pl.lit(frame.FORMAT_TEXT)).alias(s.FORMAT),
        pl.when(is_header & (col(s.EVENT) != str(s.Event.LOG))).then(None)
        .otherwise(col(kubectl.BODY).str.slice(0, frame.RAW_LIMIT)).alias(s.RAW),
        (col(s.LINE_NO) + order_base).alias(ORDER),
    )
    if blocks.height:
        out = _with_blocks(out, recs.select("_i", kubectl.BODY), blocks)
    out = out.drop("_i")
    parts.records.append(_final(out.to_arrow()))


def _with_blocks(out: pl.DataFrame, bodies: pl.DataFrame, blocks: pl.DataFrame) -> pl.DataFrame:
    """Attach continuation lines: a traceback to an error record, else more message text."""
    col = pl.col
    block = col(kubectl.BLOCK)
    b = blocks.join(out.select("_i", s.EVENT, s.MESSAGE, s.EXCEPTION_TYPE, s.EXCEPTION_MESSAGE),
                    on="_i", how="left").join(bodies, on="_i", how="left")
    is_tb = block.str.contains(_TRACEBACK_START, literal=True) | col(s.EVENT).is_in(_ERROR_EVENTS)
    tb_type, tb_msg = celery_text.exception_from_traceback(block)
    b = b.select(
        "_i",
        pl.when(is_tb).then(col(s.MESSAGE)).otherwise(col(s.MESSAGE) + pl.lit("\n") + block)
        .alias(s.MESSAGE),
        pl.when(is_tb & tb_type.is_not_null()).then(tb_type).otherwise(col(s.EXCEPTION_TYPE))
        .alias(s.EXCEPTION_TYPE),
        pl.when(is_tb & tb_type.is_not_null()).then(tb_msg).otherwise(col(s.EXCEPTION_MESSAGE))
        .alias(s.EXCEPTION_MESSAGE),
        pl.when(is_tb).then(block).alias(s.TRACEBACK),
        (col(kubectl.BODY) + pl.lit("\n") + block).str.slice(0, frame.RAW_LIMIT).alias(s.RAW),
    )
    fixed = [s.MESSAGE, s.EXCEPTION_TYPE, s.EXCEPTION_MESSAGE, s.TRACEBACK, s.RAW]
    return _replace_rows(out, b, fixed)


def _replace_rows(out: pl.DataFrame, new: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``out`` with ``columns`` taken from ``new`` on the rows (``_i``) that ``new`` has.

    ``out`` is sorted by ``_i``; the few rows are written in place (scatter), not joined.
    """
    if not out.get_column("_i").is_sorted():
        out = out.sort("_i")
    index = out.get_column("_i").to_numpy()
    new = new.sort("_i")
    positions = np.searchsorted(index, new.get_column("_i").to_numpy())
    return out.with_columns([
        out.get_column(c).scatter(positions, new.get_column(c).cast(out.schema[c]))
        for c in columns
    ])


# ---------------------------------------------------------------------------------------
# Cloud Logging entries
# ---------------------------------------------------------------------------------------


def _read_json_array(buf: bytes, source: str, order_base: int) -> _Parts:
    """``gcloud logging read --format=json``: one array; each entry counts as one line."""
    entries, tail_error = _load_array(buf)
    lines_buf = b"\n".join(orjson.dumps(e) if isinstance(e, dict) else b"[]" for e in entries)
    lines = split_lines(lines_buf)
    parts = _Parts(lines_read=len(entries) + (1 if tail_error else 0))
    if len(lines) == len(entries) and len(lines):
        _read_entry_lines(lines_buf, lines, source, order_base, parts)
    if tail_error:
        parts.unparsed.append(pl.DataFrame({
            s.SOURCE: [source], s.LINE_NO: [len(entries) + 1], s.POD: [None],
            s.CONTAINER: [None], s.REASON: ["invalid JSON array"],
            s.RAW: [frame.truncate_raw(tail_error)],
        }, schema=_UNPARSED_POLARS))
    return parts


def _load_array(buf: bytes) -> tuple[list[Any], str | None]:
    """Entries of a JSON array; when it is cut short, the entries before the damage."""
    try:
        data = orjson.loads(buf)
        return (data if isinstance(data, list) else [data]), None
    except orjson.JSONDecodeError:
        pass
    text = buf.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    out: list[Any] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):  # cut off before its closing bracket
            return out, text[-200:] or "["
        if text[pos] == "]":
            return out, None
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return out, text[pos:]
        out.append(value)


_UNPARSED_POLARS = {c: (pl.Int64 if c == s.LINE_NO else pl.String) for c in frame.UNPARSED_COLUMNS}


def _read_entry_lines(buf: bytes, lines: Lines, source: str, order_base: int, parts: _Parts
                      ) -> None:
    offsets = np.concatenate((lines.starts, [lines.ends[-1]])).astype(np.int64)
    texts = pa.LargeStringArray.from_buffers(len(lines), pa.py_buffer(offsets), pa.py_buffer(buf))
    ctx = pl.DataFrame({s.LINE_NO: lines.line_no})
    _read_entries_table(json_lines.decode_entries(texts), ctx, buf, lines, source, order_base,
                        parts)


def _read_entries_table(table: pa.Table, ctx: pl.DataFrame, buf: bytes, lines: Lines,
                        source: str, order_base: int, parts: _Parts) -> None:
    """LogEntry rows: jsonPayload ones are records; textPayload ones go to the text reader."""
    col = pl.col
    J = json_lines
    df = _in_order(pl.from_arrow(table))
    kinds = df.get_column(J.KIND)
    idx_of = {k: df.filter(kinds == k).get_column(J.INDEX).to_numpy()
              for k in (J.KIND_BAD, J.KIND_NONE)}
    bad = [(int(i), "invalid JSON") for i in idx_of[J.KIND_BAD]]
    bad += [(int(i), "LogEntry without jsonPayload or textPayload") for i in idx_of[J.KIND_NONE]]
    _add_bad(parts, sorted(bad), buf, lines, source)
    entry_ctx = df.select(
        pl.Series(s.LINE_NO, ctx.get_column(s.LINE_NO).to_numpy()[df.get_column(J.INDEX)]),
        col(s.POD).alias(kubectl.POD), col(s.CONTAINER).alias(kubectl.CONTAINER),
        col(s.NAMESPACE), col(J.ENTRY_TIME).cast(UTC_US).alias(kubectl.PREFIX_TIME),
    )
    jmask = kinds == J.KIND_JSON
    if jmask.any():
        jdf = df.filter(jmask).with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(J.INDEX))
        _add_json_records(jdf.to_arrow(), entry_ctx.filter(jmask), None, None, source, order_base,
                          parts, frame.FORMAT_CLOUD_LOGGING)
    tmask = kinds == J.KIND_TEXT
    if tmask.any():
        t = pl.concat([
            df.filter(tmask).select(col(J.TEXT).str.strip_chars_end().alias(kubectl.BODY)),
            entry_ctx.filter(tmask),
        ], how="horizontal")
        t = t.with_columns(
            pl.when(col(kubectl.BODY) == "").then(pl.lit(kubectl.EMPTY))
            .when(col(kubectl.BODY).str.contains(celery_text.HEADER_START))
            .then(pl.lit(kubectl.HEADER))
            .otherwise(pl.lit(kubectl.PLAIN)).alias(kubectl.KIND),
            pl.concat_str(col(kubectl.POD).fill_null(""), col(kubectl.CONTAINER).fill_null(""),
                          separator="/").alias(kubectl.STREAM),
        )
        # gcloud prints newest first; stitching needs each stream in the order it was written.
        times = t.get_column(kubectl.PREFIX_TIME).drop_nulls()
        descending = len(times) > 1 and times[0] > times[-1]
        order = np.arange(t.height, dtype=np.int64)
        t = t.with_columns(pl.Series("_i", order[::-1] if descending else order)).sort("_i")
        _read_text(t, source, order_base, parts)


# ---------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------


def assemble(parts: _Parts) -> tuple[pa.Table, pl.DataFrame]:
    """The records (all FRAME_COLUMNS, input order, Arrow) and the unparsed lines (Polars)."""
    if not parts.records:
        records = frame.ARROW_SCHEMA.empty_table()
    elif len(parts.records) == 1:
        records = parts.records[0].drop_columns([ORDER])
    else:
        records = pa.concat_tables(parts.records)
        order = records.column(ORDER)
        if not pl.from_arrow(order).is_sorted():
            records = records.take(pc.sort_indices(order))
        records = records.drop_columns([ORDER])
    if parts.unparsed:
        un = pl.concat([u.cast(_UNPARSED_POLARS) for u in parts.unparsed], how="vertical")
        un = un.sort(s.SOURCE, s.LINE_NO, maintain_order=True)
    else:
        un = pl.DataFrame(schema=_UNPARSED_POLARS)
    return records, un


def _finish(parts: _Parts) -> IngestResult:
    records, unparsed = assemble(parts)
    return IngestResult(
        frame=frame.from_arrow(records),
        unparsed=frame.from_arrow(unparsed.to_arrow(), frame.UNPARSED_COLUMNS),
        lines_read=parts.lines_read,
        lines_parsed=parts.lines_read - unparsed.height,
    )

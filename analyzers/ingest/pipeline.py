"""The columnar ingest: raw bytes in, normalized frame out (see ``analyzers.ingest``).

A whole file of JSON lines on disk is first offered to ``json_file``, which has DuckDB read
it in parallel straight from disk; only if it declines does the file come here. A source is
read in batches of ``BATCH_BYTES`` (``read_source``); each batch goes through these steps,
each over whole columns:

1. ``detect``: a gcloud JSON array is unpacked into entries (``gcloud``); otherwise the buffer
   is split into lines (NumPy newline scan) and checked for UTF-8 (Arrow); bad lines go to
   ``unparsed``.
2. Fast path: when every line starts with ``{`` (plain JSON lines or LogEntry NDJSON), the
   buffer goes straight to ``json_lines`` (DuckDB ``json_transform``, zero-copy from Arrow).
3. General path: the lines become a Polars column; ``kubectl.split_prefixes`` peels pod and
   timestamp prefixes; each body is classified (JSON object, Celery header, other text,
   binary junk); JSON bodies are decoded as in 2; text lines are grouped into records per
   pod/container (``kubectl.stitch``) and read with ``celery_text``. Records that may still
   continue (the last one of each stream) are carried into the next batch.
4. ``records`` turns what the steps decoded into record tables and unparsed rows; they are
   concatenated in input order and handed to pandas (``frame.from_arrow``).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa

from analyzers import frame
from analyzers.ingest import celery_text, gcloud, json_file, json_lines, kubectl, records
from analyzers.ingest.detect import (
    Lines,
    first_bytes,
    invalid_utf8_mask,
    is_entry_line,
    is_json_array,
    split_lines,
)
from analyzers.ingest.line_limit import DEFAULT_MAX_LINE, LineLimit
from analyzers.ingest.records import Parts, assemble
from analyzers.sources.files import FileChunks
from instrumentation import schema

_BINARY = r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]"


@dataclass
class IngestResult:
    """What reading some sources produced.

    ``frame`` has the columns ``schema.FRAME_COLUMNS`` (dtypes in ``analyzers.frame``);
    ``unparsed`` has ``frame.UNPARSED_COLUMNS``. ``lines_parsed + lines_unparsed ==
    lines_read`` always holds. ``lines_truncated``: lines cut to the line limit
    (``line_limit``), counted among the others as well.
    """

    frame: pd.DataFrame
    unparsed: pd.DataFrame
    lines_read: int
    lines_parsed: int
    lines_truncated: int = 0

    @property
    def lines_unparsed(self) -> int:
        return self.lines_read - self.lines_parsed


#: A source is read this many bytes at a time, so memory does not grow with the input. Small
#: enough that glibc hands a freed batch back to its heap (the next batch reuses warm pages)
#: and that two batches in flight keep the peak low; ``docs/ingest.md`` has the measurements.
BATCH_BYTES = 8 << 20
#: A text record is considered possibly open at the end of a batch only if it began within
#: this many lines of the end (a traceback is never interleaved with 10 000 other lines).
OPEN_RECORD_WINDOW = 10_000


def read_records(chunks: Iterable[bytes | str], source: str = "stdin", *,
                 batch_bytes: int | None = None,
                 max_line: int = DEFAULT_MAX_LINE) -> IngestResult:
    """Read one source given as chunks of bytes (or text) in any supported format.

    ``max_line``: lines longer than this many bytes are cut to it and counted
    (``lines_truncated``), so memory does not follow the longest line.
    """
    limit = LineLimit(max_line)
    parts = read_source(limit.wrap(chunks), source, batch_bytes=batch_bytes)
    return _finish(parts, truncated=limit.truncated)


def read_sources(sources: Iterable[tuple[str, Iterable[bytes | str]]],
                 columns: Collection[str] | None = None,
                 max_line: int = DEFAULT_MAX_LINE) -> IngestResult:
    """Read several ``(source_name, chunks)`` pairs (what ``analyzers.sources`` yield).

    ``columns``: the frame columns the caller will read (e.g. ``report.COLUMNS``); a reader
    may then leave the others null. The frame has every column either way. ``max_line``: as
    in ``read_records``.
    """
    parts = Parts()
    truncated = 0
    for n, (name, chunks) in enumerate(sources):
        # A file on disk may be read by DuckDB directly, in parallel (``json_file``); it
        # declines a file with a line longer than max_line, which is then cut below.
        on_disk = isinstance(chunks, FileChunks)
        whole = (json_file.read_file(chunks.path, name, n << 40, columns, max_line=max_line)
                 if on_disk else None)
        if whole is not None:
            chunks.close()
            parts.merge(whole)
            continue
        limit = LineLimit(max_line)
        parts.merge(read_source(limit.wrap(chunks), name, order_base=n << 40,
                                columns=columns))
        truncated += limit.truncated
    return _finish(parts, columns, truncated=truncated)


def read_source(chunks: Iterable[bytes | str], source: str, order_base: int = 0,
                batch_bytes: int | None = None, columns: Collection[str] | None = None
                ) -> Parts:
    """One source, in batches of ``BATCH_BYTES`` while it is made of JSON lines only.

    A batch is cut after its last newline. Text records that may still go on (the last one of
    each pod/container, whose traceback may continue in the next batch) are not read: their
    lines are carried into the next batch. A gcloud JSON array is read as one buffer.
    """
    size = batch_bytes or BATCH_BYTES
    sequence: list[Parts] = []  # in input order; text batches finish on a background thread
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
                           partial=True, executor=executor, columns=columns)
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
                                executor=executor, columns=columns))
    parts = Parts()
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
                partial: bool = False, executor: ThreadPoolExecutor | None = None,
                columns: Collection[str] | None = None) -> Parts:
    """Parse one buffer of a source into parts (``read_records`` without the assembly).

    ``entries`` forces reading JSON lines as LogEntry objects (True) or as log lines (False);
    by default the first line decides. ``lines`` may pass the buffer's lines if known.
    ``partial``: more of the source follows, so text records still open at the end are left
    unread (``parts.carry`` says where they start). ``executor``: parse text records there
    (``parts.deferred``) instead of before returning.
    """
    if first_line_no == 1 and is_json_array(buf):
        return gcloud.read_json_array(bytes(buf), source, order_base)
    if lines is None:
        lines = split_lines(buf, first_line_no)
    parts = Parts(lines_read=len(lines))
    if len(lines) == 0:
        return parts
    all_lines = lines
    bad_utf8 = invalid_utf8_mask(buf, lines)
    if bad_utf8.any():
        parts.unparsed.append(records.unparsed_from_lines(buf, lines.take(bad_utf8), source,
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
    first_open = _read_general(buf, lines, source, order_base, parts, partial, executor,
                               columns)
    if first_open is not None:  # lines from first_open on are left for the next batch
        parts.carry = int(lines.starts[first_open])
        parts.carry_line_no = int(lines.line_no[first_open])
        parts.lines_read = int((all_lines.starts < parts.carry).sum())
        parts.unparsed = [u.filter(pl.col(schema.LINE_NO) < parts.carry_line_no)
                          for u in parts.unparsed]
    return parts


def _blank_out(buf: bytes, lines: Lines) -> bytes:
    """A copy of ``buf`` with the given lines' bytes replaced by newlines."""
    out = bytearray(buf)
    view = np.frombuffer(out, dtype=np.uint8)
    for a, b in zip(lines.starts, lines.ends, strict=True):
        view[a:b] = 10
    return bytes(out)


def _read_json_fast(buf: bytes, lines: Lines, source: str, order_base: int, parts: Parts,
                    entries: bool) -> None:
    # Zero-copy: element i spans from line i's start to line i+1's start (terminator included;
    # JSON ignores trailing whitespace).
    offsets = np.concatenate((lines.starts, [lines.ends[-1]])).astype(np.int64)
    texts = pa.LargeStringArray.from_buffers(len(lines), pa.py_buffer(offsets), pa.py_buffer(buf))
    ctx = pl.DataFrame({schema.LINE_NO: lines.line_no})
    if entries:
        gcloud.read_entries_table(json_lines.decode_entries(texts), ctx, buf, lines, source,
                            order_base, parts)
        return
    records.add_json_records(json_lines.decode_plain(texts), ctx, buf, lines, source, order_base,
                      parts, frame.FORMAT_JSON)


# ---------------------------------------------------------------------------------------
# General path: prefixes, mixed formats, text records
# ---------------------------------------------------------------------------------------


def _lines_column(buf: bytes, lines: Lines) -> pl.Series:
    """Every line as a Polars string (with its terminator, stripped later): zero-copy Arrow."""
    offsets = np.concatenate((lines.starts, [lines.ends[-1]])).astype(np.int64)
    arr = pa.LargeStringArray.from_buffers(len(lines), pa.py_buffer(offsets), pa.py_buffer(buf))
    return pl.Series(kubectl.TEXT, arr)


def _read_general(buf: bytes, lines: Lines, source: str, order_base: int, parts: Parts,
                  partial: bool = False, executor: ThreadPoolExecutor | None = None,
                  columns: Collection[str] | None = None) -> int | None:
    """Lines with prefixes or text. With ``partial``, returns the index of the first line left
    unread (the start of the earliest record that may continue in the next batch), if any."""
    col = pl.col
    df = pl.DataFrame({"_i": np.arange(len(lines), dtype=np.int64),
                       kubectl.TEXT: _lines_column(buf, lines)})
    df = kubectl.split_prefixes(df).drop(kubectl.TEXT)
    body = col(kubectl.BODY)
    df = kubectl.classify(df, celery_text.HEADER_START)
    df = df.with_columns(
        pl.concat_str(col(kubectl.POD).fill_null(""), col(kubectl.CONTAINER).fill_null(""),
                      separator="/").alias(kubectl.STREAM),
        pl.Series(schema.LINE_NO, lines.line_no),
        pl.lit(None, pl.String).alias(schema.NAMESPACE),
    )
    # Binary junk can only hide among the plain lines: look for control bytes there only.
    junk = df.select("_i", kubectl.BODY, kubectl.KIND).filter(
        col(kubectl.KIND).is_in([k for k in kubectl.TEXT_KINDS if k != kubectl.HEADER]))
    junk = junk.filter(body.str.contains(_BINARY))
    if junk.height:
        df = df.with_columns(
            pl.when(col("_i").is_in(junk.get_column("_i").implode())).then(pl.lit(kubectl.BINARY))
            .otherwise(col(kubectl.KIND)).alias(kubectl.KIND))
    owners = kubectl.stitch(df.select("_i", kubectl.STREAM, kubectl.KIND))
    claimed = owners.filter(col(kubectl.START).is_not_null())
    first_open = _first_open_record(df, claimed) if partial else None
    if first_open is not None:  # records never span the cut: their owners stay valid
        df = df.filter(col("_i") < first_open)
        owners = owners.filter(col("_i") < first_open)
    _binary_unparsed(df, source, parts)
    if executor is not None:
        parts.deferred = executor.submit(_read_records_of, df, owners, source, order_base,
                                         columns)
    else:
        parts.merge(_read_records_of(df, owners, source, order_base, columns))
    return first_open


def _read_records_of(df: pl.DataFrame, owners: pl.DataFrame, source: str, order_base: int,
                     columns: Collection[str] | None = None) -> Parts:
    """The records of a classified, stitched batch: JSON bodies and text records."""
    parts = Parts()
    js = df.filter(pl.col(kubectl.KIND) == kubectl.JSON)
    if js.height:  # one contiguous NDJSON buffer, decoded like the fast path
        _read_json_bodies(js, source, order_base, parts)
    records.read_text(df, source, order_base, parts, owners, columns)
    return parts


def _first_open_record(df: pl.DataFrame, owners: pl.DataFrame) -> int | None:
    """The latest line index ``p`` such that no record spans line ``p`` and the last text
    record of every stream starts at or after ``p`` (None: nothing can be left open)."""
    n = df.height
    if owners.height == 0:
        return None
    start = np.arange(n, dtype=np.int64)
    start[owners.get_column("_i").to_numpy()] = owners.get_column(kubectl.START).to_numpy()
    # The stream of each owned line, gathered in Polars (not as a NumPy array of objects).
    streams = df.get_column(kubectl.STREAM).gather(owners.get_column("_i"))
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


def _binary_unparsed(df: pl.DataFrame, source: str, parts: Parts) -> None:
    junk = df.filter(pl.col(kubectl.KIND) == kubectl.BINARY)
    if junk.height:
        parts.unparsed.append(
            junk.select(
                pl.lit(source).alias(schema.SOURCE),
                pl.col(schema.LINE_NO),
                pl.col(kubectl.POD).alias(schema.POD),
                pl.col(kubectl.CONTAINER).alias(schema.CONTAINER),
                pl.lit("binary data").alias(schema.REASON),
                pl.col(kubectl.BODY)
                .map_elements(frame.truncate_raw, return_dtype=pl.String)
                .alias(schema.RAW),
            )
        )


def _read_json_bodies(js: pl.DataFrame, source: str, order_base: int, parts: Parts) -> None:
    bodies = js.get_column(kubectl.BODY)
    ctx = js.select(
        schema.LINE_NO, kubectl.POD, kubectl.CONTAINER, schema.NAMESPACE, kubectl.PREFIX_TIME
    )
    records.add_json_records(json_lines.decode_plain(bodies.to_arrow()), ctx, None, None, source,
                      order_base, parts, frame.FORMAT_JSON, bodies=bodies)


# ---------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------


def _finish(parts: Parts, columns: Collection[str] | None = None,
            truncated: int = 0) -> IngestResult:
    records, unparsed = assemble(parts)
    if columns is not None:  # left out: from_arrow fills them with (shared) nulls
        records = records.select([c for c in records.column_names if c in columns])
    return IngestResult(
        frame=frame.from_arrow(records),
        unparsed=frame.from_arrow(unparsed.to_arrow(), frame.UNPARSED_COLUMNS),
        lines_read=parts.lines_read,
        lines_parsed=parts.lines_read - unparsed.height,
        lines_truncated=truncated,
    )

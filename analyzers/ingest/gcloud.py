"""Cloud Logging ``LogEntry`` objects: gcloud's JSON array and NDJSON exports / API pages.

``jsonPayload`` entries become records like JSON lines (with what GKE's agent promoted onto
the entry put back); ``textPayload`` entries become text lines of their pod/container, put
in the order they were written and stitched like kubectl output. A text entry's severity is
never used: GKE marks every stderr line ERROR.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from analyzers import frame
from analyzers.ingest import celery_text, json_lines, kubectl, records
from analyzers.ingest._times import UTC_US
from analyzers.ingest.detect import Lines, split_lines
from instrumentation import schema


# A line of a LogEntry export carries one of these keys; plain log lines never do.
def read_json_array(buf: bytes, source: str, order_base: int) -> records.Parts:
    """``gcloud logging read --format=json``: one array; each entry counts as one line."""
    entries, tail_error = _load_array(buf)
    lines_buf = b"\n".join(orjson.dumps(e) if isinstance(e, dict) else b"[]" for e in entries)
    lines = split_lines(lines_buf)
    parts = records.Parts(lines_read=len(entries) + (1 if tail_error else 0))
    if len(lines) == len(entries) and len(lines):
        read_entry_lines(lines_buf, lines, source, order_base, parts)
    if tail_error:
        parts.unparsed.append(pl.DataFrame({
            schema.SOURCE: [source], schema.LINE_NO: [len(entries) + 1], schema.POD: [None],
            schema.CONTAINER: [None], schema.REASON: ["invalid JSON array"],
            schema.RAW: [frame.truncate_raw(tail_error)],
        }, schema=records.UNPARSED_POLARS))
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


def read_entry_lines(buf: bytes, lines: Lines, source: str, order_base: int, parts: records.Parts
                      ) -> None:
    offsets = np.concatenate((lines.starts, [lines.ends[-1]])).astype(np.int64)
    texts = pa.LargeStringArray.from_buffers(len(lines), pa.py_buffer(offsets), pa.py_buffer(buf))
    ctx = pl.DataFrame({schema.LINE_NO: lines.line_no})
    read_entries_table(json_lines.decode_entries(texts), ctx, buf, lines, source, order_base,
                        parts)


def read_entries_table(table: pa.Table, ctx: pl.DataFrame, buf: bytes, lines: Lines,
                        source: str, order_base: int, parts: records.Parts) -> None:
    """LogEntry rows: jsonPayload ones are records; textPayload ones go to the text reader."""
    col = pl.col
    df = records.in_order(pl.from_arrow(table))
    kinds = df.get_column(json_lines.KIND)
    idx_of = {k: df.filter(kinds == k).get_column(json_lines.INDEX).to_numpy()
              for k in (json_lines.KIND_BAD, json_lines.KIND_NONE)}
    bad = [(int(i), "invalid JSON") for i in idx_of[json_lines.KIND_BAD]]
    bad += [
        (int(i), "LogEntry without jsonPayload or textPayload")
        for i in idx_of[json_lines.KIND_NONE]
    ]
    records.add_bad(parts, sorted(bad), buf, lines, source)
    entry_ctx = df.select(
        pl.Series(
            schema.LINE_NO,
            ctx.get_column(schema.LINE_NO).to_numpy()[df.get_column(json_lines.INDEX)],
        ),
        col(schema.POD).alias(kubectl.POD),
        col(schema.CONTAINER).alias(kubectl.CONTAINER),
        col(schema.NAMESPACE),
        col(json_lines.ENTRY_TIME).cast(UTC_US).alias(kubectl.PREFIX_TIME),
    )
    jmask = kinds == json_lines.KIND_JSON
    if jmask.any():
        jdf = df.filter(jmask).with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias(json_lines.INDEX)
        )
        records.add_json_records(jdf.to_arrow(), entry_ctx.filter(jmask), None, None, source,
                                 order_base, parts, frame.FORMAT_CLOUD_LOGGING)
    tmask = kinds == json_lines.KIND_TEXT
    if tmask.any():
        t = pl.concat([
            df.filter(tmask).select(col(json_lines.TEXT).str.strip_chars_end().alias(kubectl.BODY)),
            entry_ctx.filter(tmask),
        ], how="horizontal")
        t = kubectl.classify(t, celery_text.HEADER_START)
        t = t.with_columns(
            pl.concat_str(col(kubectl.POD).fill_null(""), col(kubectl.CONTAINER).fill_null(""),
                          separator="/").alias(kubectl.STREAM),
        )
        # gcloud prints newest first; stitching needs each stream in the order it was written.
        times = t.get_column(kubectl.PREFIX_TIME).drop_nulls()
        descending = len(times) > 1 and times[0] > times[-1]
        order = np.arange(t.height, dtype=np.int64)
        t = t.with_columns(pl.Series("_i", order[::-1] if descending else order)).sort("_i")
        records.read_text(t, source, order_base, parts)

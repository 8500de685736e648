"""Normalized records as ``rhesis-logs parse`` writes them: JSON lines, CSV, a plain table.

    from analyzers.render.records import RecordWriter, ndjson

    text = ndjson(frame)                        # a whole frame, one JSON object per line
    writer = RecordWriter(sys.stdout, "csv")    # records streamed one batch at a time
    writer.write(parser.feed(line))             # ``--follow``: dicts from StreamParser

Columns are the schema's (``schema.FRAME_COLUMNS``), in the schema's order, whatever the
input: CSV always has all of them (a field a record lacks is an empty cell), so two CSVs
concatenate; a JSON line leaves out the fields its record lacks. Times are RFC 3339 in UTC
with microseconds.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, TextIO

import orjson
import pandas as pd

from analyzers.rfc3339 import RFC3339_MICROS, RFC3339_MICROS_POLARS
from instrumentation import schema

#: Formats of ``parse -o`` (``json`` is accepted as ``jsonl``).
PARSE_FORMATS = ("jsonl", "csv", "table")

#: Columns ``parse -o table`` shows (the others are in jsonl/csv).
TABLE_COLUMNS = (
    schema.TIME,
    schema.SEVERITY,
    schema.EVENT,
    schema.TASK_NAME,
    schema.TASK_ID,
    schema.WORKER,
    schema.POD,
    schema.ORGANIZATION_ID,
    schema.MESSAGE,
)


def ndjson(frame: pd.DataFrame) -> str:
    """One JSON object per record, keys in the schema's order, null fields left out, times
    as RFC 3339.

    Polars encodes the rows (a dict per row in Python costs about 30 times as much) and cuts
    the null fields out of each encoded line with a regex in Rust. That is safe: only a key
    can match ``,"name":null`` or ``{"name":null``, since every ``"`` inside a JSON string
    is escaped, and a null is always followed by ``,`` or ``}``.
    """
    import polars as pl

    frame = frame[[c for c in schema.FRAME_COLUMNS if c in frame.columns]]
    frame = frame.dropna(axis=1, how="all")  # cheaper than cutting a column out of each line
    if frame.empty:
        return ""
    table = pl.from_pandas(frame)
    if schema.TIME in table.columns:
        table = table.with_columns(pl.col(schema.TIME).dt.strftime(RFC3339_MICROS_POLARS))
    lines = table.select(
        pl.struct(pl.all()).struct.json_encode()
        .str.replace_all(r',"[a-z_]+":null', "")
        .str.replace(r'^\{"[a-z_]+":null,?', "{")
    )
    buffer = io.BytesIO()
    # One column of JSON text, written unquoted: a line of it has no raw newline or quote
    # that CSV would need to escape, since JSON escapes those inside strings.
    lines.write_csv(buffer, include_header=False, quote_style="never")
    return buffer.getvalue().decode()


def csv_text(frame: pd.DataFrame) -> str:
    """The records as CSV: every schema column in the schema's order, times as RFC 3339."""
    buffer = io.StringIO()
    frame = frame.reindex(columns=list(schema.FRAME_COLUMNS))
    frame.to_csv(buffer, index=False, date_format=RFC3339_MICROS)
    return buffer.getvalue()


def record_json(record: dict[str, Any]) -> bytes:
    """One record (a ``StreamParser`` dict) as a JSON object, without its empty fields."""
    clean = {k: rfc3339(v) for k in schema.FRAME_COLUMNS if (v := record.get(k)) is not None
             and not (isinstance(v, float) and v != v)}
    return orjson.dumps(clean, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


def rfc3339(value: Any) -> Any:
    """Datetimes as ``2026-11-28T10:00:00.000000Z`` (what the non-streaming output writes)."""
    if isinstance(value, datetime):
        return pd.Timestamp(value).tz_convert("UTC").strftime(RFC3339_MICROS)
    return value


def plain(value: Any) -> str:
    """A field as CSV or table text: empty for a missing value, RFC 3339 for a time."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(rfc3339(value))


class RecordWriter:
    """Writes batches of streamed records to ``out`` in ``fmt`` (jsonl, csv or table)."""

    def __init__(self, out: TextIO, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        self._csv = csv.DictWriter(
            out, fieldnames=list(schema.FRAME_COLUMNS), extrasaction="ignore"
        )
        if fmt == "csv":
            self._csv.writeheader()

    def write(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` and flush (a follower's reader waits for each batch)."""
        for record in records:
            if self.fmt == "csv":
                self._csv.writerow({k: plain(v) for k, v in record.items()})
            elif self.fmt == "table":
                self.out.write("  ".join(plain(record.get(k)) or "-" for k in TABLE_COLUMNS)
                               + "\n")
            else:
                self.out.write(record_json(record).decode() + "\n")
        if records:
            self.out.flush()

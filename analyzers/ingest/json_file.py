"""The fast path for a whole file of JSON lines: DuckDB's parallel reader, from disk.

    parts = json_file.read_file("worker.jsonl", source="worker.jsonl")   # None: not eligible
    parts = json_file.read_file(path, source, columns=report.COLUMNS)    # decode fewer fields

``analyzers.ingest.read_sources`` tries this first for every regular file; when it answers
None, the file is read by the batch pipeline (``analyzers.ingest.pipeline``) as before, with
the same result. It answers None, having read nothing that matters, unless the file:

* is plain (not gzip) and starts with a JSON object that is one of our log lines (it has
  ``time`` and ``event``), not a LogEntry nor another logger's line;
* has no blank lines (so that row *i* is line *i + 1*; DuckDB skips blank lines, which
  shows as fewer rows than lines);
* is read by DuckDB without an error: any malformed or non-JSON line, invalid UTF-8, a
  field of the wrong type or a ``time`` that is not an ISO 8601 timestamp makes DuckDB fail,
  and the batch pipeline then reads the file, reporting exactly the bad lines as unparsed
  (and parsing the times DuckDB does not know: epochs, Python's asctime). Such a file pays
  for DuckDB's attempt on top of the pipeline: up to ~0.5 s per million lines.

Why a second path: DuckDB's ``read_json`` splits, parses and converts the file on every core
without any of it passing through Python, and, given ``columns``, skips the fields nobody
reads. On 1 M lines (330 MB) that is ~0.5 s against ~1.7 s for the batch pipeline, which must
split lines itself and hand every batch to DuckDB as Arrow strings.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from analyzers import frame
from analyzers.ingest import json_lines, json_scan, records
from analyzers.ingest.line_limit import DEFAULT_MAX_LINE
from instrumentation import schema


def read_file(path: str | os.PathLike[str], source: str, order_base: int = 0,
              columns: Collection[str] | None = None,
              max_line: int = DEFAULT_MAX_LINE) -> records.Parts | None:
    """Every line of the JSON-lines file ``path`` as records, or None if it is not eligible.

    ``columns``: the frame columns the caller will read (None: all); the others stay null.
    ``max_line``: a line longer than this makes the file not eligible (the batch pipeline
    then cuts it to the limit and counts it).
    """
    path = os.path.abspath(path)
    expected = json_scan.eligible(path, max_line)
    if expected is None:
        return None
    try:
        table = _decode(path, columns)
    except (duckdb.Error, pa.ArrowException, OSError):
        return None  # a bad line somewhere: the batch pipeline reads it and says which
    if table.num_rows != expected:  # whitespace-only lines, or the file changed meanwhile
        return None
    n = table.num_rows
    parts = records.Parts(lines_read=n)
    ctx = pl.DataFrame({schema.LINE_NO: np.arange(1, n + 1, dtype=np.int64)})
    records.add_json_records(table, ctx, None, None, source, order_base, parts,
                             frame.FORMAT_JSON)
    return parts


def _decode(path: str, columns: Collection[str] | None) -> pa.Table:
    """DuckDB ``read_json`` with the normalization of ``json_lines`` (same SQL, same output)."""
    con = duckdb.connect()
    try:
        json_lines.configure(con)
        table = con.sql(json_scan.decode_sql(path, columns)).to_arrow_table()
    finally:
        con.close()
    # Compact: tight copies of the columns, one chunk each (DuckDB over-allocates its export;
    # and every later take or filter of a chunked array pays per chunk).
    return json_lines.share_nulls(table, compact=True)

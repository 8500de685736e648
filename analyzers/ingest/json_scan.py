"""Which files DuckDB reads whole, and the query that decodes them (no Polars, no pandas).

    n = json_scan.eligible("/abs/worker.jsonl")       # lines, or None: not for DuckDB
    sql = json_scan.decode_sql("/abs/worker.jsonl", columns)   # one row per line, in order

Shared by ``json_file`` (the file into the frame) and ``analyzers.file_report`` (the report
in DuckDB), which imports only this: a run that never builds a frame does not import Polars.
"""

from __future__ import annotations

import mmap
from collections.abc import Collection
from pathlib import Path

import numpy as np

from analyzers.ingest import json_lines
from analyzers.ingest.detect import is_entry_line
from analyzers.ingest.line_limit import DEFAULT_MAX_LINE
from analyzers.sources.files import GZIP_MAGIC
from instrumentation import schema

#: Bytes compared at a time while counting lines (the comparison's bools stay in cache).
_COUNT_BLOCK = 4 << 20
_HEAD = 64 << 10
#: DuckDB expands these in a path as a glob; such a file goes the batch pipeline's way.
_GLOB_CHARS = frozenset("*?[]{}")


def eligible(path: str, max_line: int = DEFAULT_MAX_LINE) -> int | None:
    """The number of lines of ``path`` (absolute) if it may be read here, else None: a
    regular plain file of our JSON lines, not a glob, no line longer than ``max_line``. (The
    decode may still fail, and a row count other than this one means blank lines.)"""
    if _GLOB_CHARS.intersection(path) or not _looks_eligible(path):
        return None
    counted = _count_lines(path, max_line)
    if counted is None or counted[0] == 0 or counted[1]:
        return None
    return counted[0]


def _looks_eligible(path: str) -> bool:
    """A regular, plain file whose first line is a JSON log line (not a LogEntry)."""
    try:
        if not Path(path).is_file():
            return False
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return False
    if head.startswith(GZIP_MAGIC) or not head.startswith(b"{"):
        return False
    first = head.split(b"\n", 1)[0]
    # Our own lines carry "time" and "event"; another logger's (python-json-logger, structlog
    # ...) go the batch pipeline's way, which finds their time and message by content.
    return not is_entry_line(first) and b'"time"' in first and b'"event"' in first


def _count_lines(path: str, max_line: int) -> tuple[int, bool] | None:
    """Number of lines (blank ones included: DuckDB skips those, so the counts then differ),
    and whether a line may be longer than ``max_line`` bytes.

    NumPy over a memory map, a few MB at a time: ~0.04 s for 330 MB, 4x ``bytes.count``. The
    pages are dropped from the map as it goes: a mapped page counts in the process's
    resident size, which would otherwise grow with the file. The length test is
    conservative (a line longer than the limit holds ``max_line // 2`` bytes without a
    newline at an aligned position; a shorter one rarely does): a True only sends the file
    to the batch pipeline, which cuts exactly the long lines.
    """
    half = max(1, max_line // 2)
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            data = np.frombuffer(mm, dtype=np.uint8)
            n = len(data)
            count, too_long = 0, False
            for i in range(0, n, _COUNT_BLOCK):
                count += int(np.count_nonzero(data[i : i + _COUNT_BLOCK] == 10))
                first = -(-i // half) * half
                too_long = too_long or any(
                    mm.find(b"\n", j, j + half) < 0
                    for j in range(first, min(i + _COUNT_BLOCK, n - half + 1), half))
                mm.madvise(mmap.MADV_DONTNEED, i, min(_COUNT_BLOCK, n - i))
            unterminated = n > 0 and data[-1] != 10
            del data  # the map cannot close while an array still points into it
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        return None
    return count + int(unterminated), too_long


def decode_sql(path: str, columns: Collection[str] | None) -> str:
    """The query reading ``path`` (absolute) into the normalized columns ``columns`` (None:
    all) and the raw-time column, one row per line in line order (on a connection set up by
    ``json_lines.configure``)."""
    # time and event always: the raw-time and message expressions read them.
    wanted = None if columns is None else {*columns, schema.TIME, schema.EVENT}
    fields = tuple(c for c in json_lines.WORKER_FIELDS if wanted is None or c in wanted)
    spec = {k: v for k, v in json_lines.PLAIN_SPEC.items()
            if k in fields or k not in json_lines.WORKER_FIELDS}
    # The reader parses our time field itself (0.1 s less per 1 M lines than text and a
    # cast); a value it cannot parse fails the read, and the batch pipeline takes the file.
    spec[schema.TIME] = "TIMESTAMPTZ"
    select = ", ".join(json_lines.normalized_columns("r", None, fields, typed_time=True))
    quoted = path.replace("'", "''")
    return (f"SELECT {select} FROM read_json('{quoted}', format = 'newline_delimited', "
            f"records = true, columns = {_columns_sql(spec)}) AS r")


def _columns_sql(spec: dict[str, object]) -> str:
    """``read_json``'s ``columns`` struct literal for a json_transform structure."""
    def sql_type(t: object) -> str:
        if isinstance(t, dict):
            return "STRUCT(" + ", ".join(f"{json_lines.quote(k)} {sql_type(v)}"
                                         for k, v in t.items()) + ")"
        return str(t)

    return "{" + ", ".join(f"'{k}': '{sql_type(v)}'" for k, v in spec.items()) + "}"

"""JSON lines: decode columnar with Polars, then map them onto the schema's columns.

``decode(buf, lines, schema)`` reads the given lines of ``buf`` in blocks with
``polars.read_ndjson`` and a fixed schema (fields not in it are ignored, missing ones are
null). A block with a line Polars refuses (truncated JSON, a number where the schema has
text, an array where it has an object) is redone line by line with orjson: a line that is
not a JSON object becomes unparsed, the others are coerced to the schema and decoded again.
So one bad line costs one block (64 k lines) of Python, not the whole file.

``normalize(df)`` turns decoded columns (ours, or another JSON logger's ``level`` /
``levelname`` / ``msg`` / ``timestamp`` / ``asctime`` / ``name`` / ``process`` /
``exc_info``) into the frame's columns.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import polars as pl

from analyzers import frame
from analyzers.ingest._times import UTC_US, parse_times
from analyzers.ingest.detect import Lines
from instrumentation import schema as s

BLOCK_LINES = 65536

# Keys other JSON loggers use for what our schema calls time/severity/message/logger/pid/...
LEVEL, LEVELNAME, MSG, TIMESTAMP, ASCTIME = "level", "levelname", "msg", "timestamp", "asctime"
NAME, PROCESS, EXC_INFO, EXCEPTION = "name", "process", "exc_info", "exception"
_ALIASES = (LEVEL, LEVELNAME, MSG, TIMESTAMP, ASCTIME, NAME, PROCESS, EXC_INFO, EXCEPTION)

_POLARS_OF_ARROW = {"string": pl.String, "int64": pl.Float64, "double": pl.Float64,
                    "bool": pl.Boolean}
# Integers are read as Float64 (Cloud Logging hands every JSON number back as a double,
# "pid": 7.0) and cast to Int64 during normalization.

_WORKER_FIELDS = tuple(
    c for c in s.FRAME_COLUMNS if c not in s.ANALYZER_COLUMNS and c != s.TIME
)

#: What a JSON log line is decoded into.
PLAIN_SCHEMA: dict[str, pl.DataType] = {
    s.TIME: pl.String,
    **{c: _POLARS_OF_ARROW[str(frame.ARROW_SCHEMA.field(c).type)] for c in _WORKER_FIELDS},
    **dict.fromkeys(_ALIASES, pl.String),
    s.TRACE: pl.String,
    s.SPAN_ID: pl.String,
    s.LABELS: pl.Struct({s.SERVICE: pl.String, s.ENVIRONMENT: pl.String}),
}

# Cloud Logging LogEntry fields (the API's JSON names).
ENTRY_TIMESTAMP, ENTRY_SEVERITY, TEXT_PAYLOAD, JSON_PAYLOAD = (
    "timestamp", "severity", "textPayload", "jsonPayload")
RESOURCE, RESOURCE_LABELS, ENTRY_LABELS, ENTRY_TRACE, ENTRY_SPAN = (
    "resource", "labels", "labels", "trace", "spanId")
POD_NAME, CONTAINER_NAME, NAMESPACE_NAME = "pod_name", "container_name", "namespace_name"

#: What a Cloud Logging entry line is decoded into.
ENTRY_SCHEMA: dict[str, pl.DataType] = {
    ENTRY_TIMESTAMP: pl.String,
    ENTRY_SEVERITY: pl.String,
    TEXT_PAYLOAD: pl.String,
    JSON_PAYLOAD: pl.Struct(PLAIN_SCHEMA),
    RESOURCE: pl.Struct(
        {RESOURCE_LABELS: pl.Struct({POD_NAME: pl.String, CONTAINER_NAME: pl.String,
                                     NAMESPACE_NAME: pl.String})}
    ),
    ENTRY_LABELS: pl.Struct({s.SERVICE: pl.String, s.ENVIRONMENT: pl.String}),
    ENTRY_TRACE: pl.String,
    ENTRY_SPAN: pl.String,
}

INDEX = "_i"  # position of the decoded line in the Lines it came from


def decode(
    buf: bytes, lines: Lines, schema: Mapping[str, pl.DataType]
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """Decode ``lines`` of ``buf``; return the rows (with ``_i``) and ``(i, reason)`` of failures.

    ``lines`` must be sorted by offset; each block is one contiguous slice of ``buf``, so
    whatever lies between two lines of a block (blank lines) must be blank.
    """
    frames: list[pl.DataFrame] = []
    bad: list[tuple[int, str]] = []
    for b in range(0, len(lines), BLOCK_LINES):
        idx = np.arange(b, min(b + BLOCK_LINES, len(lines)))
        chunk = buf[lines.starts[idx[0]] : lines.ends[idx[-1]]]
        df = None
        with contextlib.suppress(Exception):  # any refusal: redo this block line by line
            df = pl.read_ndjson(io.BytesIO(chunk), schema=schema)
        if df is None or df.height != len(idx) or _has_gaps(buf, lines, idx):
            df, idx = _decode_slowly(buf, lines, idx, schema, bad)
        frames.append(df.with_columns(pl.Series(INDEX, idx, dtype=pl.Int64)))
    if not frames:
        return pl.DataFrame(schema=schema).with_columns(pl.lit(0, pl.Int64).alias(INDEX)), bad
    return pl.concat(frames, how="vertical"), bad


def _has_gaps(buf: bytes, lines: Lines, idx: np.ndarray) -> bool:
    """Whether non-blank text lies between the lines of a block (read_ndjson would read it)."""
    gaps = lines.starts[idx[1:]] - lines.ends[idx[:-1]]
    # A gap of 1 is "\n"; 2 is "\r\n"; more means blank lines or other content in between.
    wide = np.flatnonzero(gaps > 2)
    return any(buf[lines.ends[idx[i]] : lines.starts[idx[i + 1]]].strip() for i in wide)


def _decode_slowly(
    buf: bytes, lines: Lines, idx: np.ndarray, schema: Mapping[str, pl.DataType],
    bad: list[tuple[int, str]],
) -> tuple[pl.DataFrame, np.ndarray]:
    good_lines: list[bytes] = []
    good_idx: list[int] = []
    for i in idx:
        raw = buf[lines.starts[i] : lines.ends[i]]
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            bad.append((int(i), "invalid JSON"))
            continue
        if not isinstance(obj, dict):
            bad.append((int(i), "not a JSON object"))
            continue
        good_lines.append(orjson.dumps(coerce(obj, schema)))
        good_idx.append(int(i))
    if not good_lines:
        return pl.DataFrame(schema=schema), np.array([], dtype=np.int64)
    df = pl.read_ndjson(io.BytesIO(b"\n".join(good_lines)), schema=schema)
    return df, np.array(good_idx, dtype=np.int64)


def coerce(obj: Mapping[str, Any], schema: Mapping[str, pl.DataType]) -> dict[str, Any]:
    """Keep the keys of ``schema``, each converted to its type (null when it cannot be)."""
    out: dict[str, Any] = {}
    for key, dtype in schema.items():
        if key in obj:
            out[key] = _coerce_value(obj[key], dtype)
    return out


def _coerce_value(value: Any, dtype: pl.DataType) -> Any:
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, dict):
            return None
        return coerce(value, {f.name: f.dtype for f in dtype.fields})
    if dtype == pl.String:
        if isinstance(value, str):
            return value
        return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else str(value)
    if dtype == pl.Float64:
        if isinstance(value, bool):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if np.isfinite(number) else None
    if dtype == pl.Boolean:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    return None


# ---------------------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------------------

_LEVEL_NAMES = {"WARN": "WARNING", "FATAL": "CRITICAL", "ERR": "ERROR", "CRIT": "CRITICAL",
                "TRACE": "DEBUG", "10": "DEBUG", "20": "DEBUG", "30": "INFO", "40": "WARNING",
                "50": "ERROR", "60": "CRITICAL"}
_EVENTS = [str(e) for e in s.Event]
_INT_COLUMNS = [c for c in _WORKER_FIELDS if frame.ARROW_SCHEMA.field(c).type == "int64"]


def normalize(df: pl.DataFrame, fallback_time: pl.Series | None = None) -> pl.DataFrame:
    """Map decoded JSON columns (``PLAIN_SCHEMA``) onto the frame's worker columns.

    ``fallback_time`` (a kubectl or LogEntry timestamp, one per row) is used where the line
    has no time of its own.
    """
    col = pl.col
    raw_time = df.get_column(s.TIME).fill_null(df.get_column(TIMESTAMP)).fill_null(
        df.get_column(ASCTIME)
    )
    time = parse_times(raw_time)
    if fallback_time is not None:
        time = time.fill_null(fallback_time)
    level = pl.coalesce(col(s.SEVERITY), col(LEVELNAME), col(LEVEL)).str.to_uppercase()
    known_event = col(s.EVENT).is_in(_EVENTS)
    trace = col(s.TRACE).str.extract(r"/traces/([0-9a-fA-F]+)$", 1)
    out = df.select(
        pl.Series(s.TIME, time),
        level.replace(_LEVEL_NAMES).alias(s.SEVERITY),
        pl.coalesce(
            col(s.MESSAGE), col(MSG), pl.when(~known_event).then(col(s.EVENT))
        ).alias(s.MESSAGE),
        pl.when(known_event).then(col(s.EVENT)).otherwise(pl.lit(str(s.Event.LOG)))
        .alias(s.EVENT),
        pl.coalesce(col(s.LOGGER), col(NAME)).alias(s.LOGGER),
        pl.coalesce(col(s.PID), col(PROCESS).cast(pl.Float64, strict=False)).alias(s.PID),
        pl.coalesce(col(s.TRACEBACK), col(EXC_INFO), col(EXCEPTION)).alias(s.TRACEBACK),
        pl.coalesce(col(s.TRACE_ID), trace).alias(s.TRACE_ID),
        pl.coalesce(col(s.OTEL_SPAN_ID), col(s.SPAN_ID)).alias(s.OTEL_SPAN_ID),
        pl.coalesce(col(s.SERVICE), col(s.LABELS).struct.field(s.SERVICE)).alias(s.SERVICE),
        pl.coalesce(col(s.ENVIRONMENT), col(s.LABELS).struct.field(s.ENVIRONMENT))
        .alias(s.ENVIRONMENT),
        *[
            col(c) for c in _WORKER_FIELDS
            if c not in (s.SEVERITY, s.MESSAGE, s.EVENT, s.LOGGER, s.PID, s.TRACEBACK,
                         s.TRACE_ID, s.OTEL_SPAN_ID, s.SERVICE, s.ENVIRONMENT)
        ],
        col(INDEX),
    )
    return out.with_columns(
        [col(c).cast(pl.Int64, strict=False) for c in _INT_COLUMNS]
        + [col(s.TIME).cast(UTC_US)]
    )

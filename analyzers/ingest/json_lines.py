"""JSON lines and Cloud Logging entries: decoded and normalized columnar by DuckDB.

``decode_plain(texts)`` and ``decode_entries(texts)`` take an Arrow string array (one JSON
object per element) and return an Arrow table with the frame's worker columns, already
normalized: ours are taken as they are; other JSON loggers' ``level`` / ``levelname``,
``msg``, ``timestamp`` / ``asctime``, ``name``, ``process``, ``exc_info`` / ``exception``
fill the schema's ``severity``, ``message``, ``time``, ``logger``, ``pid`` and
``traceback``; a structlog ``event`` that is not one of ours becomes the message of an
event ``log``. Cloud Logging entries contribute ``jsonPayload`` (with the fields the agent
promoted onto the entry put back), the pod/container/namespace of ``resource.labels``, and
``textPayload`` lines for the text reader.

Why DuckDB: ``json_transform`` with a fixed structure parses in parallel and its cost hardly
grows with the number of fields asked for, unlike ``polars.read_ndjson`` whose cost grows
with every absent field of the schema (measured: 59 fields, 1 M lines: DuckDB 1.4 CPU-s,
Polars 3.4 CPU-s). A malformed element (truncated JSON) makes the fast query fail; it is then
rerun with ``TRY`` so that only the bad elements come back null (reported as unparsed).
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa

from analyzers import frame
from instrumentation import schema

# Keys other JSON loggers use for what our schema calls time/severity/message/logger/pid/...
LEVEL, LEVELNAME, MSG, TIMESTAMP, ASCTIME = "level", "levelname", "msg", "timestamp", "asctime"
NAME, PROCESS, EXC_INFO, EXCEPTION = "name", "process", "exc_info", "exception"
ALIASES = (LEVEL, LEVELNAME, MSG, TIMESTAMP, ASCTIME, NAME, PROCESS, EXC_INFO, EXCEPTION)

# Cloud Logging LogEntry fields (the API's JSON names).
ENTRY_TIMESTAMP, ENTRY_SEVERITY, TEXT_PAYLOAD, JSON_PAYLOAD = (
    "timestamp", "severity", "textPayload", "jsonPayload")
RESOURCE, LABELS, ENTRY_TRACE, ENTRY_SPAN = "resource", "labels", "trace", "spanId"
POD_NAME, CONTAINER_NAME, NAMESPACE_NAME = "pod_name", "container_name", "namespace_name"

#: Output column names besides the frame's: entry kind, its text, its time, and raw time text.
KIND, TEXT, ENTRY_TIME, TIME_RAW, INDEX = "_kind", "_text", "_entry_time", "_time_raw", "_i"
KIND_JSON, KIND_TEXT, KIND_NONE, KIND_BAD = "json", "text", "none", "bad"

_DUCK_OF_ARROW = {"large_string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE",
                  "bool": "BOOLEAN"}
WORKER_FIELDS = tuple(c for c in schema.FRAME_COLUMNS if c not in schema.ANALYZER_COLUMNS)
_LABEL_SPEC = {schema.SERVICE: "VARCHAR", schema.ENVIRONMENT: "VARCHAR"}

#: The structure a JSON log line is transformed into (keys absent from a line are null).
PLAIN_SPEC: dict[str, object] = {
    **{c: ("VARCHAR" if c == schema.TIME else _DUCK_OF_ARROW[str(frame.ARROW_SCHEMA.field(c).type)])
       for c in WORKER_FIELDS},
    **dict.fromkeys(ALIASES, "VARCHAR"),
    schema.TRACE: "VARCHAR",
    schema.SPAN_ID: "VARCHAR",
    schema.LABELS: _LABEL_SPEC,
}

#: The structure of a Cloud Logging LogEntry.
ENTRY_SPEC: dict[str, object] = {
    ENTRY_TIMESTAMP: "VARCHAR",
    ENTRY_SEVERITY: "VARCHAR",
    TEXT_PAYLOAD: "VARCHAR",
    JSON_PAYLOAD: PLAIN_SPEC,
    RESOURCE: {LABELS: {POD_NAME: "VARCHAR", CONTAINER_NAME: "VARCHAR", NAMESPACE_NAME: "VARCHAR"}},
    LABELS: _LABEL_SPEC,
    ENTRY_TRACE: "VARCHAR",
    ENTRY_SPAN: "VARCHAR",
}

_EVENTS = ", ".join(f"'{e}'" for e in schema.Event)
_LEVELS = {"WARN": "WARNING", "FATAL": "CRITICAL", "ERR": "ERROR", "CRIT": "CRITICAL",
           "TRACE": "DEBUG", "10": "DEBUG", "20": "DEBUG", "30": "INFO", "40": "WARNING",
           "50": "ERROR", "60": "CRITICAL"}
COMPACT = True  # copy DuckDB's results into Arrow memory: ~250 MB less RSS per 1 M lines
FETCH_ROWS = 1_000_000  # rows per Arrow batch fetched from DuckDB (smaller costs CPU)
_BATCH = 131_072  # most rows per DuckDB query; chunks run on all cores at once

_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def connection() -> duckdb.DuckDBPyConnection:
    """One single-threaded DuckDB per Python thread: we parallelize over chunks ourselves,
    which keeps the output in input order without a sort."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(config={"threads": 1})
        configure(con)
        _local.con = con
    return con


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """Settings every connection that decodes log lines needs."""
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB draws a progress bar on stdout for a query that runs over 2 s (a big file on a
    # busy machine): it would land in front of `analyze --format json`'s output.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET arrow_large_buffer_size = true")  # large_string: free for pandas
    # Rows must come back in input order. DuckDB rewrites an IN list of more than a few
    # values (our event names) into a hash join, which does not keep the order when the
    # scan is parallel (duckdb/duckdb#24398; seen here with read_json, DuckDB 2.0).
    con.execute("SET disabled_optimizers = 'in_clause'")


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                       thread_name_prefix="rhesis-ingest")
        return _pool


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def normalized_columns(p: str, entry: str | None, fields: tuple[str, ...] = WORKER_FIELDS,
                       typed_time: bool = False) -> list[str]:
    """SQL expressions for the worker columns ``fields`` (and the raw time text), reading the
    struct ``p`` (and the entry ``entry``). ``typed_time``: ``p``'s ``time`` was read as a
    TIMESTAMPTZ already (a reader that fails on any other value: ``json_file``)."""
    def f(name: str) -> str:
        return f"{p}.{quote(name)}"

    def e(name: str) -> str | None:
        return f"{entry}.{quote(name)}" if entry else None

    def coalesce(*xs: str | None) -> str:
        xs2 = [x for x in xs if x]
        return xs2[0] if len(xs2) == 1 else f"coalesce({', '.join(xs2)})"

    level = f"upper({coalesce(f(schema.SEVERITY), f(LEVELNAME), f(LEVEL), e(ENTRY_SEVERITY))})"
    level_map = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _LEVELS.items())
    if typed_time:  # only the other loggers' keys are text
        time_raw = coalesce(f(TIMESTAMP), f(ASCTIME))
        time = f"coalesce({f(schema.TIME)}, try_cast({time_raw} AS TIMESTAMPTZ))"
    else:
        time_raw = coalesce(f(schema.TIME), f(TIMESTAMP), f(ASCTIME))
        time = f"try_cast({time_raw} AS TIMESTAMPTZ)"
    if entry:
        time = f"coalesce({time}, try_cast({e(ENTRY_TIMESTAMP)} AS TIMESTAMPTZ))"
    trace_path = coalesce(f(schema.TRACE), e(ENTRY_TRACE))
    special = {
        schema.TIME: time,
        schema.SEVERITY: f"CASE {level} {level_map} ELSE {level} END",
        schema.MESSAGE: coalesce(
            f(schema.MESSAGE),
            f(MSG),
            f"CASE WHEN {f(schema.EVENT)} NOT IN ({_EVENTS}) THEN {f(schema.EVENT)} END",
        ),
        schema.EVENT: (
            f"CASE WHEN {f(schema.EVENT)} IN ({_EVENTS}) THEN {f(schema.EVENT)} ELSE 'log' END"
        ),
        schema.LOGGER: coalesce(f(schema.LOGGER), f(NAME)),
        schema.PID: coalesce(f(schema.PID), f"try_cast({f(PROCESS)} AS BIGINT)"),
        schema.TRACEBACK: coalesce(f(schema.TRACEBACK), f(EXC_INFO), f(EXCEPTION)),
        schema.TRACE_ID: coalesce(
            f(schema.TRACE_ID),
            f"nullif(regexp_extract({trace_path}, '/traces/([0-9a-fA-F]+)$', 1), '')",
        ),
        schema.OTEL_SPAN_ID: coalesce(f(schema.OTEL_SPAN_ID), f(schema.SPAN_ID), e(ENTRY_SPAN)),
        schema.SERVICE: coalesce(
            f(schema.SERVICE),
            f"{f(schema.LABELS)}.{quote(schema.SERVICE)}",
            f"{e(LABELS)}.{quote(schema.SERVICE)}" if entry else None,
        ),
        schema.ENVIRONMENT: coalesce(
            f(schema.ENVIRONMENT),
            f"{f(schema.LABELS)}.{quote(schema.ENVIRONMENT)}",
            f"{e(LABELS)}.{quote(schema.ENVIRONMENT)}" if entry else None,
        ),
    }
    cols = [f"{special.get(c, f(c))} AS {quote(c)}" for c in fields]
    # The raw time text, only where it could not be parsed (other formats are tried later).
    cols.append(f"CASE WHEN {time} IS NULL THEN {time_raw} END AS {quote(TIME_RAW)}")
    return cols


def _run(texts: pa.Array, spec: dict[str, object], select: str) -> pa.Table:
    """Transform every element, in chunks on all cores; rows come back in input order."""
    if not (pa.types.is_large_string(texts.type) or pa.types.is_string(texts.type)):
        texts = texts.cast(pa.large_string())
    spec_json = json.dumps(spec).replace("'", "''")
    # As many equal chunks as cores (so none idles at the end), none above _BATCH rows.
    workers = max(1, os.cpu_count() or 1)
    per_core = -(-len(texts) // workers)
    step = max(4096, min(_BATCH, -(-per_core // -(-per_core // _BATCH))))
    chunks = [(start, texts.slice(start, step)) for start in range(0, len(texts), step)]
    if len(chunks) <= 1:
        results = [_run_chunk(c, spec_json, select) for c in chunks]
    else:
        results = list(_executor().map(lambda c: _run_chunk(c, spec_json, select), chunks))
    if not results:
        return _run_chunk((0, texts), spec_json, select)
    return pa.concat_tables(results)


def _run_chunk(chunk: tuple[int, pa.Array], spec_json: str, select: str) -> pa.Table:
    """One chunk; a malformed element fails the fast query, which is redone with TRY so only
    the bad elements come back null (``_kind = bad``)."""
    start, texts = chunk
    con = connection()
    lines = pa.table({"line": texts,
                      INDEX: pa.array(np.arange(start, start + len(texts), dtype=np.int64))})
    con.register("_lines", lines)
    try:
        sql = (f"SELECT {INDEX}, {select.format(ok='true')} FROM "
               f"(SELECT {INDEX}, json_transform(line, '{spec_json}') AS r FROM _lines)")
        try:
            return share_nulls(_fetch(con.sql(sql)), compact=COMPACT)
        except (duckdb.Error, OSError, pa.ArrowException):  # raised while streaming, too
            pass
        sql = (f"SELECT {INDEX}, {select.format(ok='r IS NOT NULL')} FROM "
               f"(SELECT {INDEX}, try(json_transform(line, '{spec_json}')) AS r FROM _lines)")
        return share_nulls(_fetch(con.sql(sql)), compact=COMPACT)
    finally:
        con.unregister("_lines")


def share_nulls(table: pa.Table, compact: bool = False) -> pa.Table:
    """``table`` with every all-null column replaced by a shared null array.

    ``compact`` also copies the other columns into Arrow's own memory, tightly: DuckDB's
    Arrow export over-allocates its buffers (about twice the data, measured), and the copy
    lets it free them.
    """
    n = table.num_rows
    if n == 0:
        return table
    columns = []
    for col in table.columns:
        if col.null_count == n:
            columns.append(frame.null_array(n, col.type))
        elif compact:
            columns.append(pa.concat_arrays([*col.chunks, pa.array([], col.type)]))
        else:
            columns.append(col)
    return pa.Table.from_arrays(columns, schema=table.schema)


def decode_plain(texts: pa.Array) -> pa.Table:
    """Normalize JSON log lines: ``_i``, ``_kind`` (json or bad), the worker columns, time text."""
    select = (f"CASE WHEN {{ok}} THEN '{KIND_JSON}' ELSE '{KIND_BAD}' END AS {KIND}, "
              + ", ".join(normalized_columns("r", None)))
    return _run(texts, PLAIN_SPEC, select)


def decode_entries(texts: pa.Array) -> pa.Table:
    """Normalize LogEntry lines: as ``decode_plain`` plus pod/container/namespace, text, time."""
    p = f"r.{quote(JSON_PAYLOAD)}"
    res = f"r.{quote(RESOURCE)}.{quote(LABELS)}"
    select = ", ".join([
        f"CASE WHEN NOT ({{ok}}) THEN '{KIND_BAD}' WHEN {p} IS NOT NULL THEN '{KIND_JSON}' "
        f"WHEN r.{quote(TEXT_PAYLOAD)} IS NOT NULL THEN '{KIND_TEXT}' ELSE '{KIND_NONE}' END "
        f"AS {KIND}",
        *normalized_columns(p, "r"),
        f"r.{quote(TEXT_PAYLOAD)} AS {TEXT}",
        f"try_cast(r.{quote(ENTRY_TIMESTAMP)} AS TIMESTAMPTZ) AS {ENTRY_TIME}",
        f"{res}.{quote(POD_NAME)} AS {quote(schema.POD)}",
        f"{res}.{quote(CONTAINER_NAME)} AS {quote(schema.CONTAINER)}",
        f"{res}.{quote(NAMESPACE_NAME)} AS {quote(schema.NAMESPACE)}",
    ])
    return _run(texts, ENTRY_SPEC, select)


def _fetch(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """The result in small record batches: DuckDB sizes each batch's buffers for the batch."""
    reader = relation.to_arrow_reader(FETCH_ROWS)
    return pa.Table.from_batches(list(reader), schema=reader.schema)

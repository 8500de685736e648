"""Celery's default text format, read with vectorized regular expressions.

A record starts with Celery's header::

    [2026-11-28 11:50:32,160: INFO/MainProcess] Task tasks.add[4f2c...] received

and the message is matched against the sentences Celery writes for the events the report
needs (see :data:`PATTERNS`): received, succeeded in Ns, retry, raised unexpected,
INTERNAL ERROR, Chord '<id>' raised, hard/soft time limit, Task handler raised error
(WorkerLostError), Connection to broker lost, missed heartbeat, ready, revoked, unregistered
task, and the task-logger format ``name[id]: message``. Anything else is event ``log``.

The patterns use the common subset of Python ``re`` and Rust ``regex`` syntax, so the streaming
parser (``analyzers.ingest.stream``) could match the same sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from instrumentation import schema as s

BODY = "body"

#: Celery's ``worker_log_format``: ``[%(asctime)s: %(levelname)s/%(processName)s] %(message)s``
HEADER = (
    r"^\[(?P<hdr_time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}): "
    r"(?P<hdr_level>[A-Z]+)/(?P<hdr_process>[^\]]*)\] (?P<hdr_msg>.*)$"
)
#: Cheap test used to classify lines before the full extraction.
HEADER_START = r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}: [A-Z]+/"

_TASK = r"Task (?P<task_name>[^\[\s]+)\[(?P<task_id>[^\]\s]+)\]"
# An exception repr as Celery writes it: ValueError('bad input') / pkg.Error(...)
EXC_REPR = r"^(?P<type>[A-Za-z_][\w.]*)\((?P<args>.*)\)$"
# The last line of a traceback: "ValueError: bad input" or "pkg.mod.Error"
EXC_LINE = r"(?m)^(?P<type>[A-Za-z_][\w.]*)(?:: (?P<msg>.*))?\s*\z"


@dataclass(frozen=True)
class Pattern:
    """One sentence Celery writes, the event it means and where its groups go."""

    event: str
    literal: str  # a substring every match contains (a cheap pre-filter)
    regex: str
    constants: dict[str, str] = field(default_factory=dict)


PATTERNS: tuple[Pattern, ...] = (
    Pattern(s.Event.TASK_RECEIVED, "] received", rf"^{_TASK} received"),
    Pattern(
        s.Event.TASK_SUCCEEDED, "] succeeded in ",
        rf"^{_TASK} succeeded in (?P<seconds>[0-9.eE+-]+)s: (?P<result>.*)$",
    ),
    Pattern(
        s.Event.TASK_RETRIED, "] retry: ",
        rf"^{_TASK} retry: Retry (?:in (?P<retry_in_s>[0-9.]+)s|at (?P<eta>\S+?))"
        r"(?:: (?P<exc>.*))?$",
    ),
    Pattern(
        s.Event.TASK_FAILED, "] raised ", rf"^{_TASK} raised (?:un)?expected: (?P<exc>.*)$"
    ),
    Pattern(
        s.Event.TASK_INTERNAL_ERROR, "] INTERNAL ERROR", rf"^{_TASK} INTERNAL ERROR: (?P<exc>.*)$"
    ),
    Pattern(
        s.Event.CHORD_ERROR, "Chord ", r"^Chord '(?P<chord_id>[^']+)' raised: (?P<exc>.*)$"
    ),
    Pattern(
        s.Event.TIME_LIMIT_EXCEEDED, " time limit (",
        r"^(?P<reason>Hard|Soft) time limit \((?P<limit>[0-9.]+)s\) exceeded for "
        r"(?P<task_name>[^\[\s]+)\[(?P<task_id>[^\]\s]+)\]",
    ),
    Pattern(
        s.Event.WORKER_LOST, "Task handler raised error: ",
        r"^Task handler raised error: (?P<exc>.*WorkerLostError.*)$",
    ),
    Pattern(
        s.Event.BROKER_CONNECTION_LOST, "Connection to broker lost",
        r"^consumer: Connection to broker lost",
    ),
    Pattern(s.Event.LOG, "missed heartbeat from ", r"^missed heartbeat from (?P<worker>\S+)",
            {s.REASON: "missed heartbeat"}),
    Pattern(s.Event.WORKER_READY, " ready.", r"^(?P<worker>\S+@\S+) ready\.$"),
    Pattern(
        s.Event.TASK_REVOKED, "Discarding revoked task: ",
        r"^Discarding revoked task: (?P<task_name>[^\[\s]+)\[(?P<task_id>[^\]\s]+)\]",
    ),
    Pattern(
        s.Event.TASK_UNKNOWN, "Received unregistered task of type ",
        r"^Received unregistered task of type '?(?P<task_name>[^'\s]+)'?",
    ),
    # get_task_logger() lines: worker_task_log_format "... %(task_name)s[%(task_id)s]: msg"
    Pattern(s.Event.LOG, "]: ", r"^(?P<task_name>[\w.:-]+)\[(?P<task_id>[0-9a-fA-F-]{8,})\]: "),
)

_PATTERN_COLUMNS = {
    "task_name": s.TASK_NAME, "task_id": s.TASK_ID, "eta": s.ETA,
    "chord_id": s.CHORD_ID, "worker": s.WORKER, "result": s.RESULT,
}


def parse_headers(df: pl.DataFrame) -> pl.DataFrame:
    """From lines starting with Celery's header (column ``body``), the record's columns.

    Returns ``_i`` (kept from ``df``), time (naive header time, as UTC), severity, message,
    event, task_name, task_id and the pattern-specific columns; missing ones are null.
    """
    col = pl.col
    h = df.select(col("_i"), col(BODY).str.extract_groups(HEADER).alias("h")).unnest("h")
    h = h.with_columns(
        col("hdr_time").str.to_datetime("%Y-%m-%d %H:%M:%S,%3f", strict=False, time_unit="us")
        .dt.replace_time_zone("UTC").alias(s.TIME),
        col("hdr_level").replace({"WARN": "WARNING", "FATAL": "CRITICAL"}).alias(s.SEVERITY),
        col("hdr_msg").alias(s.MESSAGE),
    )
    matched = []
    rest = h.select("_i", s.MESSAGE)
    for p in PATTERNS:
        hit = rest.filter(col(s.MESSAGE).str.contains(p.literal, literal=True))
        if hit.height == 0:
            continue
        ext = hit.select(col("_i"), col(s.MESSAGE).str.extract_groups(p.regex).alias("g"))
        ext = ext.unnest("g")
        group_cols = [c for c in ext.columns if c != "_i"]
        ok = ext.filter(pl.any_horizontal(col(c).is_not_null() for c in group_cols)) \
            if group_cols else ext
        if ok.height == 0:
            continue
        ok = ok.with_columns(
            pl.lit(str(p.event)).alias(s.EVENT),
            *[pl.lit(v).alias(k) for k, v in p.constants.items()],
        )
        matched.append(_pattern_columns(ok))
        rest = rest.join(ok.select("_i"), on="_i", how="anti")
    events = pl.concat(matched, how="diagonal_relaxed") if matched else None
    out = h.select("_i", s.TIME, s.SEVERITY, s.MESSAGE)
    if events is not None:
        out = out.join(events, on="_i", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.String).alias(s.EVENT))
    return out.with_columns(col(s.EVENT).fill_null(str(s.Event.LOG)))


def _pattern_columns(ok: pl.DataFrame) -> pl.DataFrame:
    col = pl.col
    exprs: list[pl.Expr] = [col("_i"), col(s.EVENT)]
    for group, target in _PATTERN_COLUMNS.items():
        if group in ok.columns:
            exprs.append(col(group).alias(target))
    if "seconds" in ok.columns:
        exprs.append((col("seconds").cast(pl.Float64, strict=False) * 1000).alias(s.DURATION_MS))
    if "retry_in_s" in ok.columns:
        exprs.append(col("retry_in_s").cast(pl.Float64, strict=False).alias(s.RETRY_IN_S))
    if "reason" in ok.columns:
        exprs.append(
            (col("reason").str.to_lowercase() + pl.lit(" time limit (") + col("limit")
             + pl.lit("s)")).alias(s.REASON)
            if "limit" in ok.columns else col("reason").alias(s.REASON)
        )
    if "exc" in ok.columns:
        exc = col("exc").str.extract_groups(EXC_REPR)
        args = exc.struct.field("args")
        unquoted = pl.coalesce(args.str.extract(r"^'(.*)'$", 1), args.str.extract(r'^"(.*)"$', 1),
                               args)
        exprs += [
            pl.coalesce(exc.struct.field("type"), col("exc")).alias(s.EXCEPTION_TYPE),
            unquoted.alias(s.EXCEPTION_MESSAGE),
        ]
    return ok.select(exprs)


def exception_from_traceback(tb: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(qualified type, message) from the last line of a Python traceback, else nulls."""
    g = tb.str.extract_groups(EXC_LINE)
    return g.struct.field("type"), g.struct.field("msg")

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
PREFIX_TIME = "prefix_time"

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


#: Celery's sentences about one task, "Task <name>[<id>] <rest>", told apart by how <rest>
#: starts. These are most lines of a log, so they are read by slicing, not by regex.
TASK_SENTENCES: tuple[tuple[str, str], ...] = (
    ("received", s.Event.TASK_RECEIVED),
    ("succeeded in ", s.Event.TASK_SUCCEEDED),
    ("retry: ", s.Event.TASK_RETRIED),
    ("raised unexpected: ", s.Event.TASK_FAILED),
    ("raised expected: ", s.Event.TASK_FAILED),
    ("INTERNAL ERROR: ", s.Event.TASK_INTERNAL_ERROR),
)
RETRY = r"^retry: Retry (?:in (?P<retry_in_s>[0-9.]+)s|at (?P<eta>\S+?))(?:: (?P<exc>.*))?$"

#: The other sentences: rarer, matched by a literal pre-filter and then a regex.
PATTERNS: tuple[Pattern, ...] = (
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

    ``df`` has ``_i``, ``body`` and ``prefix_time`` (the header's own time, which has no zone
    and only milliseconds, is parsed only where there is no kubectl/LogEntry time). Returns
    ``_i``, time, severity, message, event and the pattern-specific columns.
    """
    col = pl.col
    body = col(BODY)
    # "[2026-11-28 11:50:32,160: INFO/MainProcess] msg": fixed offsets up to the level.
    h = df.with_columns(body.str.find("] ", literal=True).alias("_end"),
                        body.str.find("/", literal=True).alias("_slash"))
    h = h.select(
        col("_i"),
        col(PREFIX_TIME),
        body.str.slice(1, 23).alias("hdr_time"),
        body.str.slice(26, col("_slash") - 26).replace({"WARN": "WARNING", "FATAL": "CRITICAL"})
        .alias(s.SEVERITY),
        pl.when(col("_end").is_null()).then(pl.lit(""))
        .otherwise(body.str.slice(col("_end") + 2)).alias(s.MESSAGE),
    )
    h = _with_time(h)
    task = _task_sentences(h.select("_i", s.MESSAGE))
    matched = [task]
    rest = h.select("_i", s.MESSAGE).join(task.select("_i"), on="_i", how="anti")
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
    events = pl.concat(matched, how="diagonal_relaxed")
    out = h.select("_i", s.TIME, s.SEVERITY, s.MESSAGE).join(events, on="_i", how="left")
    return out.with_columns(col(s.EVENT).fill_null(str(s.Event.LOG)))


def _with_time(h: pl.DataFrame) -> pl.DataFrame:
    """The record's time: the prefix's, else the header's (taken as UTC)."""
    missing = h.get_column(PREFIX_TIME).is_null()
    if not missing.any():
        return h.with_columns(pl.col(PREFIX_TIME).alias(s.TIME)).drop("hdr_time")
    from analyzers.ingest._times import parse_times

    own = parse_times(h.get_column("hdr_time").str.replace(",", ".", literal=True))
    return h.with_columns(pl.coalesce(pl.col(PREFIX_TIME), own).alias(s.TIME)).drop("hdr_time")


def _task_sentences(h: pl.DataFrame) -> pl.DataFrame:
    """Rows whose message is "Task <name>[<id>] <known sentence>": their event and fields."""
    col = pl.col
    msg = col(s.MESSAGE)
    t = h.filter(msg.str.starts_with("Task "))
    # Each intermediate once, as a column (Polars evaluates a reused expression at each use).
    t = t.with_columns(msg.str.find("[", literal=True).alias("_lb"),
                       msg.str.find("] ", literal=True).alias("_rb"))
    t = t.filter(col("_lb") < col("_rb"))
    t = t.with_columns(msg.str.slice(0, col("_rb")).alias("_head"))
    # str.find gives bytes, str.slice counts characters: both agree while the prefix is ASCII.
    t = t.filter(col("_head").str.len_bytes() == col("_rb"))
    t = t.select(
        col("_i"),
        col("_head").str.slice(5, col("_lb") - 5).alias(s.TASK_NAME),
        col("_head").str.slice(col("_lb") + 1).alias(s.TASK_ID),
        msg.str.slice(col("_rb") + 2).alias("rest"),
    )
    rest = col("rest")
    event = pl.lit(None, pl.String)
    for prefix, ev in reversed(TASK_SENTENCES):
        event = pl.when(rest.str.starts_with(prefix)).then(pl.lit(str(ev))).otherwise(event)
    t = t.with_columns(event.alias(s.EVENT)).filter(col(s.EVENT).is_not_null())
    ok_end = rest.str.find("s: ", literal=True)
    succeeded = col(s.EVENT) == str(s.Event.TASK_SUCCEEDED)
    t = t.with_columns(
        pl.when(succeeded).then(rest.str.slice(13, ok_end - 13).cast(pl.Float64, strict=False)
                                * 1000).alias(s.DURATION_MS),
        pl.when(succeeded).then(rest.str.slice(ok_end + 3)).alias(s.RESULT),
    )
    # Retries and failures are few: a regex for their exception part is affordable.
    retry = t.filter(col(s.EVENT) == str(s.Event.TASK_RETRIED))
    if retry.height:
        g = retry.select("_i", rest.str.extract_groups(RETRY).alias("g")).unnest("g")
        retry = g.select(
            "_i", col("retry_in_s").cast(pl.Float64, strict=False).alias(s.RETRY_IN_S),
            col("eta").alias(s.ETA), *_exception_columns(col("exc")),
        )
    failed = t.filter(col(s.EVENT).is_in([str(s.Event.TASK_FAILED),
                                          str(s.Event.TASK_INTERNAL_ERROR)]))
    if failed.height:
        exc = rest.str.slice(rest.str.find(": ", literal=True) + 2)
        failed = failed.select("_i", *_exception_columns(exc))
    t = t.drop("rest")
    extras = [x for x in (retry, failed) if x.height and s.EXCEPTION_TYPE in x.columns]
    if extras:
        t = t.join(pl.concat(extras, how="diagonal_relaxed"), on="_i", how="left")
    return t


def _exception_columns(exc: pl.Expr) -> list[pl.Expr]:
    """exception_type and exception_message from a repr like ``ValueError('bad input')``."""
    g = exc.str.extract_groups(EXC_REPR)
    args = g.struct.field("args")
    unquoted = pl.coalesce(args.str.extract(r"^'(.*)'$", 1), args.str.extract(r'^"(.*)"$', 1),
                           args)
    return [pl.coalesce(g.struct.field("type"), exc).alias(s.EXCEPTION_TYPE),
            unquoted.alias(s.EXCEPTION_MESSAGE)]


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
        exprs += _exception_columns(col("exc"))
    return ok.select(exprs)


def exception_from_traceback(tb: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(qualified type, message) from the last line of a Python traceback, else nulls."""
    g = tb.str.extract_groups(EXC_LINE)
    return g.struct.field("type"), g.struct.field("msg")

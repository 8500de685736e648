"""Celery's own sentences, recognized wherever a logger put them: one recognizer, every format.

Celery writes the same sentences whatever the logging setup; only the wrapping changes
(its default text header, a team's ``worker_log_format``, the ``message`` / ``msg`` /
``event`` field of a JSON logger, a Cloud Logging ``textPayload`` or ``jsonPayload``).
Every container format peels its wrapping and hands the message here::

    found = recognize(df)                  # df: "_i" and "message"; the sentence starts it
    found = recognize(df, anchored=False)  # the sentence may sit anywhere in the text

``found`` has one row per message that holds a sentence: ``_i``, ``event`` and the columns
the sentence fills (task name and id, duration, result, retry delay, exception type and
message, reason, pid, signal ...). Messages without a sentence are left out; the caller
keeps them as event ``log``.

The sentences (see :data:`TASK_SENTENCES` and :data:`PATTERNS`): ``Task <name>[<id>]
received / succeeded in <s>s: <result> / retry: Retry in <n>s: <exc> / raised unexpected:
<exc> / INTERNAL ERROR``, ``Discarding revoked task: <name>[<id>]``, ``Hard|Soft time limit
(<n>s) exceeded for <name>[<id>]``, ``Task handler raised error: WorkerLostError(...)``,
billiard's ``Process '<name>' pid:<n> exited with 'signal 9 (SIGKILL)'``, ``Chord '<id>'
raised``, broker connection lost, missed heartbeat, ``<host> ready.``, unregistered task,
and the task logger's ``<name>[<id>]: <message>``.

The patterns use the common subset of Python ``re`` and Rust ``regex`` syntax, so the
streaming parser could match the same sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from instrumentation import schema

MESSAGE = schema.MESSAGE

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
    ("received", schema.Event.TASK_RECEIVED),
    ("succeeded in ", schema.Event.TASK_SUCCEEDED),
    ("retry: ", schema.Event.TASK_RETRIED),
    ("raised unexpected: ", schema.Event.TASK_FAILED),
    ("raised expected: ", schema.Event.TASK_FAILED),
    ("INTERNAL ERROR: ", schema.Event.TASK_INTERNAL_ERROR),
)
RETRY = r"^retry: Retry (?:in (?P<retry_in_s>[0-9.]+)s|at (?P<eta>\S+?))(?:: (?P<exc>.*))?$"
#: Where a task sentence starts inside longer text (a custom format's prefix before it).
TASK_SENTENCE_START = (
    r"Task [^\s\[]+\[[^\]\s]+\] (?:received|succeeded in |retry: |raised (?:un)?expected: "
    r"|INTERNAL ERROR: )"
)

#: The other sentences: rarer, matched by a literal pre-filter and then a regex. Each regex
#: starts with ``^``; for text where the sentence may sit anywhere, the anchor is dropped.
PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        schema.Event.CHORD_ERROR, "Chord ", r"^Chord '(?P<chord_id>[^']+)' raised: (?P<exc>.*)$"
    ),
    Pattern(
        schema.Event.TIME_LIMIT_EXCEEDED,
        " time limit (",
        r"^(?P<reason>Hard|Soft) time limit \((?P<limit>[0-9.]+)s\) exceeded for "
        r"(?P<task_name>[^\[\s]+)\[(?P<task_id>[^\]\s]+)\]",
    ),
    Pattern(
        schema.Event.WORKER_LOST,
        "Task handler raised error: ",
        r"^Task handler raised error: (?P<exc>.*WorkerLostError.*)$",
    ),
    # billiard's pool, when a child dies: the one line naming the process and the signal.
    Pattern(
        schema.Event.WORKER_LOST,
        "' pid:",
        r"^Process '(?P<process>[^']+)' pid:(?P<pid>\d+) exited with "
        r"'(?P<reason>signal (?P<signum>\d+)[^']*|exitcode [1-9-][^']*)'",
    ),
    Pattern(
        schema.Event.BROKER_CONNECTION_LOST,
        "Connection to broker lost",
        r"^consumer: Connection to broker lost",
    ),
    Pattern(
        schema.Event.LOG,
        "missed heartbeat from ",
        r"^missed heartbeat from (?P<worker>\S+)",
        {schema.REASON: "missed heartbeat"},
    ),
    Pattern(schema.Event.WORKER_READY, " ready.", r"^(?P<worker>\S+@\S+) ready\.$"),
    Pattern(
        schema.Event.TASK_REVOKED,
        "Discarding revoked task: ",
        r"^Discarding revoked task: (?P<task_name>[^\[\s]+)\[(?P<task_id>[^\]\s]+)\]",
    ),
    Pattern(
        schema.Event.TASK_UNKNOWN,
        "Received unregistered task of type ",
        r"^Received unregistered task of type '?(?P<task_name>[^'\s]+)'?",
    ),
    # get_task_logger() lines: worker_task_log_format "... %(task_name)s[%(task_id)s]: msg"
    Pattern(
        schema.Event.LOG, "]: ", r"^(?P<task_name>[\w.:-]+)\[(?P<task_id>[0-9a-fA-F-]{8,})\]: "
    ),
)
#: A custom worker_task_log_format may put "name[id]" anywhere: "... (task rw.fail[<id>])".
TASK_IN_TEXT = Pattern(
    schema.Event.LOG, "[",
    r"(?:^|[\s(])(?P<task_name>[A-Za-z_][\w.:-]*)\[(?P<task_id>[0-9a-fA-F-]{32,36})\]",
)

_PATTERN_COLUMNS = {
    "task_name": schema.TASK_NAME, "task_id": schema.TASK_ID, "eta": schema.ETA,
    "chord_id": schema.CHORD_ID, "worker": schema.WORKER, "result": schema.RESULT,
}


def recognize(df: pl.DataFrame, anchored: bool = True) -> pl.DataFrame:
    """The rows of ``df`` (``_i``, ``message``) whose message is one of Celery's sentences.

    ``anchored``: the sentence starts the message (Celery's default header, a JSON
    logger's message field). Otherwise it may follow any prefix (a custom format).
    """
    col = pl.col
    h = df.select("_i", MESSAGE).filter(col(MESSAGE).is_not_null())
    if not anchored:  # cut each message at the start of its task sentence, if it has one
        at = col(MESSAGE).str.find(TASK_SENTENCE_START)
        cut = h.filter(col(MESSAGE).str.contains("Task ", literal=True)).select(
            "_i", pl.when(at.is_not_null()).then(col(MESSAGE).str.slice(at))
            .alias(MESSAGE)).filter(col(MESSAGE).is_not_null())
        task = _task_sentences(cut)
    else:
        task = _task_sentences(h)
    matched = [task]
    rest = h.join(task.select("_i"), on="_i", how="anti")
    patterns = PATTERNS if anchored else (*PATTERNS, TASK_IN_TEXT)
    for p in patterns:
        hit = rest.filter(col(MESSAGE).str.contains(p.literal, literal=True))
        if hit.height == 0:
            continue
        regex = p.regex if anchored or not p.regex.startswith("^") else p.regex[1:]
        ext = hit.select(col("_i"), col(MESSAGE).str.extract_groups(regex).alias("g"))
        ext = ext.unnest("g")
        group_cols = [c for c in ext.columns if c != "_i"]
        ok = ext.filter(pl.any_horizontal(col(c).is_not_null() for c in group_cols)) \
            if group_cols else ext
        if ok.height == 0:
            continue
        ok = ok.with_columns(
            pl.lit(str(p.event)).alias(schema.EVENT),
            *[pl.lit(v).alias(k) for k, v in p.constants.items()],
        )
        matched.append(_pattern_columns(ok))
        rest = rest.join(ok.select("_i"), on="_i", how="anti")
    return pl.concat(matched, how="diagonal_relaxed")


def _task_sentences(h: pl.DataFrame) -> pl.DataFrame:
    """Rows whose message is "Task <name>[<id>] <known sentence>": their event and fields."""
    col = pl.col
    msg = col(MESSAGE)
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
        col("_head").str.slice(5, col("_lb") - 5).alias(schema.TASK_NAME),
        col("_head").str.slice(col("_lb") + 1).alias(schema.TASK_ID),
        msg.str.slice(col("_rb") + 2).alias("rest"),
    )
    rest = col("rest")
    event = pl.lit(None, pl.String)
    for prefix, ev in reversed(TASK_SENTENCES):
        event = pl.when(rest.str.starts_with(prefix)).then(pl.lit(str(ev))).otherwise(event)
    t = t.with_columns(event.alias(schema.EVENT)).filter(col(schema.EVENT).is_not_null())
    ok_end = rest.str.find("s: ", literal=True)
    succeeded = col(schema.EVENT) == str(schema.Event.TASK_SUCCEEDED)
    t = t.with_columns(
        pl.when(succeeded).then(rest.str.slice(13, ok_end - 13).cast(pl.Float64, strict=False)
                                * 1000).alias(schema.DURATION_MS),
        pl.when(succeeded).then(rest.str.slice(ok_end + 3)).alias(schema.RESULT),
    )
    # Retries and failures are few: a regex for their exception part is affordable.
    retry = t.filter(col(schema.EVENT) == str(schema.Event.TASK_RETRIED))
    if retry.height:
        g = retry.select("_i", rest.str.extract_groups(RETRY).alias("g")).unnest("g")
        retry = g.select(
            "_i", col("retry_in_s").cast(pl.Float64, strict=False).alias(schema.RETRY_IN_S),
            col("eta").alias(schema.ETA), *exception_columns(col("exc")),
        )
    failed = t.filter(col(schema.EVENT).is_in([str(schema.Event.TASK_FAILED),
                                          str(schema.Event.TASK_INTERNAL_ERROR)]))
    if failed.height:
        exc = rest.str.slice(rest.str.find(": ", literal=True) + 2)
        failed = failed.select("_i", *exception_columns(exc))
    t = t.drop("rest")
    extras = [x for x in (retry, failed) if x.height and schema.EXCEPTION_TYPE in x.columns]
    if extras:
        t = t.join(pl.concat(extras, how="diagonal_relaxed"), on="_i", how="left")
    return t


def exception_columns(exc: pl.Expr) -> list[pl.Expr]:
    """exception_type and exception_message from a repr like ``ValueError('bad input')``."""
    g = exc.str.extract_groups(EXC_REPR)
    args = g.struct.field("args")
    unquoted = pl.coalesce(args.str.extract(r"^'(.*)'$", 1), args.str.extract(r'^"(.*)"$', 1),
                           args)
    return [pl.coalesce(g.struct.field("type"), exc).alias(schema.EXCEPTION_TYPE),
            unquoted.alias(schema.EXCEPTION_MESSAGE)]


def _pattern_columns(ok: pl.DataFrame) -> pl.DataFrame:
    col = pl.col
    exprs: list[pl.Expr] = [col("_i"), col(schema.EVENT)]
    for group, target in _PATTERN_COLUMNS.items():
        if group in ok.columns:
            exprs.append(col(group).alias(target))
    if "seconds" in ok.columns:
        exprs.append(
            (col("seconds").cast(pl.Float64, strict=False) * 1000).alias(schema.DURATION_MS)
        )
    if "retry_in_s" in ok.columns:
        exprs.append(col("retry_in_s").cast(pl.Float64, strict=False).alias(schema.RETRY_IN_S))
    if "pid" in ok.columns:
        exprs.append(col("pid").cast(pl.Int64, strict=False).alias(schema.PID))
    if "signum" in ok.columns:
        exprs.append(col("signum").cast(pl.Int64, strict=False).alias(schema.SIGNUM))
    if "reason" in ok.columns:
        exprs.append(
            (col("reason").str.to_lowercase() + pl.lit(" time limit (") + col("limit")
             + pl.lit("s)")).alias(schema.REASON)
            if "limit" in ok.columns else col("reason").alias(schema.REASON)
        )
    if "exc" in ok.columns:
        exprs += exception_columns(col("exc"))
    return ok.select(exprs)


def exception_from_traceback(tb: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(qualified type, message) from the last line of a Python traceback, else nulls."""
    g = tb.str.extract_groups(EXC_LINE)
    return g.struct.field("type"), g.struct.field("msg")

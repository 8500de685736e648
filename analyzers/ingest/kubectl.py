"""``kubectl logs --prefix --timestamps`` lines, and stitching multi-line records per stream.

``split_prefixes(text)`` peels, vectorized, the optional ``[pod/<pod>/<container>] `` prefix
and then the optional RFC 3339 timestamp (kubectl's has 9 fractional digits) off every line::

    [pod/worker-7d9f8-abcde/worker] 2026-11-28T11:50:32.160123456Z Traceback (most recent ...

``stitch(lines)`` decides which lines continue the record before them *in the same stream*
(pod/container): with three pods writing tracebacks at once, line N+1 of the input usually
belongs to another pod's record than line N. ``classify(body)`` gives each line its kind
first. Only traceback lines continue a record (and the banner's lines Celery's banner);
a text line that neither starts a record nor continues one is claimed by no format and is
reported as unparsed (``start_i`` null).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analyzers.ingest import row_join
from analyzers.ingest._times import UTC_US, parse_times

TEXT, BODY, POD, CONTAINER, PREFIX_TIME = "text", "body", "pod", "container", "prefix_time"
KIND, STREAM, BLOCK, START = "kind", "stream", "block", "start_i"

# Kinds of line, decided before parsing.
JSON, HEADER, PLAIN, BINARY, EMPTY = "json", "header", "plain", "binary", "empty"


def split_prefixes(df: pl.DataFrame) -> pl.DataFrame:
    """Add ``pod``, ``container``, ``prefix_time`` and ``body`` (the line without prefixes).

    Plain string slicing, no regular expression: the prefixes are ASCII, so byte offsets
    from ``str.find`` equal character offsets for ``str.slice`` up to the prefix's end.
    Every intermediate is materialized once as a column (Polars would otherwise evaluate a
    shared sub-expression once per use).
    """
    col = pl.col
    text = col(TEXT)
    if df.get_column(TEXT).str.starts_with("[pod/").any():
        df = df.with_columns(text.str.find("] ", literal=True).alias("_end"))
        df = df.with_columns(
            pl.when(text.str.starts_with("[pod/")).then(text.str.slice(5, col("_end") - 5))
            .alias("_inner"))
        df = df.with_columns(col("_inner").str.find("/", literal=True).alias("_slash"))
        df = df.with_columns(
            col("_inner").str.slice(0, col("_slash")).alias(POD),
            pl.when(col("_slash").is_not_null()).then(col("_inner").str.slice(col("_slash") + 1))
            .alias(CONTAINER),
            pl.when(col("_inner").is_not_null()).then(text.str.slice(col("_end") + 2))
            .otherwise(text).alias(BODY),
        ).drop("_end", "_inner", "_slash")
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias(POD),
                             pl.lit(None, pl.String).alias(CONTAINER), text.alias(BODY))
    body = col(BODY)
    stamped = body.str.contains(r"^\d{4}-\d{2}-\d{2}T")
    if df.select(stamped.any()).item():
        df = df.with_columns(stamped.alias("_stamped"), body.str.find(" ", literal=True)
                             .alias("_space"))
        df = df.with_columns(
            pl.when(col("_stamped"))
            .then(pl.when(col("_space").is_null()).then(body.str.strip_chars_end())
                  .otherwise(body.str.slice(0, col("_space"))))
            .alias("_ts"))
        df = df.with_columns(parse_times(df.get_column("_ts")).alias(PREFIX_TIME))
        df = df.with_columns(
            pl.when(col(PREFIX_TIME).is_null()).then(body)
            .when(col("_space").is_null()).then(pl.lit(""))
            .otherwise(body.str.slice(col("_space") + 1)).alias(BODY),
        ).drop("_ts", "_stamped", "_space")
    else:
        df = df.with_columns(pl.lit(None, UTC_US).alias(PREFIX_TIME))
    return df.with_columns(col(BODY).str.strip_chars_end())


#: A line that may continue a record: a traceback's lines (indented frames, its first line,
#: the separators of chained exceptions, billiard's quoted inner traceback).
CONTINUATION = (
    r'^(?:\s|Traceback \(most recent call last\)|During handling of the above exception'
    r'|The above exception was the direct cause|"""$)'
)
#: A traceback's last line ("pkg.Error: message"); it continues a record only right after a
#: traceback line, so "worker: Warm shutdown" after a finished traceback starts nothing.
EXCEPTION_LINE = r"^[A-Za-z_][\w.]*(?:: .*|:)?$"
#: Celery's start-up banner: its first line, then lines of dashes and stars, [tasks] ...
BANNER_START = r"^\s*-+ \S+@\S+ v\d"
BANNER_LINE = r"^(?:[-*]+(?: |$)|\[(?:tasks|queues|config)\]$)"
#: A text line that starts a log record in a format other than Celery's default header: it
#: starts with a timestamp, has a level name near its start, or holds one of Celery's
#: sentences (a worker_log_format of "%(message)s").
RECORD_START = (
    r"^\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}"
    r"|^\S.{0,48}?\b(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b"
    r"|Task [^\s\[]+\[[^\]\s]+\] (?:received|succeeded in |retry: |raised |INTERNAL ERROR)"
    r"|Process '[^']+' pid:\d+ exited with |Discarding revoked task: "
    r"|Task handler raised error: |(?:Hard|Soft) time limit \(\d"
)
#: JSON that is not an object: a value, not a log record.
JSON_VALUE = r'^(?:\[.*\]|null|true|false|-?\d[\d.eE+-]*|".*")$'

# More kinds of line (besides JSON, HEADER, PLAIN, BINARY, EMPTY): RECORD starts a record in
# another text format, BANNER starts Celery's banner, CONT / EXC / BANNER_BODY may continue
# a record, JSON_OTHER is a JSON value that is not an object.
RECORD, BANNER, CONT, EXC, BANNER_BODY, JSON_OTHER = (
    "record", "banner", "cont", "exc", "banner_body", "json_other")
TEXT_KINDS = (HEADER, RECORD, BANNER, CONT, EXC, BANNER_BODY, PLAIN, JSON_OTHER)
STARTS = (HEADER, RECORD, BANNER)
#: Why a text line that no record claims is unparsed.
REASON_NOT_A_RECORD = "not a log record"
REASON_JSON_VALUE = "JSON that is not an object"
REASON_ORPHAN = "continuation without a record"


def classify(df: pl.DataFrame, header_start: str) -> pl.DataFrame:
    """``df`` (with ``body``) plus the ``kind`` of every line. The cheap kinds (empty, JSON,
    Celery's header: most lines of most logs) first; the regular expressions run only on
    the other lines."""
    body = pl.col(BODY)
    df = df.with_columns(
        pl.when(body == "").then(pl.lit(EMPTY))
        .when(body.str.starts_with("{")).then(pl.lit(JSON))
        .when(body.str.contains(header_start)).then(pl.lit(HEADER))
        .otherwise(pl.lit(None, pl.String)).alias(KIND))
    rest = df.get_column(KIND).is_null()
    if not rest.any():
        return df
    at = np.flatnonzero(rest.to_numpy())
    other = other_kinds(df.get_column(BODY).gather(at))
    return df.with_columns(df.get_column(KIND).scatter(at, other))


#: The kinds ``other_kinds`` tells apart, in order: the first pattern a line matches wins.
OTHER_RULES = (
    (BANNER_START, BANNER),
    (CONTINUATION, CONT),
    (BANNER_LINE, BANNER_BODY),
    (RECORD_START, RECORD),
    (JSON_VALUE, JSON_OTHER),
    (EXCEPTION_LINE, EXC),
)


def other_kinds(bodies: pl.Series) -> pl.Series:
    """The kind of each line that is neither empty, JSON nor Celery's header.

    Each pattern runs only on the lines no earlier pattern matched (a ``when/then`` chain
    would run every pattern on every line): most such lines are a traceback's, decided by
    the second pattern.
    """
    codes = np.full(len(bodies), len(OTHER_RULES), dtype=np.uint32)  # default: PLAIN
    left = np.arange(len(bodies))
    for code, (pattern, _) in enumerate(OTHER_RULES):
        hit = bodies.str.contains(pattern).fill_null(False)
        codes[left[hit.to_numpy()]] = code
        miss = ~hit
        left = left[miss.to_numpy()]
        if len(left) == 0:
            break
        bodies = bodies.filter(miss)
    names = pl.Series(KIND, [kind for _, kind in OTHER_RULES] + [PLAIN], dtype=pl.String)
    return names.gather(codes)


def stitch(lines: pl.DataFrame) -> pl.DataFrame:
    """For every text line: the ``_i`` of the record it belongs to (null: no record claims it).

    ``lines`` has ``_i`` (input order), ``stream`` and ``kind``, sorted by ``_i``. Returns
    ``_i`` and ``start_i`` for the text lines (``start_i == _i`` for a record's first line).
    Only a traceback continues a record (and the banner's own lines the banner): a line
    continues when it is a continuation kind that fits the line before it in its stream,
    and every line back to a record's first line does too. Empty lines are skipped over.
    """
    col = pl.col
    text = lines.filter(col(KIND).is_in(TEXT_KINDS))
    # The windows partition by a small integer per stream, not by the stream's text: grouping
    # a million strings three times costs more than the windows themselves.
    codes = text.get_column(STREAM).cast(pl.Categorical).to_physical().alias("_s")
    has_streams = codes.n_unique() > 1

    def over(e: pl.Expr) -> pl.Expr:
        return e.over("_s") if has_streams else e

    t = text.select(col("_i"), col(KIND))
    if has_streams:
        t = t.with_columns(codes)
    t = t.with_columns(over(col(KIND).shift(1)).alias("_prev"))
    kind, prev = col(KIND), col("_prev")
    fits = (
        (kind == CONT)
        | ((kind == EXC) & prev.is_in([CONT]).fill_null(False))
        | ((kind == BANNER_BODY) & prev.is_in([BANNER, BANNER_BODY, CONT]).fill_null(False))
    )
    status = pl.when(kind.is_in(STARTS)).then(pl.lit(1)).when(fits).then(pl.lit(0)) \
        .otherwise(pl.lit(-1))
    t = t.with_columns(status.alias("_st")).drop(KIND, "_prev")
    anchor = over(pl.when(col("_st") != 0).then(col("_i")).forward_fill())
    anchor_st = over(pl.when(col("_st") != 0).then(col("_st")).forward_fill())
    t = t.with_columns(anchor.alias("_a"), anchor_st.alias("_ast"))
    start = pl.when(col("_st") == 1).then(col("_i")) \
        .when((col("_st") == 0) & (col("_ast") == 1)).then(col("_a"))
    return t.select(col("_i"), start.alias(START))


def blocks(lines: pl.DataFrame, owners: pl.DataFrame) -> pl.DataFrame:
    """Join each record's continuation lines: ``_i`` of the record and its ``block`` text."""
    col = pl.col
    cont = owners.filter(col(START) != col("_i"))
    if cont.height == 0:
        return pl.DataFrame({"_i": [], BLOCK: []}, schema={"_i": pl.Int64, BLOCK: pl.String})
    cont = row_join.left_join(cont, lines, [BODY]).sort("_i")
    return cont.group_by(START, maintain_order=True).agg(col(BODY).str.join("\n").alias(BLOCK)) \
        .rename({START: "_i"})


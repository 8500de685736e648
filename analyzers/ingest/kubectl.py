"""``kubectl logs --prefix --timestamps`` lines, and stitching multi-line records per stream.

``split_prefixes(text)`` peels, vectorized, the optional ``[pod/<pod>/<container>] `` prefix
and then the optional RFC 3339 timestamp (kubectl's has 9 fractional digits) off every line::

    [pod/worker-7d9f8-abcde/worker] 2026-11-28T11:50:32.160123456Z Traceback (most recent ...

``stitch(lines)`` decides which lines continue the record before them *in the same stream*
(pod/container): with three pods writing tracebacks at once, line N+1 of the input usually
belongs to another pod's record than line N. A text line continues a record when the
previous line of its stream is text too and it does not itself start a Celery record.
"""

from __future__ import annotations

import polars as pl

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


def stitch(lines: pl.DataFrame) -> pl.DataFrame:
    """For every line of kind ``plain``/``header``: the ``_i`` of the record it belongs to.

    ``lines`` has ``_i`` (input order), ``stream`` and ``kind``, sorted by ``_i``. Returns
    ``_i`` and ``start_i`` for the text lines (``start_i == _i`` for a record's first line).
    """
    col = pl.col
    prev = col(KIND).shift(1)
    has_streams = lines.get_column(STREAM).n_unique() > 1
    if has_streams:
        prev = prev.over(STREAM)
    is_text = col(KIND).is_in([HEADER, PLAIN])
    starts = (col(KIND) == HEADER) | ~prev.is_in([HEADER, PLAIN]).fill_null(False)
    start_i = pl.when(starts).then(col("_i")).forward_fill()
    if has_streams:
        start_i = start_i.over(STREAM)
    # Non-text lines break a chain: compute on all lines, then keep the text ones.
    out = lines.select(col("_i"), is_text.alias("t"), start_i.alias(START))
    return out.filter(col("t")).drop("t")


def blocks(lines: pl.DataFrame, owners: pl.DataFrame) -> pl.DataFrame:
    """Join each record's continuation lines: ``_i`` of the record and its ``block`` text."""
    col = pl.col
    cont = owners.filter(col(START) != col("_i"))
    if cont.height == 0:
        return pl.DataFrame({"_i": [], BLOCK: []}, schema={"_i": pl.Int64, BLOCK: pl.String})
    cont = cont.join(lines.select("_i", BODY), on="_i", how="left").sort("_i")
    return cont.group_by(START, maintain_order=True).agg(col(BODY).str.join("\n").alias(BLOCK)) \
        .rename({START: "_i"})

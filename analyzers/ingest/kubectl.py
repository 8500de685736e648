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

from analyzers.ingest._times import parse_times

POD_PREFIX = r"(?s)^\[pod/(?P<pod>[^/\]\s]+)/(?P<container>[^\]\s]+)\] ?(?P<rest>.*)$"
TIMESTAMP_PREFIX = (
    r"(?s)^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))"
    r"(?: (?P<rest>.*))?$"
)

TEXT, BODY, POD, CONTAINER, PREFIX_TIME = "text", "body", "pod", "container", "prefix_time"
KIND, STREAM, BLOCK, START = "kind", "stream", "block", "start_i"

# Kinds of line, decided before parsing.
JSON, HEADER, PLAIN, BINARY, EMPTY = "json", "header", "plain", "binary", "empty"


def split_prefixes(df: pl.DataFrame) -> pl.DataFrame:
    """Add ``pod``, ``container``, ``prefix_time`` and ``body`` (the line without prefixes)."""
    col = pl.col
    text = df.get_column(TEXT)
    if text.str.starts_with("[pod/").any():
        g = text.str.extract_groups(POD_PREFIX)
        pod, container = g.struct.field("pod"), g.struct.field("container")
        body = g.struct.field("rest").fill_null(text)
    else:
        pod = container = pl.Series(values=[None] * len(text), dtype=pl.String)
        body = text
    df = df.with_columns(pod.alias(POD), container.alias(CONTAINER))
    if body.str.contains(r"^\d{4}-\d{2}-\d{2}T").any():
        g = body.str.extract_groups(TIMESTAMP_PREFIX)
        ts = g.struct.field("ts")
        prefix_time = parse_times(ts)
        body = pl.select(
            pl.when(pl.lit(ts).is_null())
            .then(pl.lit(body))
            .otherwise(pl.lit(g.struct.field("rest")).fill_null(""))
        ).to_series()
    else:
        prefix_time = pl.Series(values=[None] * len(text), dtype=pl.Datetime("us", "UTC"))
    return df.with_columns(
        prefix_time.alias(PREFIX_TIME), body.alias(BODY)
    ).with_columns(col(BODY).str.strip_chars_end())


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

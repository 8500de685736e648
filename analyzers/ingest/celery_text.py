"""Celery's text records: the default header, and any other ``worker_log_format``.

``parse_headers(df)`` reads records starting with Celery's default header::

    [2026-11-28 11:50:32,160: INFO/MainProcess] Task tasks.add[4f2c...] received

``parse_records(df)`` reads records of any other text format (``2026-11-28 11:50:32,160
INFO MainProcess Task ...``): time and level wherever they sit near the start. Both hand
the message to ``celery_sentences.recognize``, the one recognizer of Celery's sentences
(received, succeeded, retry, raised, revoked, time limits, lost workers ...); a message
without one is event ``log``.
"""

from __future__ import annotations

import polars as pl

from analyzers.ingest import celery_sentences, row_join
from instrumentation import schema

BODY = "body"
PREFIX_TIME = "prefix_time"

#: Celery's ``worker_log_format``: ``[%(asctime)s: %(levelname)s/%(processName)s] %(message)s``
HEADER = (
    r"^\[(?P<hdr_time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}): "
    r"(?P<hdr_level>[A-Z]+)/(?P<hdr_process>[^\]]*)\] (?P<hdr_msg>.*)$"
)
#: Cheap test used to classify lines before the full extraction.
HEADER_START = r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}: [A-Z]+/"

#: A timestamp anywhere near the start of a line in another text format.
ANY_TIME = (r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
            r"(?:Z|[+-]\d{2}:?\d{2})?)")
#: A level name as a word near the start of a line; the message follows it.
ANY_LEVEL = r"^\S.{0,48}?\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b[\]:]?\s*"
# The names celery_text used to define, now the one recognizer's (kept for importers).
PATTERNS = celery_sentences.PATTERNS
TASK_SENTENCES = celery_sentences.TASK_SENTENCES
exception_from_traceback = celery_sentences.exception_from_traceback


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
        .alias(schema.SEVERITY),
        pl.when(col("_end").is_null()).then(pl.lit(""))
        .otherwise(body.str.slice(col("_end") + 2)).alias(schema.MESSAGE),
    )
    h = _with_time(h)
    return _with_events(h, anchored=True)


def parse_records(df: pl.DataFrame) -> pl.DataFrame:
    """Text records in a format other than Celery's default (any ``worker_log_format``).

    ``df`` as for ``parse_headers``. The time is the first timestamp near the line's start,
    the severity the first level name, the message what follows the level name (the whole
    line without one); Celery's sentences are found wherever they sit in it.
    """
    col = pl.col
    body = col(BODY)
    h = df.with_columns(body.str.extract(ANY_LEVEL, 1).alias("_lvl"),
                        body.str.find(ANY_LEVEL).alias("_lvl_at"))
    head = body.str.slice(0, 64)
    h = h.select(
        col("_i"), col(PREFIX_TIME),
        head.str.extract(ANY_TIME, 1).str.replace(",", ".", literal=True).alias("hdr_time"),
        col("_lvl").replace({"WARN": "WARNING", "FATAL": "CRITICAL"}).alias(schema.SEVERITY),
        pl.when(col("_lvl").is_null()).then(body)
        .otherwise(body.str.replace(ANY_LEVEL, "")).alias(schema.MESSAGE),
    )
    h = _with_time(h)
    return _with_events(h, anchored=False)


def _with_events(h: pl.DataFrame, anchored: bool) -> pl.DataFrame:
    """The header-parsed rows joined with the Celery sentences found in their message."""
    events = celery_sentences.recognize(h.select("_i", schema.MESSAGE), anchored=anchored)
    out = row_join.left_join(h.select("_i", schema.TIME, schema.SEVERITY, schema.MESSAGE),
                             events, [c for c in events.columns if c != "_i"])
    return out.with_columns(pl.col(schema.EVENT).fill_null(str(schema.Event.LOG)))


def _with_time(h: pl.DataFrame) -> pl.DataFrame:
    """The record's time: the prefix's, else the header's (taken as UTC)."""
    missing = h.get_column(PREFIX_TIME).is_null()
    if not missing.any():
        return h.with_columns(pl.col(PREFIX_TIME).alias(schema.TIME)).drop("hdr_time")
    from analyzers.ingest._times import parse_times

    own = parse_times(h.get_column("hdr_time").str.replace(",", ".", literal=True))
    return h.with_columns(pl.coalesce(pl.col(PREFIX_TIME), own).alias(schema.TIME)).drop("hdr_time")

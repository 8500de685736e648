"""Records and unparsed lines, as the ingest's steps produce them, until the final frame.

``Parts`` collects what one batch produced: record tables in the frame's Arrow schema plus
an ``_order`` column (``FINAL_SCHEMA``), unparsed lines as small Polars frames, and the count
of lines read. ``add_json_records`` turns DuckDB's decoded table into records;
``read_text`` turns text lines, stitched per pod/container, into records (Celery sentences
via ``celery_text``, continuation lines via ``with_blocks``); ``assemble`` puts all parts
together in input order.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from analyzers import frame
from analyzers.ingest import celery_sentences, celery_text, json_lines, kubectl, row_join
from analyzers.ingest._times import UTC_US, parse_times
from analyzers.ingest.detect import Lines
from instrumentation import schema

ORDER = "_order"  # position of a record in the whole input, for the final sort


_ERROR_EVENTS = [
    str(e)
    for e in (
        schema.Event.TASK_FAILED,
        schema.Event.TASK_RETRIED,
        schema.Event.TASK_INTERNAL_ERROR,
        schema.Event.CHORD_ERROR,
        schema.Event.WORKER_LOST,
        schema.Event.TIME_LIMIT_EXCEEDED,
        schema.Event.TASK_UNKNOWN,
    )
]


#: What a Celery sentence in a text record can tell, copied as is into the record.
_SENTENCE_FIELDS = (
    schema.TASK_ID, schema.TASK_NAME, schema.ETA, schema.CHORD_ID, schema.WORKER,
    schema.RESULT, schema.DURATION_MS, schema.RETRY_IN_S, schema.REASON,
    schema.EXCEPTION_TYPE, schema.EXCEPTION_MESSAGE,
)

_TRACEBACK_START = "Traceback (most recent call last)"


FINAL_SCHEMA = frame.ARROW_SCHEMA.append(pa.field(ORDER, pa.int64()))


POLARS_TYPES = {
    c: (UTC_US if c == schema.TIME else
        {"large_string": pl.String, "int64": pl.Int64, "double": pl.Float64, "bool": pl.Boolean}[
            str(frame.ARROW_SCHEMA.field(c).type)])
    for c in schema.FRAME_COLUMNS
}


UNPARSED_POLARS = {
    c: (pl.Int64 if c == schema.LINE_NO else pl.String) for c in frame.UNPARSED_COLUMNS
}


@dataclass
class Parts:
    """What one batch, source or several sources decoded, before the final assembly:
    record tables (Arrow, ``FINAL_SCHEMA``), unparsed lines (Polars frames) and counts."""

    records: list[pa.Table] = field(default_factory=list)  # each in FINAL_SCHEMA
    unparsed: list[pl.DataFrame] = field(default_factory=list)
    lines_read: int = 0
    # For a batch read with partial=True: where the unread tail starts (byte offset in the
    # batch, and its first line's number); None when everything was read.
    carry: int | None = None
    carry_line_no: int = 0
    # The second half of a text batch (parsing the records), running on the background
    # thread while the next batch is split and stitched; merged by read_source in order.
    deferred: Future[Parts] | None = None

    def merge(self, other: Parts) -> None:
        self.records += other.records
        self.unparsed += other.unparsed
        self.lines_read += other.lines_read


def add_json_records(table: pa.Table, ctx: pl.DataFrame, buf: bytes | None, lines: Lines | None,
                      source: str, order_base: int, parts: Parts, fmt: str,
                      bodies: pl.Series | None = None) -> None:
    """Records from a decoded table (``json_lines``); its bad rows become unparsed lines.

    ``ctx`` holds, per decoded element (``_i``), line_no and optionally pod, container,
    namespace and prefix_time. A table without ``_kind`` holds only good rows, one per row of
    ``ctx`` (``json_file``: DuckDB fails rather than return a bad row). Stays in Arrow: this
    is the hot path of a JSON log.
    """
    here = ctx
    if json_lines.KIND in table.column_names:
        table, here = _good_rows(table, ctx, buf, lines, source, parts, bodies)
    n = table.num_rows
    time = table.column(schema.TIME).cast(frame.ARROW_SCHEMA.field(schema.TIME).type)
    raw_time = table.column(json_lines.TIME_RAW)
    if raw_time.null_count < n:  # formats DuckDB does not know (asctime, epoch numbers)
        time = pc.coalesce(time, parse_times(pl.from_arrow(raw_time)).to_arrow())
    if kubectl.PREFIX_TIME in here.columns:
        time = pc.coalesce(time, here.get_column(kubectl.PREFIX_TIME).to_arrow())
    if n and (time.null_count or _message_missing(table).any()):
        texts = _texts_of(table, buf, lines, bodies)
        if texts is not None:
            time, table = by_content(table, time, texts)
    # (A decode restricted to some columns leaves the others out: final_table nulls them.)
    columns = {c: table.column(c) for c in json_lines.WORKER_FIELDS if c in table.column_names}
    columns[schema.TIME] = time
    line_no = here.get_column(schema.LINE_NO).to_numpy()
    columns[schema.LINE_NO] = pa.array(line_no)
    for name, key in ((schema.POD, kubectl.POD), (schema.CONTAINER, kubectl.CONTAINER),
                      (schema.NAMESPACE, schema.NAMESPACE)):
        if key in here.columns:
            columns[name] = here.get_column(key).to_arrow()
        elif name in table.column_names:
            columns[name] = table.column(name)
    columns[schema.SOURCE] = pa.repeat(pa.scalar(source, pa.large_string()), n)
    columns[schema.FORMAT] = pa.repeat(pa.scalar(fmt, pa.large_string()), n)
    columns[ORDER] = pa.array(line_no + order_base)
    parts.records.append(final_table(pa.table(columns)))


_TIME_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")
_CONTENT_SAMPLE = 500


def _message_missing(table: pa.Table) -> pl.Series:
    """Rows with neither an event of ours nor a message: another logger's renamed key."""
    return (pl.from_arrow(table.column(schema.MESSAGE)).is_null()
            & (pl.from_arrow(table.column(schema.EVENT)) == str(schema.Event.LOG))).fill_null(False)


def _texts_of(table: pa.Table, buf: bytes | None, lines: Lines | None,
              bodies: pl.Series | None) -> pl.Series | None:
    """The JSON text of each decoded row, where the caller still has it."""
    idx = table.column(json_lines.INDEX).to_numpy() \
        if json_lines.INDEX in table.column_names else np.arange(table.num_rows)
    if bodies is not None:
        return bodies.gather(idx)
    if buf is None or lines is None:
        return None
    picked = lines.take(idx)
    return pl.Series([bytes(buf[a:b]).decode("utf-8", "replace")
                      for a, b in zip(picked.starts, picked.ends, strict=True)])


def by_content(table: pa.Table, time: pa.ChunkedArray | pa.Array, texts: pl.Series
               ) -> tuple[pa.ChunkedArray | pa.Array, pa.Table]:
    """Time and message of JSON lines whose logger named them otherwise (python-json-logger's
    ``rename_fields``: ``ts``, ``text`` ...): the key whose values look like timestamps, and
    the key whose values hold Celery's sentences (else the longest text), found on a sample
    of the lines lacking them, then read from every such line."""
    time_missing = pl.from_arrow(time).is_null()
    msg_missing = _message_missing(table)
    sample = texts.filter(time_missing | msg_missing).head(_CONTENT_SAMPLE)
    time_votes: dict[str, int] = {}
    msg_votes: dict[str, float] = {}
    for raw in sample.to_list():
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        for key, value in obj.items():
            if not isinstance(value, str) or key in _KNOWN_KEYS:
                continue
            if _TIME_VALUE.match(value):
                time_votes[key] = time_votes.get(key, 0) + 1
            elif "\n" not in value:  # a traceback is not the message
                sentence = any(p in value for p in _SENTENCE_HINTS)
                msg_votes[key] = msg_votes.get(key, 0.0) + len(value) / 1000 + 100 * sentence
    if time_votes and time_missing.any():
        key = max(time_votes, key=time_votes.__getitem__)
        found = _only_where(time_missing, parse_times(
            texts.filter(time_missing).str.json_path_match(_path(key))))
        time = pc.coalesce(time, found.to_arrow().cast(time.type))
    if msg_votes and msg_missing.any():
        key = max(msg_votes, key=msg_votes.__getitem__)
        found = _only_where(msg_missing, texts.filter(msg_missing).str.json_path_match(_path(key)))
        i = table.column_names.index(schema.MESSAGE)
        table = table.set_column(i, schema.MESSAGE, pc.coalesce(
            table.column(schema.MESSAGE), found.to_arrow().cast(table.column(schema.MESSAGE).type)))
    return time, table


def _only_where(mask: pl.Series, values: pl.Series) -> pl.Series:
    """``values`` (one per True of ``mask``) spread out to ``mask``'s length, null elsewhere."""
    out = pl.Series(values.name, [None] * len(mask), dtype=values.dtype)
    return out.scatter(np.flatnonzero(mask.to_numpy()), values)


def _path(key: str) -> str:
    return "$." + key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else \
        "$['" + key.replace("'", "") + "']"


_KNOWN_KEYS = frozenset((*schema.FRAME_COLUMNS, *json_lines.ALIASES, "processName", "threadName",
                         "service", "stack_info", "funcName", "module", "filename",
                         "pathname"))
_SENTENCE_HINTS = ("Task ", " received", " succeeded in ", "Connected to ", "mingle: ")


def _good_rows(table: pa.Table, ctx: pl.DataFrame, buf: bytes | None, lines: Lines | None,
               source: str, parts: Parts, bodies: pl.Series | None
               ) -> tuple[pa.Table, pl.DataFrame]:
    """Report the table's bad rows as unparsed; its good rows and their ``ctx`` rows."""
    kinds = table.column(json_lines.KIND)
    bad = pc.equal(kinds, json_lines.KIND_BAD)
    if pc.any(bad).as_py():
        bad_idx = table.column(json_lines.INDEX).filter(bad).to_numpy()
        if bodies is not None:
            add_unparsed_texts(parts, source, ctx[bad_idx], bodies[bad_idx], "invalid JSON")
        else:
            add_bad(parts, [(int(i), "invalid JSON") for i in bad_idx], buf, lines, source)
    keep = pc.equal(kinds, json_lines.KIND_JSON)
    if not pc.all(keep).as_py():
        table = table.filter(keep)
    n = table.num_rows
    idx = table.column(json_lines.INDEX).to_numpy()
    identity = n == ctx.height and (n == 0 or (idx[0] == 0 and idx[-1] == n - 1))
    return table, (ctx if identity else ctx[idx])


def final_table(table: pa.Table) -> pa.Table:
    """``table`` with exactly the frame's columns (nulls where missing) and ``_order``."""
    n = table.num_rows
    arrays = []
    for f in FINAL_SCHEMA:
        if f.name in table.column_names:
            c = table.column(f.name)
            arrays.append(c if c.type == f.type else c.cast(f.type))
        else:
            arrays.append(frame.null_array(n, f.type))
    return json_lines.share_nulls(pa.table(arrays, schema=FINAL_SCHEMA))


def in_order(df: pl.DataFrame) -> pl.DataFrame:
    """DuckDB scans in parallel: put rows back in input order (a no-op when they are)."""
    idx = df.get_column(json_lines.INDEX)
    return df if idx.is_sorted() else df.sort(json_lines.INDEX)


def add_unparsed_texts(parts: Parts, source: str, ctx: pl.DataFrame, texts: pl.Series,
                        reason: str) -> None:
    parts.unparsed.append(pl.DataFrame({
        schema.SOURCE: [source] * ctx.height,
        schema.LINE_NO: ctx.get_column(schema.LINE_NO),
        schema.POD: ctx.get_column(kubectl.POD),
        schema.CONTAINER: ctx.get_column(kubectl.CONTAINER),
        schema.REASON: [reason] * ctx.height,
        schema.RAW: [frame.truncate_raw(x) for x in texts.to_list()],
    }))


def add_bad(parts: Parts, bad: list[tuple[int, str]], buf: bytes, lines: Lines, source: str,
             pods: pl.DataFrame | None = None) -> None:
    if not bad:
        return
    idx = np.array([i for i, _ in bad], dtype=np.int64)
    df = unparsed_from_lines(buf, lines.take(idx), source, [r for _, r in bad])
    if pods is not None:
        df = df.with_columns(pods[idx, kubectl.POD].alias(schema.POD),
                             pods[idx, kubectl.CONTAINER].alias(schema.CONTAINER))
    parts.unparsed.append(df)


def unparsed_from_lines(buf: bytes, lines: Lines, source: str, reason: str | list[str]
                         ) -> pl.DataFrame:
    raws = [
        frame.truncate_raw(buf[a : min(b, a + 4 * frame.RAW_LIMIT)].decode("utf-8", "replace"))
        for a, b in zip(lines.starts, lines.ends, strict=True)
    ]
    return pl.DataFrame({
        schema.SOURCE: [source] * len(raws),
        schema.LINE_NO: lines.line_no,
        schema.POD: pl.Series([None] * len(raws), dtype=pl.String),
        schema.CONTAINER: pl.Series([None] * len(raws), dtype=pl.String),
        schema.REASON: reason if isinstance(reason, list) else [reason] * len(raws),
        schema.RAW: raws,
    }, schema_overrides={schema.LINE_NO: pl.Int64})


def read_text(df: pl.DataFrame, source: str, order_base: int, parts: Parts,
               owners: pl.DataFrame | None = None, columns: Collection[str] | None = None
               ) -> None:
    """Text lines (Celery headers and other text) of ``df`` become records, stitched per stream.

    ``df`` has ``_i`` (stitching order), ``kind``, ``stream``, ``body``, ``line_no``, ``pod``,
    ``container``, ``namespace`` and ``prefix_time``. ``columns``: only these frame columns
    are kept (the rest are null), as in ``read_sources``.
    """
    col = pl.col
    kinds = df.get_column(kubectl.KIND)
    if not kinds.is_in(kubectl.TEXT_KINDS).any():
        return
    if owners is None:
        owners = kubectl.stitch(df.select("_i", kubectl.STREAM, kubectl.KIND))
    lost = owners.filter(col(kubectl.START).is_null())
    if lost.height:  # lines no format claims: unparsed, and shown
        _unclaimed(df, lost, source, parts)
        owners = owners.filter(col(kubectl.START).is_not_null())
    firsts = owners.filter(col(kubectl.START) == col("_i")).select("_i")
    recs = row_join.left_join(firsts, df, [kubectl.KIND, kubectl.BODY, schema.LINE_NO, kubectl.POD,
                                          kubectl.CONTAINER, schema.NAMESPACE,
                                          kubectl.PREFIX_TIME])
    blocks = kubectl.blocks(df, owners)
    del owners
    is_header = col(kubectl.KIND) == kubectl.HEADER
    is_record = col(kubectl.KIND) == kubectl.RECORD
    parsed = [celery_text.parse_headers(
        recs.filter(is_header).select("_i", kubectl.BODY, kubectl.PREFIX_TIME))]
    others = recs.filter(is_record).select("_i", kubectl.BODY, kubectl.PREFIX_TIME)
    if others.height:
        parsed.append(celery_text.parse_records(others))
    parsed_df = pl.concat(parsed, how="diagonal_relaxed")
    recs = row_join.left_join(recs, parsed_df, [c for c in parsed_df.columns if c != "_i"])
    is_celery, is_header = is_header, is_header | is_record
    recs = recs.with_columns(
        [
            pl.lit(None, POLARS_TYPES[c]).alias(c)
            for c in (*_SENTENCE_FIELDS, schema.TIME, schema.SEVERITY, schema.MESSAGE)
            if c not in recs.columns
        ]
    )
    # Most records are one line: their message is the sentence (or the text line) and they
    # keep no raw copy when Celery's sentence was understood. Records with continuation
    # lines (few) are finished apart and joined back.
    out = recs.select(
        "_i",
        pl.coalesce(col(kubectl.PREFIX_TIME), col(schema.TIME)).alias(schema.TIME),
        col(schema.SEVERITY),  # only from Celery's header: a stream's own severity lies
        pl.when(is_header)
        .then(col(schema.MESSAGE))
        .otherwise(col(kubectl.BODY))
        .alias(schema.MESSAGE),
        col(schema.EVENT).fill_null(str(schema.Event.LOG)),
        *[col(c) for c in _SENTENCE_FIELDS],
        pl.lit(None, pl.String).alias(schema.TRACEBACK),
        col(schema.LINE_NO),
        col(kubectl.POD).alias(schema.POD),
        col(kubectl.CONTAINER).alias(schema.CONTAINER),
        col(schema.NAMESPACE),
        pl.lit(source).alias(schema.SOURCE),
        pl.when(is_celery)
        .then(pl.lit(frame.FORMAT_CELERY_TEXT))
        .otherwise(pl.lit(frame.FORMAT_TEXT))
        .alias(schema.FORMAT),
        pl.when(is_header & (col(schema.EVENT) != str(schema.Event.LOG)))
        .then(None)
        .otherwise(col(kubectl.BODY).str.slice(0, frame.RAW_LIMIT))
        .alias(schema.RAW),
        (col(schema.LINE_NO) + order_base).alias(ORDER),
    )
    if blocks.height:
        out = with_blocks(out, recs.select("_i", kubectl.BODY), blocks)
    out = out.drop("_i")
    if columns is not None:  # converting to Arrow copies every string: only what is read
        out = out.select([c for c in out.columns if c in columns or c == ORDER])
    parts.records.append(final_table(out.to_arrow()))


def _unclaimed(df: pl.DataFrame, lost: pl.DataFrame, source: str, parts: Parts) -> None:
    """Text lines no record claims, as unparsed lines with the reason."""
    col = pl.col
    kind = col(kubectl.KIND)
    rows = row_join.left_join(lost.select("_i"), df, [kubectl.KIND, kubectl.BODY, schema.LINE_NO,
                                                     kubectl.POD, kubectl.CONTAINER])
    parts.unparsed.append(rows.select(
        pl.lit(source).alias(schema.SOURCE), col(schema.LINE_NO).cast(pl.Int64),
        col(kubectl.POD).alias(schema.POD), col(kubectl.CONTAINER).alias(schema.CONTAINER),
        pl.when(kind == kubectl.JSON_OTHER).then(pl.lit(kubectl.REASON_JSON_VALUE))
        .when(kind.is_in([kubectl.CONT, kubectl.BANNER_BODY]))
        .then(pl.lit(kubectl.REASON_ORPHAN))
        .otherwise(pl.lit(kubectl.REASON_NOT_A_RECORD)).alias(schema.REASON),
        col(kubectl.BODY).str.slice(0, frame.RAW_LIMIT).alias(schema.RAW),
    ))


def with_blocks(out: pl.DataFrame, bodies: pl.DataFrame, blocks: pl.DataFrame) -> pl.DataFrame:
    """Attach continuation lines: a traceback to an error record, else more message text."""
    col = pl.col
    block = col(kubectl.BLOCK)
    b = blocks.join(
        out.select(
            "_i", schema.EVENT, schema.MESSAGE, schema.EXCEPTION_TYPE, schema.EXCEPTION_MESSAGE
        ),
        on="_i",
        how="left",
    ).join(bodies, on="_i", how="left")
    is_tb = block.str.contains(_TRACEBACK_START, literal=True) | col(schema.EVENT).is_in(
        _ERROR_EVENTS
    )
    tb_type, tb_msg = celery_text.exception_from_traceback(block)
    b = b.select(
        "_i",
        pl.when(is_tb)
        .then(col(schema.MESSAGE))
        .otherwise(col(schema.MESSAGE) + pl.lit("\n") + block)
        .alias(schema.MESSAGE),
        pl.when(is_tb & tb_type.is_not_null())
        .then(tb_type)
        .otherwise(col(schema.EXCEPTION_TYPE))
        .alias(schema.EXCEPTION_TYPE),
        pl.when(is_tb & tb_type.is_not_null())
        .then(tb_msg)
        .otherwise(col(schema.EXCEPTION_MESSAGE))
        .alias(schema.EXCEPTION_MESSAGE),
        pl.when(is_tb).then(block).alias(schema.TRACEBACK),
        (col(kubectl.BODY) + pl.lit("\n") + block).str.slice(0, frame.RAW_LIMIT).alias(schema.RAW),
    )
    fixed = [
        schema.MESSAGE,
        schema.EXCEPTION_TYPE,
        schema.EXCEPTION_MESSAGE,
        schema.TRACEBACK,
        schema.RAW,
    ]
    return replace_rows(out, b, fixed)


def replace_rows(out: pl.DataFrame, new: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``out`` with ``columns`` taken from ``new`` on the rows (``_i``) that ``new`` has.

    ``out`` is sorted by ``_i``; the few rows are written in place (scatter), not joined.
    """
    if not out.get_column("_i").is_sorted():
        out = out.sort("_i")
    index = out.get_column("_i").to_numpy()
    new = new.sort("_i")
    positions = np.searchsorted(index, new.get_column("_i").to_numpy())
    return out.with_columns([
        out.get_column(c).scatter(positions, new.get_column(c).cast(out.schema[c]))
        for c in columns
    ])


_JSON_FORMATS = (frame.FORMAT_JSON, frame.FORMAT_CLOUD_LOGGING)
_TRACEBACK_EVENTS = [str(e) for e in (schema.Event.TASK_FAILED, schema.Event.TASK_INTERNAL_ERROR,
                                      schema.Event.WORKER_LOST, schema.Event.TASK_RETRIED)]


def _instrumented(records: pa.Table) -> np.ndarray:
    """Rows of a source/pod whose JSON already holds the instrumentation's task events:
    Celery's sentences in its plain log lines would count those tasks twice."""
    df = pl.DataFrame({"src": pl.from_arrow(records.column(schema.SOURCE)),
                       "pod": pl.from_arrow(records.column(schema.POD)),
                       "ours": pl.from_arrow(pc.and_(
                           pc.is_in(records.column(schema.FORMAT), pa.array(_JSON_FORMATS)),
                           pc.not_equal(records.column(schema.EVENT), str(schema.Event.LOG))))})
    return df.select(pl.col("ours").any().over("src", "pod")).to_series() \
        .fill_null(False).to_numpy()


def with_sentences(records: pa.Table) -> pa.Table:
    """JSON records (another logger's, or a Cloud Logging jsonPayload) whose message is one
    of Celery's sentences get its event and fields (``celery_sentences``): a python-json-logger
    ``message``, a structlog ``event``, a ``msg``. Fields the line had keep their values; the
    qualified exception type comes from the traceback the logger put in the line."""
    if records.num_rows == 0 or schema.MESSAGE not in records.column_names:
        return records
    mask = pc.and_(pc.and_(pc.is_in(records.column(schema.FORMAT), pa.array(_JSON_FORMATS)),
                           pc.equal(records.column(schema.EVENT), str(schema.Event.LOG))),
                   pc.is_valid(records.column(schema.MESSAGE)))
    idx = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if len(idx) == 0:
        return records
    idx = idx[~_instrumented(records)[idx]]
    if len(idx) == 0:
        return records
    sub = pl.DataFrame(
        {"_i": idx, schema.MESSAGE: pl.from_arrow(records.column(schema.MESSAGE).take(idx))}
    )
    found = celery_sentences.recognize(sub, anchored=True)
    # A formatter may put something before the sentence ("%(processName)s %(message)s").
    rest = sub.join(found.select("_i"), on="_i", how="anti").filter(
        pl.col(schema.MESSAGE).str.contains("Task ", literal=True))
    if rest.height:
        found = pl.concat([found, celery_sentences.recognize(rest, anchored=False)],
                          how="diagonal_relaxed")
    if found.height == 0:
        return records
    found = found.sort("_i")
    rows = found.get_column("_i").to_numpy()
    tb = pl.from_arrow(records.column(schema.TRACEBACK).take(rows)) \
        if schema.TRACEBACK in records.column_names else None
    if tb is not None and tb.null_count() < len(tb):
        tb_type, _ = celery_sentences.exception_from_traceback(pl.col("tb"))
        qual = pl.DataFrame({"tb": tb, schema.EVENT: found.get_column(schema.EVENT)}).select(
            pl.when(pl.col(schema.EVENT).is_in(_TRACEBACK_EVENTS)).then(tb_type).alias("q"))
        if schema.EXCEPTION_TYPE in found.columns:
            found = found.with_columns(pl.coalesce(qual.get_column("q"),
                                                   pl.col(schema.EXCEPTION_TYPE))
                                       .alias(schema.EXCEPTION_TYPE))
    columns = dict(zip(records.column_names, records.columns, strict=True))
    for name in found.columns:
        if name == "_i" or name not in columns:
            continue
        old = pl.from_arrow(columns[name]).cast(POLARS_TYPES[name])
        new = found.get_column(name).cast(POLARS_TYPES[name])
        if name != schema.EVENT:  # what the line itself said wins
            new = pl.Series(name, old.gather(rows)).fill_null(new) \
                if old.null_count() < len(old) else new
        columns[name] = old.scatter(rows, new).to_arrow().cast(
            frame.ARROW_SCHEMA.field(name).type)
    return pa.table(columns)


def assemble(parts: Parts) -> tuple[pa.Table, pl.DataFrame]:
    """The records (all FRAME_COLUMNS, input order, Arrow) and the unparsed lines (Polars)."""
    if not parts.records:
        records = frame.ARROW_SCHEMA.empty_table()
    elif len(parts.records) == 1:
        records = parts.records[0].drop_columns([ORDER])
    else:
        records = pa.concat_tables(parts.records)
        order = records.column(ORDER)
        if not pl.from_arrow(order).is_sorted():
            records = records.take(pc.sort_indices(order))
        records = records.drop_columns([ORDER])
    records = with_sentences(records)
    if parts.unparsed:
        un = pl.concat([u.cast(UNPARSED_POLARS) for u in parts.unparsed], how="vertical")
        un = un.sort(schema.SOURCE, schema.LINE_NO, maintain_order=True)
    else:
        un = pl.DataFrame(schema=UNPARSED_POLARS)
    return records, un

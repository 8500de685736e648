"""The report of a file of our JSON lines, computed by DuckDB where the rows are.

    from analyzers import file_report

    done = file_report.analyze_file("worker.jsonl", since=None, until=None, now=None,
                                    tenant=None, task=None, stuck_after=timedelta(minutes=15))
    if done is None:     # not a file this path reads exactly as the frame's report would
        ...              # read_sources + build_report, as before
    done.report          # the Report build_report gives; done.first_time, done.last_time

Why: ``build_report`` needs every row of the frame in pandas (23 columns of a million rows:
~1 GB, growing with the input). The report itself is mostly group-bys, and the queries of
``queries/sql/report`` already compute every section as SQL (``--source log-analytics``
runs them in BigQuery; the tests prove them equal to ``build_report``). Here DuckDB decodes
the file into one table of the fields those queries read (in its own memory, which spills
to a temporary directory beyond ``MEMORY_LIMIT``), the same queries run over it, and only
their aggregated rows reach Python: time and memory then follow the report's size, not the
input's.

It answers None, and the caller takes the general path, unless the file is one that path
would read into exactly the rows these queries see: the JSON fast path's conditions
(``analyzers.ingest.json_scan``), and then every line has a ``time``, times never go back
(the queries' "first line" is the first by time, then line), no line holds another
logger's Celery sentence that the general path would read again, and none has the
instrumentation's ``requeued`` flag (the view's query does not count it). Checked in one
query over the decoded table; a file that fails costs the decode once more.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import duckdb
import pandas as pd

from analyzers import frame
from analyzers.ingest import json_lines, json_scan
from analyzers.report import COLUMNS, Report, line_totals
from analyzers.sources import log_analytics as la
from instrumentation import schema

#: DuckDB's memory for the decoded table and the queries; beyond it, it spills to disk.
MEMORY_LIMIT = "450MB"
#: Queries in flight at once (each on its own cursor; DuckDB runs each on every core too).
PARALLEL = 1
_ROWS = "rhesis_rows"
_VIEW = "rhesis_logs"
_ORDER_KEY = "order_key"  # log_analytics.ORDER_KEY's text, as a column

# Our columns under their own names, typed: the queries' ``{j.X}`` (the field as text) and
# ``{num.X}`` (as a number) become plain column references.


def _text(attr: str) -> str:
    name = getattr(schema, attr)
    if name == schema.TIME:
        return "timestamp"
    name = schema.check_field(name)
    if frame.PANDAS_DTYPES[name] == frame.PANDAS_DTYPES[schema.MESSAGE]:
        return name
    return f"CAST({name} AS STRING)"


def _number(attr: str) -> str:
    return f"CAST({schema.check_field(getattr(schema, attr))} AS FLOAT64)"


class _Columns:
    def __init__(self, render: Any) -> None:
        self._render = render

    def __getattr__(self, attr: str) -> str:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self._render(attr)


#: ``template.render`` namespaces for the local view.
NAMESPACES = {"j": _Columns(_text), "num": _Columns(_number)}


@dataclass(frozen=True)
class FileReport:
    report: Report
    first_time: pd.Timestamp  # of the whole file, before the window and filters
    last_time: pd.Timestamp


def analyze_file(path: str | os.PathLike[str], *, since: pd.Timestamp | None,
                 until: pd.Timestamp | None, now: pd.Timestamp | None, tenant: str | None,
                 task: str | None, stuck_after: timedelta, storm_factor: float = 5.0,
                 storm_min_retries: int = 5,
                 max_line: int = json_scan.DEFAULT_MAX_LINE) -> FileReport | None:
    """The report over the JSON-lines file ``path``, or None when it is not eligible
    (module docstring): ``build_report`` over ``read_sources`` then gives the same report."""
    path = os.path.abspath(path)
    lines = json_scan.eligible(path, max_line)
    queries = duckdb_queries()
    if lines is None or queries is None:
        return None

    with tempfile.TemporaryDirectory(prefix="rhesis-duckdb-") as spill:
        con = duckdb.connect()
        try:
            json_lines.configure(con)
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            con.execute(f"SET temp_directory = '{spill}'")
            fields = [c for c in json_lines.WORKER_FIELDS if c in COLUMNS]
            try:
                con.execute(f"CREATE TABLE {_ROWS} AS {json_scan.decode_sql(path, fields)}")
            except (duckdb.Error, OSError):
                return None
            facts = _facts(con)
            if facts is None or facts["rows"] != lines:
                return None
            # The order key once, not in every query: the line number stands for the insert id
            # (the times never go back, so time-then-line is line order, the frame's order).
            con.execute(f"ALTER TABLE {_ROWS} ADD COLUMN {_ORDER_KEY} VARCHAR")
            con.execute(
                f"UPDATE {_ROWS} SET {_ORDER_KEY} = lpad(CAST(epoch_us({schema.TIME}) AS VARCHAR), "
                "20, '0') || '|' || lpad(CAST(rowid AS VARCHAR), 12, '0')")
            con.execute(
                f"CREATE VIEW {_VIEW} AS SELECT {schema.TIME} AS timestamp, TRUE AS json_payload, "
                "CAST(NULL AS VARCHAR) AS text_payload, "
                "{'type': 'k8s_container', 'labels': CAST(NULL AS JSON)} AS resource, "
                f"CAST(NULL AS VARCHAR) AS {schema.POD}, * FROM {_ROWS}")
            values = {
                _WHERE: _where(since, until),
                _FILTERS: _filters(tenant, task),
                _MIN_RETRIES: str(int(storm_min_retries)),
                _FACTOR: repr(float(storm_factor)),
            }

            def render(name: str, bucket_us: int = 60_000_000) -> str:
                sql = queries[name]
                for key, value in {**values, _BUCKET_US: str(int(bucket_us))}.items():
                    sql = sql.replace(key, value)
                return sql

            def rows(sql: str, name: str) -> list[dict[str, Any]]:
                cur = con.cursor()
                try:
                    result = cur.execute(sql)
                    names = [d[0] for d in result.description]
                    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
                finally:
                    cur.close()

            reference = now if now is not None else until if until is not None \
                else facts["last_time"]
            try:
                report = la.sql_report(render, rows, since=since, until=until,
                                       reference=reference, tenant=tenant, task=task,
                                       stuck_after=stuck_after, factor=float(storm_factor),
                                       min_retries=int(storm_min_retries), parallel=PARALLEL,
                                       fetched=con.close)
            except (duckdb.Error, OSError):  # e.g. no room to spill: the frame's path then
                return None
        finally:
            con.close()
    n = facts["rows"]
    return FileReport(replace(
        report,
        lines=line_totals(n, n, records=n, truncated=0),
        approximate=[],
        task_events=facts["task_events"],
        shapes={f"{frame.FORMAT_JSON} records": n} if n else {},
    ), facts["first_time"], facts["last_time"])


def _facts(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """Counts over the whole table, or None when the file is not eligible (docstring)."""
    task_events = ", ".join(f"'{e}'" for e in sorted(schema.TASK_EVENTS))
    log = str(schema.Event.LOG)
    row = con.execute(f"""
        SELECT
          count(*),
          count_if({schema.TIME} IS NULL),
          count_if({schema.EVENT} IN ({task_events})),
          min({schema.TIME}),
          max({schema.TIME}),
          count_if({schema.REQUEUED} IS NOT NULL),
          count_if({schema.MESSAGE} IS NULL AND {schema.EVENT} = '{log}'),
          bool_or({schema.EVENT} <> '{log}'),
          count_if({schema.EVENT} = '{log}' AND {schema.MESSAGE} IS NOT NULL)
        FROM {_ROWS}""").fetchone()
    n, no_time, events, first, last, requeued, no_message, ours, sentences = row
    if not n or no_time or requeued or no_message or (sentences and not ours):
        return None
    back = con.execute(f"""
        SELECT count(*) FROM (
          SELECT {schema.TIME} < lag({schema.TIME}) OVER (ORDER BY rowid) AS back FROM {_ROWS})
        WHERE back""").fetchone()[0]
    if back:
        return None
    return {"rows": int(n), "task_events": int(events), "first_time": pd.Timestamp(first),
            "last_time": pd.Timestamp(last)}


# --- the queries in DuckDB's dialect --------------------------------------------------------
#
# The report's queries are GoogleSQL (BigQuery runs them). Translating them with sqlglot
# costs ~0.5 s a run (its import and 13 parses), so the translation is made once, with
# stand-ins for the values that vary (window, filters, buckets), and kept in
# ``analyzers/file_report_sql.py``; a run only replaces the stand-ins. Each translation
# carries a digest of the GoogleSQL it came from: when a query changed and the kept
# translation was not remade, the query is translated at run time (sqlglot, a dev
# dependency), or, without sqlglot, the file takes the general path. A test checks that the
# kept translations are current; ``python -m analyzers.file_report`` remakes them.

_WHERE = "__rhesis_where__"
_FILTERS = "__rhesis_filters__"
_BUCKET_US = "__rhesis_bucket_us__"
_MIN_RETRIES = "__rhesis_min_retries__"
_FACTOR = "__rhesis_factor__"
_KEPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "file_report_sql.py")


class _StandIns:
    """What ``log_analytics.render_sql`` needs of a scope, as stand-ins."""

    table = _VIEW

    @staticmethod
    def where() -> str:
        return _WHERE

    @staticmethod
    def filters() -> str:
        return _FILTERS


def google_sql(name: str) -> str:
    """The GoogleSQL of query ``name`` over the local view, with stand-ins for the values."""
    return la.render_sql(name, _StandIns(), columns=NAMESPACES,  # type: ignore[arg-type]
                         order_key=_ORDER_KEY, bucket_us=_BUCKET_US,
                         min_retries=_MIN_RETRIES, factor=_FACTOR)


def digest(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()[:16]


#: CTEs over every row that DuckDB must not materialize: each query reads them more than
#: once, and DuckDB then writes all their rows and columns out once first (most of a query's
#: time) where inlined they cost a filtered scan each.
_INLINED = ("base", "entries")


def translate(sql: str) -> str:
    import sqlglot  # a dev dependency: only to remake the kept translations
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="bigquery")
    for cte in tree.find_all(exp.CTE):
        if cte.alias_or_name in _INLINED:
            cte.set("materialized", False)
    return tree.sql(dialect="duckdb")


def duckdb_queries() -> dict[str, str] | None:
    """Every query of the report in DuckDB's dialect (stand-ins in), or None if one is
    stale and sqlglot is not installed."""
    from analyzers.file_report_sql import QUERIES

    out = {}
    for name in la.SECTIONS:
        sql = google_sql(name)
        kept = QUERIES.get(name)
        if kept is not None and kept[0] == digest(sql):
            out[name] = kept[1]
            continue
        try:
            out[name] = translate(sql)
        except ImportError:
            return None
    return out


def write_translations(path: str = _KEPT) -> None:
    """Remake ``analyzers/file_report_sql.py`` from the current queries."""
    lines = [
        '"""The report\'s queries in DuckDB\'s dialect: ``python -m analyzers.file_report``.',
        "",
        "Generated: do not edit. (digest of the GoogleSQL, DuckDB SQL) per query; see",
        "``analyzers.file_report``.",
        '"""',
        "",
        "QUERIES: dict[str, tuple[str, str]] = {",
    ]
    for name in la.SECTIONS:
        sql = google_sql(name)
        duck = translate(sql)
        lines.append(f"    {name!r}: ({digest(sql)!r}, (")
        lines.extend(f"        {duck[i:i + 72]!r}" for i in range(0, len(duck), 72))
        lines.append("    )),")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _where(since: pd.Timestamp | None, until: pd.Timestamp | None) -> str:
    terms = []
    if since is not None:
        terms.append(f"timestamp >= CAST('{_instant(since)}' AS TIMESTAMPTZ)")
    if until is not None:
        terms.append(f"timestamp < CAST('{_instant(until)}' AS TIMESTAMPTZ)")
    return "(" + " AND ".join(terms) + ")" if terms else "TRUE"


def _instant(value: pd.Timestamp) -> str:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat()


def _filters(tenant: str | None, task: str | None) -> str:
    """``Scope.filters`` in DuckDB's dialect, for any value (the frame's path takes any)."""
    terms = []
    if tenant:
        t = _quoted(tenant)
        terms.append(f"({schema.ORGANIZATION_ID} = {t} OR {schema.USER_ID} = {t})")
    if task:
        if any(ch in task for ch in "*?["):
            terms.append(f"regexp_matches({schema.TASK_NAME}, {_quoted(la.glob_regex(task))})")
        else:
            terms.append(f"{schema.TASK_NAME} = {_quoted(task)}")
    return "(" + " AND ".join(terms) + ")" if terms else "TRUE"


def _quoted(value: str) -> str:
    """A DuckDB string literal (no escapes but the doubled quote: backslashes are literal)."""
    return "'" + value.replace("'", "''") + "'"


if __name__ == "__main__":
    write_translations()
    print(f"wrote {_KEPT}")

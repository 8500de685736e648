"""Log Analytics as a source: the report computed by BigQuery, where the logs are.

    from analyzers.sources.log_analytics import analyze_log_analytics, DryRunEstimate

    estimate = analyze_log_analytics("my-project", "rhesis_logs", since=timedelta(hours=1),
                                     cluster="prod", dry_run=True)
    print("\\n".join(estimate.lines()))          # bytes each query would scan, and the price
    report = analyze_log_analytics("my-project", "rhesis_logs", since=timedelta(hours=1),
                                   cluster="prod", max_bytes=10 * 10**9)
    report.to_dict()                              # the same JSON contract as `analyze`

Why: ``entries.list`` pages 60,000 entries a minute at most, so a fleet's hour of logs takes
minutes and a day is out of reach. A log bucket upgraded to Log Analytics with a linked
BigQuery dataset (``queries.log_analytics.ensure_linked_dataset``) holds the same entries as
a table: every report section runs there as one SQL query (``queries/sql/report/*.sql``)
over the window, with the time bounds and resource labels in its ``WHERE`` so BigQuery reads
only that part, and only aggregated rows come back. This module turns those rows into the
:class:`analyzers.report.Report` that ``build_report`` gives over the same entries, with the
same sort orders and tie-breaks: "the first line" of a group is the first by (timestamp,
insert id), the order Cloud Logging returns entries in.

What SQL does not see: plain-text entries (``text_payload``) are counted but not parsed. When
the window has some, ``lines`` and ``unparsed`` are marked approximate in the report; when
some of them look like Celery's own event sentences (which the local analyzer would read as
task events), every section is.

Cost comes first: every query is dry-run (BigQuery reports the bytes it would scan, for
free) before any runs; ``dry_run=True`` returns that :class:`DryRunEstimate`, and a total
above ``max_bytes`` raises :class:`CostLimitError` without running anything. Every job also
carries ``maximum_bytes_billed``, so BigQuery itself refuses a query that would scan more.

``google-cloud-bigquery`` is the optional extra ``log-analytics``, imported only here, when a
client is made. ``client`` takes a ready ``google.cloud.bigquery.Client`` (tests pass one
pointed at a local endpoint).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analyzers.errors import SourceError
from analyzers.report import (
    Report,
    bucket_size,
    line_totals,
)
from analyzers.report import columns as cols
from analyzers.report.columns import (
    BUCKET,
    CHORD_STATE,
    COUNT,
    FIRST_SEEN,
    GAP_S,
    KEY,
    LAST_ACTIVITY,
    LAST_SEEN,
    LIKELY_CAUSE,
    NORM,
    P95_MS,
    RATIO,
    RETRIED_IDS,
    SCOPE,
    TENANT_IDS,
    WAIT_P95_MS,
    WAITS,
)
from instrumentation import schema
from queries import template

#: The Log Analytics view every bucket has: all its entries.
DEFAULT_VIEW = "_AllLogs"
#: Default of ``--max-bytes``: 10 GB (decimal, as BigQuery counts bytes billed).
DEFAULT_MAX_BYTES = 10 * 10**9
#: BigQuery on-demand compute, US and EU multi-regions, per TiB scanned
#: (https://cloud.google.com/bigquery/pricing; other regions differ, the first TiB of each
#: month is free). Shown with the dry run; BigQuery's bill is the authority.
PRICE_PER_TIB_USD = 6.25
TIB = 2**40
INSTALL_HINT = "pip install 'rhesis-logs[log-analytics]'"
SOURCE_NAME = "log-analytics"
#: Every job carries this label with its section's name, so BigQuery's job history and
#: billing export (INFORMATION_SCHEMA.JOBS) show what each report query cost.
JOB_LABEL = "rhesis-logs-report"

SQL_DIR = Path(template.__file__).resolve().parent / "sql" / "report"
#: Every query of a report, in the order they are estimated and shown.
SECTIONS = (
    "overview", "failures", "retries", "retry_id_storms", "retry_buckets", "retry_outcomes",
    "chords", "duplicates", "lost_workers", "slow_tasks", "over_time",
)
#: Which report sections each query feeds (for the approximate list).
FEEDS = {
    "overview": ("lines", "tasks", "unparsed"), "failures": ("failures",),
    "retries": ("retries",), "retry_id_storms": ("retry_storms",),
    "retry_buckets": ("retry_storms",), "retry_outcomes": ("retry_outcomes",),
    "chords": ("chords", "stuck_chords"), "duplicates": ("duplicates",),
    "lost_workers": ("lost_workers",), "slow_tasks": ("slow_tasks",),
    "over_time": ("over_time",),
}
REPORT_SECTIONS = tuple(dict.fromkeys(name for feeds in FEEDS.values() for name in feeds))

# The section modules, not the functions of the same name that analyzers.report exports:
# their column lists, event sets and constants are what the tables here must match.
chord_section = importlib.import_module("analyzers.report.chords")
duplicate_section = importlib.import_module("analyzers.report.duplicates")
duration_section = importlib.import_module("analyzers.report.durations")
failure_section = importlib.import_module("analyzers.report.failures")
retry_section = importlib.import_module("analyzers.report.retries")
time_section = importlib.import_module("analyzers.report.timeseries")
total_section = importlib.import_module("analyzers.report.totals")

UNKNOWN = failure_section.UNKNOWN
_ORDER = "_order"
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)
_TOP = 5  # analyzers.report's join_unique shows five values


class LogAnalyticsError(SourceError):
    """Log Analytics cannot be queried: no extra, no credentials, no dataset, refused."""


class CostLimitError(LogAnalyticsError):
    """The queries would scan more than ``max_bytes``."""


def format_bytes(n: float) -> str:
    """``12345678`` -> ``12.3 MB`` (decimal units, as BigQuery's console shows them)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*$", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """``--max-bytes``: ``"10GB"`` -> 10**10, ``"500 MiB"``, ``"1TB"``, or a plain number."""
    m = _SIZE.match(text)
    if not m:
        raise LogAnalyticsError(f"cannot read {text!r} as a size: use e.g. 500MB, 10GB or 1TiB")
    number, prefix, binary = float(m.group(1)), m.group(2).lower(), m.group(3)
    power = "kmgtp".index(prefix) + 1 if prefix else 0
    return int(number * (1024 if binary else 1000) ** power)


def price_usd(n_bytes: int) -> float:
    return n_bytes / TIB * PRICE_PER_TIB_USD


@dataclass(frozen=True)
class QueryCost:
    query: str  # a name of SECTIONS
    bytes: int


@dataclass(frozen=True)
class DryRunEstimate:
    """What the report's queries would scan (BigQuery's dry run) and cost on demand."""

    table: str
    queries: tuple[QueryCost, ...]
    max_bytes: int | None

    @property
    def total_bytes(self) -> int:
        return sum(q.bytes for q in self.queries)

    @property
    def price_usd(self) -> float:
        return price_usd(self.total_bytes)

    @property
    def within_limit(self) -> bool:
        return self.max_bytes is None or self.total_bytes <= self.max_bytes

    def lines(self) -> list[str]:
        """Human-readable lines for ``--dry-run``."""
        out = [f"{q.query:<16} {format_bytes(q.bytes):>10}" for q in self.queries]
        out.append(f"{'total':<16} {format_bytes(self.total_bytes):>10}  "
                   f"~${self.price_usd:.4f} at ${PRICE_PER_TIB_USD}/TiB on demand ({self.table})")
        if self.max_bytes is not None:
            verdict = "within" if self.within_limit else "OVER"
            out.append(f"{verdict} --max-bytes {format_bytes(self.max_bytes)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "queries": [
            {"query": q.query, "bytes": q.bytes} for q in self.queries],
            "total_bytes": self.total_bytes, "price_usd": round(self.price_usd, 6),
            "price_per_tib_usd": PRICE_PER_TIB_USD, "max_bytes": self.max_bytes}


# --- SQL ------------------------------------------------------------------------------------

@cache
def _template(name: str) -> str:
    lines = (SQL_DIR / f"{name}.sql").read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("--")).strip() + "\n"


def _literal(value: str, what: str) -> str:
    if "'" in value or "\\" in value or "\n" in value:
        raise LogAnalyticsError(f"{what} {value!r} may not contain quotes, backslashes or "
                                "line breaks")
    return value


def _identifier(value: str, what: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
        raise LogAnalyticsError(f"{what} {value!r} is not a BigQuery project, dataset or view "
                                "name (letters, digits, _ - . :)")
    return value


def glob_regex(pattern: str) -> str:
    """A shell glob (``tasks.*``) as an anchored RE2 pattern, as ``--task`` matches names."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "(?s)^" + "".join(out) + "$"


def _events(*events: Any) -> str:
    names: list[str] = []
    for e in events:
        names.extend([str(e)] if isinstance(e, str) else sorted(str(x) for x in e))
    return ", ".join(f"'{name}'" for name in names)


def _top(source: str, keys: tuple[str, ...], value: str) -> str:
    """A CTE ``top``: per ``keys``, the first five distinct ``value`` s sorted, comma
    separated (``top``), and how many distinct there are (``distinct_values``)."""
    k = ", ".join(keys)
    return (
        f"top AS (\n  SELECT {k}, STRING_AGG(v, ', ' ORDER BY v) AS top,"
        f" ANY_VALUE(n) AS distinct_values\n  FROM (\n"
        f"    SELECT {k}, v, ROW_NUMBER() OVER (PARTITION BY {k} ORDER BY v) AS r,\n"
        f"           COUNT(*) OVER (PARTITION BY {k}) AS n\n"
        f"    FROM (SELECT DISTINCT {k}, CAST({value} AS STRING) AS v FROM {source}"
        f" WHERE {value} IS NOT NULL)\n  )\n  WHERE r <= {_TOP}\n  GROUP BY {k}\n)"
    )


def _text_events() -> str:
    # The plain-Celery sentences that carry an event, as the Cloud Logging source asks for
    # them (tracebacks excluded: those attach to an event line).
    from analyzers.sources.cloud_logging import TEXT_PATTERNS

    return "|".join(f"(?:{p})" for p in TEXT_PATTERNS[:2])


def _ts(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).tz_convert("UTC").isoformat()


@dataclass(frozen=True)
class Scope:
    """Which entries a report reads: the view, the window, the workload, the tenant/task."""

    project: str
    dataset: str
    since: pd.Timestamp | None
    until: pd.Timestamp | None
    view: str = DEFAULT_VIEW
    cluster: str | None = None
    namespace: str | None = None
    tenant: str | None = None
    task: str | None = None
    #: A local table (DuckDB) with the log view's columns instead of the linked dataset's
    #: view: ``analyzers.file_report`` runs the same queries over a file. Its rows are all
    #: of the workload (no resource filter), and either bound may be open.
    local_table: str | None = None

    @property
    def table(self) -> str:
        if self.local_table is not None:
            return _identifier(self.local_table, "table")
        return (f"`{_identifier(self.project, 'project')}."
                f"{_identifier(self.dataset, 'dataset')}.{_identifier(self.view, 'view')}`")

    def where(self) -> str:
        # The time bounds first and as plain comparisons: that is what lets BigQuery prune.
        terms = []
        if self.since is not None:
            terms.append(f"timestamp >= TIMESTAMP('{_ts(self.since)}')")
        if self.until is not None:
            terms.append(f"timestamp < TIMESTAMP('{_ts(self.until)}')")
        if self.local_table is not None:
            return "\n    AND ".join(terms) or "TRUE"
        terms.append("resource.type = 'k8s_container'")
        for label, value in (("cluster_name", self.cluster), ("namespace_name", self.namespace)):
            if value:
                terms.append(f"JSON_VALUE(resource.labels, '$.{label}') = "
                             f"'{_literal(value, label)}'")
        return "\n    AND ".join(terms)

    def filters(self) -> str:
        n = template.NAMESPACES["n"]
        terms = []
        if self.tenant:
            t = _literal(self.tenant, "--tenant")
            terms.append(f"({n.ORGANIZATION_ID} = '{t}' OR {n.USER_ID} = '{t}')")
        if self.task:
            task = _literal(self.task, "--task")
            if any(ch in task for ch in "*?["):
                terms.append(f"REGEXP_CONTAINS({n.TASK_NAME}, r'{glob_regex(task)}')")
            else:
                terms.append(f"{n.TASK_NAME} = '{task}'")
        return " AND ".join(terms) or "TRUE"


#: The order key of an entry: its timestamp (20 digits of microseconds), then its insert id.
ORDER_KEY = ("CONCAT(LPAD(CAST(UNIX_MICROS(timestamp) AS STRING), 20, '0'), '|', "
             "COALESCE(insert_id, ''))")


def render_sql(name: str, scope: Scope, *, columns: Mapping[str, Any] | None = None,
               order_key: str = ORDER_KEY, **params: Any) -> str:
    """The GoogleSQL of one query of :data:`SECTIONS` for ``scope``.

    ``columns``: other renderings of the ``j``/``num`` placeholders (a local table whose
    columns are the fields themselves, already typed; see ``template.render``).
    ``order_key``: a column of the table holding :data:`ORDER_KEY`'s text, if it has one.
    """
    n = template.NAMESPACES["n"]
    entries = template.render(_template("entries"), {
        "table": scope.table, "where": scope.where(), "filters": scope.filters(),
        "order_key": order_key}, namespaces=columns)
    lost = template.render(_template("lost"), {}, namespaces=columns)
    values: dict[str, Any] = {
        "entries": entries.strip(), "lost": lost.strip(),
        "task_events": _events(schema.TASK_EVENTS),
        "chord_events": _events(schema.CHORD_MONITOR_EVENTS, schema.Event.CHORD_ERROR),
        "callback_seen": _events(*chord_section.CALLBACK_SEEN),
        "finished_events": _events(schema.FINISHED_EVENTS),
        "over_time_events": _events(*(event for _, event in time_section.SERIES)),
        "text_events": _text_events(),
        "tenant_ids": _top("picked", (n.TASK_NAME, n.EXCEPTION_TYPE, "fingerprint")
                           if name == "failures" else (n.TASK_NAME, n.EXCEPTION_TYPE),
                           n.ORGANIZATION_ID),
        "task_names": _top("picked", ("kind", n.WORKER), n.TASK_NAME),
        "bucket_us": 60_000_000, "min_retries": 5, "factor": 5.0,
        **params,
    }
    text = _template(name)
    needed = template.parameters(text)
    return template.render(text, {k: v for k, v in values.items() if k in needed},
                           namespaces=columns)


# --- BigQuery -------------------------------------------------------------------------------

def make_client(project: str, location: str | None = None, **kwargs: Any) -> Any:
    """A ``google.cloud.bigquery.Client`` with the application-default credentials."""
    try:
        from google.cloud import bigquery
    except ImportError:
        raise LogAnalyticsError(
            f"--source log-analytics needs google-cloud-bigquery: {INSTALL_HINT}") from None
    import google.auth.exceptions

    try:
        return bigquery.Client(project=project, location=location, **kwargs)
    except google.auth.exceptions.DefaultCredentialsError:
        raise LogAnalyticsError(
            "no Google credentials for BigQuery: run `gcloud auth application-default login` "
            "(roles needed: docs/log-analytics.md)") from None


def _api_error(exc: Exception, scope: Scope, max_bytes: int | None) -> LogAnalyticsError:
    """A one-line error for what BigQuery refused."""
    from google.api_core import exceptions as gexc

    message = (getattr(exc, "message", None) or str(exc)).strip().splitlines()[0]
    message = re.sub(r"^[A-Z]+ https?://\S+: ", "", message)  # the client's "POST <url>: "
    reasons = {e.get("reason") for e in getattr(exc, "errors", None) or [] if isinstance(e, dict)}
    if "bytesBilledLimitExceeded" in reasons:
        return CostLimitError(f"BigQuery refused a query over --max-bytes "
                              f"{format_bytes(max_bytes or 0)}: {message}")
    if isinstance(exc, gexc.NotFound):
        return LogAnalyticsError(
            f"{scope.table.strip('`')} not found: check --project/--dataset/--location, or "
            "link the log bucket to BigQuery with `rhesis-logs queries install "
            "--log-analytics` (docs/log-analytics.md)")
    if isinstance(exc, gexc.Forbidden):
        return LogAnalyticsError(
            f"BigQuery denied access to {scope.table.strip('`')}: you need "
            "roles/bigquery.jobUser on the project and roles/bigquery.dataViewer on the "
            f"dataset (docs/log-analytics.md) ({message})")
    return LogAnalyticsError(f"BigQuery refused the query: {message}")


class _Runner:
    def __init__(self, client: Any, scope: Scope, location: str | None,
                 max_bytes: int | None) -> None:
        self.client, self.scope, self.location, self.max_bytes = (
            client, scope, location, max_bytes)

    def _guard(self, call: Callable[[], Any]) -> Any:
        from google.api_core import exceptions as gexc

        try:
            return call()
        except gexc.GoogleAPICallError as exc:
            raise _api_error(exc, self.scope, self.max_bytes) from None

    def dry_run(self, sql: str, section: str) -> int:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False,
                                         labels={JOB_LABEL: section})
        job = self._guard(lambda: self.client.query(sql, job_config=config,
                                                    location=self.location))
        return int(job.total_bytes_processed or 0)

    def rows(self, sql: str, section: str) -> list[dict[str, Any]]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(labels={JOB_LABEL: section})
        if self.max_bytes is not None:  # (None would be sent as the string "None")
            config.maximum_bytes_billed = self.max_bytes
        result = self._guard(lambda: self.client.query_and_wait(
            sql, job_config=config, location=self.location))
        return self._guard(lambda: [dict(row.items()) for row in result])


# --- the report -----------------------------------------------------------------------------

def _instant(value: datetime | timedelta | pd.Timestamp | None, now: pd.Timestamp,
             default: timedelta | None) -> pd.Timestamp | None:
    if value is None:
        return now - pd.Timedelta(default) if default is not None else None
    if isinstance(value, timedelta):
        return now - pd.Timedelta(value)
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def analyze_log_analytics(
    project: str,
    dataset: str,
    *,
    view: str = DEFAULT_VIEW,
    location: str | None = None,
    since: datetime | timedelta | pd.Timestamp | None = None,
    until: datetime | pd.Timestamp | None = None,
    cluster: str | None = None,
    namespace: str | None = None,
    tenant: str | None = None,
    task: str | None = None,
    stuck_after: timedelta = timedelta(minutes=15),
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    dry_run: bool = False,
    client: Any = None,
    now: pd.Timestamp | None = None,
    storm_factor: float = 5.0,
    storm_min_retries: int = 5,
) -> Report | DryRunEstimate:
    """The report over ``project.dataset.view`` for the window, computed by BigQuery.

    ``since`` defaults to an hour before ``until``; ``until`` to now. ``now`` is the
    reference time for stuck chords (default: ``until`` if given, else the wall clock), as
    ``analyze`` uses for a live source. Raises :class:`LogAnalyticsError` (a
    ``SourceError``) with a one-line message for anything the user can fix.
    """
    wall = pd.Timestamp.now(tz="UTC")
    end = _instant(until, wall, None)
    reference = _instant(now, wall, None) if now is not None else (end if end is not None
                                                                   else wall)
    bound_end = end if end is not None else wall
    start = _instant(since, bound_end, timedelta(hours=1))
    if start >= bound_end:
        raise LogAnalyticsError(f"--since ({start}) must be before --until ({bound_end})")
    scope = Scope(project, dataset, start, bound_end, view, cluster, namespace, tenant, task)
    factor = float(storm_factor)
    if not math.isfinite(factor):
        raise LogAnalyticsError("storm factor must be a finite number")
    params = {"min_retries": int(storm_min_retries), "factor": factor}
    sqls = {name: render_sql(name, scope, **params) for name in SECTIONS}

    client = client if client is not None else make_client(project, location)
    runner = _Runner(client, scope, location, max_bytes)
    estimate = DryRunEstimate(scope.table.strip("`"), tuple(
        QueryCost(name, runner.dry_run(sql, name)) for name, sql in sqls.items()), max_bytes)
    if dry_run:
        return estimate
    if not estimate.within_limit:
        raise CostLimitError(
            f"the report would scan {format_bytes(estimate.total_bytes)} "
            f"(~${estimate.price_usd:.2f} on demand), over --max-bytes "
            f"{format_bytes(max_bytes or 0)}: narrow --since/--until or --cluster/--namespace, "
            "or raise --max-bytes (--dry-run shows each query)")

    return sql_report(lambda name, **kw: render_sql(name, scope, **params, **kw),
                      runner.rows, since=start, until=end, reference=reference,
                      tenant=tenant, task=task, stuck_after=stuck_after, factor=factor,
                      min_retries=int(storm_min_retries), sqls=sqls)


def sql_report(
    render: Callable[..., str],
    rows: Callable[[str, str], list[dict[str, Any]]],
    *,
    since: pd.Timestamp | None,
    until: pd.Timestamp | None,
    reference: pd.Timestamp | None,
    tenant: str | None,
    task: str | None,
    stuck_after: timedelta,
    factor: float,
    min_retries: int,
    sqls: Mapping[str, str] | None = None,
    parallel: int = 4,
    fetched: Callable[[], None] | None = None,
) -> Report:
    """The report from the queries of :data:`SECTIONS`, whatever engine runs them.

    ``render(name, **params)`` gives a query's SQL (``params``: the buckets, known only once
    the overview ran); ``rows(sql, name)`` runs it and returns its rows as dicts. ``sqls``:
    the queries already rendered. ``parallel``: queries in flight at once. ``fetched`` is
    called once every query's rows are in (an engine can free its memory then).
    """
    sqls = dict(sqls) if sqls is not None else {name: render(name) for name in SECTIONS}
    overview = rows(sqls["overview"], "overview")[0]
    first_seen, last_seen = _stamp(overview["first_seen"]), _stamp(overview["last_seen"])
    retry_bucket = _retry_bucket(first_seen, last_seen)
    series_bucket = _series_bucket(overview)
    final = dict(sqls)
    if retry_bucket is not None:
        final["retry_buckets"] = render("retry_buckets", bucket_us=_micros(retry_bucket))
    if series_bucket is not None:
        final["over_time"] = render("over_time", bucket_us=_micros(series_bucket))
    rest = [name for name in SECTIONS if name != "overview"]
    if parallel > 1:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            results = dict(zip(rest, pool.map(lambda name: rows(final[name], name), rest),
                               strict=True))
    else:
        results = {name: rows(final[name], name) for name in rest}
    if fetched is not None:
        fetched()

    slow = _slow_tasks(results["slow_tasks"])
    chord_table = _chords(results["chords"], reference, pd.Timedelta(stuck_after), slow)
    id_storms = _id_storms(results["retry_id_storms"])
    bucket_storms = _bucket_storms(results["retry_buckets"], first_seen, last_seen,
                                   retry_bucket, factor, min_retries)
    view_rows = int(overview["view_rows"] or 0)
    return Report(
        lines=_lines(overview),
        tasks=_tasks(overview),
        failures=_failures(results["failures"]),
        retries=_retries(results["retries"]),
        retry_storms=_storms(id_storms, bucket_storms),
        retry_outcomes=_outcomes(results["retry_outcomes"]),
        chords=chord_table,
        stuck_chords=chord_table.loc[chord_table[CHORD_STATE] == chord_section.STUCK]
        .reset_index(drop=True),
        duplicates=_duplicates(results["duplicates"]),
        lost_workers=_lost_workers(results["lost_workers"]),
        slow_tasks=slow,
        over_time=_over_time(results["over_time"], overview, series_bucket),
        unparsed=pd.DataFrame({schema.SOURCE: [], schema.LINE_NO: [], schema.RAW: []}),
        window={"since": since, "until": until,
                "first_seen": first_seen if view_rows else None,
                "last_seen": last_seen if view_rows else None,
                "reference_time": reference},
        filters={"tenant": tenant, "task": task},
        stuck_after=pd.Timedelta(stuck_after).to_pytimedelta(),
        approximate=_approximate(overview),
        task_events=sum(int(overview[name] or 0) for name, _ in total_section.TASK_COUNTS),
    )


def _approximate(overview: Mapping[str, Any]) -> list[str]:
    """The sections SQL could not compute as the local analyzer would (module docstring)."""
    if int(overview["text_events"] or 0):
        return list(REPORT_SECTIONS)
    if int(overview["text_entries"] or 0) or int(overview["no_payload"] or 0):
        return ["lines", "unparsed"]
    return []


# --- rows to section tables (each mirrors its analyzers.report function) ---------------------

def _stamp(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _micros(size: pd.Timedelta) -> int:
    return int(size / pd.Timedelta(microseconds=1))


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...] | list[str],
           times: tuple[str, ...] = (FIRST_SEEN, LAST_SEEN)) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys([*columns, *(
        rows[0].keys() if rows else ())])))
    for name in times:
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A section table's text columns with no value at all typed as the local section's
    are (pandas' text dtype): an untyped one would render as a number column in HTML."""
    for name in frame.columns:
        if frame[name].dtype == object and frame[name].isna().all():
            frame[name] = frame[name].astype(_TEXT)
    return frame


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(np.empty((0, len(columns)), dtype=object), columns=list(columns))


def _ordered(frame: pd.DataFrame, by: list[str], ascending: list[bool],
             columns: tuple[str, ...]) -> pd.DataFrame:
    """Sorted as the local section sorts, ties in first-appearance order (``_order``)."""
    frame = frame.sort_values(_ORDER, kind="stable")
    if by:
        frame = frame.sort_values(by, ascending=ascending, kind="stable")
    return _typed(frame.reset_index(drop=True)[list(columns)])


def _joined(top: Any, count: Any) -> str:
    if top is None or (isinstance(top, float) and math.isnan(top)):
        return ""
    extra = int(count or 0) - _TOP
    return f"{top} +{extra}" if extra > 0 else str(top)


def _with_top(frame: pd.DataFrame, target: str, top: str, count: str) -> pd.DataFrame:
    frame[target] = [_joined(t, n) for t, n in zip(frame[top], frame[count], strict=True)]
    return frame


def _lines(overview: Mapping[str, Any]) -> pd.DataFrame:
    records = int(overview["records"] or 0)
    bad = int(overview["no_payload"] or 0)
    return line_totals(records, records - bad, records=records - bad)


def _tasks(overview: Mapping[str, Any]) -> pd.DataFrame:
    # (COUNTIF over no rows is 0 in BigQuery, NULL in some engines)
    row = {name: int(overview[name] or 0) for name, _ in total_section.TASK_COUNTS}
    row[cols.TASK_IDS] = int(overview["task_ids"] or 0)
    row[cols.TENANTS] = int(overview["tenants"] or 0)
    return pd.DataFrame([row])


def _failures(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = failure_section.COLUMNS
    if not rows:
        return _empty(columns)
    frame = _with_top(_table(rows, columns), TENANT_IDS, TENANT_IDS, "tenant_count")
    return _ordered(frame, [COUNT, LAST_SEEN], [False, False], columns)


def _retries(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = retry_section.RETRY_COLUMNS
    if not rows:
        return _empty(columns)
    frame = _with_top(_table(rows, columns), TENANT_IDS, TENANT_IDS, "tenant_count")
    frame["max_retries"] = frame["max_retries"].astype("Int64")
    return _ordered(frame, [COUNT], [False], columns)


def _id_storms(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return _empty(retry_section.STORM_COLUMNS)
    frame = _table(rows, retry_section.STORM_COLUMNS).sort_values(_ORDER, kind="stable")
    frame[SCOPE] = retry_section.SCOPE_TASK_ID
    frame[KEY] = frame[schema.TASK_ID]
    return frame.reset_index(drop=True)[list(retry_section.STORM_COLUMNS)]


def _retry_bucket(first: pd.Timestamp | None, last: pd.Timestamp | None) -> pd.Timedelta | None:
    if first is None or last is None:
        return None
    return bucket_size(last - first, minimum=pd.Timedelta("1min"))


def _bucket_storms(rows: list[dict[str, Any]], first: pd.Timestamp | None,
                   last: pd.Timestamp | None, size: pd.Timedelta | None, factor: float,
                   min_retries: int) -> pd.DataFrame:
    """Retries per task name and bucket against the name's median bucket (empty ones too)."""
    if not rows or size is None or first is None or last is None:
        return _empty(retry_section.STORM_COLUMNS)
    frame = _table(rows, ())
    unit = _micros(size)
    start_no = _micros(first.floor(size) - pd.Timestamp(0, tz="UTC")) // unit
    n_buckets = max(len(pd.date_range(first.floor(size), last.floor(size), freq=size)), 1)
    number = frame["bucket_no"].astype("int64") - start_no
    counts = frame[COUNT].astype("int64")
    norms = {}
    for name, group in counts.groupby(frame[schema.TASK_NAME], sort=False):
        full = np.zeros(n_buckets)
        full[number[group.index].to_numpy()] = group.to_numpy()
        norms[name] = max(float(np.median(full)), 1.0)
    frame[NORM] = frame[schema.TASK_NAME].map(norms).astype("float64")
    frame[RATIO] = counts / frame[NORM]
    hot = (counts > 0) & (counts >= min_retries) & (frame[RATIO] >= factor)
    frame = frame.loc[hot.to_numpy(bool)].assign(_bucket=number[hot])
    if frame.empty:
        return _empty(retry_section.STORM_COLUMNS)
    frame = frame.sort_values([schema.TASK_NAME, "_bucket"], kind="stable")
    frame[SCOPE] = retry_section.SCOPE_TASK_NAME
    frame[KEY] = frame[schema.TASK_NAME]
    frame[COUNT] = frame[COUNT].astype("int64")
    return frame.reset_index(drop=True)[list(retry_section.STORM_COLUMNS)]


def _storms(id_storms: pd.DataFrame, bucket_storms: pd.DataFrame) -> pd.DataFrame:
    found = [f for f in (id_storms, bucket_storms) if not f.empty]
    if not found:
        return _empty(retry_section.STORM_COLUMNS)
    out = pd.concat(found).sort_values(RATIO, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(retry_section.STORM_COLUMNS)]


def _outcomes(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = retry_section.OUTCOME_COLUMNS
    if not rows:
        return _empty(columns)
    frame = _table(rows, columns).sort_values(schema.TASK_NAME, kind="stable")
    for name in columns[1:]:
        frame[name] = frame[name].astype("int64")
    frame = frame.sort_values(RETRIED_IDS, ascending=False, kind="stable")
    return frame.reset_index(drop=True)[list(columns)]


def _chords(rows: list[dict[str, Any]], now: pd.Timestamp,
            stuck_after: pd.Timedelta, slow: pd.DataFrame) -> pd.DataFrame:
    """analyzers.report.chords' states from the per-chord aggregates."""
    c = chord_section
    columns = c.COLUMNS
    if not rows:
        return _empty(columns)
    times = ("m_first_seen", "m_last_activity", "e_first_seen", "e_last_activity", "cb_last")
    per = _table(rows, (), times)

    def pick(mine: str, theirs: str) -> pd.Series:
        return per[mine].where(per[mine].notna(), per[theirs])

    out = pd.DataFrame({schema.CHORD_ID: per[schema.CHORD_ID].astype(object)})
    callback = pick("m_callback_id", "e_callback_id")
    out[schema.CHORD_CALLBACK_ID] = callback
    out[schema.CHORD_CALLBACK_NAME] = pick("m_callback_name", "e_callback_name")
    out[schema.ORGANIZATION_ID] = pick("m_org", "e_org")
    for name in (cols.MEMBERS_PUBLISHED, cols.MEMBERS_FINISHED, schema.MEMBERS_FAILED):
        out[name] = pd.to_numeric(per[name]).fillna(0).astype("int64")
    expected = pd.to_numeric(pick("m_expected", "e_expected"), errors="coerce")
    out[schema.MEMBERS_EXPECTED] = expected.fillna(out[cols.MEMBERS_PUBLISHED]).astype("int64")
    out[FIRST_SEEN] = per[["m_first_seen", "e_first_seen"]].min(axis=1)
    last = per[["m_last_activity", "e_last_activity", "cb_last"]].max(axis=1)
    work_last = per[["m_last_activity", "cb_last"]].max(axis=1)
    out[LAST_ACTIVITY] = last
    seen = per["cb_seen"].fillna(False).astype(bool)
    out[cols.CALLBACK_RECEIVED] = callback.notna() & seen
    idle = now - last
    out[cols.IDLE_S] = idle.dt.total_seconds().clip(lower=0).round(3)
    monitor = per["e_last_event"].map(c.MONITOR_STATE)
    chord_error = per["e_chord_error"].fillna(False).astype(bool)
    failed = out[schema.MEMBERS_FAILED] > 0
    state = np.select(
        [
            out[cols.CALLBACK_RECEIVED].to_numpy(bool),
            monitor.isin([c.RECOVERED, c.REVOKED, c.CLEANED]).to_numpy(bool),
            (chord_error | failed).to_numpy(bool),
            (monitor.eq(c.STUCK) & ~(work_last > per["e_last_activity"])).to_numpy(
                bool, na_value=False),
            (idle >= stuck_after).fillna(False).to_numpy(bool),
        ],
        [c.COMPLETED, monitor.fillna("").to_numpy(object), c.FAILED, c.STUCK, c.STUCK],
        default=c.PENDING,
    )
    state, reason = c.overdue_callbacks(
        state, monitor_stuck=monitor.eq(c.STUCK).to_numpy(bool, na_value=False),
        expected=out[schema.MEMBERS_EXPECTED], finished=out[cols.MEMBERS_FINISHED],
        failed=out[schema.MEMBERS_FAILED], callback_received=out[cols.CALLBACK_RECEIVED],
        callback_name=out[schema.CHORD_CALLBACK_NAME],
        since_done=(now - work_last).dt.total_seconds(), idle_s=out[cols.IDLE_S],
        stuck_after=stuck_after, waits=lambda: slow)
    out[CHORD_STATE] = state
    out[cols.STUCK_REASON] = reason
    # Before the sort the local table is in first-appearance order of the members' chords,
    # or, once any chord line joined in, sorted by chord id (pandas' outer join sorts).
    if int(per["n_event_chords"].iloc[0]):
        out = out.sort_values(schema.CHORD_ID, kind="stable")
    else:
        out = out.assign(_o=per[_ORDER]).sort_values("_o", kind="stable")
    order = out[CHORD_STATE].map({c.STUCK: 0, c.FAILED: 1, c.PENDING: 2}).fillna(3)
    out = out.assign(_rank=order).sort_values(["_rank", cols.IDLE_S], ascending=[True, False],
                                              kind="stable")
    return _typed(out.reset_index(drop=True)[list(columns)])


def _duplicates(rows: list[dict[str, Any]]) -> pd.DataFrame:
    d = duplicate_section
    columns = d.DUPLICATE_COLUMNS
    if not rows:
        return _empty(columns)
    frame = _table(rows, columns)
    for name in (cols.RECEIVED, cols.STARTED, cols.SUCCEEDED, cols.RETRIED, cols.WORKERS):
        frame[name] = frame[name].astype("int64")
    frame[GAP_S] = pd.to_numeric(frame[GAP_S]).astype("float64")
    frame[schema.REDELIVERED] = frame[schema.REDELIVERED].fillna(False).astype(bool)
    near_hour = (frame[GAP_S] >= d.VISIBILITY_TIMEOUT_S * 0.95).fillna(False)
    frame[LIKELY_CAUSE] = np.select(
        [frame["lost_worker"].fillna(False).to_numpy(bool), near_hour.to_numpy(bool),
         frame[schema.REDELIVERED].to_numpy(bool)],
        [d.WORKER_LOST, "visibility_timeout", "redelivered"], default="unknown")
    return _ordered(frame, [cols.RECEIVED, FIRST_SEEN], [False, True], columns)


def _lost_workers(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = duplicate_section.LOST_COLUMNS
    if not rows:
        return _empty(columns)
    frame = _with_top(_table(rows, columns), schema.TASK_NAME, "task_name_top", "task_name_count")
    # (The log view's query does not count the instrumentation's requeued flag.)
    frame[cols.REQUEUED] = 0
    return _ordered(frame, [COUNT], [False], columns)


def _slow_tasks(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = duration_section.COLUMNS
    if not rows:
        return _empty(columns)
    frame = _table(rows, columns, ())
    numeric = [name for name in columns if name != schema.TASK_NAME]
    for name in [*numeric, "ms_sum"]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame[cols.MEAN_MS] = frame["ms_sum"] / frame[COUNT]
    # Before the sort: the names with run times in first-appearance order, then the names
    # with only queue waits (pandas' concat of the two tables).
    has_runs = frame["run_order"].notna()
    frame = pd.concat([frame.loc[has_runs].sort_values("run_order", kind="stable"),
                       frame.loc[~has_runs].sort_values("wait_order", kind="stable")])
    frame[COUNT] = frame[COUNT].fillna(0).astype("int64")
    frame[WAITS] = frame[WAITS].fillna(0).astype("int64")
    frame = frame.sort_values([P95_MS, WAIT_P95_MS], ascending=False, na_position="last",
                              kind="stable")
    return frame.reset_index(drop=True)[list(columns)].round(3)


def _series_bucket(overview: Mapping[str, Any]) -> pd.Timedelta | None:
    first, last = _stamp(overview["series_first"]), _stamp(overview["series_last"])
    if first is None or last is None:
        return None
    return bucket_size(last - first)


def _over_time(rows: list[dict[str, Any]], overview: Mapping[str, Any],
               size: pd.Timedelta | None) -> pd.DataFrame:
    columns = time_section.COLUMNS
    first, last = _stamp(overview["series_first"]), _stamp(overview["series_last"])
    if not rows or size is None or first is None or last is None:
        return _empty(columns)
    start = first.floor(size)
    index = pd.date_range(start, last.floor(size), freq=size, name=BUCKET)
    counts = pd.DataFrame(0, index=np.arange(len(index)), columns=list(columns[1:]))
    unit = _micros(size)
    start_no = _micros(start - pd.Timestamp(0, tz="UTC")) // unit
    for row in rows:
        k = int(row["bucket_no"]) - start_no
        for name in columns[1:]:
            counts.loc[k, name] = int(row[name])
    out = pd.DataFrame(index=index)
    for name in columns[1:]:
        out[name] = counts[name].to_numpy(dtype="int64")
    return out.reset_index()

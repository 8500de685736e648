"""A local HTTP server speaking the BigQuery v2 REST API's query methods, backed by DuckDB.

Real enough for ``google.cloud.bigquery.Client(client_options={"api_endpoint": server.url},
credentials=AnonymousCredentials())``:

* ``POST /bigquery/v2/projects/P/queries`` (``jobs.query``, what ``client.query_and_wait``
  sends): runs the query, answers ``jobComplete``, ``schema``, ``rows`` (``f``/``v`` cells),
  ``totalRows``, ``totalBytesProcessed``; with ``dryRun`` only the estimate;
* ``POST /bigquery/v2/projects/P/jobs`` (``jobs.insert``, what ``client.query`` sends): a
  query job, done at once; a dry run answers ``statistics.query.totalBytesProcessed``;
* ``GET .../jobs/ID`` (``jobs.get``) and ``GET .../queries/ID`` (``jobs.getQueryResults``).

The SQL is GoogleSQL, transpiled to DuckDB by sqlglot; a table ``p.d.t`` is DuckDB's catalog
``p``, schema ``d``, table ``t``. ``maximumBytesBilled`` is enforced as BigQuery does (400
``bytesBilledLimitExceeded``, nothing run); a table that does not exist is a 404 ``notFound``.
Errors come back in Google's JSON error shape.

Bytes processed, the fake's model of BigQuery's on-demand billing: for every table the query
names, the bytes of the columns it names (strings and JSON as their UTF-8 length, others 8
bytes a value), over the rows of the days its ``TIMESTAMP('...')`` literals touch (a table
partitioned by day on ``timestamp``; without a literal, every row). At least 10 MB a table,
BigQuery's minimum charge. An estimate for the tests' cost checks, not BigQuery's exact count.

    with BigQueryServer() as bq:
        bq.create_log_view("proj", "logs", rows)        # a Log Analytics _AllLogs view
        client = bigquery.Client(project="proj", credentials=AnonymousCredentials(),
                                 client_options={"api_endpoint": bq.url})
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from tests.support.local_server import LocalServer

MIN_BYTES_PER_TABLE = 10 * 1024 * 1024

#: Columns of a Log Analytics log view (``_AllLogs``), as BigQuery shows a linked dataset.
LOG_VIEW_DDL = """(
    timestamp TIMESTAMPTZ, receive_timestamp TIMESTAMPTZ, log_name VARCHAR, log_id VARCHAR,
    insert_id VARCHAR, severity VARCHAR, trace VARCHAR, span_id VARCHAR,
    resource STRUCT(type VARCHAR, labels JSON), labels JSON, json_payload JSON,
    text_payload VARCHAR)"""


@dataclass
class Recorded:
    method: str
    path: str
    body: dict[str, Any]
    seconds: float = 0.0  # time DuckDB spent running the query (queueing excluded)


@dataclass
class _State:
    con: duckdb.DuckDBPyConnection
    requests: list[Recorded] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class QueryError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _bq_type(duck_type: str) -> str:
    t = duck_type.upper()
    if t in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER"):
        return "INTEGER"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return "FLOAT"
    if t == "BOOLEAN":
        return "BOOLEAN"
    if t.startswith("TIMESTAMP"):
        return "TIMESTAMP"
    if t == "DATE":
        return "DATE"
    if t == "JSON":
        return "JSON"
    return "STRING"


def _cell(value: Any, kind: str, int64_timestamps: bool) -> Any:
    if value is None:
        return None
    if kind == "TIMESTAMP":
        ts = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        delta = ts - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        return str(micros) if int64_timestamps else f"{micros / 1e6:.6f}"
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind == "DATE":
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


class BigQueryServer(LocalServer):
    """``jobs.query`` / ``jobs.insert`` over HTTP on 127.0.0.1, on a free port."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        con = con or duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        self.state = _State(con=con)
        state = self.state
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else {}

            def do_POST(self) -> None:
                body = self._body()
                path = self.path.split("?", 1)[0]
                record = Recorded("POST", path, body)
                state.requests.append(record)
                self._post(path, body, record)

            def _post(self, path: str, body: dict[str, Any], record: Recorded) -> None:
                m = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/(queries|jobs)", path)
                if not m:
                    return self._error(404, "notFound", f"no method at {path}")
                project, method = m.groups()
                try:
                    if method == "queries":
                        return self._send(200, server._jobs_query(project, body, record))
                    return self._send(200, server._jobs_insert(project, body, record))
                except QueryError as exc:
                    return self._error(exc.code, exc.reason, exc.message)
                except Exception as exc:  # a bug of the fake: fail fast, no client retries
                    return self._error(400, "invalid", f"fake server: {exc!r}")

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                state.requests.append(Recorded("GET", path, {"query": query}))
                m = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/(jobs|queries)/([^/]+)", path)
                if not m or m.group(3) not in state.jobs:
                    return self._error(404, "notFound", f"Not found: Job {path}")
                job = state.jobs[m.group(3)]
                if m.group(2) == "jobs":
                    return self._send(200, job["resource"])
                return self._send(200, job["results"])

            def _error(self, code: int, reason: str, message: str) -> None:
                self._send(code, {"error": {"code": code, "message": message, "errors": [
                    {"reason": reason, "message": message, "domain": "global"}],
                    "status": {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}.get(code, "ERROR")}})

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.serve(Handler)

    # --- data -------------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        return list(self.state.requests)

    def create_log_view(self, project: str, dataset: str, rows: Iterable[dict[str, Any]] = (),
                        view: str = "_AllLogs") -> None:
        """A Log Analytics view ``project.dataset.view`` holding ``rows`` (dicts of columns;
        ``resource`` a dict with ``type`` and ``labels``; JSON columns as dicts)."""
        con = self.state.con
        with self.state.lock:
            attached = {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()"
                                                  ).fetchall()}
            if project not in attached:
                con.execute(f"ATTACH ':memory:' AS {_ident(project)}")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(project)}.{_ident(dataset)}")
            con.execute(f"CREATE OR REPLACE TABLE {self.table(project, dataset, view)} "
                        f"{LOG_VIEW_DDL}")
        self.insert_rows(project, dataset, rows, view)

    @staticmethod
    def table(project: str, dataset: str, view: str = "_AllLogs") -> str:
        return f"{_ident(project)}.{_ident(dataset)}.{_ident(view)}"

    def insert_rows(self, project: str, dataset: str, rows: Iterable[dict[str, Any]],
                    view: str = "_AllLogs") -> None:
        """Append rows straight into DuckDB (fixtures and benchmarks; not a BigQuery method)."""
        values = [(
            r.get("timestamp"), r.get("receive_timestamp"), r.get("log_name"), r.get("log_id"),
            r.get("insert_id"), r.get("severity"), r.get("trace"), r.get("span_id"),
            (r.get("resource") or {}).get("type"),
            _json((r.get("resource") or {}).get("labels")), _json(r.get("labels")),
            _json(r.get("json_payload")), r.get("text_payload"),
        ) for r in rows]
        if not values:
            return
        with self.state.lock:
            self.state.con.executemany(
                f"INSERT INTO {self.table(project, dataset, view)} VALUES (CAST(? AS TIMESTAMPTZ),"
                " CAST(? AS TIMESTAMPTZ), ?, ?, ?, ?, ?, ?, {'type': ?, 'labels': CAST(? AS JSON)},"
                " CAST(? AS JSON), CAST(? AS JSON), ?)", values)

    # --- the API ----------------------------------------------------------------------
    def _jobs_query(self, project: str, body: dict[str, Any],
                    record: Recorded | None = None) -> dict[str, Any]:
        job_id = f"job_{uuid.uuid4().hex}"
        ref = {"projectId": project, "jobId": job_id, "location": body.get("location", "US")}
        int64 = bool((body.get("formatOptions") or {}).get("useInt64Timestamp"))
        estimate = self._estimate(body["query"])
        if body.get("dryRun"):
            return {"kind": "bigquery#queryResponse", "jobReference": ref, "jobComplete": True,
                    "totalBytesProcessed": str(estimate)}
        self._check_limit(estimate, body.get("maximumBytesBilled"))
        results = self._run(body["query"], ref, estimate, int64, record)
        self._remember(ref, body["query"], estimate, results)
        return results

    def _jobs_insert(self, project: str, body: dict[str, Any],
                     record: Recorded | None = None) -> dict[str, Any]:
        config = body.get("configuration") or {}
        query = (config.get("query") or {}).get("query")
        if not query:
            raise QueryError(400, "invalid", "only query jobs are served here")
        ref = {"projectId": project, "location": "US",
               **(body.get("jobReference") or {})}
        ref.setdefault("jobId", f"job_{uuid.uuid4().hex}")
        estimate = self._estimate(query)
        stats = {"totalBytesProcessed": str(estimate),
                 "query": {"totalBytesProcessed": str(estimate)}}
        resource = {"kind": "bigquery#job", "id": f"{project}:{ref['jobId']}",
                    "jobReference": ref, "configuration": config,
                    "status": {"state": "DONE"}, "statistics": stats}
        if config.get("dryRun"):
            return resource
        self._check_limit(estimate, config["query"].get("maximumBytesBilled"))
        results = self._run(query, ref, estimate, False, record)
        stats["query"]["totalBytesBilled"] = str(estimate)
        self._remember(ref, query, estimate, results, resource)
        return resource

    def _remember(self, ref: dict[str, Any], query: str, estimate: int,
                  results: dict[str, Any], resource: dict[str, Any] | None = None) -> None:
        resource = resource or {
            "kind": "bigquery#job", "jobReference": ref, "status": {"state": "DONE"},
            "configuration": {"query": {"query": query}},
            "statistics": {"totalBytesProcessed": str(estimate),
                           "query": {"totalBytesProcessed": str(estimate)}}}
        with self.state.lock:
            self.state.jobs[ref["jobId"]] = {"resource": resource, "results": results}

    @staticmethod
    def _check_limit(estimate: int, maximum: str | int | None) -> None:
        if maximum is not None and estimate > int(maximum):
            raise QueryError(400, "bytesBilledLimitExceeded",
                             f"Query exceeded limit for bytes billed: {int(maximum)}. "
                             f"{estimate} or higher required.")

    def _parse(self, query: str) -> exp.Expression:
        try:
            return sqlglot.parse_one(query, read="bigquery")
        except sqlglot.errors.ParseError as exc:
            raise QueryError(400, "invalidQuery", f"Syntax error: {exc}") from None

    def _run(self, query: str, ref: dict[str, Any], estimate: int,
             int64_timestamps: bool, record: Recorded | None = None) -> dict[str, Any]:
        tree = self._parse(query)
        self._check_tables(tree)
        duck = tree.sql(dialect="duckdb")
        try:
            with self.state.lock:
                started = time.perf_counter()
                cur = self.state.con.execute(duck)
                description = cur.description or []
                rows = cur.fetchall() if description else []
                if record is not None:
                    record.seconds = time.perf_counter() - started
        except duckdb.Error as exc:
            raise QueryError(400, "invalidQuery", f"{type(exc).__name__}: {exc}") from None
        kinds = [_bq_type(str(d[1])) for d in description]
        fields = [{"name": d[0], "type": k, "mode": "NULLABLE"}
                  for d, k in zip(description, kinds, strict=True)]
        return {
            "kind": "bigquery#getQueryResultsResponse", "jobReference": ref,
            "jobComplete": True, "schema": {"fields": fields}, "totalRows": str(len(rows)),
            "rows": [{"f": [{"v": _cell(v, k, int64_timestamps)}
                            for v, k in zip(row, kinds, strict=True)]} for row in rows],
            "totalBytesProcessed": str(estimate), "cacheHit": False,
        }

    def _tables(self, tree: exp.Expression) -> list[exp.Table]:
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        return [t for t in tree.find_all(exp.Table)
                if t.name and not (not t.db and t.name in ctes)]

    def _check_tables(self, tree: exp.Expression) -> None:
        if isinstance(tree, exp.Create):
            return
        for t in self._tables(tree):
            if t.catalog and not self._exists(t):
                raise QueryError(404, "notFound",
                                 f"Not found: Table {t.catalog}:{t.db}.{t.name} was not found "
                                 "in location US")

    def _exists(self, t: exp.Table) -> bool:
        with self.state.lock:
            found = self.state.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?"
                " AND table_name = ?", [t.catalog, t.db, t.name]).fetchone()
        return bool(found and found[0])

    def _estimate(self, query: str) -> int:
        tree = self._parse(query)
        if not isinstance(tree, exp.Select | exp.Union | exp.With) and not tree.find(exp.Select):
            return 0
        if isinstance(tree, exp.Insert | exp.Create):
            return 0
        self._check_tables(tree)
        names = {c.name.lower() for c in tree.find_all(exp.Column)}
        days = sorted({m[:10] for m in re.findall(r"TIMESTAMP\('(\d{4}-\d\d-\d\d)", query)})
        total = 0
        for t in self._tables(tree):
            if not t.catalog:
                continue
            table = self.table(t.catalog, t.db, t.name)
            with self.state.lock:
                cols = self.state.con.execute(f"DESCRIBE {table}").fetchall()
                used = [(c[0], c[1]) for c in cols if c[0].lower() in names]
                if not used:
                    continue
                sizes = " + ".join(_size(name, kind) for name, kind in used)
                where = ""
                if days and any(c[0] == "timestamp" for c in cols):
                    lo = min(days)
                    hi = (dt.date.fromisoformat(max(days)) + dt.timedelta(days=1)).isoformat()
                    where = f" WHERE timestamp >= TIMESTAMPTZ '{lo}' AND timestamp < '{hi}'"
                row = self.state.con.execute(
                    f"SELECT coalesce(sum({sizes}), 0) FROM {table}{where}").fetchone()
            total += max(int(row[0]), MIN_BYTES_PER_TABLE)
        return total


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _size(name: str, kind: str) -> str:
    col = _ident(name)
    if kind.upper().startswith(("VARCHAR", "JSON", "STRUCT")):
        return f"coalesce(strlen(CAST({col} AS VARCHAR)), 0)"
    return f"(CASE WHEN {col} IS NULL THEN 0 ELSE 8 END)"

"""The Log Analytics report at a million entries, against the local analyzer, and on paper.

    .venv/bin/python benchmarks/log_analytics.py            # 1,000,000 entries in one hour
    .venv/bin/python benchmarks/log_analytics.py 200000

Builds a Log Analytics ``_AllLogs`` table of ``n`` entries (one hour of a fleet: published,
received, started and finished lines per task; 4 % failures, 4 % retries, 50 tenants, 20
pods) inside the local BigQuery endpoint of the tests (``tests/support/bigquery_server.py``,
DuckDB behind the real ``google-cloud-bigquery`` client), then measures:

* the dry run: bytes each report query would scan (the endpoint's model of on-demand
  billing: the bytes of the columns a query names, over the days it touches);
* ``analyze_log_analytics`` end to end through the client (dry runs, then the queries), and,
  as the baseline measured in the same run, the local analyzer (``ingest`` +
  ``build_report``) over the same entries exported as Cloud Logging NDJSON; the two reports
  must be equal;
* on paper, for 1 M, 10 M and 100 M entries a day: bytes scanned per report hour (from the
  measured bytes per entry), the on-demand price, and the ``entries.list`` path's time at
  its quota (60 requests a minute, 1,000 entries a page).

The endpoint runs DuckDB on this machine; BigQuery's own time depends on its slots, not on
these figures. What carries over is the ratio of bytes to entries and that the answer is the
same.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzers import ingest
from analyzers.report import COLUMNS, build_report
from analyzers.sources import log_analytics as la
from analyzers.sources.files import open_sources
from instrumentation import schema as s
from tests.support.bigquery_server import LOG_VIEW_DDL, BigQueryServer

PROJECT, DATASET = "bench-proj", "logs"
START = pd.Timestamp("2026-11-28T10:00:00Z")
PAGE, REQUESTS_PER_MINUTE = 1000, 60


def build_table(con: duckdb.DuckDBPyConnection, n: int) -> None:
    """``n`` entries over one hour, as the GKE agent writes our JSON lines."""
    con.execute(f"ATTACH ':memory:' AS {_q(PROJECT)}")
    con.execute(f"CREATE SCHEMA {_q(PROJECT)}.{DATASET}")
    table = f"{_q(PROJECT)}.{DATASET}._AllLogs"
    con.execute(f"CREATE TABLE {table} {LOG_VIEW_DDL}")
    tasks = n // 4
    e = s.Event
    con.execute(f"""
        INSERT INTO {table}
        WITH tasks AS (
          SELECT i, md5('t' || i) AS h, 'tasks.job_' || (i % 20) AS name,
                 'org-' || (hash(i) % 50) AS org, (hash(i * 7 + 1) % 1000000) / 1e6 AS r
          FROM range({tasks}) AS t(i)
        ),
        lines AS (
          SELECT *, substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-'
                    || substr(h, 17, 4) || '-' || substr(h, 21, 12) AS tid,
                 TIMESTAMPTZ '{START.isoformat()}'
                   + to_microseconds(CAST(i * 3600000000 // {tasks} + k * 2000 AS BIGINT)) AS ts,
                 CASE k WHEN 0 THEN '{e.TASK_PUBLISHED}' WHEN 1 THEN '{e.TASK_RECEIVED}'
                        WHEN 2 THEN '{e.TASK_STARTED}'
                        ELSE CASE WHEN r < 0.92 THEN '{e.TASK_SUCCEEDED}'
                                  WHEN r < 0.96 THEN '{e.TASK_RETRIED}'
                                  ELSE '{e.TASK_FAILED}' END END AS event
          FROM tasks, range(4) AS s(k)
        )
        SELECT ts, ts, 'projects/{PROJECT}/logs/stdout', 'stdout',
               lpad(CAST(i * 4 + k AS VARCHAR), 12, '0'),
               CASE WHEN event = '{e.TASK_FAILED}' THEN 'ERROR' ELSE 'INFO' END, NULL, NULL,
               {{'type': 'k8s_container', 'labels': json_object(
                 'project_id', '{PROJECT}', 'cluster_name', 'prod', 'namespace_name', 'workers',
                 'pod_name', 'rhesis-worker-7d9f8b6c5-' || (i % 20),
                 'container_name', 'worker', 'location', 'europe-west1')}},
               json_object('service', 'rhesis-worker', 'environment', 'prod'),
               json_object(
                 '{s.EVENT}', event, '{s.MESSAGE}', 'Task ' || name || '[' || tid || '] ' || event,
                 '{s.LOGGER}', 'instrumentation.celery', '{s.TASK_ID}', tid,
                 '{s.TASK_NAME}', name, '{s.ORGANIZATION_ID}', org,
                 '{s.USER_ID}', 'user-' || (i % 500), '{s.ROOT_ID}', tid, '{s.PARENT_ID}', NULL,
                 '{s.GROUP_ID}', NULL, '{s.GROUP_INDEX}', NULL, '{s.RETRIES}', 0,
                 '{s.QUEUE}', 'celery', '{s.WORKER}', 'celery@rhesis-worker-' || (i % 20),
                 '{s.PID}', 18640 + (i % 4),
                 '{s.DURATION_MS}', CASE WHEN k = 3 THEN round(r * 1000, 3) END,
                 '{s.QUEUE_WAIT_MS}', CASE WHEN k = 2 THEN round(r * 50, 3) END,
                 '{s.EXCEPTION_TYPE}', CASE WHEN k = 3 AND r >= 0.92 THEN 'ValueError' END,
                 '{s.EXCEPTION_MESSAGE}',
                   CASE WHEN k = 3 AND r >= 0.92 THEN 'bad input ' || (i % 97) END),
               NULL
        FROM lines
    """)


def export_entries(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The table as Cloud Logging entries (NDJSON), in (timestamp, insertId) order."""
    table = f"{_q(PROJECT)}.{DATASET}._AllLogs"
    con.execute(f"""
        COPY (
          SELECT json_object('insertId', insert_id, 'logName', log_name,
                             'timestamp', strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%fZ'),
                             'severity', severity, 'resource', resource, 'labels', labels,
                             'jsonPayload', json_payload) AS line
          FROM {table} ORDER BY timestamp, insert_id
        ) TO '{path}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01')
    """)


def _q(name: str) -> str:
    return '"' + name + '"'


def main(n: int) -> None:
    con = duckdb.connect()
    t0 = time.perf_counter()
    build_table(con, n)
    print(f"built {n:,} entries in {time.perf_counter() - t0:.1f} s")
    since, until = START, START + pd.Timedelta("1h")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "entries.ndjson"
        export_entries(con, path)
        size = path.stat().st_size
        t0 = time.perf_counter()
        result = ingest.read_sources(open_sources([str(path)]), columns=COLUMNS)
        local = build_report(result.frame, lines_read=result.lines_read,
                             lines_parsed=result.lines_parsed, unparsed=result.unparsed,
                             since=since, until=until, now=until)
        local_s = time.perf_counter() - t0
        del result
    with BigQueryServer(con) as bq:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        client = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                 client_options={"api_endpoint": bq.url})
        t0 = time.perf_counter()
        estimate = la.analyze_log_analytics(PROJECT, DATASET, client=client, since=since,
                                            until=until, dry_run=True)
        dry_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        remote = la.analyze_log_analytics(PROJECT, DATASET, client=client, since=since,
                                          until=until, max_bytes=None)
        remote_s = time.perf_counter() - t0
        answered = {r.body["labels"][la.JOB_LABEL]: r.seconds for r in bq.requests
                    if r.path.endswith("/queries")}
    same = remote.to_dict() == local.to_dict()
    print(f"Cloud Logging NDJSON export: {size / n:.0f} bytes per entry")
    print(f"local analyzer (ingest + build_report): {local_s:.2f} s")
    print(f"log-analytics via the local endpoint:  {remote_s:.2f} s "
          f"({remote_s / local_s:.2f}x the local analyzer); dry runs {dry_s:.2f} s")
    print(f"reports equal: {same}")
    print("query time on the endpoint, per section: " + ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in answered.items()))
    print("dry run:")
    for line in estimate.lines():
        print("  " + line)
    per_entry = {q.query: q.bytes / n for q in estimate.queries}
    print(f"bytes scanned per entry, all {len(per_entry)} queries: "
          f"{sum(per_entry.values()):.0f}")
    print()
    print("| entries/day | entries/report hour | bytes scanned/report hour | on-demand price |"
          " entries.list pages | API path at quota |")
    print("|---:|---:|---:|---:|---:|---:|")
    for per_day in (1_000_000, 10_000_000, 100_000_000):
        hour = per_day / 24
        # BigQuery bills at least 10 MB per table a query reads.
        scanned = sum(max(b * hour, 10 * 2**20) for b in per_entry.values())
        pages = -(-hour // PAGE)
        minutes = pages / REQUESTS_PER_MINUTE
        print(f"| {per_day:,} | {hour:,.0f} | {la.format_bytes(scanned)} | "
              f"${la.price_usd(int(scanned)):.4f} | {pages:,.0f} | {minutes:.1f} min |")
    if not same:
        raise SystemExit("the two reports differ")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

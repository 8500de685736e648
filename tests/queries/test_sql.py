"""The Log Analytics SQL gives the analyzer's numbers.

A real prefork worker (``tests/support/apps/instrumented.py``) runs a mixed workload: successes,
failures of three kinds (one with ids and numbers in its message), retries that recover and
one that is exhausted, three tenants and two chords, one stuck behind a member on a queue
nobody consumes. Its stdout is laid out as Cloud Logging entries (``gcloud logging read
--format=json``), loaded into DuckDB as ``_AllLogs`` would look (``timestamp``, ``severity``,
``json_payload`` JSON, ``resource`` struct), and each ``queries/sql/*.sql`` -- rendered,
transpiled from BigQuery to DuckDB by sqlglot -- must agree with ``rhesis-logs analyze
--format json`` run on the same entries file.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from celery import Celery

from instrumentation import schema as s
from queries.catalog import Context, load
from tests.support import start_worker
from tests.support.apps import client_app
from tests.support.sample_logs.entries import CLUSTER, NAMESPACE, PROJECT, entry

pytestmark = pytest.mark.slow

SQL_DB = 31


def _publish(client: Celery) -> None:
    def h(org: str | None) -> dict[str, str] | None:
        return {s.ORGANIZATION_ID: org} if org else None

    for _ in range(5):
        client.send_task("tapp.ok", [5], headers=h("org-a"))
    # Two ValueErrors whose messages differ only in a number: one fingerprint, two tenants.
    client.send_task("tapp.fail", ["ValueError", "77"], headers=h("org-b"))
    client.send_task("tapp.fail", ["ValueError", "4512"], headers=h("org-a"))
    client.send_task("tapp.fail", ["TimeoutError", "4f1c2a9e-0b7d-4c1e-9a51-3d2f8e6b7c10"],
                     headers=h("org-a"))
    client.send_task("tapp.fail", ["KeyError", "x"])
    client.send_task("tapp.flaky", [2], headers=h("org-b"))  # recovers
    client.send_task("tapp.flaky", [5], headers=h("org-a"))  # exhausted after 3
    client.send_task("tapp.make_chord", [3], headers=h("org-c"))
    client.send_task("tapp.make_chord", [2, True], headers=h("org-c"))  # stuck


@pytest.fixture(scope="module")
def sample(redis_server, tmp_path_factory):
    """(entries file, entries): the worker's logs as Cloud Logging entries."""
    tmp = tmp_path_factory.mktemp("sql-sample")
    # A database the suite's redis_dbs fixture never hands out (it cycles through 2-29);
    # results go to the same one (their keys are celery-task-meta-*, no clash).
    redis_server.client(SQL_DB).flushdb()
    env = {"BROKER_URL": redis_server.url(SQL_DB),
           "CELERY_RESULT_BACKEND": redis_server.url(SQL_DB)}
    worker = start_worker("tests.support.apps.instrumented", tmp, env=env, pool="prefork",
                          concurrency=2, hostname="logs@test")
    client = client_app(env["BROKER_URL"], set_as_current=False)
    try:
        _publish(client)
        # 5 ok + 1 recovered flaky + 2 make_chord + 3 + 2 members + 1 callback succeed;
        # 4 fail + the exhausted flaky fail. The parked member never runs.
        worker.wait_for_event(s.Event.TASK_SUCCEEDED, count=14, timeout=60)
        worker.wait_for_event(s.Event.TASK_FAILED, count=5, timeout=60)
    finally:
        worker.stop()
        client.close()
    lines = [line for line in worker.stdout().splitlines() if line.strip()]
    # A line that is not JSON (Celery prints its shutdown notice) gets the time of the line
    # before it, as the agent's read time would be.
    entries: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        read_time = entries[-1]["timestamp"] if entries else ""
        entries.append(entry(i, line, pod="worker-0", read_time=read_time))
    path = tmp / "entries.json"
    path.write_text(json.dumps(entries))
    return path, entries


@pytest.fixture(scope="module")
def report(sample) -> dict[str, Any]:
    exe = shutil.which("rhesis-logs") or str(Path(sys.executable).parent / "rhesis-logs")
    out = subprocess.run([exe, "analyze", str(sample[0]), "--format", "json",
                          "--stuck-after", "0s"], capture_output=True, text=True, timeout=120)
    # Exit 1 is a --fail-on condition (none asked here) or a crash: either way, say why.
    assert out.returncode == 0 and out.stdout.strip(), (
        f"rhesis-logs analyze exited {out.returncode}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def db(sample) -> duckdb.DuckDBPyConnection:
    """The entries as a DuckDB table shaped like Log Analytics' _AllLogs view."""
    con = duckdb.connect()
    con.execute("CREATE TABLE logs (timestamp TIMESTAMPTZ, severity VARCHAR, "
                "json_payload JSON, text_payload VARCHAR, log_name VARCHAR, "
                "resource STRUCT(type VARCHAR, labels JSON))")
    con.executemany(
        "INSERT INTO logs VALUES (CAST(? AS TIMESTAMPTZ), ?, CAST(? AS JSON), ?, ?, "
        "{'type': ?, 'labels': CAST(? AS JSON)})",
        [(e["timestamp"], e.get("severity"),
          json.dumps(e["jsonPayload"]) if "jsonPayload" in e else None, e.get("textPayload"),
          e["logName"], e["resource"]["type"], json.dumps(e["resource"]["labels"]))
         for e in sample[1]])
    return con


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params: str) -> list[dict[str, Any]]:
    ctx = Context(project=PROJECT, cluster=CLUSTER, namespace=NAMESPACE, table="logs",
                  params=params)
    sql = load().get(name).render(ctx)
    duck = sqlglot.transpile(sql, read="bigquery", write="duckdb",
                             unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
    cur = con.execute(duck)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def rows(table: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    out = {}
    for row in table:
        key = tuple(row[k] for k in keys)
        assert key not in out, f"duplicate row for {key}"
        out[key] = row
    return out


def same(sql_row: dict[str, Any], report_row: dict[str, Any], columns: list[str]) -> None:
    for column in columns:
        got, want = sql_row[column], report_row[column]
        if isinstance(got, dt.datetime) or column in ("first_seen", "last_seen",
                                                      "last_activity"):
            assert iso(got) == want, column
        elif isinstance(want, float) or isinstance(got, float):
            assert got == pytest.approx(want, rel=1e-6, abs=1e-3), column
        else:
            assert got == want, column


class TestSqlAgreesWithAnalyzer:
    def test_failures(self, db, report):
        sql = rows(run_sql(db, "sql/failures"), (s.TASK_NAME, s.EXCEPTION_TYPE, "fingerprint"))
        want = rows(report["failures"], (s.TASK_NAME, s.EXCEPTION_TYPE, "fingerprint"))
        assert set(sql) == set(want) and len(want) >= 3
        for key in want:
            same(sql[key], want[key], ["count", "tenants", "first_seen", "last_seen"])
        # the two ValueErrors differ only in a number: one row, two tenants; the UUID is masked
        assert [(r["count"], r["tenants"]) for k, r in want.items() if k[1] == "ValueError"] \
            == [(2, 2)]
        assert any("<id>" in k[2] for k in want)

    def test_retries(self, db, report):
        sql = rows(run_sql(db, "sql/retries"), (s.TASK_NAME, s.EXCEPTION_TYPE))
        want = rows(report["retries"], (s.TASK_NAME, s.EXCEPTION_TYPE))
        assert set(sql) == set(want) and want
        for key in want:
            same(sql[key], want[key], ["count", "task_ids", "max_retries", "tenants",
                                       "first_seen", "last_seen"])

    def test_durations(self, db, report):
        sql = rows(run_sql(db, "sql/durations"), (s.TASK_NAME,))
        want = rows(report["slow_tasks"], (s.TASK_NAME,))
        assert set(sql) == set(want) and len(want) >= 4
        for key in want:
            for column in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms",
                           "wait_p50_ms", "wait_p95_ms", "wait_max_ms"):
                got, expected = sql[key][column], want[key][column]
                if expected is None:
                    assert got is None, (key, column)
                else:
                    assert round(got, 3) == pytest.approx(expected, abs=1.5e-3), (key, column)
            same(sql[key], want[key], ["count", "waits"])

    def test_stuck_chords(self, db, report):
        sql = rows(run_sql(db, "sql/stuck_chords", stuck_after_s="0"), (s.CHORD_ID,))
        want = rows(report["stuck_chords"], (s.CHORD_ID,))
        assert set(sql) == set(want) and len(want) == 1
        for key in want:
            same(sql[key], want[key], [
                s.CHORD_CALLBACK_ID, s.CHORD_CALLBACK_NAME, s.ORGANIZATION_ID,
                s.MEMBERS_EXPECTED, "members_published", "members_finished", s.MEMBERS_FAILED,
                "callback_received", "first_seen", "last_activity", "idle_s"])

    def test_completed_chord_is_not_stuck_with_a_long_threshold(self, db, report):
        assert run_sql(db, "sql/stuck_chords", stuck_after_s="3600") == []
        assert {c["chord_state"] for c in report["chords"]} == {"stuck", "completed"}

    def test_failures_by_tenant_match_the_raw_lines(self, db, sample):
        """No analyzer table has this cut: compare with the entries themselves."""
        want: Counter = Counter()
        for e in sample[1]:
            p = e.get("jsonPayload") or {}
            if p.get(s.EVENT) in (s.Event.TASK_FAILED, s.Event.TASK_INTERNAL_ERROR):
                want[p.get(s.ORGANIZATION_ID) or "<none>", p.get(s.TASK_NAME)] += 1
        got = {(r[s.ORGANIZATION_ID], r[s.TASK_NAME]): r["count"]
               for r in run_sql(db, "sql/failures_by_tenant")}
        assert got == dict(want) and len(want) >= 3

"""The Log Analytics report equals the local analyzer's, through the real BigQuery client.

The same entries are read twice: as a Cloud Logging export by the local analyzer
(``ingest.read_sources`` + ``build_report``), and as rows of a Log Analytics view served by a
local BigQuery endpoint (``tests/support/bigquery_server.py``: ``jobs.query`` and
``jobs.insert`` over HTTP, the SQL run by DuckDB after sqlglot transpiles it) that
``google.cloud.bigquery.Client`` talks to. Entries: the examples' real worker logs
(``examples/kubectl.log``) and a seeded synthetic workload that reaches every section
(duplicates, lost workers, storms, chord states, ties in time).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from analyzers import ingest
from analyzers.errors import SourceError
from analyzers.render import render
from analyzers.report import COLUMNS, Report, build_report, parse_instant
from analyzers.sources import log_analytics as la
from analyzers.sources.files import open_sources
from instrumentation import schema as s
from tests.support.bigquery_server import BigQueryServer
from tests.support.sample_logs.entries import (
    PROJECT,
    analytics_row,
    entry,
    kubectl_entries,
    synthetic_entries,
)

ROOT = Path(__file__).resolve().parents[3]
DATASET = "rhesis_logs"


@pytest.fixture
def bq():
    with BigQueryServer() as server:
        yield server


def client_for(server: BigQueryServer) -> bigquery.Client:
    return bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": server.url})


def bounds(entries: list[dict[str, Any]]) -> tuple[pd.Timestamp, pd.Timestamp]:
    return (parse_instant(entries[0]["timestamp"]) - pd.Timedelta("1s"),
            parse_instant(entries[-1]["timestamp"]) + pd.Timedelta("1s"))


def local_report(entries: list[dict[str, Any]], tmp_path: Path, *, since: pd.Timestamp,
                 until: pd.Timestamp, **kw: Any) -> Report:
    """What ``analyze --source cloud-logging`` computes: the window's entries, in
    Cloud Logging's order, read by the local analyzer."""
    inside = [e for e in entries if since <= parse_instant(e["timestamp"]) < until]
    path = tmp_path / "entries.json"
    path.write_text(json.dumps(inside))
    result = ingest.read_sources(open_sources([str(path)]), columns=COLUMNS)
    return build_report(result.frame, lines_read=result.lines_read,
                        lines_parsed=result.lines_parsed, unparsed=result.unparsed,
                        since=since, until=until, now=until, **kw)


def remote_report(server: BigQueryServer, entries: list[dict[str, Any]], **kw: Any) -> Report:
    server.create_log_view(PROJECT, DATASET, [analytics_row(e) for e in entries])
    report = la.analyze_log_analytics(PROJECT, DATASET, client=client_for(server), **kw)
    assert isinstance(report, Report)
    return report


def assert_same(local: Report, remote: Report, approximate: set[str] | None = None) -> None:
    """Section by section, excluding only what the remote report marks approximate."""
    want, got = local.to_dict(), remote.to_dict()
    assert set(got["approximate"]) == (approximate or set())
    for key, value in want.items():
        if key in got["approximate"] or key == "approximate":
            continue
        assert got[key] == value, f"section {key} differs"


class TestSameReport:
    @pytest.mark.parametrize("stuck_after", [timedelta(minutes=15), timedelta(0)])
    def test_real_worker_logs(self, bq, tmp_path, stuck_after):
        entries = kubectl_entries(ROOT / "examples" / "kubectl.log")
        since, until = bounds(entries)
        local = local_report(entries, tmp_path, since=since, until=until,
                             stuck_after=stuck_after)
        remote = remote_report(bq, entries, since=since, until=until, stuck_after=stuck_after)
        assert_same(local, remote)
        assert local.to_dict()["approximate"] == []  # the key is there for every source
        d = remote.to_dict()
        # Read independently of both engines: the entries' own received events.
        received = sum(1 for e in entries
                       if (e.get("jsonPayload") or {}).get(s.EVENT) == s.Event.TASK_RECEIVED)
        assert received > 0
        assert d["tasks"]["received"] == received and len(d["slow_tasks"]) >= 4
        assert len(d["chords"]) >= 2 and d["failures"] and d["retries"]
        # Same report, same pages: every renderer gives the same bytes.
        for fmt in ("text", "markdown", "html", "json"):
            assert render(remote, fmt) == render(local, fmt), fmt

    @pytest.mark.parametrize(("seed", "options"), [
        (1, {}),
        (3, {}),
        (2, {"stuck_after": timedelta(0)}),
        (3, {"tenant": "org-1"}),
        (4, {"task": "tasks.eval.*"}),
        (5, {"task": "tasks.[ab]"}),
        (6, {"cut": 0.4}),
    ])
    def test_synthetic_workload(self, bq, tmp_path, seed, options):
        entries = synthetic_entries(seed)
        since, until = bounds(entries)
        options, everything = dict(options), not options
        if "cut" in options:  # a window that starts mid-way: tasks seen half-way through
            since = since + (until - since) * options.pop("cut")
        local = local_report(entries, tmp_path, since=since, until=until, **options)
        remote = remote_report(bq, entries, since=since, until=until, **options)
        assert_same(local, remote)
        d = remote.to_dict()
        if everything:  # the workload reaches every section
            for section in ("failures", "retries", "retry_storms", "retry_outcomes", "chords",
                            "stuck_chords", "duplicates", "lost_workers", "slow_tasks"):
                assert d[section], section
            if seed == 1:  # a group with more than five tenants: "org-0, ... org-4 +3"
                assert any(r["tenant_ids"].endswith(tuple(f"+{n}" for n in range(1, 9)))
                           for r in d["failures"] + d["retries"])
            states = {c["chord_state"] for c in d["chords"]}
            assert {"completed", "failed", "stuck", "recovered"} <= states
            assert {r["likely_cause"] for r in d["duplicates"]} == {
                "worker_lost", "visibility_timeout", "redelivered", "unknown"}
            assert {r["kind"] for r in d["lost_workers"]} == {
                "worker_lost", "time_limit", "broker_connection_lost"}
            if seed == 3:  # storms at both scales: one id, and one task name in one bucket
                assert {r["scope"] for r in d["retry_storms"]} == {"task_id", "task_name"}

    def test_text_entries_are_marked_approximate(self, bq, tmp_path):
        entries = synthetic_entries(7, text=True)
        since, until = bounds(entries)
        local = local_report(entries, tmp_path, since=since, until=until)
        remote = remote_report(bq, entries, since=since, until=until)
        # One of the text lines is a Celery "received" sentence the local analyzer reads as
        # an event and SQL cannot: every section is marked, and one indeed differs.
        assert set(remote.approximate) == set(la.REPORT_SECTIONS)
        assert remote.to_dict()["tasks"] != local.to_dict()["tasks"]
        for fmt in ("text", "markdown", "html"):  # people see it too
            assert "Approximate" in render(remote, fmt) and "Approximate" not in render(
                local, fmt)

    def test_plain_text_noise_marks_only_the_line_counts(self, bq, tmp_path):
        entries = synthetic_entries(8)
        last = entries[-1]["timestamp"]
        entries.append(entry(99_999, "just some noise", pod="worker-0", read_time=last))
        since, until = bounds(entries)
        local = local_report(entries, tmp_path, since=since, until=until)
        remote = remote_report(bq, entries, since=since, until=until)
        assert_same(local, remote, approximate={"lines", "unparsed"})

    def test_other_clusters_and_namespaces_are_filtered_in_the_query(self, bq, tmp_path):
        entries = synthetic_entries(9, tasks=40)
        since, until = bounds(entries)
        noise = [{**e, "insertId": f"x{e['insertId']}", "resource": {
            **e["resource"], "labels": {**e["resource"]["labels"], **labels}}}
            for e in synthetic_entries(10, tasks=40)
            for labels in ({"cluster_name": "staging"}, {"namespace_name": "other"})]
        local = local_report(entries, tmp_path, since=since, until=until)
        remote = remote_report(bq, entries + noise, since=since, until=until,
                               cluster="prod", namespace="workers")
        assert_same(local, remote)
        queries = [r.body.get("query", "") for r in bq.requests if r.path.endswith("/queries")]
        assert queries and all(
            "JSON_VALUE(resource.labels, '$.cluster_name') = 'prod'" in q
            and "JSON_VALUE(resource.labels, '$.namespace_name') = 'workers'" in q
            and "timestamp >= TIMESTAMP(" in q for q in queries)

    def test_an_empty_window_gives_an_empty_report(self, bq, tmp_path):
        entries = synthetic_entries(11, tasks=10)
        since = parse_instant(entries[-1]["timestamp"]) + pd.Timedelta("1h")
        until = since + pd.Timedelta("1h")
        local = local_report(entries, tmp_path, since=since, until=until)
        remote = remote_report(bq, entries, since=since, until=until)
        assert_same(local, remote)
        assert remote.to_dict()["tasks"]["received"] == 0


class TestCost:
    def test_dry_run_estimates_every_query_and_runs_none(self, bq):
        entries = synthetic_entries(12, tasks=30)
        since, until = bounds(entries)
        bq.create_log_view(PROJECT, DATASET, [analytics_row(e) for e in entries])
        estimate = la.analyze_log_analytics(PROJECT, DATASET, client=client_for(bq),
                                            since=since, until=until, dry_run=True)
        assert isinstance(estimate, la.DryRunEstimate)
        assert [q.query for q in estimate.queries] == list(la.SECTIONS)
        assert all(q.bytes > 0 for q in estimate.queries)
        assert estimate.price_usd == pytest.approx(
            estimate.total_bytes / 2**40 * la.PRICE_PER_TIB_USD)
        assert "total" in estimate.lines()[-2] and estimate.within_limit
        jobs = [r for r in bq.requests if r.method == "POST"]
        assert len(jobs) == len(la.SECTIONS)
        assert all(r.body["configuration"]["dryRun"] for r in jobs)

    def test_over_max_bytes_refuses_before_running_anything(self, bq):
        entries = synthetic_entries(13, tasks=30)
        since, until = bounds(entries)
        bq.create_log_view(PROJECT, DATASET, [analytics_row(e) for e in entries])
        with pytest.raises(la.CostLimitError) as info:
            la.analyze_log_analytics(PROJECT, DATASET, client=client_for(bq), since=since,
                                     until=until, max_bytes=1_000_000)
        message = str(info.value)
        assert "\n" not in message and "--max-bytes 1.0 MB" in message
        assert isinstance(info.value, SourceError)
        assert not any(r.path.endswith("/queries") for r in bq.requests)

    def test_every_job_carries_maximum_bytes_billed(self, bq):
        entries = synthetic_entries(14, tasks=20)
        since, until = bounds(entries)
        remote_report(bq, entries, since=since, until=until, max_bytes=5 * 10**9)
        ran = [r.body for r in bq.requests if r.path.endswith("/queries")]
        assert len(ran) == len(la.SECTIONS)
        assert {body["maximumBytesBilled"] for body in ran} == {str(5 * 10**9)}
        assert sorted(body["labels"][la.JOB_LABEL] for body in ran) == sorted(la.SECTIONS)

    def test_bigquery_refusing_over_the_billing_cap_is_a_cost_error(self, bq):
        # BigQuery's own check, as when the data grew between the dry run and the query.
        bq.create_log_view(PROJECT, DATASET, [analytics_row(e) for e in synthetic_entries(1)])
        runner = la._Runner(client_for(bq), la.Scope(PROJECT, DATASET, *bounds(
            synthetic_entries(1))), None, 1000)
        with pytest.raises(la.CostLimitError, match="over --max-bytes"):
            runner.rows(f"SELECT COUNT(json_payload) FROM `{PROJECT}.{DATASET}._AllLogs`",
                        "overview")


class TestErrors:
    def test_missing_dataset_is_one_line_naming_the_fix(self, bq):
        with pytest.raises(la.LogAnalyticsError) as info:
            la.analyze_log_analytics(PROJECT, "nope", client=client_for(bq),
                                     since=timedelta(hours=1))
        message = str(info.value)
        assert "\n" not in message
        assert f"{PROJECT}.nope._AllLogs not found" in message
        assert "queries install --log-analytics" in message

    def test_no_credentials(self, monkeypatch, tmp_path):
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
        with pytest.raises(la.LogAnalyticsError, match="gcloud auth application-default login"):
            la.make_client(PROJECT)

    def test_missing_extra_names_the_install_command(self):
        code = (
            "import sys; sys.modules['google.cloud.bigquery'] = None\n"
            "from analyzers.sources import log_analytics as la\n"
            "try:\n    la.make_client('p')\n"
            "except la.LogAnalyticsError as e:\n    print(e)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
        assert out.stdout.strip() == ("--source log-analytics needs google-cloud-bigquery: "
                                      "pip install 'rhesis-logs[log-analytics]'"), out.stderr

    def test_the_module_does_not_import_bigquery(self):
        code = ("import sys; import analyzers.sources.log_analytics\n"
                "print('google.cloud.bigquery' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
        assert out.stdout.strip() == "False", out.stderr

    @pytest.mark.parametrize("bad", [{"tenant": "o'1"}, {"cluster": "a\\b"},
                                     {"task": "x'"}])
    def test_values_that_would_break_the_sql_are_refused(self, bad):
        with pytest.raises(la.LogAnalyticsError, match="may not contain quotes"):
            la.analyze_log_analytics(PROJECT, DATASET, client=object(),
                                     since=timedelta(hours=1), **bad)

    def test_since_after_until(self):
        now = pd.Timestamp("2026-11-28T12:00Z")
        with pytest.raises(la.LogAnalyticsError, match="must be before"):
            la.analyze_log_analytics(PROJECT, DATASET, client=object(), since=now,
                                     until=now - pd.Timedelta("1h"))


@pytest.mark.parametrize("pattern", ["tasks.*", "tasks.[ab]", "t?sks.a", "tasks.[!a]",
                                     "a+b(c)"])
def test_glob_regex_matches_as_fnmatch(pattern):
    import fnmatch
    import re

    names = ["tasks.a", "tasks.b", "tasks.c", "tasks.eval.x", "tasks", "a+b(c)", "tosks.a",
             "x\ntasks.a"]
    regex = re.compile(la.glob_regex(pattern))
    assert [bool(regex.search(n)) for n in names] == [
        fnmatch.fnmatchcase(n, pattern) for n in names]


#: GoogleSQL's reserved keywords (BigQuery lexical structure): not usable as names unquoted.
_RESERVED_TEXT = """
ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS CREATE
CROSS CUBE CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE EXISTS
EXTRACT FALSE FETCH FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF IGNORE IN
INNER INTERSECT INTERVAL INTO IS JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL NEW NO NOT
NULL NULLS OF ON OR ORDER OUTER OVER PARTITION PRECEDING PROTO QUALIFY RANGE RECURSIVE RESPECT
RIGHT ROLLUP ROWS SELECT SET SOME STRUCT TABLESAMPLE THEN TO TREAT TRUE UNBOUNDED UNION UNNEST
USING WHEN WHERE WINDOW WITH WITHIN"""
RESERVED = frozenset(_RESERVED_TEXT.split())


@pytest.mark.parametrize("name", la.SECTIONS)
def test_the_sql_names_nothing_bigquery_reserves(name):
    """sqlglot (and so the local endpoint) accepts a CTE called ``rows``; BigQuery does not."""
    import sqlglot
    from sqlglot import exp

    scope = la.Scope(PROJECT, DATASET, pd.Timestamp("2026-11-28T10:00Z"),
                     pd.Timestamp("2026-11-28T11:00Z"), tenant="org-1", task="tasks.*")
    tree = sqlglot.parse_one(la.render_sql(name, scope), read="bigquery")
    names = {node.alias for node in tree.find_all(exp.CTE, exp.Alias, exp.TableAlias)
             if node.alias} | {t.name for t in tree.find_all(exp.Table)}
    assert not {n.upper() for n in names} & RESERVED


@pytest.mark.parametrize(("text", "value"), [
    ("10GB", 10 * 10**9), ("500 MB", 500 * 10**6), ("1TiB", 2**40), ("123", 123),
    ("1.5gb", 1_500_000_000), ("64KiB", 65536)])
def test_parse_bytes(text, value):
    assert la.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "ten GB", "10 XB", "-5GB"])
def test_parse_bytes_refuses_what_it_cannot_read(text):
    with pytest.raises(la.LogAnalyticsError, match=r"use e\.g\. 500MB, 10GB or 1TiB"):
        la.parse_bytes(text)


class TestCommand:
    """``rhesis-logs analyze --source log-analytics`` through the CLI and the real client."""

    def _run(self, bq, entries, *args: str):
        from click.testing import CliRunner

        from analyzers.cli import main

        bq.create_log_view(PROJECT, DATASET, [analytics_row(e) for e in entries])
        since, until = bounds(entries)
        return CliRunner().invoke(main, [
            "analyze", "--source", "log-analytics", "--project", PROJECT, "--dataset", DATASET,
            "--since", since.isoformat(), "--until", until.isoformat(),
            "--bigquery-endpoint", bq.url, *args])

    def test_same_json_report_as_the_library(self, bq):
        entries = kubectl_entries(ROOT / "examples" / "kubectl.log")
        result = self._run(bq, entries, "-o", "json")
        assert result.exit_code == 0, result.output
        since, until = bounds(entries)
        library = la.analyze_log_analytics(PROJECT, DATASET, client=client_for(bq),
                                           since=since, until=until)
        out = json.loads(result.stdout)
        assert out["tasks"] == library.to_dict()["tasks"] and out["tasks"]["received"] > 0
        assert "reading Log Analytics" in result.stderr

    def test_dry_run_prints_cost_and_runs_nothing(self, bq):
        entries = kubectl_entries(ROOT / "examples" / "kubectl.log")
        result = self._run(bq, entries, "--dry-run")
        assert result.exit_code == 0, result.output
        assert "total" in result.stdout and "$" in result.stdout
        jobs = [r for r in bq.requests if r.method == "POST"]
        assert len(jobs) == len(la.SECTIONS)
        assert all(r.body["configuration"]["dryRun"] for r in jobs), "a dry run ran a query"

    def test_over_max_bytes_is_one_line_and_usage(self, bq):
        entries = kubectl_entries(ROOT / "examples" / "kubectl.log")
        result = self._run(bq, entries, "--max-bytes", "2")
        assert result.exit_code == 2
        assert "--max-bytes" in result.output and "Traceback" not in result.output

    def test_dataset_is_required(self):
        from click.testing import CliRunner

        from analyzers.cli import main

        result = CliRunner().invoke(main, ["analyze", "--source", "log-analytics",
                                           "--project", PROJECT])
        assert result.exit_code == 2 and "--dataset" in result.output

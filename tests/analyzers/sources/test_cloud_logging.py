"""The Cloud Logging source against a local server speaking the Logging v2 REST API."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from analyzers import ingest
from analyzers.errors import SourceError
from analyzers.sources.cloud_logging import DEFAULT_EVENTS, CloudLoggingSource
from instrumentation import schema as s
from tests.support.logging_server import LoggingServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ENTRIES = [json.loads(x) for x in (FIXTURES / "entries.ndjson").read_text().splitlines()]
SINCE = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


@pytest.fixture
def server():
    with LoggingServer(ENTRIES) as srv:
        yield srv


def source(server: LoggingServer, **kw) -> CloudLoggingSource:
    args = dict(project="rhesis-test", since=SINCE, until=UNTIL, page_size=50,
                requests_per_minute=60_000, progress=False, api_endpoint=server.url,
                credentials=AnonymousCredentials(), backoff_initial_s=0.01)
    args.update(kw)
    return CloudLoggingSource(**args)


class TestQuery:
    """What the client asks the API for."""

    def test_filter_pushes_everything_down(self, server):
        src = source(server, cluster="prod", namespace="rhesis", container="worker",
                     events=[s.Event.TASK_FAILED, s.Event.TASK_RETRIED])
        ingest.read_sources(src)
        body = server.requests[0].body
        assert server.requests[0].path.split("?")[0] == "/v2/entries:list"
        assert body["resourceNames"] == ["projects/rhesis-test"]
        assert body["orderBy"] == "timestamp asc"
        assert body["pageSize"] == 50
        lines = body["filter"].split("\n")
        assert lines[:6] == [
            'resource.type="k8s_container"',
            'resource.labels.cluster_name="prod"',
            'resource.labels.namespace_name="rhesis"',
            'resource.labels.container_name="worker"',
            'timestamp>="2026-11-28T00:00:00.000000Z"',
            'timestamp<"2026-11-29T00:00:00.000000Z"',
        ]
        assert lines[6].startswith(f'({s.jsonpayload(s.EVENT)}=("task_failed" OR "task_retried")'
                                   " OR textPayload=~")

    def test_default_events_leave_out_plain_log_lines(self, server):
        src = source(server, include_text=False)
        assert '"log"' not in src.filter()
        assert all(f'"{e}"' in src.filter() for e in DEFAULT_EVENTS)
        assert "textPayload" not in src.filter()

    def test_quotes_in_values_are_escaped(self, server):
        assert 'resource.labels.namespace_name="a\\"b"' in source(server, namespace='a"b').filter()

    def test_bad_arguments(self, server):
        with pytest.raises(SourceError, match="unknown events"):
            source(server, events=["task_exploded"])
        with pytest.raises(SourceError, match="empty time window"):
            source(server, since=UNTIL, until=SINCE)
        with pytest.raises(SourceError, match="needs a project"):
            source(server, project="")


class TestPaging:
    """Every page is read once, in order, and turned into the same records as the export."""

    def test_pages_and_records(self, server):
        src = source(server, page_size=50)
        result = ingest.read_sources(src)
        tokens = [r.body.get("pageToken") for r in server.requests]
        assert tokens == [None, "50", "100", "150"]
        assert src.stats.requests == 4 and src.stats.entries == len(ENTRIES)
        export = ingest.read_records([(FIXTURES / "entries.ndjson").read_bytes()])
        assert result.lines_read == export.lines_read == len(ENTRIES)
        cols = [s.TIME, s.EVENT, s.TASK_ID, s.POD, s.SEVERITY]
        assert result.frame[cols].equals(export.frame[cols])
        assert set(result.frame[s.SOURCE]) == {"cloud-logging"}

    def test_requests_are_spaced_to_the_quota(self, server):
        src = source(server, page_size=40, requests_per_minute=1200)  # one per 50 ms
        ingest.read_sources(src)
        at = [r.at for r in server.requests]
        assert len(at) == -(-len(ENTRIES) // 40) >= 4
        # The client spaces the *sends* 50 ms apart; arrival times jitter by the network and
        # scheduling (a 42 ms gap was seen on a loaded machine), so check the rate over the
        # run, and that no two requests arrived back to back.
        gaps = [b - a for a, b in itertools.pairwise(at)]
        assert at[-1] - at[0] >= (len(at) - 1) * 0.05 * 0.9
        assert min(gaps) >= 0.025


class TestQuota:
    """429 RESOURCE_EXHAUSTED: back off and resume from the same page."""

    def test_backoff_then_resume_without_loss(self, server):
        src = source(server, page_size=100)
        first = src.pages()
        page1 = next(first)
        server.fail_next(3)
        rest = [e for page in first for e in page]
        assert len(page1) + len(rest) == len(ENTRIES)
        statuses = [(r.status, r.body.get("pageToken")) for r in server.requests]
        assert statuses == [(200, None), (429, "100"), (429, "100"), (429, "100"), (200, "100")]
        assert src.stats.retries == 3
        gaps = [b.at - a.at for a, b in zip(server.requests[1:], server.requests[2:],
                                              strict=False)]
        assert gaps[0] >= 0.009 and gaps[1] >= 0.019  # exponential: 10 ms, 20 ms, ...

    def test_retry_after_header_is_honoured(self, server):
        server.fail_next(1, retry_after="0.3")
        src = source(server, page_size=1000)
        list(src.pages())
        assert server.requests[1].at - server.requests[0].at >= 0.29

    def test_quota_that_never_comes_back(self, server):
        server.fail_next(100)
        src = source(server, max_retries=2)
        with pytest.raises(SourceError, match="quota still exhausted after 2 retries"):
            ingest.read_sources(src)
        assert len(server.requests) == 3

    def test_permission_denied_is_not_retried(self, server):
        server.fail_next(1, status=403)
        with pytest.raises(SourceError, match=r"roles/logging\.viewer"):
            ingest.read_sources(source(server))
        assert len(server.requests) == 1

    def test_unreachable_endpoint(self):
        src = CloudLoggingSource("p", since=timedelta(hours=1), progress=False,
                                 api_endpoint="http://127.0.0.1:9", max_retries=0,
                                 credentials=AnonymousCredentials())
        with pytest.raises(SourceError, match="cannot reach Cloud Logging"):
            list(src.pages())


def test_progress_bar_goes_to_stderr(server, capsys):
    src = source(server, progress=True, page_size=40)
    assert len(list(src.entries())) == len(ENTRIES)
    out = capsys.readouterr()
    assert out.out == ""


class TestSlowPullAdvice:
    """Past a few pages, a window that will take minutes to page says so, once."""

    def test_estimate_extrapolates_pages_over_the_window(self):
        from analyzers.sources.cloud_logging import estimate_remaining

        # 5 pages covered 10 minutes of a 24 h window: 715 more pages at 60 a minute.
        left = estimate_remaining(600, 86_400, 5, 60)
        assert left == pytest.approx(5 * (86_400 - 600) / 600 * 60 / 60)
        assert estimate_remaining(0, 86_400, 5, 60) is None  # nothing known yet
        assert estimate_remaining(86_400, 86_400, 5, 60) is None  # done

    def test_a_long_sparse_window_advises_log_analytics_once(self):
        start = datetime(2026, 11, 1, tzinfo=UTC)
        entries = [
            {"insertId": f"a{i}", "timestamp": (start + timedelta(seconds=90 * i)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"),
             "resource": {"type": "k8s_container", "labels": {"pod_name": "w-0"}},
             "jsonPayload": {s.EVENT: s.Event.TASK_RECEIVED, s.TASK_ID: f"t{i}",
                             s.TASK_NAME: "tasks.a"}}
            for i in range(40)
        ]
        notes: list[str] = []
        with LoggingServer(entries) as srv:
            src = source(srv, since=start, until=start + timedelta(days=30), page_size=5,
                         requests_per_minute=600, notice=notes.append)
            result = ingest.read_sources(src)
        assert result.lines_read == 40 and src.stats.requests == 8
        assert len(notes) == 1 and "--source log-analytics" in notes[0]
        from analyzers.sources.cloud_logging import estimate_remaining, slow_pull_advice

        # After 5 pages the 25th entry is 36 min into a 30-day window: ~6,000 pages to go.
        expected = estimate_remaining(24 * 90, 30 * 86_400, 5, 600)
        assert notes == [slow_pull_advice(expected)] and notes[0].startswith("~10 min more")

    def test_a_dense_short_window_gives_no_advice(self, server):
        notes: list[str] = []
        ingest.read_sources(source(server, page_size=5, notice=notes.append))
        assert notes == []

"""The kubectl source against a fake ``kubectl`` on PATH that replays a recorded stream."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analyzers import ingest
from analyzers.errors import SourceError
from analyzers.sources.kubectl import KubectlSource
from instrumentation import schema as s

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "fixtures"


@pytest.fixture
def kubectl(tmp_path, monkeypatch):
    """Put the fake kubectl first on PATH; return a function reading the argv it received."""
    argv_log = tmp_path / "argv.jsonl"
    fake_bin = HERE.parents[1] / "support" / "bin"
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_KUBECTL_ARGV", str(argv_log))
    monkeypatch.setenv("FAKE_KUBECTL_CONTEXT", "gke_rhesis_europe-west1_prod")
    monkeypatch.setenv("FAKE_KUBECTL_REPLAY", str(FIXTURES / "kubectl_prefix.log"))

    def calls() -> list[list[str]]:
        if not argv_log.exists():
            return []
        return [json.loads(x) for x in argv_log.read_text().splitlines()]

    return calls


class TestArguments:
    """The argv built for kubectl logs."""

    def test_defaults(self):
        cmd = KubectlSource("app=rhesis-worker").command()
        assert cmd == ["kubectl", "logs", "-l", "app=rhesis-worker", "--all-containers",
                       "--prefix", "--timestamps"]

    def test_every_option(self):
        cmd = KubectlSource("app=w,tier=celery", namespace="rhesis", context="prod",
                            since=timedelta(hours=1, minutes=30), previous=True,
                            container="worker").command()
        assert cmd == ["kubectl", "--context", "prod", "logs", "-l", "app=w,tier=celery",
                       "--namespace", "rhesis", "-c", "worker", "--prefix", "--timestamps",
                       "--since=5400s", "--previous"]

    def test_since_as_text_or_time_and_follow(self):
        assert "--since=15m" in KubectlSource("a=b", since="15m").command()
        t = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        assert "--since-time=2026-11-28T12:00:00Z" in KubectlSource("a=b", since=t).command()
        cmd = KubectlSource("a=b", follow=True, max_log_requests=30).command()
        assert cmd[-2:] == ["--follow", "--max-log-requests=30"]

    def test_empty_selector_is_refused(self):
        with pytest.raises(SourceError, match="label selector"):
            KubectlSource("")


class TestStream:
    """What comes out of a (fake) kubectl run."""

    def test_replayed_stream_reads_like_the_file(self, kubectl):
        source = KubectlSource("app=rhesis-worker", namespace="rhesis", since="1h")
        via_kubectl = ingest.read_sources(source)
        direct = ingest.read_records([(FIXTURES / "kubectl_prefix.log").read_bytes()])
        assert via_kubectl.lines_read == direct.lines_read > 100
        assert set(via_kubectl.frame[s.SOURCE]) == {"kubectl"}
        cols = [s.TIME, s.EVENT, s.TASK_ID, s.POD, s.TRACEBACK]
        assert via_kubectl.frame[cols].equals(direct.frame[cols])
        calls = kubectl()
        assert calls[0] == ["config", "current-context"]
        assert calls[1] == source.command()[1:]

    def test_context_given_skips_the_context_check(self, kubectl):
        list(KubectlSource("app=w", context="prod").chunks())
        assert [c[:2] for c in kubectl()] == [["--context", "prod"]]

    def test_no_current_context(self, kubectl, monkeypatch):
        monkeypatch.setenv("FAKE_KUBECTL_CONTEXT", "")
        with pytest.raises(SourceError) as err:
            ingest.read_sources(KubectlSource("app=w"))
        assert str(err.value) == "kubectl has no current context: pass --context or --source file"
        assert not any("logs" in c for c in kubectl())

    def test_kubectl_failure_is_explained(self, kubectl, monkeypatch):
        monkeypatch.setenv("FAKE_KUBECTL_REPLAY", "")
        monkeypatch.setenv("FAKE_KUBECTL_EXIT", "1")
        monkeypatch.setenv("FAKE_KUBECTL_STDERR", 'Error from server (Forbidden): pods is '
                           'forbidden: User "x" cannot list resource "pods"\n')
        with pytest.raises(SourceError, match=r"not allowed to read these logs.*Forbidden"):
            ingest.read_sources(KubectlSource("app=w", namespace="rhesis"))

    def test_no_pods_match(self, kubectl, monkeypatch):
        monkeypatch.setenv("FAKE_KUBECTL_REPLAY", "")
        monkeypatch.setenv("FAKE_KUBECTL_STDERR", "No resources found in rhesis namespace.\n")
        with pytest.raises(SourceError, match="no pods match -l app=w in namespace 'rhesis'"):
            ingest.read_sources(KubectlSource("app=w", namespace="rhesis"))

    def test_kubectl_missing(self, monkeypatch, tmp_path):
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(SourceError, match="kubectl not found on PATH"):
            ingest.read_sources(KubectlSource("app=w"))

    def test_follow_streams_records_line_by_line(self, kubectl):
        source = KubectlSource("app=w", context="prod", follow=True)
        parser = ingest.StreamParser(source="kubectl")
        records = []
        pending = b""
        for block in source.chunks():
            pending += block
            *complete, pending = pending.split(b"\n")
            for line in complete:
                records += parser.feed(line)
        records += parser.flush()
        batch = ingest.read_records([(FIXTURES / "kubectl_prefix.log").read_bytes()]).frame
        assert len(records) == len(batch)
        assert sorted(r[s.LINE_NO] for r in records) == batch[s.LINE_NO].tolist()
        assert "--follow" in kubectl()[0]

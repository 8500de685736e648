"""Each input format, read from samples recorded from real Celery workers (tests/fixtures)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

from analyzers import frame, ingest
from analyzers.report import lost_workers
from analyzers.sources.files import open_sources
from instrumentation import schema as s

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
E = s.Event


#: What a worker writes that is not a log record (unparsed, and shown): Python's warning
#: about running as root (its message spans lines) and Celery's "Warm shutdown" written
#: with os.write. Nothing else of these logs may be unparsed.
NOT_RECORDS = ("SecurityWarning", "absolutely not recommended", "Please specify a different",
               "User information:", "_warn_or_raise_security_error", "worker: Warm shutdown")


def only_non_records(raws: Iterable[object]) -> bool:
    return all(any(m in str(raw) for m in NOT_RECORDS) for raw in raws)


def read(name: str) -> ingest.IngestResult:
    result = ingest.read_sources(open_sources([FIXTURES / name]))
    frame.check_frame(result.frame)
    assert result.lines_parsed + len(result.unparsed) == result.lines_read
    return result


def ids(df: pd.DataFrame, event: str) -> set[str]:
    return set(df.loc[df[s.EVENT] == event, s.TASK_ID].dropna())


class TestOurJsonLines:
    """worker.jsonl: the instrumented worker's own lines."""

    def test_every_line_is_a_record_with_its_events(self):
        r = read("worker.jsonl")
        text = (FIXTURES / "worker.jsonl").read_text()
        assert r.lines_read == sum(1 for line in text.split("\n") if line.strip())
        assert only_non_records(r.unparsed[s.RAW])
        exp = EXPECTED["json"]
        assert set(exp["succeeded"]) <= ids(r.frame, E.TASK_SUCCEEDED)
        assert set(exp["failed"]) <= ids(r.frame, E.TASK_FAILED)
        assert exp["time_limit"][0] in ids(r.frame, E.TIME_LIMIT_EXCEEDED)
        assert exp["worker_lost"][0] in ids(r.frame, E.WORKER_LOST)

    def test_fields_are_typed_and_tenants_kept(self):
        df = read("worker.jsonl").frame
        assert str(df[s.TIME].dt.tz) == "UTC"
        assert df.loc[df[s.FORMAT] == frame.FORMAT_JSON, s.TIME].notna().all()
        ok = df[df[s.EVENT] == E.TASK_SUCCEEDED]
        assert (ok[s.DURATION_MS] >= 0).all()
        assert set(df[s.ORGANIZATION_ID].dropna()) == {"org-acme", "org-globex"}
        assert df[s.SERVICE].dropna().eq("tapp").all()  # read from logging.googleapis.com/labels
        failed = df[(df[s.EVENT] == E.TASK_FAILED) & df[s.TASK_ID].isin(EXPECTED["json"]["failed"])]
        assert failed[s.EXCEPTION_TYPE].eq("ValueError").all()
        assert failed[s.TRACEBACK].str.startswith("Traceback").all()
        assert (df[s.FORMAT] == frame.FORMAT_JSON).sum() >= len(df) - 1
        assert df[s.LINE_NO].is_monotonic_increasing


class TestCeleryText:
    """celery_plain.log: a worker without instrumentation, Celery's default format."""

    def test_events_match_what_happened(self):
        r = read("celery_plain.log")
        exp = EXPECTED["plain"]
        df = r.frame
        assert ids(df, E.TASK_SUCCEEDED) == set(exp["succeeded"]) | _chord_ids(df)
        assert ids(df, E.TASK_FAILED) == set(exp["failed"])
        assert ids(df, E.TIME_LIMIT_EXCEEDED) == set(exp["time_limit"])
        # billiard's "Process ... exited" lines and Celery's WorkerLostError line are read;
        # the report makes one loss of them (the SIGKILL after the hard time limit is its).
        assert (df[s.EVENT] == E.WORKER_LOST).sum() == 3
        lost = lost_workers(df)
        assert lost.loc[lost["kind"] == "worker_lost", "count"].tolist() == [1]
        assert lost.loc[lost["kind"] == "time_limit", "count"].tolist() == [1]
        assert (df[s.EVENT] == E.TASK_RETRIED).sum() == 1

    def test_failure_carries_its_traceback_and_exception(self):
        df = read("celery_plain.log").frame
        failed = df[df[s.EVENT] == E.TASK_FAILED]
        assert failed[s.EXCEPTION_TYPE].eq("ValueError").all()
        assert failed[s.EXCEPTION_MESSAGE].eq("member 9 failed on purpose").all()
        for tb in failed[s.TRACEBACK]:
            assert tb.startswith("Traceback (most recent call last):")
            assert tb.rstrip().endswith("ValueError: member 9 failed on purpose")
        assert failed[s.SEVERITY].eq("ERROR").all()

    def test_retry_and_success_fields(self):
        df = read("celery_plain.log").frame
        retry = df[df[s.EVENT] == E.TASK_RETRIED].iloc[0]
        assert retry[s.RETRY_IN_S] == pytest.approx(0.2)
        assert retry[s.EXCEPTION_TYPE] == "ConnectionError"
        assert "transient error" in retry[s.EXCEPTION_MESSAGE]
        ok = df[df[s.EVENT] == E.TASK_SUCCEEDED]
        assert ok[s.DURATION_MS].between(0, 5000).all()
        assert ok[s.TASK_NAME].str.startswith("plain.").all()

    def test_all_lines_accounted_for(self):
        r = read("celery_plain.log")
        assert only_non_records(r.unparsed[s.RAW])
        assert r.lines_read == sum(1 for x in (FIXTURES / "celery_plain.log").read_text()
                                   .splitlines() if x)


def _chord_ids(df: pd.DataFrame) -> set[str]:
    """Chord members and callback: succeeded too, ids not listed in expected.json."""
    return {t for t in ids(df, E.TASK_SUCCEEDED) if df.loc[df[s.TASK_ID] == t, s.TASK_NAME]
            .iloc[0] in ("plain.member", "plain.collect")}


class TestKubectl:
    """kubectl --prefix --timestamps output of three pods."""

    def test_three_pods_events_and_times(self):
        r = read("kubectl_prefix.log")
        df = r.frame
        assert only_non_records(r.unparsed[s.RAW])
        assert set(df[s.POD]) == {"rhesis-worker-7d9f8-abcde", "rhesis-worker-7d9f8-fghij",
                                  "rhesis-worker-7d9f8-klmno"}
        assert df[s.CONTAINER].eq("worker").all()
        exp = EXPECTED["kubectl"]
        assert set(exp["failed"]) == ids(df, E.TASK_FAILED)
        assert set(exp["succeeded"]) <= ids(df, E.TASK_SUCCEEDED)
        # kubectl's nanosecond stamp (cut to microseconds) wins over Celery's millisecond one.
        assert (df[s.TIME].dt.microsecond % 1000 != 0).any()

    def test_interleaved_tracebacks_stay_with_their_pod(self):
        df = read("kubectl_interleaved.log").frame
        failed = df[df[s.EVENT] == E.TASK_FAILED].set_index(s.POD)
        assert len(failed) == 2
        a = failed.loc["rhesis-worker-7d9f8-abcde"]
        b = failed.loc["rhesis-worker-7d9f8-fghij"]
        assert a[s.TRACEBACK].endswith("ValueError: member 9 failed on purpose")
        assert b[s.TRACEBACK].endswith("ValueError: member 8 failed on purpose")
        assert "member 8" not in a[s.TRACEBACK] and "member 9" not in b[s.TRACEBACK]
        assert a[s.TRACEBACK].count("\n") == b[s.TRACEBACK].count("\n") == 9
        third = df[df[s.POD] == "rhesis-worker-7d9f8-klmno"]
        assert third[s.EVENT].tolist() == [E.TASK_RECEIVED]
        assert third[s.TRACEBACK].isna().all()

    def test_prefix_only_and_timestamps_only(self):
        text = (FIXTURES / "kubectl_interleaved.log").read_text().splitlines()
        prefix_only = "\n".join(x.split(" ", 2)[0] + " " + x.split(" ", 2)[2] for x in text)
        df = ingest.read_records([prefix_only]).frame
        assert (df[s.EVENT] == E.TASK_FAILED).sum() == 2
        assert df[s.POD].notna().all()
        stamps_only = "\n".join(x.split(" ", 1)[1] for x in text[:11])
        df = ingest.read_records([stamps_only]).frame
        assert df[s.POD].isna().all() and df[s.TIME].notna().all()


class TestCloudLogging:
    """gcloud logging read --format=json (array) and NDJSON exports of the same entries."""

    def test_array_and_ndjson_agree(self):
        a = read("gcloud_read.json")
        b = read("entries.ndjson")
        assert a.lines_read == b.lines_read == len((FIXTURES / "entries.ndjson").read_text()
                                                  .splitlines())
        key = [s.TIME, s.EVENT, s.TASK_ID]
        fa = a.frame.sort_values(key, ignore_index=True)[key]
        fb = b.frame.sort_values(key, ignore_index=True)[key]
        pd.testing.assert_frame_equal(fa, fb)

    def test_json_payload_and_resource_labels(self):
        df = read("entries.ndjson").frame
        js = df[df[s.FORMAT] == frame.FORMAT_CLOUD_LOGGING]
        assert set(EXPECTED["json"]["failed"]) <= ids(js, E.TASK_FAILED)
        assert js[s.POD].eq("rhesis-worker-json-0").all()
        assert js[s.NAMESPACE].eq("rhesis").all()
        # severity and time were promoted onto the entry by the agent: put back.
        assert js[s.SEVERITY].notna().all() and js[s.TIME].notna().all()
        assert js[s.SERVICE].dropna().eq("tapp").all()

    def test_stderr_text_lines_do_not_inherit_error_severity(self):
        df = read("entries.ndjson").frame
        text = df[df[s.POD] == "rhesis-worker-plain-0"]
        assert set(EXPECTED["plain"]["failed"]) == ids(text, E.TASK_FAILED)
        received = text[text[s.EVENT] == E.TASK_RECEIVED]
        assert len(received) and received[s.SEVERITY].eq("INFO").all()
        failed = text[text[s.EVENT] == E.TASK_FAILED]
        assert failed[s.TRACEBACK].str.endswith("failed on purpose").all()


class TestOtherJsonLoggers:
    """JSON lines from loggers that are not ours get the schema's names."""

    def test_aliases(self):
        lines = [
            {"levelname": "WARNING", "msg": "disk almost full",
             "asctime": "2026-11-28 11:50:32,160", "name": "app.disk", "process": 42},
            {"level": "error", "message": "boom", "timestamp": "2026-11-28T11:50:33.5+01:00",
             "exc_info": "Traceback (most recent call last):\nKeyError: 'x'"},
            {"event": "user logged in", "level": "info", "timestamp": 1764330633.25},
            {"severity": "WARN", "msg": "x", "time": "2026-11-28T11:50:34Z"},
        ]
        r = ingest.read_records(["\n".join(json.dumps(x) for x in lines)])
        df = r.frame
        assert df[s.SEVERITY].tolist() == ["WARNING", "ERROR", "INFO", "WARNING"]
        assert df[s.MESSAGE].tolist() == ["disk almost full", "boom", "user logged in", "x"]
        assert df[s.EVENT].eq(E.LOG).all()
        assert df[s.LOGGER].iloc[0] == "app.disk" and df[s.PID].iloc[0] == 42
        assert df[s.TRACEBACK].iloc[1].endswith("KeyError: 'x'")
        times = df[s.TIME].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").tolist()
        assert times == ["2026-11-28T11:50:32.160000", "2026-11-28T10:50:33.500000",
                         "2025-11-28T11:50:33.250000", "2026-11-28T11:50:34.000000"]

    def test_wrong_types_do_not_lose_the_line(self):
        line = json.dumps({"event": "task_succeeded", "task_id": 123, "pid": "7",
                           "duration_ms": "12.5", "retries": None, "message": {"nested": [1]}})
        df = ingest.read_records([line]).frame
        assert df[s.EVENT].iloc[0] == E.TASK_SUCCEEDED
        assert df[s.TASK_ID].iloc[0] == "123"
        assert df[s.PID].iloc[0] == 7
        assert df[s.DURATION_MS].iloc[0] == 12.5
        assert json.loads(df[s.MESSAGE].iloc[0]) == {"nested": [1]}


class TestBadInput:
    """Garbage is counted and kept with its position; it never raises."""

    def test_junk_lines_are_unparsed_with_position(self):
        good = (FIXTURES / "worker.jsonl").read_text().splitlines()[:5]
        junk = [b"\x00\x01\x02\x03 binary", b'{"event": "task_failed", "task_id": "x"',
                b"\xff\xfe not utf-8", b"{" + b"a" * 1_000_000]
        data = b"\n".join([good[0].encode(), *junk, *(g.encode() for g in good[1:])])
        r = ingest.read_records([data], source="mixed.log")
        assert r.lines_read == 9 and r.lines_parsed == 5
        un = r.unparsed
        assert un[s.LINE_NO].tolist() == [2, 3, 4, 5]
        assert un[s.REASON].tolist() == ["binary data", "invalid JSON", "invalid UTF-8",
                                         "invalid JSON"]
        assert un[s.SOURCE].eq("mixed.log").all()
        assert un[s.RAW].str.len().max() < frame.RAW_LIMIT + 100
        assert r.frame[s.LINE_NO].tolist() == [1, 6, 7, 8, 9]

    def test_bad_line_in_a_pure_json_file(self):
        lines = [json.dumps({"event": "task_received", "task_id": str(i)}) for i in range(200)]
        lines[150] = lines[150][:20]
        r = ingest.read_records(["\n".join(lines)])
        assert len(r.frame) == 199 and r.unparsed[s.LINE_NO].tolist() == [151]
        assert "150" not in set(r.frame[s.TASK_ID])

    def test_empty_and_blank_input(self):
        for data in ([], [b""], [b"\n\n\r\n"]):
            r = ingest.read_records(data)
            assert r.lines_read == 0 and len(r.frame) == 0
            frame.check_frame(r.frame)

    def test_truncated_gcloud_array_keeps_the_entries_before(self):
        text = (FIXTURES / "gcloud_read.json").read_text()
        cut = text[: len(text) // 2]
        r = ingest.read_records([cut], source="cut.json")
        assert len(r.frame) > 10
        reasons = r.unparsed[s.REASON]
        assert (reasons == "invalid JSON array").sum() == 1
        assert only_non_records(r.unparsed.loc[reasons != "invalid JSON array", s.RAW])


class TestSources:
    """Several sources read together keep their names and their own line numbers."""

    def test_read_sources_mixes_formats(self, tmp_path):
        gz = tmp_path / "plain.log.gz"
        gz.write_bytes(gzip.compress((FIXTURES / "celery_plain.log").read_bytes()))
        r = ingest.read_sources(open_sources([FIXTURES / "worker.jsonl", gz]))
        assert set(r.frame[s.SOURCE]) == {str(FIXTURES / "worker.jsonl"), str(gz)}
        assert set(r.frame[s.FORMAT]) >= {frame.FORMAT_JSON, frame.FORMAT_CELERY_TEXT}
        per_source = r.frame.groupby(s.SOURCE)[s.LINE_NO].min()
        assert (per_source == 1).all() or per_source.min() == 1

    def test_read_entries_from_api_dicts(self):
        entries = [json.loads(x) for x in (FIXTURES / "entries.ndjson").read_text().splitlines()]
        r = ingest.read_entries(entries)
        assert r.lines_read == len(entries)
        assert set(EXPECTED["plain"]["failed"]) <= ids(r.frame, E.TASK_FAILED)


class TestBatches:
    """Large JSON sources are read in batches; the result does not depend on where they cut."""

    def lines(self) -> list[bytes]:
        return [line.encode() for line in (FIXTURES / "worker.jsonl").read_text().split("\n")
                if line.startswith("{")] * 20

    def test_batches_read_like_one_buffer(self):
        data = b"\n".join(self.lines())
        data = data.replace(b'"event":"task_started"', b'"event":"task_started', 1)  # cut JSON
        whole = ingest.read_records([data], batch_bytes=1 << 30)
        small = ingest.read_records([data[i : i + 5000] for i in range(0, len(data), 5000)],
                                    batch_bytes=32768)
        assert small.lines_read == whole.lines_read == len(self.lines())
        cols = [s.LINE_NO, s.EVENT, s.TASK_ID, s.TIME]
        assert small.frame[cols].equals(whole.frame[cols])
        assert small.unparsed.equals(whole.unparsed) and len(small.unparsed) == 1

    def test_text_after_some_batches_is_still_stitched(self):
        plain = (FIXTURES / "celery_plain.log").read_bytes()
        data = b"\n".join(self.lines()) + b"\n" + plain
        r = ingest.read_records([data], batch_bytes=32768)
        failed = r.frame[(r.frame[s.EVENT] == E.TASK_FAILED)
                         & (r.frame[s.FORMAT] == frame.FORMAT_CELERY_TEXT)]
        assert len(failed) == 2 and failed[s.TRACEBACK].notna().all()
        assert r.lines_read == len(self.lines()) + sum(1 for x in plain.split(b"\n") if x)
        assert r.frame[s.LINE_NO].is_monotonic_increasing

    def test_kubectl_batches_keep_tracebacks_whole(self):
        """Cut anywhere, open records are carried to the next batch: same records as whole."""
        data = (FIXTURES / "kubectl_interleaved.log").read_bytes() * 40
        data += (FIXTURES / "kubectl_prefix.log").read_bytes() * 10
        whole = ingest.read_records([data], batch_bytes=1 << 30)
        for size in (3000, 7777, 50_000):
            small = ingest.read_records([data], batch_bytes=size)
            assert small.lines_read == whole.lines_read
            cols = [s.LINE_NO, s.EVENT, s.POD, s.TASK_ID, s.TRACEBACK, s.MESSAGE]
            assert small.frame[cols].equals(whole.frame[cols]), size

    def test_bad_lines_in_several_parallel_chunks(self):
        """A malformed line only costs its own chunk a slower pass; positions stay exact."""
        lines = [json.dumps({"event": "task_received", "task_id": f"t{i}"}) for i in range(30_000)]
        for i in (5, 12_345, 29_999):
            lines[i] = lines[i][:-2]
        r = ingest.read_records(["\n".join(lines)])
        assert r.unparsed[s.LINE_NO].tolist() == [6, 12_346, 30_000]
        assert len(r.frame) == 29_997
        assert r.frame[s.TASK_ID].iloc[12_344] == "t12346"  # rows after a bad one shift by one
        assert r.frame[s.LINE_NO].iloc[12_344] == 12_347


def test_follow_agrees_with_batch_on_a_real_log_with_blank_lines():
    """parse --follow gives the same records, line numbers included (blank lines count)."""
    data = (FIXTURES / "celery_plain.log").read_bytes()
    assert b"\n\n" in data
    parser = ingest.StreamParser()
    streamed = [r for line in data.split(b"\n") for r in parser.feed(line)] + parser.flush()
    whole = ingest.read_records([data]).frame
    assert sorted(r[s.LINE_NO] for r in streamed) == whole[s.LINE_NO].tolist()
    by_line = {r[s.LINE_NO]: r for r in streamed}
    for row in whole.itertuples():
        got = by_line[row.line_no]
        assert (got[s.EVENT], got[s.TASK_ID], got[s.TRACEBACK]) == (
            row.event, None if pd.isna(row.task_id) else row.task_id,
            None if pd.isna(row.traceback) else row.traceback)

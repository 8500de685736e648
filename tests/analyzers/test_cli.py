"""``rhesis-logs`` through click's CliRunner on fixture files: output, counts, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from analyzers.cli import all_commands, main
from instrumentation import schema as s
from instrumentation.exit_status import ExitStatus

FIXTURES = Path(__file__).parent / "report" / "fixtures"
SMALL = str(FIXTURES / "worker_small.jsonl")
HEALTHY = str(FIXTURES / "healthy.jsonl")


def fixture_records(path: str) -> list[dict]:
    """The fixture's JSON lines, read with the json module (independently of the analyzer)."""
    out = []
    for text in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return out


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


class TestHelp:
    """Every command has help text with an example."""

    def test_every_command_documents_itself(self) -> None:
        commands = dict(all_commands(main))
        assert {"parse", "analyze", "chord", "task"} <= set(commands)
        for name, command in commands.items():
            assert command.help and command.help.strip(), f"{name} has no help"
            if not isinstance(command, click.Group):
                assert "Example" in command.help, f"{name} help has no example"
            result = invoke(*name.split(), "--help")
            assert result.exit_code == 0
            assert "Usage:" in result.output

    def test_main_help_lists_commands(self) -> None:
        out = invoke("--help").output
        for name in ("analyze", "parse", "chord", "task", "queries"):
            assert name in out
        assert "queries show" in dict(all_commands(main))  # the lazy group is walked too


class TestConsoleScript:
    """The installed ``rhesis-logs`` (``cli.entry``) ends with os._exit: the exit code and
    every byte of output must survive that."""

    SCRIPT = str(Path(sys.executable).with_name("rhesis-logs"))

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([self.SCRIPT, *args], capture_output=True, timeout=120,
                              check=False)

    def test_output_complete_and_exit_codes_kept(self, tmp_path: Path) -> None:
        done = self.run("analyze", "--format", "json", SMALL)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)  # the whole document arrived
        assert report["tasks"]["received"] > 0
        assert self.run("analyze", SMALL, "--fail-on", "failures").returncode == 1
        missing = self.run("analyze", str(tmp_path / "nope.jsonl"))
        assert missing.returncode == 2
        assert b"no such file" in missing.stderr

    def test_ctrl_c_exits_interrupted(self, tmp_path: Path) -> None:
        """Ctrl-C while reading: ExitStatus.INTERRUPTED (130), not 1 (a finding)."""
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        proc = subprocess.Popen([self.SCRIPT, "analyze", str(fifo)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            # Opening the write end returns once the command has opened the read end: it is
            # past start-up and waiting for input.
            with open(fifo, "wb") as writer:
                writer.write(Path(SMALL).read_bytes()[:500])
                writer.flush()
                proc.send_signal(signal.SIGINT)
            # The writer closes too, as the rest of a pipeline does on Ctrl-C.
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == ExitStatus.INTERRUPTED == 130, err
        assert b"Traceback" not in err

    def test_a_closed_pipe_is_not_an_error(self) -> None:
        script = f"{self.SCRIPT} parse {SMALL} | head -n 1"
        done = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True,
                              timeout=120, check=False)
        assert done.stdout.count(b"\n") == 1
        assert b"Traceback" not in done.stderr


class TestAnalyze:
    """The report over a fixture: counts equal the fixture's, findings named."""

    def test_json_counts_equal_the_fixture(self) -> None:
        result = invoke("analyze", SMALL, "--format", "json")  # the hidden alias of -o
        assert result.exit_code == 0, result.output
        doc = json.loads(result.output)
        records = fixture_records(SMALL)
        events = Counter(r[s.EVENT] for r in records)
        total_lines = len(Path(SMALL).read_text().splitlines())
        assert doc["lines"]["read"] == total_lines
        assert doc["lines"]["unparsed"] == total_lines - len(records) == 1
        for key, event in (("received", s.Event.TASK_RECEIVED),
                           ("succeeded", s.Event.TASK_SUCCEEDED),
                           ("failed", s.Event.TASK_FAILED), ("retried", s.Event.TASK_RETRIED)):
            assert doc["tasks"][key] == events[event], key
        failed = Counter((r[s.TASK_NAME], r[s.EXCEPTION_TYPE]) for r in records
                         if r[s.EVENT] == s.Event.TASK_FAILED)
        assert {(f["task_name"], f["exception_type"]): f["count"]
                for f in doc["failures"]} == dict(failed)
        assert [c[s.CHORD_ID] for c in doc["stuck_chords"]] == ["chord-stuck"]
        assert doc["stuck_chords"][0][s.ORGANIZATION_ID] == "org-b"
        assert doc["stuck_chords"][0][s.CHORD_CALLBACK_NAME] == "tasks.collect"
        assert [d[s.TASK_ID] for d in doc["duplicates"]] == ["dup-1"]
        # storm-1 retried 8 times (others once); tasks.flaky's 12 retries all fell in one of
        # the hour's 5-minute buckets.
        assert {(r["scope"], r["key"]) for r in doc["retry_storms"]} == {
            ("task_id", "storm-1"), ("task_name", "tasks.flaky")}
        assert {r[s.TASK_NAME] for r in doc["slow_tasks"]} == {
            r[s.TASK_NAME] for r in records if r[s.EVENT] == s.Event.TASK_SUCCEEDED}
        assert [w["kind"] for w in doc["lost_workers"]] == ["worker_lost"]

    def test_text_report(self) -> None:
        out = invoke("analyze", SMALL).output
        for needle in ("rhesis-logs report", "chord-stuck", "tasks.collect", "storm-1",
                       "TimeoutError", "failures, stuck, retry-storm"):
            assert needle in out

    def test_stdin(self) -> None:
        result = invoke("analyze", "--format", "json", input=Path(HEALTHY).read_text())
        assert result.exit_code == 0
        assert json.loads(result.output)["tasks"]["succeeded"] == 4

    @pytest.mark.parametrize(
        ("args", "failed"),
        [(["--tenant", "org-b"], 1), (["--tenant", "org-a"], 1), (["--task", "tasks.add"], 0),
         (["--task", "tasks.f*"], 2), (["--until", "2026-11-28T10:00:10.5Z"], 1),
         (["--since", "2026-11-28T10:00:10.5Z"], 1)],
    )
    def test_filters(self, args, failed) -> None:
        doc = json.loads(invoke("analyze", SMALL, "-o", "json", *args).output)
        assert doc["tasks"]["failed"] == failed

    def test_an_empty_window_says_what_the_logs_cover(self) -> None:
        result = invoke("analyze", SMALL, "--since", "2030-01-01T00:00:00Z", "-o", "json")
        assert result.exit_code == 0
        assert json.loads(result.stdout)["tasks"]["received"] == 0
        assert "the logs read span 2026-11-28 10:00:00" in result.stderr

    @pytest.mark.parametrize(
        ("path", "fail_on", "code"),
        [(SMALL, [], 0),
         (SMALL, ["stuck"], 1),
         (SMALL, ["failures"], 1),
         (SMALL, ["retry-storm"], 1),
         (HEALTHY, ["failures", "stuck", "retry-storm"], 0)],
    )
    def test_fail_on_exit_codes(self, path, fail_on, code) -> None:
        args = ["analyze", path, "-o", "json"]
        for condition in fail_on:
            args += ["--fail-on", condition]
        result = invoke(*args)
        assert result.exit_code == code
        json.loads(result.stdout)  # the report is written either way
        if code:
            assert "--fail-on condition(s) hold" in result.stderr

    def test_stuck_after_decides(self) -> None:
        # The stuck chord's last line is ~61 minutes before the end of the log.
        for value, code in (("2h", 0), ("30m", 1)):
            result = invoke("analyze", SMALL, "--stuck-after", value, "--fail-on", "stuck",
                            "-o", "json")
            assert result.exit_code == code, value

    @pytest.mark.parametrize("fmt", ["html", "markdown", "json", "text"])
    def test_output_file(self, tmp_path, fmt) -> None:
        target = tmp_path / f"report.{fmt}"
        result = invoke("analyze", SMALL, "-o", fmt, "--out-file", str(target))
        assert result.exit_code == 0
        assert result.output == ""
        body = target.read_text()
        assert "chord-stuck" in body
        if fmt == "html":
            assert body.count("<html") == 1 and "<svg" in body

    @pytest.mark.parametrize(
        ("args", "message"),
        [(["analyze", SMALL, "--since", "soonish"], "15m"),
         (["analyze", SMALL, "--stuck-after", "forever"], "e.g."),
         (["analyze", SMALL, "--since", "1h", "--until", "2h"], "before --until"),
         (["analyze", SMALL, "--fail-on", "everything"], "everything"),
         (["analyze", SMALL, "-o", "pdf"], "pdf"),
         (["analyze", SMALL, "--format", "pdf"], "pdf"),
         (["analyze", "no/such/file.log"], "no such file"),
         (["analyze", "--source", "cloud-logging"], "--project"),
         (["analyze", SMALL, "--out-file", "/nonexistent-dir/report.json"], "cannot write"),
         (["analyze", "--source", "kubectl", "-l", "app=w", SMALL], "reads no FILEs")],
    )
    def test_usage_and_source_errors_exit_2(self, args, message) -> None:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert message in result.output


class TestTimelines:
    """chord and task commands."""

    def test_chord_by_id_and_by_callback(self) -> None:
        for ident in ("chord-stuck", "cb-stuck"):
            result = invoke("chord", ident, SMALL, "-o", "json")
            assert result.exit_code == 0
            records = json.loads(result.output)["records"]
            members = {r[s.TASK_ID] for r in records if r["role"] == "member"}
            assert members == {"st-m0", "st-m1", "st-m2"}
            assert "worker_lost" in {r[s.EVENT] for r in records}

    def test_task_text(self) -> None:
        result = invoke("task", "retry-1", SMALL)
        assert result.exit_code == 0
        lines = [ln for ln in result.output.splitlines() if "retry-1" in ln and "task_" in ln]
        assert [ln.split()[2] for ln in lines] == [
            "task_received", "task_started", "task_retried",
            "task_received", "task_started", "task_succeeded"]

    @pytest.mark.parametrize("command", ["chord", "task"])
    def test_unknown_id_exits_1_and_says_what_to_do(self, command) -> None:
        result = invoke(command, "nope", SMALL)
        assert result.exit_code == 1
        assert "--since" in result.stderr


class TestParse:
    """Normalized records out as JSON lines, CSV or a table; --follow streams stdin."""

    def test_jsonl(self) -> None:
        result = invoke("parse", SMALL)
        assert result.exit_code == 0
        rows = [json.loads(x) for x in result.stdout.splitlines()]
        records = fixture_records(SMALL)
        assert [r[s.EVENT] for r in rows] == [r[s.EVENT] for r in records]
        assert "1 of 102 lines could not be read" in result.stderr  # the binary junk line
        assert rows[0][s.TIME] == "2026-11-28T10:00:00.000000Z"

    def test_csv(self) -> None:
        out = invoke("parse", HEALTHY, "-o", "csv").stdout
        rows = list(csv.DictReader(io.StringIO(out)))
        assert len(rows) == 12
        assert rows[0][s.EVENT] == "task_received"

    def test_table(self) -> None:
        out = invoke("parse", HEALTHY, "-o", "table").stdout
        assert "12 records" in out and "task_succeeded" in out

    @pytest.mark.parametrize("fmt", ["jsonl", "csv", "table"])
    def test_follow_stdin(self, fmt) -> None:
        result = invoke("parse", "-f", "-o", fmt, input=Path(HEALTHY).read_text())
        assert result.exit_code == 0
        assert result.stdout.count("task_succeeded") == 4
        assert "2026-11-28T10:00:00.000000Z" in result.stdout


REAL = Path(__file__).resolve().parents[1] / "fixtures"  # recorded from real workers


class TestRealWorkerLogs:
    """On logs recorded from real workers, the report names what really happened."""

    @pytest.mark.parametrize(
        ("name", "truth"),
        [("worker.jsonl", "json"), ("celery_plain.log", "plain"),
         ("kubectl_prefix.log", "kubectl")],
    )
    def test_counts_equal_what_happened(self, name: str, truth: str) -> None:
        expected = json.loads((REAL / "expected.json").read_text())[truth]
        result = invoke("analyze", str(REAL / name), "-o", "json")
        assert result.exit_code == 0
        doc = json.loads(result.stdout)
        # Only what is not a log record (Python's root warning, "Warm shutdown") is unparsed.
        assert all("Warning" in u["raw"] or "Warm shutdown" in u["raw"] or "--uid" in u["raw"]
                   or "recommended" in u["raw"] or "uid=0" in u["raw"]
                   or "_warn_or_raise" in u["raw"] for u in doc["unparsed"]["examples"])
        value_errors = [f for f in doc["failures"] if f["exception_type"].endswith("ValueError")]
        assert sum(f["count"] for f in value_errors) == len(expected["failed"])
        lost = {w["kind"]: w for w in doc["lost_workers"]}
        assert lost["time_limit"]["count"] == len(expected["time_limit"]) == 1
        assert lost["time_limit"]["example_task_id"] == expected["time_limit"][0]
        assert lost["worker_lost"]["count"] == len(expected["worker_lost"]) == 1
        assert doc["tasks"]["retried"] == 1  # the chord member that retried once
        assert doc["duplicates"] == []

    def test_our_json_lines_chord_and_failures(self) -> None:
        expected = json.loads((REAL / "expected.json").read_text())["json"]
        doc = json.loads(invoke("analyze", str(REAL / "worker.jsonl"), "-o", "json").stdout)
        # 2 ValueErrors + a time limit + a lost worker; the time limit is logged twice.
        assert doc["tasks"]["failed"] == 4
        assert lost_ids(doc) == {expected["time_limit"][0], expected["worker_lost"][0]}
        (chord,) = doc["chords"]
        assert chord["chord_state"] == "completed"
        assert chord["chord_callback_id"] == expected["chord"][0]
        assert (chord["members_published"], chord["members_finished"]) == (3, 3)
        assert doc["tasks"]["tenants"] == 2


def lost_ids(doc: dict) -> set[str]:
    return {w["example_task_id"] for w in doc["lost_workers"]}


BIN = Path(__file__).resolve().parents[1] / "support" / "bin"  # the fake kubectl


class TestRemoteSources:
    """analyze over kubectl (a fake one on PATH replaying a recorded stream) and Cloud Logging
    (a local server speaking the v2 REST API)."""

    @pytest.fixture
    def kubectl(self, tmp_path, monkeypatch):
        argv_log = tmp_path / "argv.jsonl"
        monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_KUBECTL_ARGV", str(argv_log))
        monkeypatch.setenv("FAKE_KUBECTL_CONTEXT", "gke_rhesis_prod")
        monkeypatch.setenv("FAKE_KUBECTL_REPLAY", str(REAL / "kubectl_prefix.log"))
        return lambda: [json.loads(x) for x in argv_log.read_text().splitlines()]

    def test_kubectl(self, kubectl) -> None:
        result = invoke("analyze", "--source", "kubectl", "-l", "app=worker", "-n", "rhesis",
                        "--since", "2026-11-28T00:00:00Z", "-o", "json")
        assert result.exit_code == 0, result.output
        from_file = json.loads(invoke("analyze", str(REAL / "kubectl_prefix.log"), "-o",
                                      "json").stdout)
        doc = json.loads(result.stdout)
        assert doc["tasks"] == from_file["tasks"]
        logs_call = next(argv for argv in kubectl() if "logs" in argv)
        assert logs_call[:4] == ["logs", "-l", "app=worker", "--namespace"]
        assert "--prefix" in logs_call and "--timestamps" in logs_call
        assert "--since-time=2026-11-28T00:00:00Z" in logs_call

    def test_kubectl_without_context_exits_2(self, kubectl, monkeypatch) -> None:
        monkeypatch.setenv("FAKE_KUBECTL_CONTEXT", "")
        result = CliRunner().invoke(main, ["analyze", "--source", "kubectl", "-l", "app=w"])
        assert result.exit_code == 2
        assert "pass --context or --source file" in result.output

    def test_kubectl_needs_a_selector(self) -> None:
        result = CliRunner().invoke(main, ["analyze", "--source", "kubectl"])
        assert result.exit_code == 2
        assert "--selector" in result.output

    def test_cloud_logging(self) -> None:
        from tests.support.logging_server import LoggingServer

        entries = [json.loads(x) for x in (REAL / "entries.ndjson").read_text().splitlines()]
        with LoggingServer(entries) as server:
            result = invoke("analyze", "--source", "cloud-logging", "--project", "rhesis-test",
                            "--cluster", "prod", "-n", "rhesis",
                            "--since", "2026-11-28T00:00:00Z", "--until", "2026-11-29T00:00:00Z",
                            "--logging-endpoint", server.url, "-o", "json")
            requests = list(server.requests)
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        from_file = json.loads(invoke("analyze", str(REAL / "entries.ndjson"), "-o",
                                      "json").stdout)
        assert doc["tasks"] == from_file["tasks"]
        query = requests[0].body["filter"]
        assert 'resource.labels.cluster_name="prod"' in query
        assert 'resource.labels.namespace_name="rhesis"' in query
        assert 'timestamp>="2026-11-28T00:00:00.000000Z"' in query
        assert "authorization" not in {k.lower() for k in requests[0].headers}


def test_follow_a_growing_file(tmp_path) -> None:
    """`parse --follow FILE` prints records as lines are appended; a text record held back
    for its traceback comes out once the file has been quiet for a moment."""
    import subprocess
    import sys
    import threading

    from tests.support import REPO, wait_for

    log = tmp_path / "worker.log"
    log.write_text("[2026-11-28 11:50:32,160: INFO/MainProcess] Task tasks.add[a-1] received\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from analyzers.cli import main; main()", "parse", "--follow",
         str(log)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records: list[dict] = []
    reader = threading.Thread(
        target=lambda: records.extend(json.loads(line) for line in proc.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(records) == 1, timeout=20,
                 message=lambda: f"the first record (got {records}, stderr: {proc.poll()})")
        assert records[0][s.TASK_ID] == "a-1"
        with log.open("a") as f:
            f.write(json.dumps({s.TIME: "2026-11-28T11:50:33Z", s.EVENT: "task_succeeded",
                                s.TASK_ID: "b-2", s.MESSAGE: "done"}) + "\n")
        wait_for(lambda: len(records) == 2, timeout=20, message="the appended JSON record")
        assert records[1][s.EVENT] == "task_succeeded"
        assert records[1][s.TIME] == "2026-11-28T11:50:33.000000Z"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_follow_a_pipe_flushes_when_quiet() -> None:
    """`kubectl logs -f | rhesis-logs parse --follow`: a text record comes out while the pipe
    is still open, once no line has arrived for a moment."""
    import subprocess
    import sys
    import threading

    from tests.support import REPO, wait_for

    proc = subprocess.Popen(
        [sys.executable, "-c", "from analyzers.cli import main; main()", "parse", "--follow"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    records: list[dict] = []
    threading.Thread(target=lambda: records.extend(json.loads(x) for x in proc.stdout),
                     daemon=True).start()
    try:
        proc.stdin.write("[pod/w-0/worker] [2026-11-28 11:50:32,160: INFO/MainProcess] "
                         "Task tasks.add[a-1] received\n")
        proc.stdin.flush()
        wait_for(lambda: records, timeout=20, message="the record before the pipe closes")
        assert records[0][s.TASK_ID] == "a-1"
        assert records[0][s.POD] == "w-0"
        assert proc.poll() is None  # still following
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)

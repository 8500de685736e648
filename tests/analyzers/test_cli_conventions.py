"""The conventions a kubectl/tail/jq user expects, on the real console script: -f follows,
-o picks the format, $COLUMNS sets the width of piped text, parse's columns are the schema's;
and the bare command (no FILE, no pipe) reads the configured source and says so."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzers.cli import main
from instrumentation import schema as s
from instrumentation.exit_status import ExitStatus
from tests.analyzers.console import (
    HEALTHY,
    REAL,
    SCRIPT,
    SMALL,
    clean_env,
    run_script,
)


def lines_of(done: subprocess.CompletedProcess) -> list[str]:
    return done.stdout.decode().splitlines()


class TestWidth:
    """Piped text is $COLUMNS wide (100 when unset), and no line ends in spaces."""

    @pytest.mark.parametrize(("columns", "width"), [(None, 100), ("72", 72), ("180", 180)])
    def test_report_width(self, tmp_path: Path, columns: str | None, width: int) -> None:
        extra = {"COLUMNS": columns} if columns else {}
        done = run_script(["analyze", str(SMALL)], env=clean_env(tmp_path, **extra))
        assert done.returncode == 0, done.stderr
        lines = lines_of(done)
        assert max(len(line) for line in lines) == width  # the title rule spans the width
        assert [line for line in lines if line != line.rstrip()] == []

    def test_out_file_text_has_no_trailing_spaces(self, tmp_path: Path) -> None:
        target = tmp_path / "report.txt"
        done = run_script(["analyze", str(SMALL), "--out-file", str(target)],
                          env=clean_env(tmp_path, COLUMNS="90"))
        assert done.returncode == 0 and done.stdout == b""
        lines = target.read_text().splitlines()
        assert max(len(line) for line in lines) == 90
        assert not any(line.endswith(" ") for line in lines)


INPUTS = [SMALL, REAL / "celery_plain.log", REAL / "kubectl_prefix.log", REAL / "entries.ndjson"]


class TestParseColumns:
    """Every input gives the same CSV header, the schema's columns in the schema's order."""

    @pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
    def test_csv_header_is_the_schema(self, path: Path) -> None:
        result = CliRunner().invoke(main, ["parse", str(path), "-o", "csv"])
        assert result.exit_code == 0, result.output
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert tuple(rows[0]) == s.FRAME_COLUMNS
        assert {len(row) for row in rows} == {len(s.FRAME_COLUMNS)}
        assert len(rows) > 2

    @pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
    def test_jsonl_keys_in_schema_order_without_nulls(self, path: Path) -> None:
        out = CliRunner().invoke(main, ["parse", str(path), "-o", "jsonl"]).stdout
        records = [json.loads(line) for line in out.splitlines()]
        order = {name: i for i, name in enumerate(s.FRAME_COLUMNS)}
        for record in records:
            keys = list(record)
            assert keys == sorted(keys, key=order.__getitem__)
            assert None not in record.values()
        # The same records as the CSV, field by field (a null CSV cell is an absent key).
        csv_out = CliRunner().invoke(main, ["parse", str(path), "-o", "csv"]).stdout
        for record, row in zip(records, csv.DictReader(io.StringIO(csv_out)), strict=True):
            assert {k for k, v in row.items() if v != ""} == set(record)

    def test_json_is_jsonl(self) -> None:
        as_json = CliRunner().invoke(main, ["parse", str(HEALTHY), "-o", "json"]).stdout
        assert as_json == CliRunner().invoke(main, ["parse", str(HEALTHY)]).stdout
        assert len(as_json.splitlines()) == 12

    def test_two_csvs_concatenate(self) -> None:
        outs = [CliRunner().invoke(main, ["parse", str(p), "-o", "csv"]).stdout for p in INPUTS]
        headers = {out.splitlines()[0] for out in outs}
        assert len(headers) == 1


class TestShortOptions:
    """-f is --follow and -o the format, on every command that has them; --format is an
    alias of -o without a short form."""

    def test_follow_and_output_everywhere(self) -> None:
        for command in ("analyze", "parse"):
            text = CliRunner().invoke(main, [command, "--help"]).output
            assert "-f, --follow" in text
            assert "-o, --output" in text
            assert "--out-file" in text
            assert "--format" not in text  # hidden alias
        for command in ("chord", "task"):
            text = CliRunner().invoke(main, [command, "--help"]).output
            assert "-o, --output" in text and "-f," not in text

    def test_format_alias_still_works(self) -> None:
        a = CliRunner().invoke(main, ["analyze", str(HEALTHY), "--format", "json"])
        b = CliRunner().invoke(main, ["analyze", str(HEALTHY), "-o", "json"])
        assert a.exit_code == b.exit_code == 0
        assert json.loads(a.stdout)["tasks"] == json.loads(b.stdout)["tasks"]


class TestCtrlC:
    """Ctrl-C while a command reads: INTERRUPTED (130) and no traceback, for every command
    that reads logs (analyze -f is the exception: its final report is the product)."""

    @pytest.mark.parametrize("args", [["analyze"], ["parse"], ["parse", "-f"],
                                      ["chord", "c-1"], ["task", "t-1"]],
                             ids=" ".join)
    def test_interrupted(self, tmp_path: Path, args: list[str]) -> None:
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        proc = subprocess.Popen([SCRIPT, *args, str(fifo)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=clean_env(tmp_path))
        try:
            with open(fifo, "wb") as writer:  # returns once the command opened the fifo
                writer.write(HEALTHY.read_bytes()[:300])
                writer.flush()
                proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == ExitStatus.INTERRUPTED, err
        assert b"Traceback" not in err


# --- The bare command ---------------------------------------------------------------------


def gcloud_home(home: Path, project: str = "proj-from-gcloud") -> None:
    """~/.config/gcloud as `gcloud auth application-default login` leaves it."""
    root = home / ".config" / "gcloud"
    (root / "configurations").mkdir(parents=True)
    (root / "active_config").write_text("default")
    (root / "configurations" / "config_default").write_text(f"[core]\nproject = {project}\n")
    (root / "application_default_credentials.json").write_text(
        json.dumps({"type": "authorized_user", "client_id": "x"}))


def tasks_of(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["tasks"]


class TestBareCommand:
    """`rhesis-logs analyze --since 1h`: stdin when it is a pipe or a file, else the
    configured (or detected) source, named on stderr; else "no input" and USAGE."""

    def test_nothing_configured_and_no_pipe_is_no_input(self, tmp_path: Path) -> None:
        done = run_script(["analyze", "--since", "1h"], env=clean_env(tmp_path),
                          stdin=subprocess.DEVNULL)
        assert done.returncode == ExitStatus.USAGE
        err = done.stderr.decode().strip().splitlines()
        assert len(err) == 1 and "no input" in err[0] and "config set source" in err[0]
        assert done.stdout == b""  # never a "healthy" report

    def test_empty_pipe_is_no_input(self, tmp_path: Path) -> None:
        done = run_script(["analyze"], env=clean_env(tmp_path), input=b"")
        assert done.returncode == ExitStatus.USAGE
        assert b"no input" in done.stderr and done.stdout == b""

    def test_stdin_as_pipe_and_as_file(self, tmp_path: Path) -> None:
        expected = tasks_of(run_script(["analyze", str(HEALTHY), "-o", "json"],
                                       env=clean_env(tmp_path)))
        piped = run_script(["analyze", "-o", "json"], env=clean_env(tmp_path),
                           input=HEALTHY.read_bytes())
        with HEALTHY.open("rb") as fh:
            from_file = run_script(["analyze", "-o", "json"], env=clean_env(tmp_path),
                                   stdin=fh)
        assert tasks_of(piped) == tasks_of(from_file) == expected
        assert expected["succeeded"] == 4

    def test_configured_kubectl(self, tmp_path: Path) -> None:
        argv = tmp_path / "argv.jsonl"
        env = clean_env(tmp_path, FAKE_KUBECTL_CONTEXT="gke_rhesis_prod",
                        FAKE_KUBECTL_REPLAY=str(REAL / "kubectl_prefix.log"),
                        FAKE_KUBECTL_ARGV=str(argv))
        for key, value in (("source", "kubectl"), ("selector", "app=worker"),
                           ("namespace", "rhesis")):
            assert run_script(["config", "set", key, value], env=env).returncode == 0
        # No --since: the default window of a cluster (the replayed log is older than an
        # explicit --since 1h, which the report would apply too).
        done = run_script(["analyze", "-o", "json"], env=env)
        expected = tasks_of(run_script(["analyze", str(REAL / "kubectl_prefix.log"), "-o",
                                        "json"], env=env))
        assert tasks_of(done) == expected
        config_file = tmp_path / ".config" / "rhesis-logs" / "config.toml"
        assert done.stderr.decode().splitlines()[0] == (
            "rhesis-logs: reading kubectl logs -l app=worker (namespace rhesis) "
            f"(configured in {config_file}), window 1h")
        logs = next(json.loads(x) for x in argv.read_text().splitlines() if "logs" in x)
        assert logs[:5] == ["logs", "-l", "app=worker", "--namespace", "rhesis"]
        assert "--since=3600s" in logs

    def test_flags_override_the_config(self, tmp_path: Path) -> None:
        argv = tmp_path / "argv.jsonl"
        env = clean_env(tmp_path, FAKE_KUBECTL_CONTEXT="ctx", FAKE_KUBECTL_ARGV=str(argv),
                        FAKE_KUBECTL_REPLAY=str(REAL / "kubectl_prefix.log"),
                        RHESIS_LOGS_SOURCE="kubectl", RHESIS_LOGS_SELECTOR="app=from-env")
        done = run_script(["analyze", "-l", "app=from-flag", "-n", "ns1", "-o", "json"],
                          env=env)
        assert done.returncode == 0, done.stderr
        logs = next(json.loads(x) for x in argv.read_text().splitlines() if "logs" in x)
        assert logs[:5] == ["logs", "-l", "app=from-flag", "--namespace", "ns1"]
        assert "--since=3600s" in logs  # the default window of a cluster

    def test_detected_gcloud_project_reads_cloud_logging(self, tmp_path: Path) -> None:
        from tests.support.logging_server import LoggingServer

        gcloud_home(tmp_path)
        entries = [json.loads(x) for x in (REAL / "entries.ndjson").read_text().splitlines()]
        with LoggingServer(entries) as server:
            done = run_script(["analyze", "--logging-endpoint", server.url,
                               "-o", "json"], env=clean_env(tmp_path))
            requests = list(server.requests)
        expected = tasks_of(run_script(["analyze", str(REAL / "entries.ndjson"), "-o", "json"],
                                       env=clean_env(tmp_path)))
        assert tasks_of(done) == expected
        assert done.stderr.decode().splitlines()[0] == (
            "rhesis-logs: reading Cloud Logging project proj-from-gcloud "
            "(from gcloud configuration 'default'), window 1h")
        assert requests[0].body["resourceNames"] == ["projects/proj-from-gcloud"]

    def test_a_pipe_wins_over_the_config(self, tmp_path: Path) -> None:
        env = clean_env(tmp_path, RHESIS_LOGS_SOURCE="kubectl", RHESIS_LOGS_SELECTOR="app=w")
        done = run_script(["analyze", "-o", "json"], env=env, input=HEALTHY.read_bytes())
        assert tasks_of(done)["succeeded"] == 4
        assert b"reading" not in done.stderr


class TestConfigCommand:
    """config set/get/unset/show/path on a real file under XDG_CONFIG_HOME."""

    def test_round_trip(self, tmp_path: Path) -> None:
        env = clean_env(tmp_path)
        path = run_script(["config", "path"], env=env).stdout.decode().strip()
        assert path == str(tmp_path / ".config" / "rhesis-logs" / "config.toml")
        assert run_script(["config", "set", "project", "my-proj"], env=env).returncode == 0
        assert run_script(["config", "set", "source", "cloud-logging"], env=env).returncode == 0
        got = run_script(["config", "get", "project"], env=env)
        assert (got.returncode, got.stdout) == (0, b"my-proj\n")
        env_over = {**env, "RHESIS_LOGS_NAMESPACE": "workers"}
        shown = run_script(["config", "show"], env=env_over).stdout.decode()
        assert f"project    my-proj  ({path})" in shown
        assert "namespace  workers  ($RHESIS_LOGS_NAMESPACE)" in shown
        assert "reads: Cloud Logging project my-proj, namespace workers (configured in" in shown
        doc = json.loads(run_script(["config", "show", "-o", "json"], env=env).stdout)
        assert {row["key"]: row["from"] for row in doc["settings"]} == {
            "source": path, "project": path}
        assert run_script(["config", "unset", "project"], env=env).returncode == 0
        missing = run_script(["config", "get", "project"], env=env)
        assert missing.returncode == ExitStatus.FINDINGS and b"not set" in missing.stderr
        assert "project" not in Path(path).read_text()

    @pytest.mark.parametrize(("args", "message"), [
        (["config", "set", "colour", "red"], "Invalid value"),
        (["config", "set", "source", "file"], "source must be one of"),
    ])
    def test_refuses_what_it_cannot_hold(self, tmp_path: Path, args, message) -> None:
        done = run_script(args, env=clean_env(tmp_path))
        assert done.returncode == ExitStatus.USAGE
        assert message.encode() in done.stderr and b"Traceback" not in done.stderr


def test_ndjson_cuts_only_null_fields_never_text_that_looks_like_one() -> None:
    """A message quoting JSON with nulls survives; the record's own nulls are gone."""
    import re

    from analyzers import ingest
    from analyzers.render.records import ndjson

    # The regex that cuts null fields assumes key names of [a-z_] only.
    assert all(re.fullmatch("[a-z_]+", name) for name in s.FRAME_COLUMNS)
    tricky = ['x,"task_id":null,"y', '{"event":null}', 'ends with a backslash \\',
              'line\nbreak "quoted":null']
    lines = [json.dumps({s.TIME: "2026-11-28T10:00:00Z", s.EVENT: "log", s.MESSAGE: m})
             for m in tricky]
    lines.append(json.dumps({s.EVENT: "task_received", s.TASK_ID: "t-1"}))  # no time
    frame = ingest.read_records(["\n".join(lines) + "\n"]).frame
    out = [json.loads(x) for x in ndjson(frame).splitlines()]
    assert [r.get(s.MESSAGE) for r in out[:4]] == tricky
    assert all(None not in r.values() for r in out)
    assert out[4][s.TASK_ID] == "t-1" and s.TIME not in out[4]
    assert next(iter(out[4])) == s.EVENT  # the first field was null: cut cleanly

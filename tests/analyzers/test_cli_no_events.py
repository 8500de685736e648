"""Never "healthy" on nothing: a log with no task event says so first and exits NO_EVENTS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzers.cli import main
from instrumentation.exit_status import ExitStatus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: An empty capture, a binary file, and logs in shapes nothing here reads.
INPUTS = {
    "empty.log": b"",
    "binary.log": bytes(range(256)) * 8,
    "unknown.log": b"GET /health 200 3ms\nGET /metrics 200 1ms\npool size=4 idle=4\n",
    "values.jsonl": b"[1,2,3]\nnull\n42\n",
    "other_json.jsonl": b'{"ts":"2026-11-28T10:00:00Z","lvl":"info","text":"cache warm"}\n',
}


#: Binary bytes given as a FILE are refused before reading (a usage mistake: USAGE, one line,
#: tests/analyzers/test_cli_bad_input.py); on a pipe they are read, and nothing is understood.
PIPED = {"binary.log"}


def analyze(path: Path, *args: str):
    if path.name in PIPED:
        return CliRunner().invoke(main, ["analyze", *args], input=path.read_bytes())
    return CliRunner().invoke(main, ["analyze", str(path), *args])


def test_a_binary_file_argument_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.log"
    path.write_bytes(INPUTS["binary.log"])
    result = CliRunner().invoke(main, ["analyze", str(path)])
    assert result.exit_code == ExitStatus.USAGE
    assert "binary file" in result.output


@pytest.fixture(params=sorted(INPUTS))
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / request.param
    path.write_bytes(INPUTS[request.param])
    return path


def test_exits_no_events_and_says_why(log: Path) -> None:
    result = analyze(log, "--format", "json")
    assert result.exit_code == ExitStatus.NO_EVENTS
    doc = json.loads(result.stdout)
    assert doc["conditions"]["no_task_events"] is True
    finding = doc["findings"][0]
    assert finding["condition"] == "no_task_events"
    assert finding["lines_read"] == doc["lines"]["read"]
    assert "--allow-empty" in finding["hint"]
    assert "no line was understood as a task event" in result.stderr
    if doc["lines"]["read"]:  # what was seen instead is named
        assert sum(finding["shapes"].values()) >= 1


def test_allow_empty_exits_ok(log: Path) -> None:
    assert analyze(log, "--allow-empty").exit_code == ExitStatus.OK


def test_fail_on_does_not_hide_it(log: Path) -> None:
    assert analyze(log, "--fail-on", "failures").exit_code == ExitStatus.NO_EVENTS


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_human_reports_say_it_at_the_top_not_healthy(log: Path, fmt: str) -> None:
    out = analyze(log, "--format", fmt, "--allow-empty").stdout
    assert "healthy" not in out
    first = out.index("NOTHING UNDERSTOOD")
    assert first < out.index("Lines")


def test_the_shapes_seen_are_named(tmp_path: Path) -> None:
    path = tmp_path / "values.jsonl"
    path.write_bytes(INPUTS["values.jsonl"])
    doc = json.loads(analyze(path, "--format", "json").stdout)
    assert doc["findings"][0]["shapes"] == {"unparsed (JSON that is not an object)": 3}


def test_a_real_worker_log_is_not_flagged() -> None:
    result = analyze(FIXTURES / "celery_plain.log", "--format", "json")
    assert result.exit_code == ExitStatus.OK
    doc = json.loads(result.stdout)
    assert doc["conditions"]["no_task_events"] is False
    assert all(f["condition"] != "no_task_events" for f in doc["findings"])

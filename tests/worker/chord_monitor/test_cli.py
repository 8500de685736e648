"""The CLI surface: help texts, --json anywhere, clear errors without secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import click
import pytest
from click.testing import CliRunner

from instrumentation.exit_status import ExitStatus
from tests.support import REPO, free_port, silent_server, start_redis_server
from worker.chord_monitor.cli import chords, fix_chords


def _one_line(proc: subprocess.CompletedProcess) -> None:
    """The failure is one line on stderr (`Error: ...`), no traceback, nothing on stdout."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def _run_fix_chords(*args: str) -> subprocess.CompletedProcess:
    code = ("import sys; from worker.chord_monitor.cli import fix_chords; "
            "fix_chords(sys.argv[1:], prog_name='fix-chords')")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60, cwd=str(REPO),
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.chord_monitor", *args],
                          capture_output=True, text=True, timeout=60, cwd=str(REPO),
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})


class TestHelp:
    @pytest.mark.parametrize("command", [*chords.commands.values(), chords, fix_chords],
                             ids=lambda c: c.name)
    def test_every_command_has_help_with_an_example(self, command: click.Command):
        """Each command's --help names what it does and shows an example."""
        result = CliRunner().invoke(command, ["--help"])
        assert result.exit_code == 0, result.output
        assert command.help and "Example" in command.help
        assert "Example" in result.output

    def test_group_lists_all_subcommands(self):
        assert set(chords.commands) == {"status", "check", "inspect", "revoke", "recover",
                                        "clean", "orphans"}


class TestJsonAndErrors:
    @pytest.mark.parametrize("where", ["before", "after"])
    def test_json_before_or_after_the_subcommand(self, backend_url: str, where: str):
        """`--json` works on either side of the subcommand (empty backend: healthy, 0)."""
        args = ["--backend", backend_url, "check", "--max-hours", "0"]
        args = ["--json", *args] if where == "before" else [*args, "--json"]
        proc = _run(*args)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"checked": 0, "max_hours": 0.0, "stuck": []}

    def test_unreachable_backend_is_a_clear_error_without_the_password(self):
        """A dead backend exits 4 (UNAVAILABLE) with one line that does not show the
        URL's password."""
        proc = _run("--backend", f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0", "check")
        assert proc.returncode == ExitStatus.UNAVAILABLE
        assert "cannot reach the result backend" in proc.stderr
        assert "connection failed" in proc.stderr
        _one_line(proc)
        assert "s3cret-pw" not in proc.stderr + proc.stdout

    def test_missing_backend_and_non_redis_backend(self):
        """No backend at all, or a non-Redis one, is a usage error with what to do."""
        missing = _run("status")
        assert missing.returncode == ExitStatus.USAGE
        assert "CELERY_RESULT_BACKEND" in missing.stderr
        other = _run("--backend", "db+sqlite:///x.db", "status")
        assert other.returncode == ExitStatus.USAGE and "Redis result backend" in other.stderr

    @pytest.mark.parametrize("option", ["--backend", "--broker"])
    def test_unparsable_url_is_a_usage_error(self, backend_url: str, option: str):
        args = (["--backend", "redis://::::/x"] if option == "--backend"
                else ["--backend", backend_url, "--broker", "redis://::::/x"])
        proc = _run(*args, "status")
        assert proc.returncode == ExitStatus.USAGE, proc.stderr
        assert "cannot be parsed" in proc.stderr
        _one_line(proc)

    def test_wrong_password_is_unavailable(self):
        protected = start_redis_server(password="right-pw")
        try:
            url = protected.url(0).replace("right-pw", "wrong-pw")
            proc = _run("--backend", url, "check")
        finally:
            protected.stop()
        assert proc.returncode == ExitStatus.UNAVAILABLE, proc.stderr
        assert "authentication failed" in proc.stderr
        _one_line(proc)
        assert "wrong-pw" not in proc.stderr

    @pytest.mark.parametrize("hung", ["backend", "broker"])
    @pytest.mark.parametrize("command", [["status"], ["check"], ["recover", "x"],
                                         ["fix-chords"]])
    def test_a_redis_that_never_answers_fails_within_the_timeout(
            self, backend_url: str, broker_url: str, hung: str, command: list[str]):
        """A server that accepts the connection and never replies: the command ends within
        about --timeout (not hanging) with UNAVAILABLE and one line."""
        with silent_server() as port:
            silent = f"redis://127.0.0.1:{port}/0"
            backend, broker = (silent, broker_url) if hung == "backend" else (backend_url,
                                                                             silent)
            conn = ["--backend", backend, "--broker", broker, "--timeout", "0.5"]
            started = time.monotonic()
            run = _run_fix_chords if command == ["fix-chords"] else _run
            proc = run(*conn, *(command if command != ["fix-chords"] else []))
            elapsed = time.monotonic() - started
        assert proc.returncode == ExitStatus.UNAVAILABLE, proc.stderr
        assert "no answer" in proc.stderr, proc.stderr
        assert f"cannot reach the {'result backend' if hung == 'backend' else 'broker'}" \
            in proc.stderr
        _one_line(proc)
        # The interpreter and Celery take ~1-2 s to import on the shared machine; a hang
        # would be the pytest timeout.
        assert elapsed < 15, elapsed

    def test_unknown_chord(self, backend_url: str):
        proc = _run("--backend", backend_url, "inspect", "nope")
        assert proc.returncode == 1 and "no chord 'nope'" in proc.stderr

    def test_purge_queues_needs_force(self, backend_url: str):
        proc = _run("--backend", backend_url, "clean", "--purge-queues")
        assert proc.returncode == 2 and "--force" in proc.stderr

"""The CLI surface: help texts, --json anywhere, clear errors without secrets."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from tests.support import REPO, free_port
from worker.chord_monitor.cli import chords, fix_chords


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
                                        "clean"}


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
        """A dead backend exits 1 with a message that does not show the URL's password."""
        proc = _run("--backend", f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0", "check")
        assert proc.returncode == 1
        assert "cannot reach the result backend" in proc.stderr
        assert "s3cret-pw" not in proc.stderr + proc.stdout

    def test_missing_backend_and_non_redis_backend(self):
        """No backend at all, or a non-Redis one, is refused with what to do."""
        missing = _run("status")
        assert missing.returncode == 1 and "CELERY_RESULT_BACKEND" in missing.stderr
        other = _run("--backend", "db+sqlite:///x.db", "status")
        assert other.returncode == 1 and "Redis result backend" in other.stderr

    def test_unknown_chord(self, backend_url: str):
        proc = _run("--backend", backend_url, "inspect", "nope")
        assert proc.returncode == 1 and "no chord 'nope'" in proc.stderr

    def test_purge_queues_needs_force(self, backend_url: str):
        proc = _run("--backend", backend_url, "clean", "--purge-queues")
        assert proc.returncode == 2 and "--force" in proc.stderr

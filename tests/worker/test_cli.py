"""``rhesis-worker`` against real workers: status, task tools, retries, demo, and --help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from instrumentation import schema
from instrumentation.exit_status import ExitStatus
from tests.support import (
    WorkerProcess,
    free_port,
    running_worker,
    silent_server,
    start_redis_server,
    wait_for,
)
from tests.worker.conftest import run_cli
from worker.cli import main
from worker.launch import send_with_tenant

pytestmark = pytest.mark.slow


def test_status_without_a_worker_exits_non_zero(worker_env: dict[str, str]) -> None:
    proc = run_cli(worker_env, "status", "--timeout", "0.5")
    assert proc.returncode == ExitStatus.NO_WORKERS
    assert "no worker answered within 0.5s" in proc.stderr
    assert proc.stdout == ""


def _one_line(proc: Any) -> str:
    """The failure is one line on stderr (`Error: ...`): no traceback, nothing on stdout."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


#: Every command that talks to Redis, with the arguments that make it do so.
REDIS_COMMANDS = [["status"], ["task", "info", "some-id"], ["task", "revoke", "some-id"],
                  ["task", "forget", "some-id"], ["retries"], ["demo", "--runs", "1"],
                  ["chords", "status"], ["chords", "recover", "some-id"], ["fix-chords"]]


def _with_timeout(command: list[str], seconds: str) -> list[str]:
    # chords/fix-chords take the connection options on the group / before the subcommand.
    if command[0] == "chords":
        return ["chords", "--timeout", seconds, *command[1:]]
    return [*command, "--timeout", seconds]


@pytest.mark.parametrize("command", REDIS_COMMANDS, ids=" ".join)
def test_a_broker_that_never_answers_fails_in_one_line(worker_env: dict[str, str],
                                                        command: list[str]) -> None:
    """A server that accepts connections and never replies: every command ends with
    UNAVAILABLE and one line, bounded by --timeout (a hang would be pytest's timeout)."""
    with silent_server() as port:
        silent = f"redis://127.0.0.1:{port}/0"
        env = {**worker_env, "BROKER_URL": silent, "CELERY_BROKER_URL": silent}
        proc = run_cli(env, *_with_timeout(command, "0.5"), timeout=30)
    assert proc.returncode == ExitStatus.UNAVAILABLE, proc.stderr
    line = _one_line(proc)
    assert "broker" in line and "no answer" in line


@pytest.mark.parametrize("command", REDIS_COMMANDS, ids=" ".join)
def test_refused_and_wrong_password_fail_in_one_line(worker_env: dict[str, str],
                                                     command: list[str]) -> None:
    protected = start_redis_server(password="right-pw")
    try:
        for backend, expected in (
                (f"redis://127.0.0.1:{free_port()}/1", "connection failed"),
                (protected.url(1).replace("right-pw", "wrong-pw"), "authentication failed")):
            env = {**worker_env, "CELERY_RESULT_BACKEND": backend}
            proc = run_cli(env, *_with_timeout(command, "1"), timeout=30)
            assert proc.returncode == ExitStatus.UNAVAILABLE, proc.stderr
            line = _one_line(proc)
            assert "result backend" in line and expected in line, line
            assert "wrong-pw" not in proc.stderr
    finally:
        protected.stop()


@pytest.mark.parametrize("command", REDIS_COMMANDS, ids=" ".join)
def test_an_unparsable_url_is_a_usage_error(worker_env: dict[str, str],
                                            command: list[str]) -> None:
    env = {**worker_env, "BROKER_URL": "redis://::::/x", "CELERY_BROKER_URL": "redis://::::/x"}
    proc = run_cli(env, *_with_timeout(command, "1"), timeout=30)
    assert proc.returncode == ExitStatus.USAGE, proc.stderr
    assert "Traceback" not in proc.stderr and "broker" in proc.stderr.lower()


def test_status_lists_the_worker(prefork_worker: WorkerProcess,
                                 worker_env: dict[str, str]) -> None:
    proc = run_cli(worker_env, "status", "--json", "--timeout", "1")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["hostname"] == prefork_worker.hostname
    assert row["pool"] == "prefork" and row["pool_size"] == 2
    assert row["registered"] >= 5
    assert row["active"] == row["reserved"] == row["scheduled"] == 0
    text = run_cli(worker_env, "status")
    assert prefork_worker.hostname in text.stdout and "RESERVED" in text.stdout


def test_retries_and_task_tools(tmp_path: Path, client: Any,
                                worker_env: dict[str, str]) -> None:
    """A task waiting 30s for its retry shows in `retries` and `task info`; revoke, forget."""
    env = {**worker_env, "RETRY_BACKOFF": "30", "RETRY_BACKOFF_MAX": "30",
           "MAX_COUNTDOWN": "30"}
    with running_worker("worker.app", tmp_path, env=env, pool="solo") as worker:
        result = send_with_tenant(client.tasks["rhesis.telemetry.ingest_batch"], ("b-r",),
                                  {"fail_attempts": 5}, organization_id="org-r")
        worker.wait_for_event(schema.Event.TASK_RETRIED, **{schema.TASK_ID: result.id})

        def scheduled() -> list[dict[str, Any]]:
            proc = run_cli(env, "retries", "--json", "--timeout", "1")
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)

        (row,) = wait_for(scheduled, timeout=15, message="the retry to be scheduled")
        assert row["id"] == result.id and row[schema.RETRIES] == 1
        assert row[schema.ORGANIZATION_ID] == "org-r" and row[schema.WORKER] == worker.hostname
        assert row["eta"]

        info = json.loads(
            run_cli(env, "task", "info", result.id, "--json", "--timeout", "1").stdout)
        assert info["where"] == "scheduled" and info["worker"] == worker.hostname
        assert info["name"] == "rhesis.telemetry.ingest_batch"

        revoked = run_cli(env, "task", "revoke", result.id, "--timeout", "1")
        assert revoked.returncode == 0 and f"revoked {result.id}" in revoked.stdout

    # Revoked before it ran again; the stored state is REVOKED, and forget deletes it.
    info = json.loads(run_cli(env, "task", "info", result.id, "--json", "--timeout", "1").stdout)
    assert info["state"] == "REVOKED"
    assert run_cli(env, "task", "forget", result.id).returncode == 0
    info = json.loads(run_cli(env, "task", "info", result.id, "--json", "--timeout", "1").stdout)
    assert info["state"] == "PENDING"


def test_demo_publishes_a_mixed_workload(prefork_worker: WorkerProcess,
                                         worker_env: dict[str, str]) -> None:
    proc = run_cli(worker_env, "demo", "--runs", "3", "--tests", "2-4", "--latency-ms", "1-5",
                   "--retry-rate", "0.3", "--failure-rate", "0.3", "--seed", "3", "--wait",
                   "--timeout", "60", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [s_["mode"] for s_ in out["summaries"]] == ["chord", "chord", "sequential"]
    assert all(s_["organization_id"] for s_ in out["summaries"])
    # Everything the analyzer reports on appears in the log stream.
    for event in (schema.Event.TASK_RETRIED, schema.Event.TASK_FAILED, schema.Event.TASK_NO_TENANT):
        prefork_worker.wait_for_event(event)
    failed = prefork_worker.events(schema.Event.TASK_FAILED)
    assert {e[schema.EXCEPTION_TYPE].rsplit(".", 1)[1] for e in failed} >= {"PermanentError"}


def test_bad_configuration_is_a_clear_error(worker_env: dict[str, str]) -> None:
    proc = run_cli({**worker_env, "VISIBILITY_TIMEOUT": "10", "RETRY_BACKOFF_MAX": "60"},
                   "status")
    assert proc.returncode == ExitStatus.USAGE
    assert "VISIBILITY_TIMEOUT=10s must be longer" in proc.stderr
    assert "Traceback" not in proc.stderr


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, prefix + name + " "))
    return out


@pytest.mark.parametrize(("name", "command"), _commands(main))
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    assert command.help and "Example" in command.help, name

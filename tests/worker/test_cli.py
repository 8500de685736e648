"""``rhesis-worker`` against real workers: status, task tools, retries, demo, and --help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from instrumentation import schema as s
from tests.support import WorkerProcess, running_worker, wait_for
from tests.worker.conftest import run_cli
from worker.cli import EXIT_NO_WORKERS, main
from worker.launch import send_with_tenant

pytestmark = pytest.mark.slow


def test_status_without_a_worker_exits_non_zero(worker_env: dict[str, str]) -> None:
    proc = run_cli(worker_env, "status", "--timeout", "0.5")
    assert proc.returncode == EXIT_NO_WORKERS
    assert "no worker answered within 0.5s" in proc.stderr
    assert proc.stdout == ""


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
        worker.wait_for_event(s.Event.TASK_RETRIED, **{s.TASK_ID: result.id})

        def scheduled() -> list[dict[str, Any]]:
            proc = run_cli(env, "retries", "--json", "--timeout", "1")
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)

        (row,) = wait_for(scheduled, timeout=15, message="the retry to be scheduled")
        assert row["id"] == result.id and row[s.RETRIES] == 1
        assert row[s.ORGANIZATION_ID] == "org-r" and row[s.WORKER] == worker.hostname
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
    for event in (s.Event.TASK_RETRIED, s.Event.TASK_FAILED, s.Event.TASK_NO_TENANT):
        prefork_worker.wait_for_event(event)
    failed = prefork_worker.events(s.Event.TASK_FAILED)
    assert {e[s.EXCEPTION_TYPE].rsplit(".", 1)[1] for e in failed} >= {"PermanentError"}


def test_bad_configuration_is_a_clear_error(worker_env: dict[str, str]) -> None:
    proc = run_cli({**worker_env, "VISIBILITY_TIMEOUT": "10", "RETRY_BACKOFF_MAX": "60"},
                   "status")
    assert proc.returncode == 1
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

"""A worker SIGKILLed in the middle of a task loses nothing: with ``acks_late`` the message
stays unacked in Redis, and after ``visibility_timeout`` the next worker gets it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from instrumentation import schema
from tests.support import start_worker, wait_for
from worker.launch import send_with_tenant

pytestmark = pytest.mark.slow


def test_sigkill_mid_task_loses_no_task(tmp_path: Path, client: Any,
                                        worker_env: dict[str, str]) -> None:
    env = {**worker_env, "VISIBILITY_TIMEOUT": "2", "UNACKED_RESTORE_INTERVAL": "1"}
    first = start_worker("worker.app", tmp_path, env=env, pool="prefork", concurrency=1)
    # One test that takes 1.5s: long enough to be killed while running, short enough to finish
    # on the second worker before the visibility timeout redelivers it once more.
    sim = {"latency_ms": [1500, 1500], "failure_rate": 0.0, "retry_rate": 0.0}
    result = send_with_tenant(client.tasks["rhesis.execution.execute_single_test"],
                              ("run-kill", 0), {"sim": sim}, organization_id="org-k")
    try:
        first.wait_for_event(schema.Event.TASK_STARTED, **{schema.TASK_ID: result.id})
        # task_track_started stores STARTED just after the prerun signal that logs the event.
        wait_for(lambda: client.AsyncResult(result.id).state == "STARTED", timeout=5,
                 message="the STARTED state in the result backend")
    finally:
        first.kill()
    assert not first.events(schema.Event.TASK_SUCCEEDED, **{schema.TASK_ID: result.id})
    assert client.AsyncResult(result.id).state == "STARTED"  # and nobody will finish it...

    second = start_worker("worker.app", tmp_path, env=env, pool="prefork", concurrency=1)
    try:
        # ...until the second worker restores the unacked message and runs it.
        assert result.get(timeout=30)["status"] == "passed"
        received = second.wait_for_event(schema.Event.TASK_RECEIVED, **{schema.TASK_ID: result.id})
        assert received[0][schema.REDELIVERED] is True
        assert received[0][schema.ORGANIZATION_ID] == "org-k"  # the tenant survives redelivery
        second.wait_for_event(schema.Event.TASK_SUCCEEDED, **{schema.TASK_ID: result.id})
    finally:
        second.stop()

"""`chords recover` on the reference worker: the callback it runs keeps the run's tenant and
lineage, exactly as if the chord's last member had published it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from instrumentation import schema
from instrumentation.exit_status import ExitStatus
from tests.support import REPO, running_worker, wait_for
from worker.launch import send_with_tenant

pytestmark = pytest.mark.slow

RUN = "rhesis.execution.execute_test_run"
MEMBER = "rhesis.execution.execute_single_test"
CALLBACK = "rhesis.execution.collect_results"
SLOW_SIM = {"latency_ms": [400, 400], "failure_rate": 0, "retry_rate": 0}


def test_recovered_callback_keeps_tenant_and_root_id(tmp_path: Path, client: Any,
                                                     worker_env: dict[str, str]) -> None:
    backend = redis.Redis.from_url(worker_env["CELERY_RESULT_BACKEND"])
    with running_worker("worker.app", tmp_path, env=worker_env, pool="solo") as worker:
        result = send_with_tenant(client.tasks[RUN], ("run-rec", 3), {"sim": SLOW_SIM},
                                  organization_id="org-rec", user_id="u-rec")
        launched = client.AsyncResult(result.id).get(timeout=30)
        gid, callback_id = launched["chord_id"], launched["callback_id"]
        # The size key vanishes while the members run (eviction, expiry): the last member
        # joins, nothing claims the chord, the callback never runs.
        assert backend.delete(f"celery-taskset-meta-{gid}.s") == 1
        worker.wait_for_event(schema.Event.TASK_SUCCEEDED, count=3, **{schema.TASK_NAME: MEMBER})
        assert backend.get(f"celery-task-meta-{callback_id}") is None
        assert not worker.events(schema.Event.TASK_RECEIVED, **{schema.TASK_ID: callback_id})

        proc = subprocess.run(
            [sys.executable, "-m", "worker.chord_monitor", "--backend",
             worker_env["CELERY_RESULT_BACKEND"], "--broker", worker_env["BROKER_URL"],
             "--timeout", "0.5", "--json", "recover", gid],
            capture_output=True, text=True, timeout=60, cwd=str(REPO),
            env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == ExitStatus.OK, proc.stdout + proc.stderr
        (outcome,) = json.loads(proc.stdout)["outcomes"]
        assert outcome["done"] and outcome["task_ids"] == [callback_id]

        summary = client.AsyncResult(callback_id).get(timeout=30)
        assert summary["organization_id"] == "org-rec" and summary["user_id"] == "u-rec"
        assert summary["n_results"] == 3
        worker.wait_for_event(schema.Event.TASK_SUCCEEDED, **{schema.TASK_ID: callback_id})
        lines = [e for e in worker.json_lines() if e.get(schema.TASK_ID) == callback_id]
        assert {e[schema.EVENT] for e in lines} >= {
            schema.Event.TASK_RECEIVED,
            schema.Event.TASK_STARTED,
            schema.Event.TASK_SUCCEEDED,
        }
        for line in lines:
            assert line[schema.ORGANIZATION_ID] == "org-rec", line
            assert line[schema.USER_ID] == "u-rec", line
            assert line[schema.ROOT_ID] == result.id, line
            # No member published it; its parent is the task that started the chord.
            assert line[schema.PARENT_ID] == result.id, line
        assert not worker.events(schema.Event.TASK_NO_TENANT, **{schema.TASK_ID: callback_id})
        members = worker.events(schema.Event.TASK_STARTED, **{schema.TASK_NAME: MEMBER})
        assert {m[schema.ROOT_ID] for m in members} == {result.id}
        wait_for(lambda: worker.events(schema.Event.TASK_SUCCEEDED, **{schema.TASK_NAME: CALLBACK}),
                 timeout=5, message="the callback's success line")
        assert len(worker.events(schema.Event.TASK_SUCCEEDED, **{schema.TASK_NAME: CALLBACK})) == 1

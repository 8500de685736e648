"""A prefork pool process killed mid-task under acks_late + reject_on_worker_lost: Celery
requeues the message without task_failure, and the instrumentation still says worker_lost."""

from __future__ import annotations

import os
import signal

from instrumentation import schema as s
from tests.support import running_worker, wait_for
from tests.support.apps import client_app

APP = "tests.support.apps.instrumented"


def _blocked_in_task(redis_server, db: int) -> bool:
    """The task's code is running: its pool process sits in BLPOP on the backend db."""
    return any(c.get("cmd") == "blpop" and int(c.get("db", -1)) == db
               for c in redis_server.client().client_list())


def test_killed_pool_process_is_reported_as_lost_and_requeued(tmp_path, broker_url,
                                                                backend_url, redis_server,
                                                                redis_dbs):
    client = client_app(broker_url, backend_url)
    env = {"BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend_url}
    with running_worker(APP, tmp_path, env=env, pool="prefork", concurrency=1) as w:
        res = client.send_task("tapp.hold", (f"runs:{tmp_path.name}",))
        started = w.wait_for_event(s.Event.TASK_STARTED, task_id=res.id)[0]
        wait_for(lambda: _blocked_in_task(redis_server, redis_dbs[1]),
                 message="the task to block in its first run")
        child = started[s.PID]
        main_pid = w.process.pid
        assert child != main_pid
        os.kill(child, signal.SIGKILL)

        lost = w.wait_for_event(s.Event.WORKER_LOST, task_id=res.id)
        w.wait_for_event(s.Event.TASK_SUCCEEDED, task_id=res.id, timeout=60)
        assert res.get(timeout=30) == 2  # ran again after the requeue, and only once more
    assert len(lost) == 1
    rec = lost[0]
    assert rec[s.REQUEUED] is True
    assert rec[s.SIGNUM] == signal.SIGKILL
    assert rec[s.PID] == child
    assert rec[s.TASK_NAME] == "tapp.hold"
    assert rec[s.SEVERITY] == "ERROR"
    assert rec[s.EXCEPTION_TYPE].endswith("WorkerLostError")
    assert "SIGKILL" in rec[s.REASON]
    # Requeued, not failed: no failure line; the message came back and ran to success once.
    assert w.events(s.Event.TASK_FAILED, task_id=res.id) == []
    assert len(w.events(s.Event.TASK_SUCCEEDED, task_id=res.id)) == 1
    assert len(w.events(s.Event.TASK_STARTED, task_id=res.id)) == 2
    w.json_lines()  # every line, Celery's own error lines included, is JSON


def test_uninstrument_restores_celerys_request_on_failure():
    from celery.worker.request import Request

    from instrumentation import instrument, uninstrument

    original = Request.on_failure
    instrument(tracing=False, configure_logging=False)
    assert Request.on_failure is not original
    instrument(tracing=False, configure_logging=False)  # twice: still wrapped once
    assert Request.on_failure.__wrapped__ is original
    uninstrument()
    assert Request.on_failure is original

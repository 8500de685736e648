"""worker.result_backend: Celery's Redis backend, whose final task states stay final."""

from __future__ import annotations

import uuid

import pytest
from celery import Celery, states

from worker.result_backend import ResilientRedisBackend


@pytest.fixture
def backend(backend_url: str) -> ResilientRedisBackend:
    app = Celery("result-backend-test", set_as_current=False)
    app.conf.update(result_backend=backend_url, result_serializer="json",
                    accept_content=["json"])
    return ResilientRedisBackend(app=app)


def _state(backend: ResilientRedisBackend, task_id: str) -> str:
    return backend.get_task_meta(task_id, cache=False)["status"]


@pytest.mark.parametrize("final", [states.FAILURE, states.SUCCESS, states.REVOKED])
@pytest.mark.parametrize("late", [states.RETRY, states.STARTED])
def test_a_late_write_of_an_earlier_attempt_does_not_overwrite_the_final_state(
        backend: ResilientRedisBackend, final: str, late: str) -> None:
    # What the chaos suite saw: attempt 1's RETRY store waited out a Redis outage while
    # attempt 2 (published before it) ran and stored FAILURE; the late RETRY came after.
    task_id = str(uuid.uuid4())
    outcome = {"ok": 1} if final == states.SUCCESS else ValueError("used up its retries")
    backend.store_result(task_id, outcome, final)
    backend.store_result(task_id, KeyError("attempt 1"), late)
    assert _state(backend, task_id) == final


def test_the_usual_progression_is_stored(backend: ResilientRedisBackend) -> None:
    task_id = str(uuid.uuid4())
    seen = []
    for state, value in ((states.STARTED, None), (states.RETRY, KeyError("a")),
                         (states.STARTED, None), (states.FAILURE, ValueError("b"))):
        backend.store_result(task_id, value, state)
        seen.append(_state(backend, task_id))
    assert seen == [states.STARTED, states.RETRY, states.STARTED, states.FAILURE]


def test_a_final_state_may_still_follow_another_final_one_but_success_stays(
        backend: ResilientRedisBackend) -> None:
    # Celery's own rule, kept: a redelivered run may turn FAILURE into SUCCESS; nothing
    # overwrites SUCCESS.
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, ValueError("first run"), states.FAILURE)
    backend.store_result(task_id, {"ok": 1}, states.SUCCESS)
    assert _state(backend, task_id) == states.SUCCESS
    backend.store_result(task_id, ValueError("a duplicate"), states.FAILURE)
    assert _state(backend, task_id) == states.SUCCESS

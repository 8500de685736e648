"""The workload on a real prefork worker: chords, retries, permanent failures, tenants."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from instrumentation import schema
from tests.support import WorkerProcess
from worker.launch import send_with_tenant

pytestmark = pytest.mark.slow

RUN = "rhesis.execution.execute_test_run"
INGEST = "rhesis.telemetry.ingest_batch"
FAST_SIM = {"latency_ms": [1, 5], "failure_rate": 0.3, "retry_rate": 0.3, "seed": 11}


def run_to_summary(client: Any, result_id: str, timeout: float = 30) -> dict[str, Any]:
    launched = client.AsyncResult(result_id).get(timeout=timeout)
    return client.AsyncResult(launched["callback_id"]).get(timeout=timeout)


class TestChord:
    def test_chord_run_delivers_every_result_and_the_tenant_to_the_callback(
            self, client: Any, prefork_worker: WorkerProcess) -> None:
        """A run of 8 tests fans out, retries some, and its callback sees all 8 + the tenant."""
        result = send_with_tenant(client.tasks[RUN], ("run-chord", 8), {"sim": FAST_SIM},
                                  organization_id="org-7", user_id="u-3")
        summary = run_to_summary(client, result.id)
        assert summary["n_results"] == 8
        assert [r["test_index"] for r in summary["results"]] == list(range(8))
        assert all(r["status"] in ("passed", "failed", "error") for r in summary["results"])
        assert sum(summary["counts"].values()) == 8
        assert (summary["organization_id"], summary["user_id"]) == ("org-7", "u-3")
        assert summary["mode"] == "chord"
        # The seed makes some attempts transient: the retries show in the log stream.
        assert any(r["attempts"] > 1 for r in summary["results"])
        callback_done = prefork_worker.wait_for_event(
            schema.Event.TASK_SUCCEEDED, **{schema.TASK_NAME: "rhesis.execution.collect_results"})
        assert callback_done[0][schema.ORGANIZATION_ID] == "org-7"
        prefork_worker.wait_for_event(
            schema.Event.TASK_RETRIED, **{schema.ORGANIZATION_ID: "org-7"}
        )
        # The chord monitor's record of the chord (written by the worker that started it).
        launched = client.AsyncResult(result.id).get(timeout=5)
        backend = redis.Redis.from_url(client.conf.result_backend)
        record = backend.hgetall(f"rhesis-chord-{launched['chord_id']}")
        assert record[b"callback_name"] == b"rhesis.execution.collect_results"
        assert record[b"organization_id"] == b"org-7"

    def test_tests_that_exhaust_their_retries_still_complete_the_chord(
            self, client: Any, prefork_worker: WorkerProcess) -> None:
        """retry_rate=1: every test errors after its last retry, yet the callback runs."""
        sim = {"latency_ms": [0, 1], "retry_rate": 1.0, "failure_rate": 0.0}
        result = send_with_tenant(client.tasks[RUN], ("run-doomed", 3), {"sim": sim},
                                  organization_id="org-1")
        summary = run_to_summary(client, result.id)
        assert summary["counts"] == {"passed": 0, "failed": 0, "error": 3}
        assert {r["attempts"] for r in summary["results"]} == {3}  # 1 + TASK_MAX_RETRIES=2
        assert all("transient" in r["error"] for r in summary["results"])

    def test_sequential_mode_ends_in_the_same_callback(
            self, client: Any, prefork_worker: WorkerProcess) -> None:
        result = send_with_tenant(client.tasks[RUN], ("run-seq", 4),
                                  {"sim": FAST_SIM, "sequential": True},
                                  organization_id="org-2", user_id="u-9")
        summary = run_to_summary(client, result.id)
        assert summary["mode"] == "sequential"
        assert summary["n_results"] == 4
        assert summary["organization_id"] == "org-2"

    def test_bad_input_fails_the_run_task_permanently(
            self, client: Any, prefork_worker: WorkerProcess) -> None:
        result = send_with_tenant(client.tasks[RUN], ("run-bad", 0), {},
                                  organization_id="org-1")
        with pytest.raises(Exception, match="n_tests must be a positive integer"):
            result.get(timeout=20)
        assert result.state == "FAILURE"
        assert not prefork_worker.events(schema.Event.TASK_RETRIED, **{schema.TASK_ID: result.id})


class TestRetries:
    def test_retry_then_success(self, client: Any, prefork_worker: WorkerProcess) -> None:
        result = send_with_tenant(client.tasks[INGEST], ("b-1",), {"fail_attempts": 2},
                                  organization_id="org-1")
        assert result.get(timeout=20) == {"batch_id": "b-1", "size": 100, "attempts": 3}
        retried = prefork_worker.wait_for_event(schema.Event.TASK_RETRIED, count=2,
                                                **{schema.TASK_ID: result.id})
        assert all(e[schema.EXCEPTION_TYPE].endswith("TransientError") for e in retried)
        assert [e[schema.RETRIES] for e in retried] == [0, 1]

    def test_failure_after_max_retries(self, client: Any,
                                       prefork_worker: WorkerProcess) -> None:
        result = send_with_tenant(client.tasks[INGEST], ("b-2",), {"fail_attempts": 99},
                                  organization_id="org-1")
        with pytest.raises(Exception, match="telemetry sink unavailable"):
            result.get(timeout=20)
        failed = prefork_worker.wait_for_event(
            schema.Event.TASK_FAILED, **{schema.TASK_ID: result.id}
        )
        assert failed[0][schema.RETRIES] == 2
        assert (
            len(prefork_worker.events(schema.Event.TASK_RETRIED, **{schema.TASK_ID: result.id}))
            == 2
        )

    def test_permanent_error_is_not_retried(self, client: Any,
                                            prefork_worker: WorkerProcess) -> None:
        result = send_with_tenant(client.tasks[INGEST], ("b-3",), {"permanent": True},
                                  organization_id="org-1")
        with pytest.raises(Exception, match="malformed"):
            result.get(timeout=20)
        failed = prefork_worker.wait_for_event(
            schema.Event.TASK_FAILED, **{schema.TASK_ID: result.id}
        )
        assert failed[0][schema.EXCEPTION_TYPE].endswith("PermanentError")
        assert failed[0][schema.RETRIES] == 0
        assert not prefork_worker.events(schema.Event.TASK_RETRIED, **{schema.TASK_ID: result.id})


class TestTenant:
    def test_kwargs_tenant_is_the_fallback(self, client: Any,
                                           prefork_worker: WorkerProcess) -> None:
        result = client.tasks[INGEST].apply_async(
            args=("b-4",), kwargs={"organization_id": "org-kw", "user_id": "u-kw"})
        result.get(timeout=20)
        done = prefork_worker.wait_for_event(
            schema.Event.TASK_SUCCEEDED, **{schema.TASK_ID: result.id}
        )
        assert (done[0][schema.ORGANIZATION_ID], done[0][schema.USER_ID]) == ("org-kw", "u-kw")
        assert not prefork_worker.events(schema.Event.TASK_NO_TENANT, **{schema.TASK_ID: result.id})

    def test_a_task_without_tenant_logs_one_warning(self, client: Any,
                                                    prefork_worker: WorkerProcess) -> None:
        result = client.tasks[INGEST].apply_async(args=("b-5",))
        result.get(timeout=20)
        warned = prefork_worker.wait_for_event(
            schema.Event.TASK_NO_TENANT, **{schema.TASK_ID: result.id}
        )
        assert len(warned) == 1
        assert warned[0][schema.SEVERITY] == "WARNING"

    def test_send_with_tenant_refuses_a_countdown_past_the_visibility_timeout(
            self, client: Any) -> None:
        with pytest.raises(ValueError, match="visibility_timeout"):
            send_with_tenant(client.tasks[INGEST], ("b-6",), organization_id="org-1",
                             countdown=10_000)
        with pytest.raises(ValueError, match="organization_id or a user_id"):
            send_with_tenant(client.tasks[INGEST], ("b-7",), organization_id=None)


def test_chord_over_tls_redis(tmp_path: Any, tls_redis: Any, worker_env: dict[str, str]
                              ) -> None:
    """Broker and backend over rediss:// with CERT_REQUIRED and a CA file: a full chord."""
    from tests.support import running_worker
    from worker.app import create_app
    from worker.config import load_settings

    env = {**worker_env, "BROKER_URL": tls_redis.url(4), "CELERY_RESULT_BACKEND": tls_redis.url(5),
           "REDIS_SSL_CERT_REQS": "required", "REDIS_SSL_CA_CERTS": str(tls_redis.ca_file)}
    tls_client = create_app(load_settings(env), set_as_current=False)
    try:
        with running_worker("worker.app", tmp_path, env=env, pool="solo") as worker:
            result = send_with_tenant(tls_client.tasks[RUN], ("run-tls", 3), {"sim": FAST_SIM},
                                      organization_id="org-tls")
            summary = run_to_summary(tls_client, result.id)
            assert summary["n_results"] == 3 and summary["organization_id"] == "org-tls"
            assert worker.events(schema.Event.WORKER_READY)
    finally:
        import gc

        gc.collect()  # unsubscribe the results while the TLS Redis is still up
        tls_client.close()


def test_a_test_past_its_soft_time_limit_is_an_error_result(
        tmp_path: Any, client: Any, worker_env: dict[str, str]) -> None:
    """Per-task annotations apply; a soft time limit ends one test, not the whole chord."""
    from tests.support import running_worker

    limits = '{"rhesis.execution.execute_single_test": {"soft_time_limit": 0.3, "time_limit": 5}}'
    env = {**worker_env, "CELERY_TASK_ANNOTATIONS": limits}
    with running_worker("worker.app", tmp_path, env=env, pool="prefork", concurrency=2):
        slow = {"latency_ms": [2000, 2000], "retry_rate": 0.0, "failure_rate": 0.0}
        result = send_with_tenant(client.tasks[RUN], ("run-slow", 2), {"sim": slow},
                                  organization_id="org-1")
        summary = run_to_summary(client, result.id)
    assert summary["counts"]["error"] == 2
    assert {r["error"] for r in summary["results"]} == {"soft time limit exceeded"}
    assert all(r["duration_ms"] < 1500 for r in summary["results"])

"""Settings from the environment: defaults, TLS options, and the start-up errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from worker.config import ConfigError, check_task_names, describe_url, load_settings
from worker.tasks.base import backoff_delay


class TestDefaults:
    def test_defaults_give_the_documented_celery_config(self) -> None:
        conf = load_settings({}).celery_config()
        assert conf["broker_url"] == "redis://localhost:6379/0"
        assert conf["result_backend"] == "redis://localhost:6379/1"
        assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
        assert conf["enable_utc"] is True and conf["timezone"] == "UTC"
        assert conf["task_acks_late"] is True and conf["worker_prefetch_multiplier"] == 1
        assert conf["task_track_started"] is True
        assert conf["broker_connection_retry_on_startup"] is True
        assert conf["task_publish_retry"] is True
        assert [q.name for q in conf["task_queues"]] == ["celery", "execution", "telemetry"]
        assert conf["task_routes"]["rhesis.execution.*"] == {"queue": "execution"}
        assert conf["broker_transport_options"]["visibility_timeout"] == 3600
        assert conf["broker_transport_options"]["socket_connect_timeout"] == 5
        assert "broker_use_ssl" not in conf

    def test_outages_are_waited_out_not_failed(self) -> None:
        """What the chaos suite (tests/chaos) needs: never give up on the broker, do not
        cancel running tasks on connection loss, retry result writes and publishes."""
        conf = load_settings({}).celery_config()
        assert conf["broker_connection_max_retries"] is None
        assert conf["worker_consumer"] == "worker.consumer:ResilientConsumer"
        assert conf["rhesis_broker_reconnect_max_s"] == 5
        assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is False
        assert conf["result_backend_always_retry"] is True
        assert conf["result_backend_max_retries"] == 200
        assert conf["task_publish_retry_policy"]["max_retries"] == 100
        tuned = load_settings({"BROKER_RECONNECT_MAX_S": "2", "RESULT_BACKEND_MAX_RETRIES": "7",
                               "PUBLISH_MAX_RETRIES": "3"}).celery_config()
        assert tuned["rhesis_broker_reconnect_max_s"] == 2
        assert tuned["result_backend_max_retries"] == 7
        assert tuned["task_publish_retry_policy"]["max_retries"] == 3
        with pytest.raises(ConfigError, match="BROKER_RECONNECT_MAX_S"):
            load_settings({"BROKER_RECONNECT_MAX_S": "0"})

    def test_the_app_uses_the_resilient_consumer_and_backend(self) -> None:
        from celery.utils.imports import symbol_by_name

        from worker.app import create_app
        from worker.consumer import ResilientConsumer
        from worker.result_backend import ResilientRedisBackend

        app = create_app(load_settings({"CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/3"}),
                         set_as_current=False)
        try:
            assert isinstance(app.backend, ResilientRedisBackend)
            assert app.backend.connparams["db"] == 3 and app.backend.always_retry
            assert symbol_by_name(app.conf.worker_consumer) is ResilientConsumer
        finally:
            app.close()


class TestTLS:
    def test_rediss_defaults_to_cert_required_on_broker_and_backend(self) -> None:
        conf = load_settings({"BROKER_URL": "rediss://h:6380/0",
                              "CELERY_RESULT_BACKEND": "rediss://h:6380/1"}).celery_config()
        assert conf["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
        assert conf["redis_backend_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}

    def test_ca_file_and_cert_none(self, tmp_path: Path) -> None:
        ca = tmp_path / "ca.pem"
        ca.write_text("x")
        conf = load_settings({"BROKER_URL": "rediss://h/0", "REDIS_SSL_CA_CERTS": str(ca),
                              "CELERY_RESULT_BACKEND": "rediss://h/1",
                              "REDIS_SSL_CERT_REQS": "none"}).celery_config()
        assert conf["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_NONE}
        conf = load_settings({"BROKER_URL": "rediss://h/0", "REDIS_SSL_CA_CERTS": str(ca)}
                             ).celery_config()
        assert conf["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                          "ssl_ca_certs": str(ca)}
        assert "redis_backend_use_ssl" not in conf  # the backend stays plain redis://

    def test_url_parameter_wins_over_the_environment(self) -> None:
        settings = load_settings({"BROKER_URL": "rediss://h/0?ssl_cert_reqs=none",
                                  "REDIS_SSL_CERT_REQS": "required"})
        assert settings.celery_config()["broker_use_ssl"]["ssl_cert_reqs"] == ssl.CERT_NONE

    def test_missing_ca_file_is_an_error(self) -> None:
        with pytest.raises(ConfigError, match="REDIS_SSL_CA_CERTS"):
            load_settings({"BROKER_URL": "rediss://h/0", "REDIS_SSL_CA_CERTS": "/nope.pem"})


class TestErrors:
    @pytest.mark.parametrize(("env", "message"), [
        ({"BROKER_URL": "redsi://:pw-secret@h/0"}, "scheme 'redsi'"),
        ({"BROKER_URL": "redis://:pw-secret@h:port/0"}, "port is not a number"),
        ({"BROKER_URL": "redis://:pw-secret@h/zero"}, "database 'zero'"),
        ({"BROKER_URL": "rediss://:pw-secret@h/0?ssl_cert_reqs=maybe"}, "ssl_cert_reqs"),
        ({"VISIBILITY_TIMEOUT": "30"}, "VISIBILITY_TIMEOUT=30s must be longer"),
        ({"VISIBILITY_TIMEOUT": "100", "MAX_COUNTDOWN": "10", "RETRY_BACKOFF_MAX": "120"},
         "longest countdown"),
        ({"HEALTH_PORT": "http"}, "HEALTH_PORT='http' is not a number"),
        ({"RETRY_JITTER": "maybe"}, "not a boolean"),
        ({"CELERY_TASK_ROUTES": "{not json"}, "not valid JSON"),
        ({"TASK_SOFT_TIME_LIMIT": "50", "TASK_TIME_LIMIT": "40"}, "shorter than"),
    ])
    def test_bad_settings_name_the_variable_and_hide_the_password(
            self, env: dict[str, str], message: str) -> None:
        with pytest.raises(ConfigError, match=message) as info:
            load_settings(env)
        assert "pw-secret" not in str(info.value)

    def test_every_problem_is_reported_at_once(self) -> None:
        with pytest.raises(ConfigError) as info:
            load_settings({"HEALTH_PORT": "x", "VISIBILITY_TIMEOUT": "1"})
        assert "HEALTH_PORT" in str(info.value) and "VISIBILITY_TIMEOUT" in str(info.value)

    def test_misspelt_route_or_annotation_key_is_caught(self) -> None:
        registered = frozenset({"rhesis.execution.execute_test_run", "celery.chord"})
        problems = check_task_names(
            registered,
            {"rhesis.execution.*": {}, "rhesis.exectuion.*": {}},
            {"rhesis.execution.execute_test_run": {}, "rhesis.execution.execute_tset_run": {}})
        assert problems == [
            "task route 'rhesis.exectuion.*' matches no registered task",
            "task annotation 'rhesis.execution.execute_tset_run' names no registered task",
        ]

    def test_the_app_refuses_to_build_with_a_misspelt_annotation(self) -> None:
        from worker.app import create_app

        settings = load_settings(
            {"CELERY_TASK_ANNOTATIONS": '{"rhesis.telemetry.ingest_bacth": {"rate_limit": "1/s"}}'})
        with pytest.raises(ConfigError, match="ingest_bacth"):
            create_app(settings, set_as_current=False)


def test_describe_url_never_shows_the_password() -> None:
    described = describe_url("rediss://user:hunter2@redis.internal:6380/4")
    assert described == {"scheme": "rediss", "host": "redis.internal", "port": 6380, "db": 4,
                         "tls": True, "has_password": True}


@pytest.mark.parametrize(("retries", "expected"), [(0, 1.0), (1, 2.0), (3, 8.0), (10, 30.0)])
def test_backoff_doubles_up_to_the_cap(retries: int, expected: float) -> None:
    assert backoff_delay(retries, base=1.0, cap=30.0, jitter=False) == expected
    jittered = backoff_delay(retries, base=1.0, cap=30.0, jitter=True)
    assert expected / 2 <= jittered <= expected


def test_a_worker_with_a_misspelt_route_refuses_to_start(worker_env: dict[str, str]) -> None:
    """The real ``celery worker`` command exits with the problem named, before consuming."""
    import os
    import subprocess
    import sys

    from tests.support import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO), **worker_env,
           "CELERY_TASK_ROUTES": '{"rhesis.telemtry.*": {"queue": "telemetry"}}'}
    proc = subprocess.run([sys.executable, "-m", "celery", "-A", "worker.app", "worker",
                           "--pool", "solo"], env=env, cwd=str(REPO), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "task route 'rhesis.telemtry.*' matches no registered task" in proc.stderr

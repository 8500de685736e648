"""worker.redis_client: one factory for every Redis client of the worker and its tools."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest

from tests.support import RedisServer, free_port, silent_server, start_redis_server
from worker.config import load_settings
from worker.redis_client import (
    RedisUnavailable,
    RedisURLError,
    check_url,
    client_options,
    make_client,
    ping,
    tls_settings,
)


@pytest.mark.parametrize(("url", "why"), [
    ("redis://::::/x", "cannot be parsed"),
    ("http://h:1/0", "scheme 'http'"),
    ("redis:///0", "no host"),
    ("redis://h:1/abc", "database 'abc'"),
    ("", "empty"),
])
def test_bad_urls_are_url_errors(url: str, why: str) -> None:
    with pytest.raises(RedisURLError, match=why):
        make_client(url)


def test_url_errors_mask_the_password() -> None:
    with pytest.raises(RedisURLError) as err:
        check_url("redis://:hunter2@h:port/0")
    assert "hunter2" not in str(err.value)


def test_tls_options_come_from_the_settings_or_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env = {"REDIS_SSL_CERT_REQS": "required", "REDIS_SSL_CA_CERTS": str(ca)}
    options = client_options("rediss://h:6380/1", tls_settings(env), timeout=1.5)
    assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED and options["ssl_ca_certs"] == str(ca)
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 1.5
    assert "ssl_cert_reqs" not in client_options("redis://h:6379/1", tls_settings(env))
    # The worker's own settings give the same options, timeouts included.
    settings = load_settings({**env, "BROKER_SOCKET_TIMEOUT": "7"})
    assert client_options("rediss://h:6380/1", settings)["socket_timeout"] == 7
    assert client_options("rediss://h/1?ssl_cert_reqs=none", settings)["ssl_cert_reqs"] \
        == ssl.CERT_NONE


def test_ping_answers_and_fails_in_one_line(redis_server: RedisServer) -> None:
    ping(redis_server.url(0), timeout=2)
    with pytest.raises(RedisUnavailable, match=r"broker redis://127\.0\.0\.1:[0-9]+/0: "
                                               r"connection failed"):
        ping(f"redis://127.0.0.1:{free_port()}/0", timeout=2, what="broker")
    protected = start_redis_server(password="right-pw")
    try:
        with pytest.raises(RedisUnavailable, match="authentication failed") as err:
            ping(protected.url(0).replace("right-pw", "wrong-pw"), timeout=2)
        assert "wrong-pw" not in str(err.value) and "\n" not in str(err.value)
    finally:
        protected.stop()


def test_ping_of_a_server_that_never_answers_is_bounded() -> None:
    with silent_server() as port:
        started = time.monotonic()
        with pytest.raises(RedisUnavailable, match="no answer"):
            ping(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        assert time.monotonic() - started < 3


def test_the_idna_codec_is_imported_before_any_thread_of_ours_can_fork_mid_import() -> None:
    """getaddrinfo() imports ``encodings.idna`` on first use; a prefork child forked while a
    health-probe thread is inside that import deadlocks on its first Redis connection. The
    worker's modules import it up front, before the health server or gauges start threads."""
    import subprocess
    import sys

    code = ("import sys; import worker.health.hooks, worker.chord_monitor.gauges; "
            "print('encodings.idna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr

"""The chord monitor against a TLS Redis (rediss://) whose certificate only a private CA file
vouches for: the same REDIS_SSL_* options as the worker, for the backend, the broker queues and
the control calls alike."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, chord

from instrumentation.exit_status import ExitStatus
from tests.support import REPO
from tests.worker.conftest import TLSRedis, tls_redis  # noqa: F401 - the module's TLS Redis
from worker.chord_monitor import record

pytestmark = pytest.mark.slow


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.chord_monitor", *args],
                          capture_output=True, text=True, timeout=60, cwd=str(REPO),
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                               "PYTHONPATH": str(REPO), **env})


@pytest.fixture
def tls_app(tls_redis: TLSRedis) -> Iterator[Celery]:  # noqa: F811 - the fixture above
    tls = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(tls_redis.ca_file)}
    app = Celery("tls-chords", broker=tls_redis.url(6), backend=tls_redis.url(7),
                 set_as_current=False)
    app.conf.update(broker_use_ssl=tls, redis_backend_use_ssl=tls)
    record.install(app)
    try:
        yield app
    finally:
        record.uninstall(app)
        consumer = app.backend.result_consumer
        consumer.subscribed_to.clear()
        app.close()


def test_monitor_reads_chords_and_queues_over_tls_with_a_private_ca(
        tls_redis: TLSRedis, tls_app: Celery) -> None:  # noqa: F811
    """No worker runs: the members wait in the queue. The monitor, given the CA file
    through REDIS_SSL_CA_CERTS, finds the chord, its callback and each member's queue."""
    header = [tls_app.signature("chordapp.member", args=(i,)) for i in range(3)]
    result = chord(header, app=tls_app)(tls_app.signature("chordapp.collect"))
    gid = result.parent.id
    env = {"REDIS_SSL_CERT_REQS": "required", "REDIS_SSL_CA_CERTS": str(tls_redis.ca_file)}
    conn = ["--backend", tls_redis.url(7), "--broker", tls_redis.url(6), "--timeout", "0.5"]
    proc = _cli(env, *conn, "--json", "inspect", gid)
    assert proc.returncode == ExitStatus.OK, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["chord_id"] == gid and doc["state"] == "in_progress"
    assert doc["chord_callback_id"] == result.id
    assert [m["holder"] for m in doc["members"]] == ["queue:celery"] * 3

    check = _cli(env, *conn, "check", "--max-hours", "0")
    assert check.returncode == ExitStatus.OK and "0 stuck chord(s) of 1 checked" in check.stdout


def test_without_the_ca_file_the_certificate_is_refused_in_one_line(
        tls_redis: TLSRedis) -> None:  # noqa: F811
    proc = _cli({"REDIS_SSL_CERT_REQS": "required"}, "--backend", tls_redis.url(7),
                "--timeout", "2", "check")
    assert proc.returncode == ExitStatus.UNAVAILABLE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "certificate verify failed" in lines[0], proc.stderr

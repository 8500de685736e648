"""Issue 14's acceptance test: secrets of every common form, planted in the environment of a
real prefork worker and in the failures of its tasks, appear in no endpoint, no log line, no
traceback and no report format; ``/debug/*`` is unreachable from the pod address without the
token."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from instrumentation import schema as s
from tests.support import REPO, free_port, start_redis_server, start_worker, wait_for
from tests.support.apps import client_app
from tests.worker.conftest import FAST
from tests.worker.health.test_server import TOKEN, _non_loopback_address

pytestmark = pytest.mark.slow

# (environment variable, value as people write it, the secret inside it)
PLANTED: list[tuple[str, str, str]] = [
    ("APP_LOGIN", 'password="hunter 2 xq01"', "hunter 2 xq01"),
    ("LOGIN_NOTE", "login failed with password hunter2xq02", "hunter2xq02"),
    ("PY_CONF", "{'passwd': 'open sesame xq03'}", "open sesame xq03"),
    ("MYSQL_PWD", "xq04-mysql-pw", "xq04-mysql-pw"),
    ("OAUTH_CONF", "client_secret: xq05SecretValue", "xq05SecretValue"),
    ("EXTRA_OPTS", "--verbose api_key=xq06ApiKeyValue1", "xq06ApiKeyValue1"),
    ("SIGNING_KEY", "xq07SigningKey99", "xq07SigningKey99"),
    ("REDIS_AUTH", "xq08RedisAuth1", "xq08RedisAuth1"),
    ("CRED_NOTE", 'credentials "xq09 cred value"', "xq09 cred value"),
    ("DSN", "https://xq10abcdef0123456789abcdef012345@o1.ingest.sentry.io/1",
     "xq10abcdef0123456789abcdef012345"),
    ("CACHE_URL", "redis://:xq11RedisPass@cache:6379/0", "xq11RedisPass"),
    ("WEBHOOK_URL", "https://hooks.slack.com/services/T0A1B2C3/B0A1B2C3/xq12aB3dE6gH9jK2mN5pQ8",
     "xq12aB3dE6gH9jK2mN5pQ8"),
    ("CALLBACK", "https://api.example.com/v1/cb?page=2&access_token=xq13AccessTok",
     "xq13AccessTok"),
    ("AUTH_HEADER", "Authorization: Bearer xq14BearerTokenValue", "xq14BearerTokenValue"),
    ("GITHUB_PAT", "ghp_xq15aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
     "xq15aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"),
    ("GH_FINE", "github_pat_11XQ16ABCDEFGHIJKLMNOP_"
     "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV", "11XQ16ABCDEFGHIJKLMNOP"),
    ("STRIPE_KEY", "sk_live_xq17aBcDeFgHiJkLmNoPqRsTuV", "xq17aBcDeFgHiJkLmNoPqRsTuV"),
    ("STRIPE_RESTRICTED", "rk_live_xq18aBcDeFgHiJkLmNoPqRsTuV", "xq18aBcDeFgHiJkLmNoPqRsTuV"),
    ("SLACK_BOT", "xoxb-1234567890-1234567890-xq19aBcDeFgHiJkLmNoPqRsT",
     "xq19aBcDeFgHiJkLmNoPqRsT"),
    ("GOOGLE_API", "AIzaXq20aBcDeFgHiJkLmNoPqRsTuVwXyZ01234",
     "Xq20aBcDeFgHiJkLmNoPqRsTuVwXyZ01234"),
    ("SESSION_JWT", "eyJhbGciOiJIUzI1NiJ9.eyJ4cTIxIjoiMSJ9.xq21SignatureAbcdefghijklmnop",
     "xq21SignatureAbcdefghijklmnop"),
    ("TLS_KEY", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAxq22PemBodyAbcdefghij\n"
     "ZmFrZWtleWJvZHlmYWtla2V5Ym9keQ==\n-----END RSA PRIVATE KEY-----",
     "MIIEowIBAAKCAQEAxq22PemBodyAbcdefghij"),
]
BROKER_SECRET = "xq23BrokerPass"
SECRETS = [secret for _name, _value, secret in PLANTED] + [BROKER_SECRET, TOKEN]


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def _get(host: str, port: int, path: str, headers: dict[str, str] | None = None
         ) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def test_planted_secrets_appear_nowhere(tmp_path: Path) -> None:
    """A prefork worker with the secrets in its environment runs a task that fails quoting
    them all; then every endpoint, the log and the four report formats are searched."""
    pod = _non_loopback_address() or "127.0.0.1"
    health_port, debug_port = free_port(), free_port()
    redis = start_redis_server(password=BROKER_SECRET)
    try:
        env = {**FAST, **{name: value for name, value, _ in PLANTED},
               "BROKER_URL": redis.url(0), "CELERY_RESULT_BACKEND": redis.url(1),
               "HEALTH_HOST": pod, "HEALTH_PORT": str(health_port),
               "METRICS_PORT": str(free_port()), "HEALTH_DEBUG": "1",
               "HEALTH_DEBUG_PORT": str(debug_port), "HEALTH_DEBUG_TOKEN": TOKEN}
        worker = start_worker("tests.support.apps.leaky", tmp_path, env=env, pool="prefork",
                              concurrency=2)
        try:
            _exercise(worker, env, pod, health_port, debug_port, tmp_path)
        finally:
            worker.stop()
    finally:
        redis.stop()


def _exercise(worker: Any, env: dict[str, str], pod: str, health_port: int, debug_port: int,
              tmp_path: Path) -> None:
    publisher = client_app(env["BROKER_URL"], env["CELERY_RESULT_BACKEND"])
    # In the environment a bare value is fine (unknown variables show no value at all); in
    # text, a bare random string has nothing that marks it as a secret, so the task quotes
    # those the way code does: NAME=value.
    forms = [f"{name}={value}" if value == secret else value for name, value, secret in PLANTED]
    try:
        for _ in range(2):
            publisher.send_task("tests.leaky", args=(forms,))
        wait_for(lambda: len(worker.events(s.Event.TASK_FAILED)) >= 2, timeout=60,
                 message=lambda: "two failed tasks:\n" + worker.stdout()[-3000:])
    finally:
        publisher.close()

    # The failures were logged, with the message and traceback, and masked.
    failed = worker.events(s.Event.TASK_FAILED)
    assert all("***" in e[s.EXCEPTION_MESSAGE] and "login failed" in e[s.EXCEPTION_MESSAGE]
               for e in failed)
    assert all("PermissionError" in (e.get(s.TRACEBACK) or "") for e in failed)
    log = worker.stdout() + worker.stderr()
    assert "about to connect with" in log and "print() from the task" in log
    assert _leaks(log) == [], _leaks(log)

    # Endpoints: probes on the pod address, /debug there only with the token.
    bodies: dict[str, str] = {}
    for path in ("/ping", "/health", "/health/basic", "/metrics", "/nope"):
        status, bodies[path] = _get(pod, health_port, path)
        assert status in (200, 404), (path, status)
    for path in ("/debug", "/debug/env", "/debug/redis", "/debug/detailed"):
        status, body = _get(pod, health_port, path)
        assert status == 401 and "configuration" not in body, (path, status)
        status, body = _get(pod, health_port, path, {"Authorization": "Bearer not-the-token"})
        assert status == 401, path
        status, bodies[f"token {path}"] = _get(pod, health_port, path,
                                               {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, (path, bodies[f"token {path}"][:500])
        status, bodies[f"loopback {path}"] = _get("127.0.0.1", debug_port, path)
        assert status == 200, path
    if pod != "127.0.0.1":
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((pod, debug_port), timeout=2).close()
    env_view = json.loads(bodies["token /debug/env"])
    assert {name for name, _v, _s in PLANTED} <= set(env_view["other_variables"])
    assert env_view["configuration"]["BROKER_URL"].startswith("redis://:***@")
    for where, body in bodies.items():
        assert _leaks(body) == [], (where, _leaks(body))

    # Reports in every format from the worker's captured log.
    logfile = tmp_path / "worker.log"
    logfile.write_text(log)
    rhesis_logs = Path(sys.executable).parent / "rhesis-logs"
    for fmt in ("json", "text", "markdown", "html"):
        out = subprocess.run([str(rhesis_logs), "analyze", str(logfile), "-o", fmt],
                             capture_output=True, text=True, timeout=120, cwd=REPO)
        assert out.returncode == 0, out.stderr
        assert "tests.leaky" in out.stdout, fmt
        assert _leaks(out.stdout + out.stderr) == [], (fmt, _leaks(out.stdout))

"""Redaction: generated secrets in every form people write them never survive any output; the
ordinary content of Celery logs (task ids, hashes, trace ids, task names, prose) is untouched.
"""

from __future__ import annotations

import io
import json
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from instrumentation import schema
from instrumentation.redaction import (
    MASK,
    PROSE_STOPWORDS,
    Redactor,
    is_secret_key,
    redact_mapping,
    redact_text,
    redact_url,
)

ALNUM = string.ascii_letters + string.digits
# What a password may contain unquoted: no whitespace and none of the characters that end a
# value in running text (quotes, comma, semicolon, ampersand, closing brackets).
PW_CHARS = ALNUM + "!#$%*+-./<>?@^_|~[{("


def _has_two_classes(value: str) -> bool:
    return sum((any(c.islower() for c in value), any(c.isupper() for c in value),
                any(c.isdigit() for c in value))) >= 2


tokens = st.text(ALNUM, min_size=24, max_size=40).filter(_has_two_classes)
passwords = st.text(PW_CHARS, min_size=8, max_size=24).filter(
    lambda v: v.lower() not in PROSE_STOPWORDS and any(c.isalnum() for c in v))
quoted_passwords = st.text(ALNUM + " !#$%*+-./:@^_~", min_size=6, max_size=24).filter(
    lambda v: v.strip() != "" and len(v.strip()) >= 4)
credential_words = st.text(ALNUM, min_size=8, max_size=24).filter(
    lambda v: any(c.isdigit() for c in v) and any(c.isalpha() for c in v))

KEY_NAMES = ["password", "passwd", "pwd", "secret", "token", "key", "auth", "credential",
             "credentials", "dsn", "api_key", "apiKey", "SIGNING_KEY", "REDIS_AUTH",
             "MYSQL_PWD", "client_secret", "x-api-key", "auth_token", "DB_PASSWORD",
             "SENTRY_DSN", "private_key", "passphrase"]
SEPARATORS = ["=", ": ", ":", " = ", "=>"]
STRONG = ["password", "passwd", "pwd", "secret", "token", "credential", "passphrase", "dsn"]


@st.composite
def key_value(draw: st.DrawFn) -> tuple[str, str]:
    key = draw(st.sampled_from(KEY_NAMES))
    quote = draw(st.sampled_from(["", '"', "'", '\\"']))
    key_quote = draw(st.sampled_from(["", '"', "'"])) if quote else ""
    sep = draw(st.sampled_from(SEPARATORS))
    if quote:
        secret = draw(quoted_passwords.filter(lambda v: quote[-1] not in v))
    else:
        secret = draw(passwords)
    return f"{key_quote}{key}{key_quote}{sep}{quote}{secret}{quote}", secret


@st.composite
def prose(draw: st.DrawFn) -> tuple[str, str]:
    lead = draw(st.sampled_from(["login failed with", "using", "the", "rotated", "set",
                                 "connect with", "bad"]))
    word = draw(st.sampled_from([*STRONG, "key", "auth", "api key"]))
    gap = draw(st.sampled_from([" ", " is ", " was ", ": "]))
    if draw(st.booleans()):
        quote = draw(st.sampled_from(['"', "'"]))
        secret = draw(quoted_passwords.filter(lambda v: quote not in v))
        return f"{lead} {word}{gap}{quote}{secret}{quote}", secret
    secret = draw(passwords if word in STRONG else credential_words)
    return f"{lead} {word}{gap}{secret}", secret


@st.composite
def url_secret(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(["userinfo", "user-token", "path", "query", "query-shape",
                                 "fragment"]))
    host = draw(st.sampled_from(["redis.internal:6379", "10.0.0.3:6378", "hooks.slack.com",
                                 "api.example.com", "o1.ingest.sentry.io"]))
    scheme = draw(st.sampled_from(["redis", "rediss", "https", "http", "postgresql", "amqp"]))
    if kind == "userinfo":
        pw = draw(st.text(ALNUM + "-._~!$*+,;=%", min_size=6, max_size=30))
        user = draw(st.sampled_from(["", "default", "admin", "svc_user"]))
        return f"{scheme}://{user}:{pw}@{host}/0", pw
    token = draw(tokens)
    if kind == "user-token":
        return f"{scheme}://{token}@{host}/1", token
    if kind == "path":
        return f"{scheme}://{host}/services/T0A1B2C3/B0A1B2C3/{token}", token
    if kind == "query":
        name = draw(st.sampled_from(["token", "access_token", "api_key", "key", "sig",
                                     "X-Amz-Signature", "password", "auth", "code"]))
        value = draw(st.text(ALNUM + "-_.~", min_size=6, max_size=40).filter(
            lambda v: any(c.isalnum() for c in v)))
        return f"{scheme}://{host}/v1/hook?page=2&{name}={value}&x=1", value
    if kind == "query-shape":
        return f"{scheme}://{host}/v1/hook?page=2&q={token}", token
    return f"{scheme}://{host}/cb#access_token={token}&state=x", token


@st.composite
def authorization(draw: st.DrawFn) -> tuple[str, str]:
    token = draw(tokens)
    scheme = draw(st.sampled_from(["Bearer", "Basic", "Token", "token", "bearer"]))
    form = draw(st.sampled_from(["Authorization: {s} {t}", "authorization={s} {t}",
                                 '{{"Authorization": "{s} {t}"}}',
                                 "{{'Proxy-Authorization': '{s} {t}'}}",
                                 "curl -H 'Authorization: {s} {t}' https://x"]))
    return form.format(s=scheme, t=token), token


@st.composite
def token_shape(draw: st.DrawFn) -> tuple[str, str]:
    def alnum(n: int) -> str:
        return draw(st.text(ALNUM, min_size=n, max_size=n))

    kind = draw(st.integers(0, 12))
    secret = [
        lambda: "ghp_" + alnum(36),
        lambda: "gho_" + alnum(36),
        lambda: "github_pat_" + alnum(22) + "_" + alnum(59),
        lambda: "sk_live_" + alnum(24),
        lambda: "sk_test_" + alnum(24),
        lambda: "rk_live_" + alnum(24),
        lambda: draw(st.sampled_from(["xoxb-", "xoxp-", "xoxa-", "xoxs-"]))
        + f"{draw(st.integers(10**9, 10**12))}-{draw(st.integers(10**9, 10**12))}-{alnum(24)}",
        lambda: "AIza" + draw(st.text(ALNUM + "-_", min_size=35, max_size=35)),
        lambda: "eyJ" + alnum(20) + "." + "eyJ" + alnum(30) + "." + alnum(43),
        lambda: "AKIA" + draw(st.text(string.ascii_uppercase + string.digits, min_size=16,
                                      max_size=16)),
        lambda: "sk-proj-" + alnum(40),
        lambda: "hf_" + alnum(34),
        lambda: "glpat-" + alnum(20),
    ][kind]()
    lead = draw(st.sampled_from(["", "value ", "got ", "(", "'", '"', "=", "x:"]))
    return f"{lead}{secret}", secret


@st.composite
def pem(draw: st.DrawFn) -> tuple[str, str]:
    body = draw(st.text(ALNUM + "+/", min_size=64, max_size=64))
    kind = draw(st.sampled_from(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "]))
    newline = draw(st.sampled_from(["\n", "\\n"]))
    block = (f"-----BEGIN {kind}PRIVATE KEY-----{newline}{body}{newline}{body[::-1]}{newline}"
             f"-----END {kind}PRIVATE KEY-----")
    if draw(st.booleans()):  # cut short, as a capped traceback would
        block = block[: len(block) // 2 + 20]
    return f"key={block}" if draw(st.booleans()) else block, body[8:40]


secret_forms = st.one_of(key_value(), prose(), url_secret(), authorization(), token_shape(),
                         pem())


@st.composite
def embedded(draw: st.DrawFn) -> tuple[str, str]:
    """A secret form inside the text around it in real output: a message, an exception's
    repr, a traceback, a JSON-encoded line."""
    form, secret = draw(secret_forms)
    context = draw(st.sampled_from([
        "{}",
        "connect failed: {} (retrying)",
        "ValueError('{}')",
        "Traceback (most recent call last):\n  File \"t.py\", line 3, in run\n"
        "    login(cfg)\nPermissionError: {}",
        "Task rhesis.execution.execute_single_test[6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f] "
        "raised unexpected: RuntimeError({!r})",
    ]))
    text = context.format(form)
    if draw(st.booleans()):
        text = json.dumps({"message": text})
    # A secret that is part of the text around it (the context, or the keys the test's own
    # outputs carry, e.g. "messag" of "message") would be found there, masked or not.
    assume(secret not in context and secret not in _SCAFFOLD)
    return text, secret


#: The keys around the text in the outputs the property test checks.
_SCAFFOLD = json.dumps({"message": "", "nested": [""], schema.MESSAGE: "",
                        schema.EXCEPTION_MESSAGE: "", schema.TRACEBACK: ""})


def _render_through_logging(fields: dict) -> str:
    """One real log line through the configured logging: our event path (the fused renderer
    with its redaction) and a stdlib record through the structlog chain (the Redactor)."""
    import logging

    from instrumentation.events import log_event
    from instrumentation.logconfig import configure_logging, reset_logging

    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        fields = dict(fields)
        message = fields.pop(schema.MESSAGE)
        log_event(schema.Event.TASK_FAILED, message, "ERROR", **fields)
        logging.getLogger("tests.redaction").error(message)
    finally:
        reset_logging()
    return stream.getvalue()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(embedded())
def test_no_generated_secret_survives_any_output(case: tuple[str, str]) -> None:
    text, secret = case
    out = redact_text(text)
    assert secret not in out, (text, out)
    assert redact_text(out) == out  # idempotent: masking a masked text changes nothing
    assert secret not in json.dumps(redact_mapping({"message": text, "nested": [text]}))
    event = Redactor()(None, "error", {schema.MESSAGE: text, schema.EXCEPTION_MESSAGE: text,
                                       schema.TRACEBACK: text})
    assert secret not in json.dumps(event)


@settings(max_examples=60, deadline=None)
@given(secret_forms)
def test_no_generated_secret_survives_a_rendered_log_line(case: tuple[str, str]) -> None:
    form, secret = case
    line = _render_through_logging({schema.MESSAGE: f"failed: {form}",
                                    schema.EXCEPTION_MESSAGE: form,
                                    schema.TRACEBACK: f"Traceback ...\nValueError: {form}"})
    lines = [json.loads(text) for text in line.splitlines()]
    assert len(lines) == 2, "an event line and a stdlib line"
    assert secret not in line
    assert (
        secret not in lines[0][schema.TRACEBACK]
        and secret not in lines[0][schema.EXCEPTION_MESSAGE]
    )


#: What Celery logs are made of. None of it may be masked.
ORDINARY = [
    "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
    "task_id=6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f root_id=0f6c1d2e-8f3b-4c6e-9a51-1d2f3e4a5b6c",
    "Task rhesis.execution.execute_test_run[6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f] succeeded "
    "in 0.512s: {'run_id': 'run-7', 'n_tests': 12}",
    "Task rhesis.telemetry.ingest_batch[0f6c1d2e-8f3b-4c6e-9a51-1d2f3e4a5b6c] retry: Retry "
    "in 2s: TransientError('sink busy')",
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
    "projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00f067aa0ba902b7",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "md5 d41d8cd98f00b204e9800998ecf8427e",
    "rhesis.execution.execute_single_test", "celery.chord_unlock", "celery.accumulate",
    "worker.tasks.maintenance.heartbeat", "rhesis.auth.refresh_token",
    "Connected to redis://redis.internal:6379/0",
    "mingle: searching for neighbors",
    "celery@worker-7d9f8c6b5-x2x9k ready.",
    "Received task: rhesis.execution.execute_test_run[6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f]",
    "KeyError: 'organization_id'",
    "KeyError('tenant')",
    "the token expired, refreshing",
    "password reset requested for user u-42",
    "auth failed for user alice",
    "invalid token for organization org-1",
    "missing key tenant in headers",
    "primary key violation on table results",
    "secret not found in the store",
    "the credentials are not configured",
    "routing_key=execution exchange=execution",
    "delivery_info={'exchange': '', 'routing_key': 'celery', 'priority': 0}",
    "max_tokens=1024 prompt_tokens: 35 completion_tokens=12",
    "Evaluated 12 tests in 3.2 s: 10 passed, 1 failed, 1 error",
    "Chord 0f6c1d2e-8f3b-4c6e-9a51-1d2f3e4a5b6c stuck: size key missing",
    "worker: Warm shutdown (MainProcess)",
    "https://cloud.google.com/logging/docs/structured-logging",
    "https://github.com/celery/celery/issues/4449",
    "ssl_cert_reqs=required ca_certs=/etc/redis-ca/server-ca.pem",
    "Retry in 0.4s: ConnectionError('Error 111 connecting to 127.0.0.1:6379. "
    "Connection refused.')",
    "chord_callback_name=rhesis.execution.collect_results members_done=9",
    "The quick brown fox jumps over the lazy dog; the high night light was bright.",
    "Evaluating the prompt against the rubric: accuracy 0.93, latency 1.2 s",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_content_is_not_masked(text: str) -> None:
    assert redact_text(text) == text
    event = Redactor()(None, "info", {schema.MESSAGE: text})
    assert event[schema.MESSAGE] == text


@pytest.mark.parametrize(("text", "expected"), [
    ('login(password="hunter 2")', 'login(password="***")'),
    ("login failed with password hunter2", "login failed with password ***"),
    ("{'password': 'hunter 2', 'user': 'bob'}", "{'password': '***', 'user': 'bob'}"),
    ("GITHUB_PAT=ghp_0123456789abcdefghijABCDEFGHIJ012345", "GITHUB_PAT=***"),
    ("STRIPE_KEY: sk_live_0123456789abcdefABCDEF", "STRIPE_KEY: ***"),
    ("REDIS_AUTH=s3cr3t-pass", "REDIS_AUTH=***"),
    ("WEBHOOK_URL=https://hooks.slack.com/services/T0A1B2C3/B0A1B2C3/aB3dE6gH9jK2mN5pQ8rS1tV4",
     "WEBHOOK_URL=https://hooks.slack.com/services/T0A1B2C3/B0A1B2C3/***"),
    ("POST https://hooks.slack.com/services/T0A1B2C3/B0A1B2C3/aB3dE6gH9jK2mN5pQ8rS1tV4 -> 404",
     "POST https://hooks.slack.com/services/T0A1B2C3/B0A1B2C3/*** -> 404"),
    ("GET https://api.example.com/v1/runs?page=2&access_token=abc123def",
     "GET https://api.example.com/v1/runs?page=2&access_token=***"),
    ("rediss://default:pw@10.0.0.3:6378/0", "rediss://default:***@10.0.0.3:6378/0"),
    ("the secret is 'open sesame'", "the secret is ***"),
    ("KeyError: 'password'", "KeyError: 'password'"),
])
def test_forms_from_the_issue(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_secret_key_names() -> None:
    for name in ("GITHUB_PAT", "STRIPE_KEY", "REDIS_AUTH", "MYSQL_PWD", "PW", "SIGNING_KEY",
                 "DSN", "SENTRY_DSN", "api_key", "client_secret", "DB_PASSWORD"):
        assert is_secret_key(name), name
    for name in ("routing_key", "HOME", "PATH", "task_name", "keyword", "author",
                 "HEALTH_PORT", "LOG_LEVEL"):
        assert not is_secret_key(name), name


def test_redact_url_keeps_what_an_operator_reads() -> None:
    assert redact_url("redis://u:p@h/0") == "redis://u:***@h/0"
    assert redact_url("https://example.com/docs/getting-started?page=2") == \
        "https://example.com/docs/getting-started?page=2"
    assert redact_url("https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42") == \
        f"https://{MASK}@o1.ingest.sentry.io/42"
    assert redact_url("ssh://git@github.com/org/repo") == "ssh://git@github.com/org/repo"

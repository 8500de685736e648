"""End to end: a real Celery worker (solo and prefork) on a real Redis writes one JSON line
per task event, with tenant, chord and trace fields, and Celery's own lines as JSON too."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from celery import chord
from opentelemetry import trace

from instrumentation import configure_logging, instrument, tenant_context
from instrumentation import schema as s
from tests.support import REPO, running_worker, start_worker, wait_for
from tests.support.apps import client_app

APP = "tests.support.apps.instrumented"


def worker_env(broker_url: str, backend_url: str) -> dict[str, str]:
    return {"BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend_url}


def by_task(lines: list[dict], task_id: str) -> list[dict]:
    return [rec for rec in lines if rec.get(s.TASK_ID) == task_id]


@pytest.fixture(params=["solo", "prefork"])
def worker(request, tmp_path, broker_url, backend_url):
    w = start_worker(APP, tmp_path, env=worker_env(broker_url, backend_url),
                     pool=request.param, concurrency=2)
    yield w
    w.stop()


def test_chord_with_tenant_retry_and_failure(worker, broker_url, backend_url):
    """Every event of a chord run appears once per task with ids, tenant, chord and trace."""
    out = io.StringIO()
    configure_logging(stream=out)
    client = client_app(broker_url, backend_url)
    instrument(client, service="client", project="test-project")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("http-request") as span, \
            tenant_context(organization_id="org-7", user_id="u-3"):
        header = [client.signature("tapp.member", (i, mode))
                  for i, mode in enumerate(["ok", "ok", "retry"])]
        result = chord(header)(client.signature("tapp.collect"))
        failing = client.send_task("tapp.member", (9, "fail"))
    trace_id = format(span.get_span_context().trace_id, "032x")

    assert result.get(timeout=30) == {"count": 3, "organization_id": "org-7"}
    with pytest.raises(ValueError, match="failed on purpose"):
        failing.get(timeout=30, propagate=True)
    callback_id = result.id

    # --- publisher side: members carry tenant, group and chord callback ---------------------
    published = [json.loads(line) for line in out.getvalue().splitlines()]
    members_pub = [r for r in published if r[s.EVENT] == s.Event.TASK_PUBLISHED
                   and r[s.TASK_NAME] == "tapp.member" and r.get(s.GROUP_ID)]
    assert len(members_pub) == 3
    group_id = members_pub[0][s.GROUP_ID]
    for rec in members_pub:
        assert rec[s.ORGANIZATION_ID] == "org-7" and rec[s.USER_ID] == "u-3"
        assert rec[s.GROUP_ID] == group_id
        assert rec[s.CHORD_CALLBACK_ID] == callback_id
        assert rec[s.CHORD_CALLBACK_NAME] == "tapp.collect"
        # Celery 5.7 on Redis keeps the size in the backend (.s key), not in the message:
        # the publisher cannot know it (so the line leaves it out); the worker reads it.
        assert s.CHORD_SIZE not in rec
    assert sorted(r[s.GROUP_INDEX] for r in members_pub) == [0, 1, 2]

    # --- worker side ------------------------------------------------------------------------
    worker.wait_for_event(s.Event.TASK_SUCCEEDED, task_id=callback_id)
    lines = worker.json_lines()  # fails if any stdout line is not JSON
    members = [r[s.TASK_ID] for r in members_pub]
    for task_id in members:
        events = [r[s.EVENT] for r in by_task(lines, task_id)
                  if r[s.EVENT] in s.TASK_EVENTS]
        assert events.count(s.Event.TASK_SUCCEEDED) == 1, events
        for rec in by_task(lines, task_id):
            assert rec[s.ORGANIZATION_ID] == "org-7", rec
            assert rec[s.GROUP_ID] == group_id, rec
            assert rec[s.CHORD_CALLBACK_ID] == callback_id, rec
            assert rec[s.WORKER] == worker.hostname, rec
        started = [r for r in by_task(lines, task_id) if r[s.EVENT] == s.Event.TASK_STARTED]
        assert {r[s.CHORD_SIZE] for r in started} == {3}
        # The client's span is the parent of every member's run span: one trace, written
        # once per line in Cloud Logging's form (the worker has a project), sampled because
        # the client's span is.
        assert {r[s.TRACE] for r in started} == {f"projects/test-project/traces/{trace_id}"}
        assert len(started[0][s.SPAN_ID]) == 16 and started[0][s.TRACE_SAMPLED] is True
        assert not {s.TRACE_ID, s.OTEL_SPAN_ID} & set(started[0])
        done = next(r for r in by_task(lines, task_id) if r[s.EVENT] == s.Event.TASK_SUCCEEDED)
        assert done[s.DURATION_MS] >= 0 and done[s.SEVERITY] == "INFO"

    # Retry: the line carries the exception and when it runs again; the rerun has retries=1.
    retry_id = members[[r[s.GROUP_INDEX] for r in members_pub].index(2)]
    retried = [r for r in by_task(lines, retry_id) if r[s.EVENT] == s.Event.TASK_RETRIED]
    assert len(retried) == 1
    assert retried[0][s.EXCEPTION_TYPE] == "ConnectionError"
    assert retried[0][s.EXCEPTION_MESSAGE] == "member 2 transient error"
    assert retried[0][s.RETRY_IN_S] == pytest.approx(0.2, abs=0.05)
    assert retried[0][s.SEVERITY] == "WARNING" and retried[0][s.ETA]
    reruns = [r for r in by_task(lines, retry_id) if r[s.EVENT] == s.Event.TASK_STARTED]
    assert [r[s.RETRIES] for r in reruns] == [0, 1]

    # The callback's lines, including what its own code logs, carry tenant and root.
    cb = by_task(lines, callback_id)
    cb_events = {r[s.EVENT] for r in cb}
    assert {s.Event.TASK_RECEIVED, s.Event.TASK_STARTED, s.Event.TASK_SUCCEEDED} <= cb_events
    own = [r for r in cb if r[s.EVENT] == s.Event.LOG]
    assert {r[s.MESSAGE] for r in own} >= {"collecting results", "collected 3 results"}
    for rec in cb:
        assert rec[s.ORGANIZATION_ID] == "org-7" and rec[s.USER_ID] == "u-3"
        assert rec[s.ROOT_ID] and rec[s.PARENT_ID] in members  # published by the last member
    # The callback was published by the worker, inheriting the tenant through its headers.
    cb_pub = [r for r in lines if r[s.EVENT] == s.Event.TASK_PUBLISHED
              and r[s.TASK_ID] == callback_id]
    assert cb_pub and cb_pub[0][s.ORGANIZATION_ID] == "org-7"
    # ... but not the member's chord fields: the callback is no member of its own chord.
    assert not {s.CHORD_CALLBACK_ID, s.CHORD_CALLBACK_NAME} & set(cb_pub[0])

    # Failure: the whole traceback in one string, severity ERROR.
    failed = [r for r in by_task(lines, failing.id) if r[s.EVENT] == s.Event.TASK_FAILED]
    assert len(failed) == 1
    rec = failed[0]
    assert rec[s.SEVERITY] == "ERROR" and rec[s.EXCEPTION_TYPE] == "ValueError"
    assert rec[s.TRACEBACK].startswith("Traceback (most recent call last):")
    assert rec[s.TRACEBACK].rstrip().endswith("ValueError: member 9 failed on purpose")
    assert "\n" in rec[s.TRACEBACK]  # multi-line text, still one JSON line
    assert rec[s.ORGANIZATION_ID] == "org-7"

    # Every task event line carries the required fields.
    for rec in lines:
        if rec[s.EVENT] in s.TASK_EVENTS:
            missing = [f for f in s.REQUIRED_TASK_FIELDS if f not in rec]
            assert not missing, (missing, rec)
    # Celery's own records are JSON too, and the prose lines our events replace are gone.
    celery_lines = [r for r in lines if str(r.get(s.LOGGER, "")).startswith("celery")]
    assert celery_lines, "expected Celery's own log records as JSON"
    assert not any("succeeded in" in r[s.MESSAGE] for r in celery_lines)
    ready = [r for r in lines if r[s.EVENT] == s.Event.WORKER_READY]
    assert len(ready) == 1 and ready[0][s.WORKER] == worker.hostname


def test_child_task_inherits_tenant_and_kwargs_fallback(tmp_path, broker_url, backend_url):
    """Tasks published by a task inherit its tenant; a kwargs tenant is honoured when no
    header names one."""
    client = client_app(broker_url, backend_url)
    configure_logging(stream=io.StringIO())
    instrument(client, tracing=False)
    with running_worker(APP, tmp_path, env=worker_env(broker_url, backend_url)) as w:
        with tenant_context(organization_id="org-child"):
            child_id = client.send_task("tapp.spawn").get(timeout=20)
        kw = client.send_task("tapp.kwtenant", kwargs={"organization_id": "org-kw"})
        assert kw.get(timeout=20) == {"organization_id": "org-kw"}
        # Headers win over kwargs (documented in instrumentation/tenant.py).
        with tenant_context(organization_id="org-header"):
            both = client.send_task("tapp.kwtenant", kwargs={"organization_id": "org-kw"})
        assert both.get(timeout=20) == {"organization_id": "org-header"}
        done = w.wait_for_event(s.Event.TASK_SUCCEEDED, task_id=child_id)
        assert done[0][s.ORGANIZATION_ID] == "org-child"
        # A task with no tenant at all gets a warning line.
        client.send_task("tapp.add", (1, 1)).get(timeout=20)
        nt = w.wait_for_event(s.Event.TASK_NO_TENANT, task_name="tapp.add")
        assert nt[0][s.SEVERITY] == "WARNING"


def test_secrets_never_reach_the_log(tmp_path, broker_url, backend_url):
    """Passwords in URLs, api keys and secrets in exception messages are masked everywhere."""
    client = client_app(broker_url, backend_url)
    with running_worker(APP, tmp_path, env=worker_env(broker_url, backend_url)) as w:
        res = client.send_task("tapp.secret")
        with pytest.raises(ConnectionError):
            res.get(timeout=20)
        failed = w.wait_for_event(s.Event.TASK_FAILED, task_id=res.id)[0]
        text = w.stdout()
    assert "hunter2" not in text and "sk-live-123" not in text
    assert "redis://:***@db:6379/0" in failed[s.EXCEPTION_MESSAGE]
    assert "redis://:***@db:6379/0" in failed[s.TRACEBACK]
    connecting = w.events(s.Event.LOG, message="connecting")[0]
    assert connecting["broker_url"] == "redis://:***@db:6379/0"
    assert connecting["api_key"] == "***"


def test_print_in_task_becomes_json(tmp_path, broker_url, backend_url):
    """A stray print() and stdlib/structlog lines inside a task are JSON with the task id."""
    client = client_app(broker_url, backend_url)
    with running_worker(APP, tmp_path, env=worker_env(broker_url, backend_url)) as w:
        res = client.send_task("tapp.chatty")
        assert res.get(timeout=20) == "ok"
        w.wait_for_event(s.Event.TASK_SUCCEEDED, task_id=res.id)
        lines = w.json_lines()
    mine = {r[s.MESSAGE]: r for r in by_task(lines, res.id) if r[s.EVENT] == s.Event.LOG}
    assert "a stray print from task code" in mine
    assert mine["structlog line inside a task"]["step"] == 1
    assert mine["stdlib line inside a task"][s.LOGGER] == "tapp.tasks"


def test_broken_log_stream_does_not_fail_tasks(tmp_path, broker_url, backend_url, redis_server):
    """With stdout a pipe nobody reads (EPIPE on every write), tasks still succeed."""
    env = {**worker_env(broker_url, backend_url), "PYTHONPATH": str(REPO)}
    import os

    full_env = {**os.environ, **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", APP, "worker", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "broken@test"],
        stdout=subprocess.PIPE, stderr=(tmp_path / "err").open("wb"), env=full_env,
        cwd=str(REPO))
    proc.stdout.close()  # the reader goes away: every write to stdout now fails with EPIPE
    try:
        client = client_app(broker_url, backend_url)
        results = [client.send_task("tapp.add", (i, i)) for i in range(5)]
        failing = client.send_task("tapp.member", (1, "fail"))
        assert [r.get(timeout=60) for r in results] == [0, 2, 4, 6, 8]
        with pytest.raises(ValueError):
            failing.get(timeout=30)
        assert proc.poll() is None, "the worker must survive a broken log stream"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_redelivered_and_revoked_events(tmp_path, broker_url, backend_url):
    """A task revoked before it runs logs task_revoked with its tenant."""
    client = client_app(broker_url, backend_url)
    configure_logging(stream=io.StringIO())
    instrument(client, tracing=False)
    with running_worker(APP, tmp_path, env=worker_env(broker_url, backend_url)) as w:
        with tenant_context(organization_id="org-r"):
            res = client.send_task("tapp.add", (1, 2), countdown=1)
        w.wait_for_event(s.Event.TASK_RECEIVED, task_id=res.id)
        res.revoke()
        rec = w.wait_for_event(s.Event.TASK_REVOKED, task_id=res.id, timeout=30)[0]
    assert rec[s.ORGANIZATION_ID] == "org-r" and rec[s.TASK_NAME] == "tapp.add"
    assert rec[s.SEVERITY] == "WARNING"
    received = w.events(s.Event.TASK_RECEIVED, task_id=res.id)[0]
    assert received[s.ETA] and received[s.ORGANIZATION_ID] == "org-r"


def test_worker_lost_and_time_limit(tmp_path, broker_url, backend_url):
    """Under prefork, a dying pool process and a hard time limit are named as such."""
    client = client_app(broker_url, backend_url)
    with running_worker(APP, tmp_path, env=worker_env(broker_url, backend_url),
                        pool="prefork", concurrency=2) as w:
        lost = client.send_task("tapp.crash")
        slow = client.send_task("tapp.sleepy", (5,))
        unknown = client.send_task("tapp.not_registered")
        rec = w.wait_for_event(s.Event.WORKER_LOST, task_id=lost.id)[0]
        assert rec[s.EXCEPTION_TYPE].endswith("WorkerLostError")
        # No reject_on_worker_lost here: a failure, not a requeue; exit code, no signal.
        assert rec[s.REQUEUED] is False and rec.get(s.SIGNUM) is None  # absent: lean lines
        failed = w.wait_for_event(s.Event.TASK_FAILED, task_id=lost.id)[0]
        assert failed[s.TASK_NAME] == "tapp.crash" and failed[s.SEVERITY] == "ERROR"
        tl = w.wait_for_event(s.Event.TIME_LIMIT_EXCEEDED, task_id=slow.id)[0]
        assert tl[s.TASK_NAME] == "tapp.sleepy"
        w.wait_for_event(s.Event.TASK_FAILED, task_id=slow.id)
        unk = w.wait_for_event(s.Event.TASK_UNKNOWN, task_id=unknown.id)[0]
        assert unk[s.TASK_NAME] == "tapp.not_registered"
        w.json_lines()  # still only JSON, Celery's error lines included
    shutdown = w.events(s.Event.WORKER_SHUTDOWN)
    assert len(shutdown) == 1
    # Celery signals a hard time limit twice; it is reported once.
    assert len(w.events(s.Event.TASK_FAILED, task_id=slow.id)) == 1
    assert len(w.events(s.Event.TIME_LIMIT_EXCEEDED)) == 1


def test_payloads_opt_in_and_console_span_export(tmp_path, broker_url, backend_url):
    """Args are logged only when asked (truncated, redacted); OTEL_TRACES_EXPORTER=console
    exports spans to stderr, one JSON object a line, and stdout stays log lines only."""
    client = client_app(broker_url, backend_url)
    secret_arg = "redis://:hunter2@db/0 " + "x" * 1000
    env = {**worker_env(broker_url, backend_url), "TAPP_LOG_PAYLOADS": "1",
           "OTEL_TRACES_EXPORTER": "console"}
    with running_worker(APP, tmp_path, env=env) as w:
        res = client.send_task("tapp.kwtenant", kwargs={"organization_id": secret_arg})
        res.get(timeout=20)
        started = w.wait_for_event(s.Event.TASK_STARTED, task_id=res.id)[0]
        # BatchSpanProcessor exports on its schedule: wait for the span, don't sleep.
        wait_for(lambda: "run/tapp.kwtenant" in w.stderr(), timeout=20,
                 message="the task's span on stderr")
        spans = [json.loads(line) for line in w.stderr().splitlines()
                 if line.startswith("{") and '"name"' in line]
    assert "hunter2" not in started[s.KWARGS] and "redis://:***@db/0" in started[s.KWARGS]
    assert len(started[s.KWARGS]) <= 256
    run = next(sp for sp in spans if sp["name"] == "run/tapp.kwtenant")
    assert started[s.TRACE] == f"projects/test-project/traces/{run['context']['trace_id'][2:]}"
    assert started[s.SPAN_ID] == run["context"]["span_id"][2:]
    assert run["attributes"]["rhesis." + s.ORGANIZATION_ID].startswith("redis://:")


def test_no_payloads_and_no_export_by_default(tmp_path, broker_url, backend_url):
    """Without opt-in: no args/kwargs/result fields, and no span anywhere in the output."""
    client = client_app(broker_url, backend_url)
    with running_worker(APP, tmp_path, env=worker_env(broker_url, backend_url)) as w:
        res = client.send_task("tapp.add", (2, 3))
        assert res.get(timeout=20) == 5
        done = w.wait_for_event(s.Event.TASK_SUCCEEDED, task_id=res.id)[0]
        started = w.events(s.Event.TASK_STARTED, task_id=res.id)[0]
    assert not {s.ARGS, s.KWARGS, s.RESULT} & (set(done) | set(started))
    assert "run/tapp.add" not in w.stderr() + w.stdout()
    # Nothing exported and nothing sampled upstream: no ids that would link to nothing.
    assert not {s.TRACE, s.SPAN_ID, s.TRACE_SAMPLED, s.TRACE_ID, s.OTEL_SPAN_ID} & set(started)
    assert s.LABELS not in started and s.MESSAGE not in started  # labels are opt-in

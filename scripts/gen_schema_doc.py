"""Regenerate docs/schema.md with example lines captured from a real worker run.

    .venv/bin/python scripts/gen_schema_doc.py

Starts a private redis-server and a prefork worker of tests/support/apps/instrumented.py, runs a
workload that produces every task and worker event, and writes the first line of each event.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from celery import chord  # noqa: E402

from instrumentation import configure_logging, instrument, log_event, tenant_context  # noqa: E402
from instrumentation import schema as s  # noqa: E402
from instrumentation.schema_doc import render  # noqa: E402
from tests.support import running_worker, start_redis_server  # noqa: E402
from tests.support.apps import client_app  # noqa: E402


def main() -> None:
    redis = start_redis_server()
    examples: dict[str, dict] = {}
    try:
        out = io.StringIO()
        configure_logging(stream=out, service="docs-client", environment="dev")
        client = client_app(redis.url(0), redis.url(1))
        instrument(client, project="my-project", service="docs-client", environment="dev")
        env = {"BROKER_URL": redis.url(0), "CELERY_RESULT_BACKEND": redis.url(1)}
        with tempfile.TemporaryDirectory() as tmp, running_worker(
                "tests.support.apps.instrumented", Path(tmp), env=env, pool="prefork",
                concurrency=2) as w:
            with tenant_context(organization_id="org-42", user_id="user-7"):
                res = chord([client.signature("tapp.member", (i, m))
                             for i, m in enumerate(["ok", "retry", "ok"])])(
                    client.signature("tapp.collect"))
                res.get(timeout=30)
                bad = chord([client.signature("tapp.member", (0, "fail"))])(
                    client.signature("tapp.collect"))
                with contextlib.suppress(Exception):
                    bad.get(timeout=30)
                late = client.send_task("tapp.add", (1, 2), countdown=1)
                w.wait_for_event(s.Event.TASK_RECEIVED, task_id=late.id)
                late.revoke()
                client.send_task("tapp.crash")
                client.send_task("tapp.sleepy", (5,))
                client.send_task("tapp.nope")
            client.send_task("tapp.add", (2, 2)).get(timeout=30)
            w.wait_for_event(s.Event.TASK_REVOKED, task_id=late.id)
            w.wait_for_event(s.Event.TIME_LIMIT_EXCEEDED)
            w.wait_for_event(s.Event.WORKER_LOST)
            w.stop()
            lines = [json.loads(x) for x in out.getvalue().splitlines()] + w.json_lines()
        for rec in lines:
            examples.setdefault(rec[s.EVENT], rec)
        # The chord monitor's events, rendered through the same chain.
        buf = io.StringIO()
        configure_logging(stream=buf, service="chord-monitor", environment="dev")
        common = {s.CHORD_ID: "0f6c1d2e-8f3b-4c6e-9a51-1d2f3e4a5b6c", s.MEMBERS_DONE: 9,
                  s.MEMBERS_EXPECTED: 10, s.MEMBERS_FAILED: 0, s.AGE_S: 5400.0,
                  s.CHORD_CALLBACK_ID: "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                  s.CHORD_CALLBACK_NAME: "worker.tasks.collect_results",
                  s.ORGANIZATION_ID: "org-42"}
        log_event(s.Event.CHORD_STUCK, "Chord stuck: size key missing", **common,
                  **{s.REASON: "size_key_missing", s.ACTION: "check"})
        log_event(s.Event.CHORD_REVOKED, "Revoked pending members and callback", **common,
                  **{s.ACTION: "revoke", s.DRY_RUN: False})
        log_event(s.Event.CHORD_RECOVERED, "Ran the chord callback with stored results",
                  **common, **{s.ACTION: "recover"})
        log_event(s.Event.CHORD_CLEANED, "Removed the chord keys", **common,
                  **{s.ACTION: "clean", s.DRY_RUN: False})
        for line in buf.getvalue().splitlines():
            rec = json.loads(line)
            examples.setdefault(rec[s.EVENT], rec)
    finally:
        redis.stop()
    (REPO / "docs" / "schema.md").write_text(render(examples))
    missing = [e.value for e in s.Event if e.value not in examples]
    print(f"wrote docs/schema.md; events without an example: {missing}")


if __name__ == "__main__":
    main()

"""Chord traces: the callback's span links to the span of every member (OpenTelemetry span
links), in an embedded worker with the in-memory exporter and across the processes of a real
prefork worker exporting to the console."""

from __future__ import annotations

import io
import json

import pytest
from celery import Celery, chord
from celery.contrib.testing.worker import start_worker as start_thread_worker
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import active_task_count, configure_logging, instrument
from instrumentation.tracing import MAX_CHORD_LINKS, link_chord_members
from tests.support import running_worker, wait_for
from tests.support.apps import client_app


@pytest.fixture
def app(broker_url, backend_url) -> Celery:
    app = Celery("links", broker=broker_url, backend=backend_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                    broker_connection_retry_on_startup=True)

    @app.task(name="links.member", shared=False)
    def member(i):
        return i

    @app.task(name="links.collect", shared=False)
    def collect(results):
        return sorted(results)

    return app


def test_callback_span_links_to_every_member(app, span_exporter, redis_server, redis_dbs):
    configure_logging(stream=io.StringIO())
    instrument(app, project="p1")
    span_exporter.clear()
    with start_thread_worker(app, pool="solo", perform_ping_check=False, loglevel="INFO"):
        result = chord([app.signature("links.member", (i,)) for i in range(4)])(
            app.signature("links.collect"))
        assert result.get(timeout=30) == [0, 1, 2, 3]
        wait_for(lambda: active_task_count() == 0, timeout=10, message="state drained")
    spans = span_exporter.get_finished_spans()
    members = [sp for sp in spans if sp.name == "run/links.member"]
    (callback,) = [sp for sp in spans if sp.name == "run/links.collect"]
    assert len(members) == 4
    linked = {(link.context.trace_id, link.context.span_id) for link in callback.links}
    assert linked == {(sp.context.trace_id, sp.context.span_id) for sp in members}
    # The list that carried the members' span contexts is gone once the callback is sent.
    backend = redis_server.client(redis_dbs[1])
    assert not list(backend.scan_iter(match="rhesis-chord-links-*"))


def test_links_across_the_processes_of_a_real_worker(tmp_path, broker_url, backend_url):
    """Members run in two pool processes; the console exporter shows the callback's links."""
    client = client_app(broker_url, backend_url)
    env = {"BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend_url,
           "OTEL_TRACES_EXPORTER": "console"}
    with running_worker("tests.support.apps.instrumented", tmp_path, env=env, pool="prefork",
                        concurrency=2) as w:
        result = chord([client.signature("tapp.member", (i, "ok")) for i in range(5)])(
            client.signature("tapp.collect"))
        assert result.get(timeout=30)["count"] == 5

        def exported() -> list[dict] | None:
            found = [json.loads(line) for line in w.stderr().splitlines()
                     if line.startswith("{") and '"run/tapp.' in line]
            names = [sp["name"] for sp in found]
            return found if names.count("run/tapp.member") >= 5 and \
                "run/tapp.collect" in names else None

        # BatchSpanProcessor exports on its schedule: wait for the spans, don't sleep.
        spans = wait_for(exported, timeout=30, message="the chord's spans on stderr")
        members = [sp for sp in spans if sp["name"] == "run/tapp.member"]
    (callback,) = [sp for sp in spans if sp["name"] == "run/tapp.collect"]
    linked = {(ln["context"]["trace_id"], ln["context"]["span_id"]) for ln in callback["links"]}
    assert linked == {(sp["context"]["trace_id"], sp["context"]["span_id"]) for sp in members}


def test_malformed_links_are_skipped():
    """A header from another version or a hand-made message never breaks the task."""
    tracer = TracerProvider().get_tracer("t")
    good = f"{1:032x}-{2:016x}"
    with tracer.start_as_current_span("callback") as span:
        added = link_chord_members([good, "nonsense", "zz-yy", f"{0:032x}-{0:016x}"])
        too_many = link_chord_members([good] * (MAX_CHORD_LINKS + 10))
    assert added == 1 and too_many == MAX_CHORD_LINKS
    assert span.links[0].context.span_id == 2
    assert link_chord_members("not a list") == 0

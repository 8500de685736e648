"""The Celery apps the tests run as real workers, one per purpose, and the client that
publishes to them.

* ``instrumented``: an app with our instrumentation (events, spans, metrics), for everything
  that checks what an instrumented worker writes or exports;
* ``plain``: the same kind of app without it, logging Celery's default text;
* ``chords``: chords whose members wait at gates a test opens, for the chord monitor;
* ``leaky``: the reference worker (``worker.app``) plus a task that quotes secrets.

Each is started by module name, configured through the environment like a deployment:

    with running_worker("tests.support.apps.instrumented", tmp_path, env=env) as w:
        client_app(broker_url, backend_url).send_task("tapp.add", (1, 2))

The reference worker's own tests run ``worker.app`` itself; ``tests/fixtures/realworld``
keeps its own app on purpose (it runs third-party logging setups, not ours).
"""

from __future__ import annotations

from celery import Celery


def client_app(broker_url: str, backend_url: str | None = None, *,
               set_as_current: bool = True) -> Celery:
    """A publishing client (no tasks of its own: it sends by name) speaking JSON, as a web
    app publishing to the workers does."""
    app = Celery("client", broker=broker_url, backend=backend_url,
                 set_as_current=set_as_current)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    return app

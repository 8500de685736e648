"""Structured JSON logs, tenant propagation and traces for Celery workers.

Two lines in a Celery app::

    from instrumentation import instrument
    instrument(app, service="my-worker", environment="prod", project="my-gcp-project")

and every task event (published, received, started, succeeded, failed, retried, revoked, ...)
is one JSON line on stdout in the fields of ``instrumentation.schema``, which Cloud Logging
promotes into severity, message, trace and labels. Celery's own log records come out as JSON
too. Publish with a tenant and every line of the task (and of the tasks it publishes) carries
it::

    from instrumentation import tenant_context
    with tenant_context(organization_id="org-1", user_id="u-9"):
        my_task.delay(...)

See ``docs/schema.md`` for every field and an example line per event.
"""

from instrumentation import schema
from instrumentation.events import add_observer, log_event, remove_observer
from instrumentation.logconfig import configure_logging, dropped_lines, get_logger, reset_logging
from instrumentation.signals import active_task_count, instrument, is_instrumented, uninstrument
from instrumentation.tenant import Tenant, get_tenant, tenant_context

__all__ = [
    "Tenant",
    "active_task_count",
    "add_observer",
    "configure_logging",
    "dropped_lines",
    "get_logger",
    "get_tenant",
    "instrument",
    "is_instrumented",
    "log_event",
    "remove_observer",
    "reset_logging",
    "schema",
    "tenant_context",
    "uninstrument",
]

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

from importlib import import_module
from typing import Any

from instrumentation import schema

# The public names and the module each lives in. They are imported on first use (PEP 562) so
# that ``from instrumentation import schema`` (the analyzer, the query generators) does not
# pay for importing Celery, structlog and OpenTelemetry.
_EXPORTS = {
    "add_observer": "instrumentation.events",
    "log_event": "instrumentation.events",
    "remove_observer": "instrumentation.events",
    "configure_logging": "instrumentation.logconfig",
    "dropped_lines": "instrumentation.logconfig",
    "get_logger": "instrumentation.logconfig",
    "reset_logging": "instrumentation.logconfig",
    "active_task_count": "instrumentation.signals",
    "instrument": "instrumentation.signals",
    "is_instrumented": "instrumentation.signals",
    "uninstrument": "instrumentation.signals",
    "Tenant": "instrumentation.tenant",
    "get_tenant": "instrumentation.tenant",
    "tenant_context": "instrumentation.tenant",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'instrumentation' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["schema", *sorted(_EXPORTS)]

"""The reference worker's tasks. Importing this package registers all of them.

Task names carry their queue: ``rhesis.execution.*`` -> ``execution``, ``rhesis.telemetry.*``
-> ``telemetry``, anything else -> ``celery`` (see ``worker.config.ROUTE_PREFIXES``).

The tasks are ``shared_task``s: they bind to the current Celery app. Importing this package
also imports ``worker.app`` (last, after the task modules) so that a publisher that only does
``from worker.tasks.execution import execute_test_run`` still sends through the configured app,
not Celery's unconfigured default one.
"""

from worker.tasks import execution, maintenance, telemetry
from worker.tasks.base import PermanentError, TenantTask, TransientError

# isort: split
# Must come after the task modules (see above).
import worker.app  # noqa: F401

__all__ = ["PermanentError", "TenantTask", "TransientError", "execution", "maintenance",
           "telemetry"]

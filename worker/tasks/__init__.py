"""The reference worker's tasks. Importing this package registers all of them.

Task names carry their queue: ``rhesis.execution.*`` -> ``execution``, ``rhesis.telemetry.*``
-> ``telemetry``, anything else -> ``celery`` (see ``worker.config.ROUTE_PREFIXES``).

The tasks are ``shared_task``s: they bind to the current Celery app, which is the configured
one once ``worker.app`` is imported (``worker.launch.send_with_tenant`` does that). This
package does not import ``worker.app`` itself: the app imports the tasks, and the reverse
import made a cycle.
"""

from worker.tasks import execution, maintenance, telemetry
from worker.tasks.base import PermanentError, TenantTask, TransientError

__all__ = ["PermanentError", "TenantTask", "TransientError", "execution", "maintenance",
           "telemetry"]

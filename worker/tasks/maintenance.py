"""Housekeeping tasks on the default ``celery`` queue; they belong to no tenant."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from celery import shared_task

from worker.tasks.base import TenantTask


class MaintenanceTask(TenantTask):
    requires_tenant = False


@shared_task(bind=True, base=MaintenanceTask, name="rhesis.maintenance.heartbeat")
def heartbeat(self: TenantTask) -> dict[str, Any]:
    """Answer with where and when it ran: a liveness check through the whole queue path."""
    return {"hostname": self.request.hostname or socket.gethostname(), "pid": os.getpid(),
            "time": time.time()}

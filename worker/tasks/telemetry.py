"""Telemetry ingestion tasks: short, flaky on purpose, routed to the ``telemetry`` queue.

``ingest_batch`` fails with a transient error on its first ``fail_attempts`` attempts (so it
shows retries, and a final failure when ``fail_attempts`` exceeds the retries allowed), or
fails permanently at once with ``permanent=True``. Deterministic, so tests can rely on it.
"""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from worker.tasks.base import PermanentError, TenantTask, TransientError


@shared_task(bind=True, base=TenantTask, name="rhesis.telemetry.ingest_batch")
def ingest_batch(self: TenantTask, batch_id: str, size: int = 100, fail_attempts: int = 0,
                 permanent: bool = False, latency_ms: float = 0.0,
                 **tenant: Any) -> dict[str, Any]:
    """Ingest a batch of telemetry records (simulated)."""
    if permanent:
        raise PermanentError(f"batch {batch_id} is malformed and cannot be ingested")
    attempt = self.request.retries or 0
    time.sleep(max(latency_ms, 0) / 1000.0)
    if attempt < fail_attempts:
        raise TransientError(f"telemetry sink unavailable for batch {batch_id} "
                             f"(attempt {attempt + 1})")
    return {"batch_id": batch_id, "size": size, "attempts": attempt + 1}

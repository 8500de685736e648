"""Names of the columns the report adds on top of the schema's fields.

Report tables reuse the schema's names for what they carry straight from the logs
(``task_name``, ``exception_type``, ``task_id`` ...) and use the names below for what they
compute. ``docs/report.md`` documents each; the JSON renderer writes them unchanged, so they
are part of the machine contract: add, never rename.
"""

from __future__ import annotations

COUNT = "count"
FIRST_SEEN = "first_seen"
LAST_SEEN = "last_seen"
TENANTS = "tenants"  # number of distinct organization ids
TENANT_IDS = "tenant_ids"  # up to a few of them, comma separated
EXAMPLE_TASK_ID = "example_task_id"
EXAMPLE_MESSAGE = "example_message"
FINGERPRINT = "fingerprint"
TASK_IDS = "task_ids"  # number of distinct task ids

# retries
RETRIED_IDS = "retried_ids"
RECOVERED = "recovered"
EXHAUSTED = "exhausted"
PENDING = "pending"
MAX_RETRIES = "max_retries"
SCOPE = "scope"
KEY = "key"
NORM = "norm"
RATIO = "ratio"

# chords
MEMBERS_PUBLISHED = "members_published"
MEMBERS_FINISHED = "members_finished"
CALLBACK_RECEIVED = "callback_received"
CALLBACK_FINISHED = "callback_finished"
LAST_ACTIVITY = "last_activity"
IDLE_S = "idle_s"
CHORD_STATE = "chord_state"

# duplicates and lost workers
RECEIVED = "received"
STARTED = "started"
SUCCEEDED = "succeeded"
FAILED = "failed"
RETRIED = "retried"
REVOKED = "revoked"
REJECTED = "rejected"
WORKERS = "workers"
GAP_S = "gap_s"
LIKELY_CAUSE = "likely_cause"
KIND = "kind"
REQUEUED = "requeued"  # losses whose task went back to the queue (not failed)

# durations
P50_MS = "p50_ms"
P95_MS = "p95_ms"
P99_MS = "p99_ms"
MAX_MS = "max_ms"
MEAN_MS = "mean_ms"
WAIT_P50_MS = "wait_p50_ms"
WAIT_P95_MS = "wait_p95_ms"
WAIT_MAX_MS = "wait_max_ms"
WAITS = "waits"

# time series
BUCKET = "bucket"

# timeline
ROLE = "role"
STUCK_REASON = "stuck_reason"  # why a chord is called stuck, in words

"""The field and event names every part of rhesis-logs agrees on.

This module is the contract between the instrumentation (which writes these fields), the
analyzer (which reads them back into DataFrame columns), the chord monitor (which logs its own
actions with them), and the dashboards and saved-query generators (which name them in PromQL,
the Logging query language and SQL). Import the constants; never spell a field name as a
string literal anywhere else::

    from instrumentation import schema

    log.info(s.Event.TASK_SUCCEEDED, **{s.TASK_ID: task.request.id, s.DURATION_MS: 12.5})

``FIELDS`` describes every field (type, meaning, on which events it appears, whether it is
always there or only when set) and is what
``docs/schema.md`` is written from; ``tests/test_schema.py`` fails when the two drift apart.

Why these names: Cloud Logging's agent promotes ``severity``, ``message``, ``time`` and the
``logging.googleapis.com/*`` keys of a JSON line into the LogEntry itself (see "Special
JSON fields in messages" in the Cloud Logging docs). Everything else stays in
``jsonPayload.<field>``, which is what saved queries and log-based metrics filter on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# --- Fields Cloud Logging promotes out of jsonPayload -------------------------------------
TIME = "time"
SEVERITY = "severity"
MESSAGE = "message"
TRACE = "logging.googleapis.com/trace"
SPAN_ID = "logging.googleapis.com/spanId"
TRACE_SAMPLED = "logging.googleapis.com/trace_sampled"
LABELS = "logging.googleapis.com/labels"
SOURCE_LOCATION = "logging.googleapis.com/sourceLocation"

# --- Identity of the line ------------------------------------------------------------------
EVENT = "event"
LOGGER = "logger"

# --- Task identity and lineage -------------------------------------------------------------
TASK_ID = "task_id"
TASK_NAME = "task_name"
ROOT_ID = "root_id"
PARENT_ID = "parent_id"
GROUP_ID = "group_id"
GROUP_INDEX = "group_index"
RETRIES = "retries"
QUEUE = "queue"
STATE = "state"

# --- Tenant --------------------------------------------------------------------------------
ORGANIZATION_ID = "organization_id"
USER_ID = "user_id"

# --- Where it ran --------------------------------------------------------------------------
WORKER = "worker"
PID = "pid"
SERVICE = "service"
ENVIRONMENT = "environment"

# --- Timing --------------------------------------------------------------------------------
DURATION_MS = "duration_ms"
QUEUE_WAIT_MS = "queue_wait_ms"

# --- Errors and retries --------------------------------------------------------------------
EXCEPTION_TYPE = "exception_type"
EXCEPTION_MESSAGE = "exception_message"
TRACEBACK = "traceback"
RETRY_IN_S = "retry_in_s"
ETA = "eta"
REDELIVERED = "redelivered"
REASON = "reason"
TERMINATED = "terminated"
SIGNUM = "signum"
REQUEUED = "requeued"
EXPIRED = "expired"

# --- Chords --------------------------------------------------------------------------------
CHORD_ID = "chord_id"
CHORD_CALLBACK_ID = "chord_callback_id"
CHORD_CALLBACK_NAME = "chord_callback_name"
CHORD_SIZE = "chord_size"
MEMBERS_DONE = "members_done"
MEMBERS_EXPECTED = "members_expected"
MEMBERS_FAILED = "members_failed"
AGE_S = "age_s"
ACTION = "action"
DRY_RUN = "dry_run"

# --- Tracing (plain ids, besides the Cloud Logging special fields) -------------------------
TRACE_ID = "trace_id"
OTEL_SPAN_ID = "span_id"

# --- Opt-in payload logging ----------------------------------------------------------------
ARGS = "args"
KWARGS = "kwargs"
RESULT = "result"

# --- Columns the analyzer adds to every record it reads (never written by a worker) --------
SOURCE = "source"  # file name, "stdin", "kubectl" or "cloud-logging"
LINE_NO = "line_no"  # 1-based position of the record's first line in its source
POD = "pod"
CONTAINER = "container"
NAMESPACE = "namespace"
FORMAT = "format"  # which reader understood the line: json, celery_text, ...
RAW = "raw"  # the original text, kept for unparsed lines and text records


class Event(StrEnum):
    """Every value the ``event`` field takes."""

    TASK_PUBLISHED = "task_published"
    TASK_RECEIVED = "task_received"
    TASK_STARTED = "task_started"
    TASK_SUCCEEDED = "task_succeeded"
    TASK_FAILED = "task_failed"
    TASK_RETRIED = "task_retried"
    TASK_REVOKED = "task_revoked"
    TASK_REJECTED = "task_rejected"
    TASK_UNKNOWN = "task_unknown"
    TASK_INTERNAL_ERROR = "task_internal_error"
    TASK_NO_TENANT = "task_no_tenant"
    WORKER_READY = "worker_ready"
    WORKER_SHUTDOWN = "worker_shutdown"
    WORKER_LOST = "worker_lost"
    TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
    BROKER_CONNECTION_LOST = "broker_connection_lost"
    CHORD_ERROR = "chord_error"
    # Actions of the chord monitor (worker.chord_monitor), so recoveries show in the logs too.
    CHORD_STUCK = "chord_stuck"
    CHORD_REVOKED = "chord_revoked"
    CHORD_RECOVERED = "chord_recovered"
    CHORD_CLEANED = "chord_cleaned"
    # A stdlib or structlog line that is not one of ours (Celery's own prose, task code).
    LOG = "log"


#: Events that close a task's execution: ``duration_ms`` appears on these.
FINISHED_EVENTS = frozenset(
    {Event.TASK_SUCCEEDED, Event.TASK_FAILED, Event.TASK_RETRIED, Event.TASK_REVOKED}
)

#: Events emitted for one task (as opposed to worker or chord-monitor events).
TASK_EVENTS = frozenset(
    {
        Event.TASK_PUBLISHED,
        Event.TASK_RECEIVED,
        Event.TASK_STARTED,
        Event.TASK_SUCCEEDED,
        Event.TASK_FAILED,
        Event.TASK_RETRIED,
        Event.TASK_REVOKED,
        Event.TASK_REJECTED,
        Event.TASK_UNKNOWN,
        Event.TASK_INTERNAL_ERROR,
    }
)

WORKER_EVENTS = frozenset({Event.WORKER_READY, Event.WORKER_SHUTDOWN, Event.WORKER_LOST})

CHORD_MONITOR_EVENTS = frozenset(
    {Event.CHORD_STUCK, Event.CHORD_REVOKED, Event.CHORD_RECOVERED, Event.CHORD_CLEANED}
)

#: The levels Cloud Logging understands, in order. Python's WARNING maps to WARNING.
SEVERITIES = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY")

#: Default severity of each event; a handler may raise it (e.g. a retry storm), never lower it.
EVENT_SEVERITY: dict[str, str] = {
    Event.TASK_PUBLISHED: "INFO",
    Event.TASK_RECEIVED: "INFO",
    Event.TASK_STARTED: "INFO",
    Event.TASK_SUCCEEDED: "INFO",
    Event.TASK_FAILED: "ERROR",
    Event.TASK_RETRIED: "WARNING",
    Event.TASK_REVOKED: "WARNING",
    Event.TASK_REJECTED: "WARNING",
    Event.TASK_UNKNOWN: "ERROR",
    Event.TASK_INTERNAL_ERROR: "CRITICAL",
    Event.TASK_NO_TENANT: "WARNING",
    Event.WORKER_READY: "INFO",
    Event.WORKER_SHUTDOWN: "INFO",
    Event.WORKER_LOST: "ERROR",
    Event.TIME_LIMIT_EXCEEDED: "ERROR",
    Event.BROKER_CONNECTION_LOST: "WARNING",
    Event.CHORD_ERROR: "ERROR",
    Event.CHORD_STUCK: "ERROR",
    Event.CHORD_REVOKED: "WARNING",
    Event.CHORD_RECOVERED: "NOTICE",
    Event.CHORD_CLEANED: "NOTICE",
    Event.LOG: "INFO",
}


class Presence(StrEnum):
    """When a field is on a line. Empty and default values are left out (a line is billed by
    the byte), so a field that is not ``ALWAYS`` or ``TASK`` is absent where it does not apply:
    in a Logging query ``-jsonPayload.group_id:*``, in SQL and in the analyzer ``NULL``."""

    ALWAYS = "every line"
    TASK = "every task event line"
    WHEN_SET = "only when set"


@dataclass(frozen=True)
class FieldSpec:
    """One field of the contract: its name, type, meaning and where it appears."""

    name: str
    type: str
    description: str
    events: frozenset[str] = field(default_factory=frozenset)  # empty: any line may carry it
    presence: Presence = Presence.WHEN_SET


_ALL_TASK = TASK_EVENTS
_ERR = frozenset({Event.TASK_FAILED, Event.TASK_RETRIED, Event.TASK_INTERNAL_ERROR})
_ALWAYS, _TASK = Presence.ALWAYS, Presence.TASK

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(TIME, "string", "RFC 3339 UTC timestamp with microseconds", presence=_ALWAYS),
    FieldSpec(SEVERITY, "string", "One of " + ", ".join(SEVERITIES), presence=_ALWAYS),
    FieldSpec(MESSAGE, "string", "A short human sentence; never parse it, use the fields. "
              "Task event lines have none: their event and task name say it"),
    FieldSpec(EVENT, "string", "What happened: one of the Event values", presence=_ALWAYS),
    FieldSpec(LOGGER, "string", "Name of the logger that wrote the line"),
    FieldSpec(TASK_ID, "string", "Celery task id", _ALL_TASK, presence=_TASK),
    FieldSpec(TASK_NAME, "string", "Registered task name", _ALL_TASK, presence=_TASK),
    FieldSpec(ORGANIZATION_ID, "string", "Tenant organization (absent when the task has none)"),
    FieldSpec(USER_ID, "string", "Tenant user (absent when the task has none)"),
    FieldSpec(ROOT_ID, "string", "Id of the first task of the workflow", _ALL_TASK),
    FieldSpec(PARENT_ID, "string", "Id of the task that published this one", _ALL_TASK),
    FieldSpec(GROUP_ID, "string", "Group (and chord header) id the task belongs to", _ALL_TASK),
    FieldSpec(GROUP_INDEX, "integer", "Position of the task in its group", _ALL_TASK),
    FieldSpec(RETRIES, "integer", "How many times the task has been retried (0 included)",
              _ALL_TASK, presence=_TASK),
    FieldSpec(QUEUE, "string", "Queue (routing key) the task was delivered on", _ALL_TASK),
    FieldSpec(STATE, "string", "Celery state name where one applies (SUCCESS, FAILURE, ...)"),
    FieldSpec(WORKER, "string", "Worker hostname (node name); absent on a client's lines"),
    FieldSpec(PID, "integer", "Process id that wrote the line; on worker_lost, the pool process "
              "that was lost (when Celery knew it)", presence=_ALWAYS),
    FieldSpec(SERVICE, "string", "Service name (in the labels, when labels are written)"),
    FieldSpec(ENVIRONMENT, "string", "Deployment environment (in the labels, when written)"),
    FieldSpec(DURATION_MS, "number", "Run time of the task in milliseconds", FINISHED_EVENTS),
    FieldSpec(QUEUE_WAIT_MS, "number", "Time from received to started in milliseconds",
              frozenset({Event.TASK_STARTED})),
    FieldSpec(EXCEPTION_TYPE, "string", "Qualified exception class name", _ERR),
    FieldSpec(EXCEPTION_MESSAGE, "string", "str() of the exception, secrets redacted", _ERR),
    FieldSpec(TRACEBACK, "string", "The formatted traceback in one string (of the exception "
              "that caused a retry, not of Celery's Retry)", _ERR),
    FieldSpec(RETRY_IN_S, "number", "Seconds until the retry runs",
              frozenset({Event.TASK_RETRIED})),
    FieldSpec(ETA, "string", "RFC 3339 time the retry (or an ETA task) runs at",
              frozenset({Event.TASK_RETRIED, Event.TASK_RECEIVED, Event.TASK_PUBLISHED})),
    FieldSpec(REDELIVERED, "boolean", "The broker delivered this message before",
              frozenset({Event.TASK_RECEIVED})),
    FieldSpec(REASON, "string", "Why: rejection, revocation, stuck chord or worker-lost reason"),
    FieldSpec(TERMINATED, "boolean", "The revoked task was terminated while running",
              frozenset({Event.TASK_REVOKED})),
    FieldSpec(SIGNUM, "integer", "Signal that ended the task's process: the one used to terminate "
              "a revoked task, or the one a lost pool process died of",
              frozenset({Event.TASK_REVOKED, Event.WORKER_LOST})),
    FieldSpec(REQUEUED, "boolean", "The lost task's message went back to the queue "
              "(acks_late + reject_on_worker_lost): it runs again, no failure is recorded",
              frozenset({Event.WORKER_LOST})),
    FieldSpec(EXPIRED, "boolean", "The task was revoked because it expired",
              frozenset({Event.TASK_REVOKED})),
    FieldSpec(CHORD_ID, "string", "Id of a chord (its header group id)", CHORD_MONITOR_EVENTS),
    FieldSpec(CHORD_CALLBACK_ID, "string", "Task id of the chord callback of this member"),
    FieldSpec(CHORD_CALLBACK_NAME, "string", "Task name of the chord callback of this member"),
    FieldSpec(CHORD_SIZE, "integer", "Number of members of the chord, where known"),
    FieldSpec(MEMBERS_DONE, "integer", "Chord members finished", CHORD_MONITOR_EVENTS),
    FieldSpec(MEMBERS_EXPECTED, "integer", "Chord members expected", CHORD_MONITOR_EVENTS),
    FieldSpec(MEMBERS_FAILED, "integer", "Chord members that failed", CHORD_MONITOR_EVENTS),
    FieldSpec(AGE_S, "number", "Age of a chord in seconds", CHORD_MONITOR_EVENTS),
    FieldSpec(ACTION, "string", "What the chord monitor did (check, revoke, recover, clean)",
              CHORD_MONITOR_EVENTS),
    FieldSpec(DRY_RUN, "boolean", "The action was only shown, not done", CHORD_MONITOR_EVENTS),
    FieldSpec(TRACE_ID, "string", "OpenTelemetry trace id (32 hex digits), on sampled spans "
              "when no GCP project is configured (else it is in the Cloud Logging field)"),
    FieldSpec(OTEL_SPAN_ID, "string", "OpenTelemetry span id (16 hex digits), on sampled "
              "spans when no GCP project is configured"),
    FieldSpec(TRACE, "string", "projects/<PROJECT>/traces/<trace_id>, for Cloud Trace links; "
              "on sampled spans when a GCP project is configured"),
    FieldSpec(SPAN_ID, "string", "Span id, promoted into LogEntry.spanId (with TRACE)"),
    FieldSpec(TRACE_SAMPLED, "boolean", "true: the span is sampled (with TRACE)"),
    FieldSpec(LABELS, "object", "{service, environment}: promoted into LogEntry.labels; "
              "only with configure_logging(labels=True)"),
    FieldSpec(ARGS, "string", "Truncated repr of positional args (opt-in only)"),
    FieldSpec(KWARGS, "string", "Truncated repr of keyword args (opt-in only)"),
    FieldSpec(RESULT, "string", "Truncated repr of the result (opt-in only)"),
)

FIELD_NAMES: frozenset[str] = frozenset(f.name for f in FIELDS)

#: Fields on every line we write.
ALWAYS_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.presence is Presence.ALWAYS)

#: Fields every task event line carries; the others only when they have a value.
REQUIRED_TASK_FIELDS: tuple[str, ...] = ALWAYS_FIELDS + tuple(
    f.name for f in FIELDS if f.presence is Presence.TASK)

#: Columns the analyzer adds to what the worker wrote.
ANALYZER_COLUMNS: tuple[str, ...] = (SOURCE, LINE_NO, POD, CONTAINER, NAMESPACE, FORMAT, RAW)

#: Column order of the analyzer's normalized frame: every flat field, then the analyzer's own.
#: (The nested Cloud Logging keys are left out: the analyzer reads their values into
#: TRACE_ID/OTEL_SPAN_ID/SERVICE/ENVIRONMENT.)
FRAME_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in FIELDS if f.name not in (TRACE, SPAN_ID, TRACE_SAMPLED, LABELS)
) + ANALYZER_COLUMNS


def jsonpayload(name: str) -> str:
    """The path of a field in a Cloud Logging filter, e.g. ``jsonPayload.task_name``.

    The promoted fields live on the LogEntry itself, so they map to their LogEntry names.
    """
    promoted = {
        SEVERITY: "severity",
        TIME: "timestamp",
        TRACE: "trace",
        SPAN_ID: "spanId",
        TRACE_SAMPLED: "traceSampled",
        LABELS: "labels",
        MESSAGE: "jsonPayload.message",
    }
    if name in promoted:
        return promoted[name]
    if name not in FIELD_NAMES:
        raise KeyError(f"{name!r} is not a field of the rhesis-logs schema")
    return f"jsonPayload.{name}"


def check_field(name: str) -> str:
    """Return ``name`` if it is a schema field, else raise ``KeyError`` (for generators)."""
    if name not in FIELD_NAMES and name not in ANALYZER_COLUMNS:
        raise KeyError(f"{name!r} is not a field of the rhesis-logs schema")
    return name

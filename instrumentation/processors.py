"""structlog processors that turn an event dict into a Cloud Logging-ready JSON line.

Each processor is a callable ``(logger, method_name, event_dict) -> event_dict`` that does one
thing, so each can be tested by calling it directly. ``configure_logging`` composes them for
structlog and stdlib lines::

    merge_contextvars -> merge_task_context -> normalize_event -> add_severity -> add_time
    -> add_logger_name -> AddStaticFields -> add_pid -> AddTraceContext -> format_exception
    -> Redactor -> render_json

Our own events (``log_event``, every task event) take ``EventLine`` instead: the same steps
fused into one function over one dict, because they run for every line of every task
(``docs/instrumentation.md`` has the measurements). ``tests/instrumentation`` checks that both
paths write the same line.

Empty values are left out of a line (``None``, and the ``logging.googleapis.com/*`` defaults):
Cloud Logging bills by the byte, and every reader treats an absent field as null.

Field names come from ``instrumentation.schema``; nothing here spells one by hand.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback as tb
from collections.abc import Mapping
from typing import Any

import orjson

from instrumentation import schema as s
from instrumentation.context import task_fields
from instrumentation.redaction import Redactor, redact_text
from instrumentation.tenant import get_tenant

EventDict = dict[str, Any]

# structlog method names and stdlib level names -> Cloud Logging severities.
_SEVERITY = {
    "debug": "DEBUG",
    "info": "INFO",
    "msg": "INFO",
    "notice": "NOTICE",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "exception": "ERROR",
    "err": "ERROR",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
    "alert": "ALERT",
    "emergency": "EMERGENCY",
}

#: Private keys log_event uses to hand the event name and severity through the chain.
EVENT_NAME_KEY = "_rhesis_event"
SEVERITY_KEY = "_rhesis_severity"

TASK_EVENT_NAMES = frozenset(e.value for e in s.TASK_EVENTS)

#: Fields that never hold a secret: skipping them keeps the redactor off the hot path.
NEVER_SECRET = frozenset(
    {s.TIME, s.SEVERITY, s.EVENT, s.TASK_ID, s.DURATION_MS, s.QUEUE_WAIT_MS, s.RETRIES,
     s.GROUP_INDEX, s.CHORD_SIZE, s.TRACE_SAMPLED, s.ETA, s.RETRY_IN_S, s.TASK_NAME,
     s.ROOT_ID, s.PARENT_ID, s.GROUP_ID,
     s.QUEUE, s.WORKER, s.PID, s.TRACE, s.SPAN_ID, s.TRACE_ID, s.OTEL_SPAN_ID, s.LABELS,
     s.ORGANIZATION_ID, s.USER_ID, s.CHORD_CALLBACK_ID, s.CHORD_CALLBACK_NAME, s.STATE,
     s.LOGGER, "_record", "_from_structlog"}
)


def normalize_event(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog calls the message ``event``; we call it ``message`` and keep ``event`` for the
    event name (``task_failed``, ...). Lines that are not one of our events get ``log``.
    Task event lines get no message: their event and task name say what a sentence would."""
    name = event_dict.pop(EVENT_NAME_KEY, None)
    event = str(name) if name is not None else s.Event.LOG.value
    if event in TASK_EVENT_NAMES:
        event_dict.pop(s.MESSAGE, None)
    elif event_dict.get(s.MESSAGE) is None:
        message = event_dict.get(s.EVENT)
        event_dict[s.MESSAGE] = message if isinstance(message, str) else str(message)
    event_dict[s.EVENT] = event
    return event_dict


def add_severity(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Set ``severity`` from an explicit override, a stdlib record, or the method name."""
    override = event_dict.pop(SEVERITY_KEY, None)
    if override:
        event_dict[s.SEVERITY] = override
        return event_dict
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        event_dict[s.SEVERITY] = _SEVERITY.get(record.levelname.lower(), record.levelname)
    else:
        event_dict[s.SEVERITY] = _SEVERITY.get(method_name, "INFO")
    # structlog's add_log_level is not in the chain; drop a "level" that callers might pass.
    event_dict.pop("level", None)
    return event_dict


def merge_task_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Add the running task's fields and the bound tenant; explicit keys win."""
    fields = task_fields()
    if fields:
        # One C-level merge instead of a Python loop: this runs for every line of every task.
        event_dict = {**fields, **event_dict}
    tenant = get_tenant()
    if tenant:
        if s.ORGANIZATION_ID not in event_dict:
            event_dict[s.ORGANIZATION_ID] = tenant.organization_id
        if s.USER_ID not in event_dict:
            event_dict[s.USER_ID] = tenant.user_id
    return event_dict


_last_second = -1
_last_prefix = ""


def format_time(ts: float) -> str:
    """RFC 3339 UTC with microseconds; the date part is cached per second (hot path)."""
    global _last_second, _last_prefix
    second = int(ts)
    if second != _last_second:
        _last_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = second
    # %-formatting (which truncates the float like int()) is the cheapest of the ways tried.
    return "%s.%06dZ" % (_last_prefix, (ts - second) * 1_000_000)  # noqa: UP031


def add_time(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """RFC 3339 UTC timestamp with microseconds. A stdlib record keeps its own creation time."""
    record = event_dict.get("_record")
    ts = record.created if isinstance(record, logging.LogRecord) else time.time()
    event_dict[s.TIME] = format_time(ts)
    return event_dict


def add_logger_name(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Name of the stdlib logger, for lines that came through logging."""
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        event_dict.setdefault(s.LOGGER, record.name)
    return event_dict


class AddStaticFields:
    """Fields that never change in this process: the worker hostname and, when asked for,
    the service labels.

    Labels are off by default: on GKE every entry already carries its cluster, namespace, pod
    and container (and the pod's labels), and 80 bytes of the same two names on every line
    are a tenth of the bill. Deployments that filter on ``labels.service`` turn them on.
    """

    def __init__(self, service: str | None, environment: str | None,
                 labels: bool = False) -> None:
        self.service = service
        self.environment = environment
        self.labels = {k: v for k, v in ((s.SERVICE, service), (s.ENVIRONMENT, environment))
                       if v} if labels else {}
        self.worker: str | None = None  # set by instrument() on worker_ready/process init

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        if self.labels:
            event_dict.setdefault(s.LABELS, self.labels)
        if self.worker is not None:
            event_dict.setdefault(s.WORKER, self.worker)
        return event_dict


_pid = os.getpid()


def _new_pid() -> None:
    global _pid
    _pid = os.getpid()


# Prefork children share the parent's configuration: each must write its own pid.
os.register_at_fork(after_in_child=_new_pid)


def add_pid(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """The id of the process writing the line."""
    event_dict.setdefault(s.PID, _pid)
    return event_dict


class AddTraceContext:
    """Correlate the line with the current OpenTelemetry span, in one form of the ids.

    With ``project`` (the GCP project id): Cloud Logging's ``logging.googleapis.com/trace``
    (the full resource name, which turns the id into a link to Cloud Trace) and ``spanId``.
    Without one: the plain ``trace_id`` and ``span_id``. The analyzer reads either.

    Only sampled spans are written: an unsampled span is recorded nowhere, so its ids would
    link to nothing (``instrumentation.tracing`` samples every span as soon as spans are
    exported). ``trace_sampled`` is written only when true, its default being false.
    """

    def __init__(self, project: str | None) -> None:
        self.project = project
        self.prefix = f"projects/{project}/traces/" if project else None
        try:
            from opentelemetry import context, trace

            self._get_context = context.get_current
            self._get_span = trace.get_current_span
        except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
            self._get_context = self._get_span = None
        self._last: tuple[int, int, dict[str, Any]] = (0, 0, {})
        # The OpenTelemetry context the last answer came from, and that answer: a context is
        # immutable, so while the same one is current (a task's lines) the answer holds.
        self._last_context: Any = None
        self._last_fields: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any] | None:
        """The trace fields of the current span (the same dict for every line of one span,
        which must not be modified), or None when there is no sampled span."""
        if self._get_span is None:
            return None
        try:
            current = self._get_context()
            if current is self._last_context:
                return self._last_fields
            ctx = self._get_span(current).get_span_context()
        except Exception:  # tracing must never break logging
            return None
        out = self._format(ctx) if ctx.trace_flags.sampled and ctx.is_valid else None
        self._last_context, self._last_fields = current, out
        return out

    def _format(self, ctx: Any) -> dict[str, Any]:
        trace_id, span_id, cached = self._last
        if ctx.span_id == span_id and ctx.trace_id == trace_id:
            return cached  # the span's lines under another context object
        tid, sid = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        if self.prefix is None:
            out = {s.TRACE_ID: tid, s.OTEL_SPAN_ID: sid}
        else:
            out = {s.TRACE: self.prefix + tid, s.SPAN_ID: sid, s.TRACE_SAMPLED: True}
        self._last = (ctx.trace_id, ctx.span_id, out)
        return out

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        fields = self.fields()
        if fields:
            event_dict.update(fields)
        return event_dict


def format_exception(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Turn ``exc_info`` into ``exception_type``, ``exception_message`` and one ``traceback``
    string (a JSON string keeps its newlines escaped, so the traceback stays on one line)."""
    exc_info = event_dict.pop("exc_info", None)
    record = event_dict.get("_record")
    if not exc_info and isinstance(record, logging.LogRecord) and record.exc_info:
        exc_info = record.exc_info
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[0] is None:
        return event_dict
    etype, value, tback = exc_info
    event_dict.setdefault(s.EXCEPTION_TYPE, qualified_name(etype))
    event_dict.setdefault(s.EXCEPTION_MESSAGE, redact_text(safe_str(value)))
    event_dict.setdefault(s.TRACEBACK, format_traceback(etype, value, tback))
    return event_dict


def format_traceback(etype: type[BaseException], value: BaseException | None,
                     tback: Any) -> str:
    """The whole traceback (chained exceptions included) as one compact, redacted string.

    Redacted before it is capped (the Redactor later sees only the capped text): the cap
    could cut a secret in two, and half a token is no longer recognizable.
    """
    return compact_traceback(redact_text("".join(tb.format_exception(etype, value, tback))))


#: Longest traceback kept on one line. Cloud Logging refuses entries over 256 KB, and a
#: runaway recursion traceback should not cost megabytes; head and tail are what people read.
MAX_TRACEBACK = 64 * 1024


def _is_marker_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.strip("^~")


def compact_traceback(text: str, limit: int = MAX_TRACEBACK) -> str:
    """``text`` without the ``^^^^`` lines Python 3.11+ draws under the failing expression
    (they only point at columns of the line above, and cost a quarter of a traceback's
    bytes), right-stripped and capped by ``cap_traceback``."""
    if "^" in text or "~" in text:
        text = "\n".join(line for line in text.split("\n") if not _is_marker_line(line))
    return cap_traceback(text.rstrip(), limit)


def cap_traceback(text: str, limit: int = MAX_TRACEBACK) -> str:
    """``text`` unchanged when short, else its head and tail around a marker."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    omitted = len(text) - 2 * keep
    return f"{text[:keep]}\n... {omitted} characters omitted ...\n{text[-keep:]}"


def qualified_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", getattr(cls, "__name__", repr(cls)))
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


def safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


def safe_repr(value: Any, limit: int | None = None) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # an object whose __repr__ raises must not break the line
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def drop_internal(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Remove ProcessorFormatter's private keys before rendering."""
    event_dict.pop("_record", None)
    event_dict.pop("_from_structlog", None)
    return event_dict


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, BaseException):
        return f"{qualified_name(type(value))}: {safe_str(value)}"
    return safe_repr(value)


_LEADING = (s.TIME, s.SEVERITY, s.EVENT, s.MESSAGE)
_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY


def render_json(logger: Any, method_name: str, event_dict: EventDict) -> bytes:
    """Render one JSON object on one line (UTF-8 bytes: the writer sends them as they are),
    leaving out ``None`` values; an odd value falls back to ``repr``, never raises."""
    # Humans read the first keys of a line: time, severity, event, message.
    ordered = {k: event_dict[k] for k in _LEADING if event_dict.get(k) is not None}
    for key, value in event_dict.items():
        if value is not None:
            ordered[key] = value
    return dumps(ordered)


def dumps(line: EventDict) -> bytes:
    """``line`` as compact JSON; an odd value falls back to ``repr``, never raises."""
    try:
        return orjson.dumps(line, default=_default, option=_OPTS)
    except Exception:
        # e.g. an integer too large for JSON, or a recursive structure: stringify every value.
        safe = {str(k): v if isinstance(v, str | bool | float | type(None)) else safe_repr(v)
                for k, v in line.items()}
        return orjson.dumps(safe)


class EventLine:
    """Our own events, rendered in one pass: the chain's steps fused over one dict.

    Same result as the chain (merge the task's context and tenant, time, severity, static
    fields, pid, trace, exception, redaction, JSON without empty values), with one dict built
    per line and no per-step calls: what every task event pays, three times per task. The
    running task's bound fields are filtered and redacted once per task, not once per line.
    """

    def __init__(self, static: AddStaticFields, trace: AddTraceContext,
                 redactor: Redactor) -> None:
        self.static = static
        self.trace = trace
        self.redactor = redactor
        self._context: Any = None  # the bound task fields last seen, and their clean copy
        self._clean: EventDict = {}

    def _clean_context(self, context: Any) -> EventDict:
        if context is not self._context:
            clean = {k: v for k, v in context.items() if v is not None}
            self._clean = self.redactor(None, "", clean)
            self._context = context
        return self._clean

    def __call__(self, event: str, severity: str, message: str | None,
                 fields: EventDict) -> bytes:
        """``fields`` (the caller's own dict, consumed) win over the task's bound context; a
        field given as ``None`` clears the context's value and is left out."""
        line: EventDict = {s.TIME: format_time(time.time()), s.SEVERITY: severity,
                           s.EVENT: event}
        if message and event not in TASK_EVENT_NAMES:
            line[s.MESSAGE] = message
        context = task_fields()
        if context:
            line.update(self._clean_context(context))
        if s.ORGANIZATION_ID not in line and s.ORGANIZATION_ID not in fields:
            tenant = get_tenant()
            if tenant:
                fields.setdefault(s.ORGANIZATION_ID, tenant.organization_id)
                fields.setdefault(s.USER_ID, tenant.user_id)
        exc_info = fields.pop("exc_info", None)
        if exc_info is not None:
            fields = format_exception(None, "", {"exc_info": exc_info, **fields})
        dirty = None
        for key, value in fields.items():
            if value is None:
                line.pop(key, None)
                continue
            line[key] = value
            if key not in NEVER_SECRET and value.__class__ not in _PLAIN:
                dirty = True
        static = self.static
        if static.labels and s.LABELS not in line:
            line[s.LABELS] = static.labels
        if static.worker is not None and s.WORKER not in line:
            line[s.WORKER] = static.worker
        if s.PID not in line:
            line[s.PID] = _pid
        trace = self.trace.fields()
        if trace:
            line.update(trace)
        if dirty or message:
            line = self.redactor(None, "", line)
        return dumps(line)


_PLAIN = frozenset({bool, int, float})  # values that cannot hold a secret


def render_json_str(logger: Any, method_name: str, event_dict: EventDict) -> str:
    """``render_json`` as text, for ``ProcessorFormatter``, which insists on a ``str``."""
    return render_json(logger, method_name, event_dict).decode()

"""structlog processors that turn an event dict into a Cloud Logging-ready JSON line.

Each processor is a callable ``(logger, method_name, event_dict) -> event_dict`` that does one
thing, so each can be tested by calling it directly. ``configure_logging`` composes them::

    merge_contextvars -> normalize_event -> add_severity -> add_time -> AddStaticFields
    -> add_pid -> AddTraceContext -> format_exception -> ensure_task_fields -> Redactor
    -> render_json

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

from instrumentation import context as _context
from instrumentation import schema as s
from instrumentation import tenant as _tenant
from instrumentation.redaction import redact_text

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


def normalize_event(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog calls the message ``event``; we call it ``message`` and keep ``event`` for the
    event name (``task_failed``, ...). Lines that are not one of our events get ``log``."""
    name = event_dict.pop(EVENT_NAME_KEY, None)
    if s.MESSAGE not in event_dict or event_dict.get(s.MESSAGE) is None:
        message = event_dict.get(s.EVENT)
        event_dict[s.MESSAGE] = message if isinstance(message, str) else str(message)
    event_dict[s.EVENT] = str(name) if name is not None else s.Event.LOG.value
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
    fields = _context._task_fields.get()
    if fields:
        # One C-level merge instead of a Python loop: this runs for every line of every task.
        event_dict = {**fields, **event_dict}
    tenant = _tenant._current.get()
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
    return f"{_last_prefix}.{int((ts - second) * 1_000_000):06d}Z"


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
    """Fields that never change in this process: service labels and the worker hostname."""

    def __init__(self, service: str | None, environment: str | None) -> None:
        self.service = service
        self.environment = environment
        self.labels = {k: v for k, v in ((s.SERVICE, service), (s.ENVIRONMENT, environment)) if v}
        self.worker: str | None = None  # set by instrument() on worker_ready/process init

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        if self.labels:
            event_dict.setdefault(s.LABELS, self.labels)
        if self.worker is not None:
            event_dict.setdefault(s.WORKER, self.worker)
        return event_dict


def add_pid(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """The process id; read per line because prefork children share the parent's config."""
    event_dict.setdefault(s.PID, os.getpid())
    return event_dict


class AddTraceContext:
    """Correlate the line with the current OpenTelemetry span, in Cloud Logging's fields.

    ``project`` (the GCP project id) makes ``logging.googleapis.com/trace`` a full resource name,
    which is what turns the trace id into a link in the Logs Explorer.
    """

    def __init__(self, project: str | None) -> None:
        self.project = project
        try:
            from opentelemetry import trace

            self._get_span = trace.get_current_span
        except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
            self._get_span = None

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        if self._get_span is None:
            return event_dict
        try:
            ctx = self._get_span().get_span_context()
        except Exception:  # tracing must never break logging
            return event_dict
        if not ctx.is_valid:
            return event_dict
        trace_id = format(ctx.trace_id, "032x")
        span_id = format(ctx.span_id, "016x")
        event_dict[s.TRACE_ID] = trace_id
        event_dict[s.OTEL_SPAN_ID] = span_id
        event_dict[s.TRACE] = (
            f"projects/{self.project}/traces/{trace_id}" if self.project else trace_id
        )
        event_dict[s.SPAN_ID] = span_id
        event_dict[s.TRACE_SAMPLED] = bool(ctx.trace_flags.sampled)
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
    # Redacted before it is capped (the Redactor later sees only the capped text): the cap
    # could cut a secret in two, and half a token is no longer recognizable.
    event_dict.setdefault(s.TRACEBACK, cap_traceback(redact_text(
        "".join(tb.format_exception(etype, value, tback)).rstrip())))
    return event_dict


#: Longest traceback kept on one line. Cloud Logging refuses entries over 256 KB, and a
#: runaway recursion traceback should not cost megabytes; head and tail are what people read.
MAX_TRACEBACK = 64 * 1024


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


_TASK_EVENT_NAMES = frozenset(e.value for e in s.TASK_EVENTS)


def ensure_task_fields(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Task event lines carry every required field, null where it does not apply, so that a
    query for ``group_id`` never has to tell "absent" from "not in a group"."""
    if event_dict.get(s.EVENT) in _TASK_EVENT_NAMES:
        for name in s.REQUIRED_TASK_FIELDS:
            if name not in event_dict:
                event_dict[name] = None
    return event_dict


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
    """Render one JSON object on one line (UTF-8 bytes: the writer sends them as they are);
    an odd value falls back to ``repr``, never raises."""
    # Humans read the first keys of a line: time, severity, event, message.
    ordered = {k: event_dict[k] for k in _LEADING if k in event_dict}
    ordered.update(event_dict)
    try:
        return orjson.dumps(ordered, default=_default, option=_OPTS)
    except Exception:
        # e.g. an integer too large for JSON, or a recursive structure: stringify every value.
        safe = {str(k): v if isinstance(v, str | bool | float | type(None)) else safe_repr(v)
                for k, v in ordered.items()}
        return orjson.dumps(safe)


def render_json_str(logger: Any, method_name: str, event_dict: EventDict) -> str:
    """``render_json`` as text, for ``ProcessorFormatter``, which insists on a ``str``."""
    return render_json(logger, method_name, event_dict).decode()

"""Celery signal handlers that write one structured event per task state change.

Use it through the package::

    from instrumentation import instrument
    instrument(app, service="rhesis-worker", environment="prod", project="my-gcp-project")

``instrument`` connects every handler below (``weak=False``, so they live as long as the
process) and ``uninstrument`` disconnects the same ones; instrumenting twice is harmless.

Rules every handler follows (learned from opentelemetry-instrumentation-celery):
* fetch what it needs and return early when a task or id is missing;
* never raise into Celery: ``_safe`` swallows and counts any error, so a logging or tracing
  failure can never fail a task;
* per-task state (start time, context tokens) is keyed by task id, created in prerun and
  removed in postrun; ``active_task_count()`` lets tests prove nothing leaks.

Where each event is written: ``task_published`` wherever the task is sent (client, or a worker
publishing children, chord callbacks and retries); ``task_received``, ``task_revoked``,
``task_rejected``, ``task_unknown`` and the worker events in the worker's main process; the
execution events (``task_started`` ... ``task_retried``) in the process that runs the task
(the pool child under prefork), where the task's context and span are bound.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celery import signals

from instrumentation import context as _context
from instrumentation import logconfig
from instrumentation import schema as s
from instrumentation import tenant as tenancy
from instrumentation import tracing as _tracing
from instrumentation.events import log_event

# EVENT_NAME_KEY set on a stdlib record names its event (ExtraAdder copies record extras).
from instrumentation.processors import EVENT_NAME_KEY as _EVENT_ATTR
from instrumentation.processors import (
    compact_traceback,
    format_traceback,
    qualified_name,
    safe_repr,
    safe_str,
)
from instrumentation.redaction import redact_text
from instrumentation.task_spans import TaskSpans

#: Header the publisher stamps so the worker can measure queue wait across processes.
PUBLISHED_AT_HEADER = "rhesis_published_at"

#: How much of an args/kwargs/result repr is logged when payload logging is enabled.
PAYLOAD_REPR_LIMIT = 256

#: Safety valve: prerun without postrun (a bug elsewhere) must not grow memory forever.
MAX_TRACKED_TASKS = 10_000

log = logging.getLogger(__name__)


@dataclass
class _Options:
    service: str | None = None
    environment: str | None = None
    project: str | None = None
    tracing: bool = True
    log_payloads: bool = False
    configure_logging: bool = True
    log_level: str | None = None
    quiet_banner: bool = True
    replace_celery_task_lines: bool = True
    chord_size_lookup: bool = True
    log_labels: bool = False


@dataclass(slots=True)
class _TaskState:
    started: float
    tokens: Any
    tenant_token: Any
    task: Any = None
    run: Any = None  # the task's span (task_spans.RunSpan) when we open it


_options = _Options()
_tasks: dict[str, _TaskState] = {}
_connected: list[tuple[Any, Callable[..., Any]]] = []
handler_errors = 0


def active_task_count() -> int:
    """Tasks started but not yet cleaned up in this process (0 when idle: no leak)."""
    return len(_tasks)


def is_instrumented() -> bool:
    return bool(_connected)


def _safe(fn: Callable[..., Any]) -> Callable[..., None]:
    """Never let a handler raise into Celery (the signal would log it, or worse, fail a task)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        global handler_errors
        try:
            fn(*args, **kwargs)
        except Exception:
            handler_errors += 1
            with contextlib.suppress(Exception):
                log.debug("rhesis signal handler %s failed", fn.__name__, exc_info=True)

    return wrapper


# --- Reading task identity from the three shapes Celery hands us ---------------------------


def _is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)`` with the common answers first: an ABC check costs as
    much as reading a dozen attributes, and this runs several times per task."""
    cls = value.__class__
    return cls is dict or (value is not None and cls is not str and isinstance(value, Mapping))


_NO_CHORD = {s.CHORD_CALLBACK_ID: None, s.CHORD_CALLBACK_NAME: None, s.CHORD_SIZE: None}


def _chord_fields(chord: Any) -> dict[str, Any]:
    """Callback id/name/size from a chord member's embedded chord signature (a dict).

    Always all three keys, None when the task is no chord member: a task published from
    inside a chord member (the chord callback itself) must not inherit the member's values
    from the bound context.
    """
    if chord is None or not _is_mapping(chord):
        return dict(_NO_CHORD)
    options = chord.get("options") or {}
    return {
        s.CHORD_CALLBACK_ID: options.get("task_id"),
        s.CHORD_CALLBACK_NAME: chord.get("task"),
        s.CHORD_SIZE: chord.get("chord_size"),
    }


def _queue_of(delivery_info: Any) -> str | None:
    if _is_mapping(delivery_info):
        return delivery_info.get("routing_key") or None
    return None


#: Chord sizes read from the Redis result backend, per group id, bounded.
_chord_sizes: dict[str, int | None] = {}
_CHORD_SIZES_MAX = 4096


def _chord_size(backend: Any, group_id: str | None) -> int | None:
    """The chord's size from the Redis backend's ``.s`` key, read once per chord per process.

    Celery 5.7 keeps the size there, not in the message. Only the Redis backend is asked
    (other backends put ``chord_size`` into the message, which ``_chord_fields`` reads).
    """
    if not group_id:
        return None
    if group_id in _chord_sizes:
        return _chord_sizes[group_id]
    size = None
    try:
        from celery.backends.redis import RedisBackend

        if isinstance(backend, RedisBackend):
            raw = backend.client.get(backend.get_key_for_group(group_id, ".s"))
            size = int(raw) if raw is not None else None
    except Exception:
        size = None
    if size is None:
        return None  # not cached: the size key may not be written yet
    if len(_chord_sizes) >= _CHORD_SIZES_MAX:
        _chord_sizes.pop(next(iter(_chord_sizes)))
    _chord_sizes[group_id] = size
    return size


def _fill_chord_size(fields: dict[str, Any], task: Any) -> None:
    """Add the chord's size to a member's fields (``task`` gives the result backend; it is
    read only for chord members: no work for fields a task does not have)."""
    if _options.chord_size_lookup and fields.get(s.CHORD_CALLBACK_ID) and \
            fields.get(s.CHORD_SIZE) is None:
        fields[s.CHORD_SIZE] = _chord_size(getattr(task, "backend", None),
                                           fields.get(s.GROUP_ID))


def _context_fields(task: Any, request: Any) -> dict[str, Any]:
    """Fields of a running task from its ``task.request`` (a celery Context)."""
    fields = {
        s.TASK_ID: request.id,
        s.TASK_NAME: getattr(task, "name", None),
        s.ROOT_ID: request.root_id,
        s.PARENT_ID: request.parent_id,
        s.GROUP_ID: request.group,
        s.GROUP_INDEX: request.group_index,
        s.RETRIES: request.retries or 0,
        s.QUEUE: _queue_of(request.delivery_info),
    }
    chord = request.chord
    fields.update(_NO_CHORD if chord is None else _chord_fields(chord))
    return fields


def _headers_fields(headers: Mapping[str, Any], chord: Any, queue: str | None) -> dict[str, Any]:
    """Fields from protocol-2 message headers (publish side, or a worker Request's dict)."""
    fields = {
        s.TASK_ID: headers.get("id"),
        s.TASK_NAME: headers.get("task"),
        s.ROOT_ID: headers.get("root_id"),
        s.PARENT_ID: headers.get("parent_id"),
        s.GROUP_ID: headers.get("group"),
        s.GROUP_INDEX: headers.get("group_index"),
        s.RETRIES: headers.get("retries") or 0,
        s.QUEUE: queue,
    }
    fields.update(_chord_fields(chord))
    return fields


def _tenant_of_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {
        s.ORGANIZATION_ID: headers.get(s.ORGANIZATION_ID),
        s.USER_ID: headers.get(s.USER_ID),
    }


def _exception_fields(exc: BaseException | None, traceback_text: str | None) -> dict[str, Any]:
    if exc is None:
        return {}
    return {
        s.EXCEPTION_TYPE: qualified_name(type(exc)),
        s.EXCEPTION_MESSAGE: redact_text(safe_str(exc)),
        # Redacted before it is capped: the cap could cut a secret in two, and half a token
        # is no longer recognizable.
        s.TRACEBACK: compact_traceback(redact_text(traceback_text)) if traceback_text else None,
    }


def _payload(value: Any) -> str:
    return redact_text(safe_repr(value, PAYLOAD_REPR_LIMIT))


# --- Publishing side ------------------------------------------------------------------------


@_safe
def _before_publish(sender: Any = None, headers: dict | None = None,
                    routing_key: str | None = None, exchange: Any = None, **kw: Any) -> None:
    if headers is None:
        return
    if _options.tracing:
        spans = _tracing.task_spans()
        task_id = headers.get("id")
        if spans is not None and task_id:
            name = sender if isinstance(sender, str) else getattr(sender, "name", None)
            _guarded(spans.start_publish, name or headers.get("task") or "unknown", task_id,
                     headers, routing_key, exchange)
    tenancy.inject_headers(headers)
    headers.setdefault(PUBLISHED_AT_HEADER, time.time())
    if _options.tracing:
        _chord_links_to(headers)


def _chord_links_to(headers: dict) -> None:
    """Publishing the chord callback of the running member (the member that completes the
    chord): hand it the members' span contexts."""
    bound = _context.task_fields()
    callback_id = bound.get(s.CHORD_CALLBACK_ID) if bound else None
    if callback_id is None or headers.get("id") != callback_id:
        return
    state = _tasks.get(bound.get(s.TASK_ID))
    links = _tracing.chord_links_header(getattr(state.task, "backend", None) if state else None,
                                        callback_id)
    if links:
        headers[_tracing.CHORD_LINKS_HEADER] = links


@_safe
def _after_publish(sender: Any = None, body: Any = None, headers: Mapping | None = None,
                   routing_key: str | None = None, **kw: Any) -> None:
    if not headers or "id" not in headers:
        return  # protocol 1 or not a task message: nothing we can name
    if _options.tracing:
        spans = _tracing.task_spans()
        if spans is not None:
            _guarded(spans.end_publish, headers["id"])
    embed = body[2] if isinstance(body, tuple | list) and len(body) == 3 else {}
    fields = _headers_fields(headers, (embed or {}).get("chord"), routing_key)
    fields.update(_tenant_of_headers(headers))
    if headers.get("eta"):
        fields[s.ETA] = headers["eta"]
    if _options.log_payloads and isinstance(body, tuple | list) and len(body) == 3:
        fields[s.ARGS] = _payload(body[0])
        fields[s.KWARGS] = _payload(body[1])
    log_event(s.Event.TASK_PUBLISHED, **fields)


# --- Worker main process --------------------------------------------------------------------


def _request_dict(request: Any) -> Mapping[str, Any]:
    try:
        return request.request_dict or {}
    except Exception:
        return {}


@_safe
def _on_received(sender: Any = None, request: Any = None, **kw: Any) -> None:
    if request is None or not getattr(request, "id", None):
        return
    headers = _request_dict(request)
    delivery_info = request.delivery_info
    fields = _headers_fields(headers, getattr(request, "chord", None), _queue_of(delivery_info))
    fields[s.TASK_NAME] = request.name
    fields.update(_tenant_of_headers(headers))
    fields[s.WORKER] = getattr(request, "hostname", None)
    if fields[s.CHORD_CALLBACK_ID]:
        _fill_chord_size(fields, getattr(request, "task", None))
    if delivery_info and delivery_info.get("redelivered"):
        fields[s.REDELIVERED] = True
    if headers.get("eta"):
        fields[s.ETA] = headers["eta"]
    log_event(s.Event.TASK_RECEIVED, **fields)


@_safe
def _on_revoked(sender: Any = None, request: Any = None, terminated: bool = False,
                signum: Any = None, expired: bool = False, **kw: Any) -> None:
    # Celery sends the task's Context here (Request._announce_revoked), not the Request.
    if request is None or not getattr(request, "id", None):
        return
    fields = _context_fields(sender, request)
    fields.update(tenancy.tenant_from_request(request).as_fields())
    fields.update({s.TERMINATED: bool(terminated), s.EXPIRED: bool(expired),
                   s.SIGNUM: int(signum) if signum is not None else None})
    # Revoked while running in this process: say how long it ran (postrun still cleans up).
    fields[s.DURATION_MS] = _duration_ms(fields[s.TASK_ID])
    log_event(s.Event.TASK_REVOKED, **fields)


@_safe
def _on_rejected(sender: Any = None, message: Any = None, exc: BaseException | None = None,
                 **kw: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    delivery_info = getattr(message, "delivery_info", None)
    fields = _headers_fields(headers, None, _queue_of(delivery_info))
    fields.update(_tenant_of_headers(headers))
    fields[s.REASON] = redact_text(safe_str(exc)) if exc is not None else None
    log_event(s.Event.TASK_REJECTED, **fields)


@_safe
def _on_unknown(sender: Any = None, name: str | None = None, id: str | None = None,
                message: Any = None, exc: BaseException | None = None, **kw: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    fields = _headers_fields(headers, None, _queue_of(getattr(message, "delivery_info", None)))
    fields.update({s.TASK_ID: id, s.TASK_NAME: name})
    fields.update(_tenant_of_headers(headers))
    fields[s.REASON] = "task not registered on this worker"
    log_event(s.Event.TASK_UNKNOWN, **fields)


# --- Where the task runs (pool child under prefork) -----------------------------------------


@_safe
def _on_prerun(sender: Any = None, task_id: str | None = None, task: Any = None,
               args: Any = None, kwargs: Any = None, **kw: Any) -> None:
    if task is None or task_id is None:
        return
    request = task.request
    # The span first: the task's lines are written inside it, and carry its ids.
    run = _start_run(task, task_id, request) if _options.tracing else None
    try:
        tenant = tenancy.tenant_from_request(request, kwargs if _is_mapping(kwargs) else None)
        has_tenant = bool(tenant.organization_id or tenant.user_id)
        fields = _context_fields(task, request)
        fields[s.ORGANIZATION_ID] = tenant.organization_id
        fields[s.USER_ID] = tenant.user_id
        if fields[s.CHORD_CALLBACK_ID]:
            _fill_chord_size(fields, task)
        if request.hostname:
            fields[s.WORKER] = request.hostname
        # Bind for the task's duration: every line the task writes, structlog or stdlib, gets
        # these.
        tokens = _context.bind_task(fields)
        tenant_token = tenancy.set_tenant(tenant if has_tenant else None)
        if len(_tasks) >= MAX_TRACKED_TASKS:
            _tasks.clear()
        _tasks[task_id] = _TaskState(time.perf_counter(), tokens, tenant_token, task, run)
    except BaseException:
        if run is not None:
            _guarded(TaskSpans.end_run, run, None)  # postrun would find no state
        raise
    if _options.tracing:
        _trace_prerun(task, request, fields, run)
    extra: dict[str, Any] = {}
    published = _header(request, PUBLISHED_AT_HEADER)
    eta = request.eta
    if isinstance(published, int | float):
        # Queue wait counts from when the task was due: the publish time, or its ETA if later.
        due = published
        if eta:
            with contextlib.suppress(ValueError):
                due = max(due, dt.datetime.fromisoformat(str(eta)).timestamp())
        extra[s.QUEUE_WAIT_MS] = round(max(0.0, time.time() - due) * 1000, 3)
    if _options.log_payloads:
        extra[s.ARGS] = _payload(args)
        extra[s.KWARGS] = _payload(kwargs)
    log_event(s.Event.TASK_STARTED, **extra)
    # Tasks that have no tenant by design (heartbeats, housekeeping) opt out with
    # ``requires_tenant = False`` on the task class.
    if not has_tenant and getattr(task, "requires_tenant", True):
        _warn_no_tenant(task.name)


_SPAN_ATTRIBUTES = (s.ORGANIZATION_ID, s.USER_ID, s.GROUP_ID, s.ROOT_ID, s.CHORD_CALLBACK_ID,
                    s.CHORD_CALLBACK_NAME)


def _header(request: Any, name: str) -> Any:
    """A custom message header of a running task (Celery copies them onto the request)."""
    headers = request.headers
    if _is_mapping(headers):
        return headers.get(name)
    return getattr(request, name, None)


def _start_run(task: Any, task_id: str, request: Any) -> Any:
    """Open the task's span (None when CeleryInstrumentor makes the spans, or the tracing
    backend fails: the task runs either way)."""
    spans = _tracing.task_spans()
    if spans is None:
        return None
    return _guarded(spans.start_run, task, task_id, request)


def _guarded(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or None if it raised: a failing span processor or exporter must not
    cost the task its tenant headers or its lines (the error is counted)."""
    global handler_errors
    try:
        return fn(*args)
    except Exception:
        handler_errors += 1
        with contextlib.suppress(Exception):
            log.debug("rhesis tracing call %s failed", getattr(fn, "__name__", fn),
                      exc_info=True)
        return None


def _trace_prerun(task: Any, request: Any, fields: dict[str, Any], run: Any) -> None:
    """Span attributes, and the span links of a chord (see ``tracing``): a member remembers
    its span for the callback, the callback links to the members'."""
    _tracing.annotate_span(run.span if run is not None else None, fields, _SPAN_ATTRIBUTES)
    callback_id = fields.get(s.CHORD_CALLBACK_ID)
    if callback_id:
        _tracing.remember_chord_member(getattr(task, "backend", None), callback_id)
    links = _header(request, _tracing.CHORD_LINKS_HEADER)
    if links:
        _tracing.link_chord_members(links)


#: One task_no_tenant warning per task name per this many seconds (with a count of the rest):
#: a fleet of untagged tasks should raise one flag a minute, not double the log volume.
NO_TENANT_WARN_INTERVAL_S = 60.0
_no_tenant_seen: dict[str, list[float]] = {}


def _warn_no_tenant(task_name: str) -> None:
    now = time.monotonic()
    seen = _no_tenant_seen.get(task_name)
    if seen is None or now - seen[0] >= NO_TENANT_WARN_INTERVAL_S:
        suppressed = int(seen[1]) if seen else 0
        _no_tenant_seen[task_name] = [now, 0]
        log_event(s.Event.TASK_NO_TENANT, f"Task {task_name} runs without a tenant",
                  suppressed=suppressed)
    else:
        seen[1] += 1


def _duration_ms(task_id: str | None) -> float | None:
    state = _tasks.get(task_id) if task_id else None
    if state is None:
        return None
    return round((time.perf_counter() - state.started) * 1000, 3)


def _bound_or(task: Any, task_id: str | None) -> dict[str, Any]:
    """Fields for an event about ``task``: empty when prerun bound them already (same task in
    this context), else read from the request (failures reported by the main process)."""
    if task_id in _tasks:
        return {}
    try:
        request = task.request
    except Exception:
        return {s.TASK_ID: task_id, s.TASK_NAME: getattr(task, "name", None)}
    fields = _context_fields(task, request)
    fields[s.TASK_ID] = task_id or fields.get(s.TASK_ID)
    fields.update(tenancy.tenant_from_request(request).as_fields())
    return fields


def _log_succeeded(task: Any, task_id: str | None, result: Any) -> None:
    """``task_succeeded``, written from ``task_postrun`` (state SUCCESS), which Celery sends
    right after ``task_success``: one signal receiver per task fewer, and the task id comes
    with the signal instead of from ``task.request``."""
    fields = _bound_or(task, task_id)
    fields[s.DURATION_MS] = _duration_ms(task_id)
    fields[s.STATE] = "SUCCESS"
    if _options.log_payloads:
        fields[s.RESULT] = _payload(result)
    log_event(s.Event.TASK_SUCCEEDED, **fields)


#: Celery sends task_failure twice for one hard time limit (Request.on_timeout, then
#: on_failure with the pool's result). Remember what we reported, briefly, to say it once.
_recent_failures: dict[tuple[str, str], float] = {}
_RECENT_FAILURES_MAX = 1024


def _first_report(task_id: str | None, exception: BaseException | None) -> bool:
    if task_id is None:
        return True
    key = (task_id, type(exception).__name__)
    if key in _recent_failures:
        return False
    if len(_recent_failures) >= _RECENT_FAILURES_MAX:
        _recent_failures.pop(next(iter(_recent_failures)))
    _recent_failures[key] = time.monotonic()
    return True


@_safe
def _on_failure(sender: Any = None, task_id: str | None = None,
                exception: BaseException | None = None, einfo: Any = None, **kw: Any) -> None:
    task = sender
    if task is None:
        return
    if task_id not in _tasks and not _first_report(task_id, exception):
        return  # the main process's second report of the same failure
    state = _tasks.get(task_id) if task_id else None
    if state is not None and state.run is not None:
        _guarded(TaskSpans.record_failure, state.run, task, exception)
    fields = _bound_or(task, task_id)
    fields[s.DURATION_MS] = _duration_ms(task_id)
    fields[s.STATE] = "FAILURE"
    fields.update(_exception_fields(exception, getattr(einfo, "traceback", None)))
    name = getattr(task, "name", "?")
    log_event(s.Event.TASK_FAILED, **fields)
    exc_type = fields.get(s.EXCEPTION_TYPE) or ""
    if exc_type.endswith("WorkerLostError"):
        log_event(s.Event.WORKER_LOST, f"Worker process lost while running {name}", **{
            **fields, **_lost_fields(task_id, fields.get(s.EXCEPTION_MESSAGE), False)})
    elif exc_type.endswith(".TimeLimitExceeded"):
        log_event(s.Event.TIME_LIMIT_EXCEEDED, f"Task {name} exceeded its time limit", **{
            **fields, s.REASON: fields.get(s.EXCEPTION_MESSAGE)})


# --- A pool process lost mid-task ------------------------------------------------------------
# Celery's Request.on_failure handles a WorkerLostError. Without acks_late it records a failure
# (task_failure, reported by _on_failure above); with acks_late + reject_on_worker_lost it
# requeues the message and sends no signal at all, so we wrap on_failure (instrument() does,
# uninstrument() restores it) to see that path: the rejection it makes is observed, not
# predicted, so any other outcome (retry_on_worker_lost, success stored before the loss) logs
# nothing here.

_SIGNAL_IN_REASON = re.compile(r"\bsignal (\d+)")
#: Pool pid of a lost task, by task id, while Celery handles the loss (read by _on_failure).
_lost_pids: dict[str, int | None] = {}
_original_on_failure: Callable[..., Any] | None = None


def _lost_fields(task_id: str | None, reason: str | None, requeued: bool) -> dict[str, Any]:
    match = _SIGNAL_IN_REASON.search(reason or "")
    fields = {s.REASON: reason, s.REQUEUED: requeued,
              s.SIGNUM: int(match.group(1)) if match else None}
    pid = _lost_pids.get(task_id) if task_id else None
    if pid:
        fields[s.PID] = pid
    return fields


def _lost_exception(exc_info: Any) -> BaseException | None:
    """The exception if it says the pool process died (else None): WorkerLostError, or the
    SystemExit billiard >= 4.3 reports before the process is gone."""
    from billiard.exceptions import WorkerLostError

    exc = getattr(exc_info, "exception", None)
    exc = getattr(exc, "exc", exc)  # billiard's ExceptionWithTraceback wraps the real one
    return exc if isinstance(exc, WorkerLostError | SystemExit | KeyboardInterrupt) else None


def _wrap_request_on_failure() -> None:
    global _original_on_failure
    from celery.worker.request import Request

    if _original_on_failure is not None:
        return
    original = Request.on_failure

    @functools.wraps(original)
    def on_failure(self: Any, exc_info: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            exc = _lost_exception(exc_info) if is_instrumented() else None
            reject, task_id, pid = self._on_reject, self.id, self.worker_pid
        except Exception:  # never let our bookkeeping stop Celery's own handling
            exc = None
        if exc is None:
            return original(self, exc_info, *args, **kwargs)
        requeues: list[bool] = []

        def observed_reject(logger: Any, errors: Any, requeue: bool = False) -> Any:
            requeues.append(bool(requeue))
            return reject(logger, errors, requeue)

        self._on_reject = observed_reject
        _lost_pids[task_id] = pid
        try:
            return original(self, exc_info, *args, **kwargs)
        finally:
            self._on_reject = reject
            if any(requeues):
                _on_lost_requeued(self, exc)
            _lost_pids.pop(task_id, None)

    Request.on_failure = on_failure
    _original_on_failure = original


def _unwrap_request_on_failure() -> None:
    global _original_on_failure
    if _original_on_failure is None:
        return
    from celery.worker.request import Request

    Request.on_failure = _original_on_failure
    _original_on_failure = None


@_safe
def _on_lost_requeued(request: Any, exc: BaseException) -> None:
    headers = _request_dict(request)
    fields = _headers_fields(headers, getattr(request, "chord", None),
                             _queue_of(request.delivery_info))
    fields[s.TASK_NAME] = request.name
    fields.update(_tenant_of_headers(headers))
    fields[s.WORKER] = getattr(request, "hostname", None)
    fields[s.EXCEPTION_TYPE] = qualified_name(type(exc))
    fields[s.EXCEPTION_MESSAGE] = redact_text(safe_str(exc))
    fields.update(_lost_fields(request.id, fields[s.EXCEPTION_MESSAGE], True))
    log_event(s.Event.WORKER_LOST,
              f"Worker process lost while running {request.name}; task requeued", **fields)


@_safe
def _on_retry(sender: Any = None, request: Any = None, reason: Any = None, einfo: Any = None,
              **kw: Any) -> None:
    task = sender
    if task is None or request is None:
        return
    task_id = request.id
    state = _tasks.get(task_id) if task_id else None
    if state is not None and state.run is not None:
        _guarded(TaskSpans.record_retry, state.run, reason)
    fields = _bound_or(task, task_id)
    fields[s.DURATION_MS] = _duration_ms(task_id)
    fields[s.STATE] = "RETRY"
    # reason is celery.exceptions.Retry; .exc is what the task raised (None for a bare retry).
    original = getattr(reason, "exc", None) or reason
    exc = original if isinstance(original, BaseException) else None
    # The traceback of what the task raised (and what that was raised from), not the one of
    # Celery's Retry around it: that half is Celery's retry machinery, the same every time.
    if exc is not None and exc.__traceback__ is not None:
        tb_text = format_traceback(type(exc), exc, exc.__traceback__)
    else:
        tb_text = getattr(einfo, "traceback", None)
    fields.update(_exception_fields(exc, tb_text))
    when = getattr(reason, "when", None)
    now = dt.datetime.now(dt.UTC)
    if isinstance(when, int | float):
        fields[s.RETRY_IN_S] = float(when)
        fields[s.ETA] = (now + dt.timedelta(seconds=when)).isoformat()
    elif isinstance(when, dt.datetime):
        aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        fields[s.RETRY_IN_S] = round((aware - now).total_seconds(), 3)
        fields[s.ETA] = aware.isoformat()
    log_event(s.Event.TASK_RETRIED, **fields)


@_safe
def _on_internal_error(sender: Any = None, task_id: str | None = None,
                       exception: BaseException | None = None, einfo: Any = None,
                       **kw: Any) -> None:
    task = sender
    fields = _bound_or(task, task_id) if task is not None else {s.TASK_ID: task_id}
    fields.update(_exception_fields(exception, getattr(einfo, "traceback", None)))
    log_event(s.Event.TASK_INTERNAL_ERROR, **fields)


@_safe
def _on_postrun(sender: Any = None, task_id: str | None = None, task: Any = None,
                state: str | None = None, retval: Any = None, **kw: Any) -> None:
    try:
        if state == _SUCCESS and task is not None:
            _log_succeeded(task, task_id, retval)
    finally:
        _end_task(task_id, state)


_SUCCESS = "SUCCESS"


def _end_task(task_id: str | None, state: str | None) -> None:
    """Unbind the task's context and tenant, end its span: the task's last step here."""
    task_state = _tasks.pop(task_id, None) if task_id else None
    if task_state is None:
        return
    try:
        _context.unbind_task(task_state.tokens)
        tenancy.reset_tenant(task_state.tenant_token)
    finally:
        if task_state.run is not None:
            _guarded(TaskSpans.end_run, task_state.run, state)


# --- Worker lifecycle -----------------------------------------------------------------------


@_safe
def _on_setup_logging(loglevel: Any = None, **kw: Any) -> None:
    # Connecting to setup_logging is what stops Celery from installing its own prose handlers.
    if not _options.configure_logging:
        return
    level = _options.log_level or loglevel or "INFO"
    if isinstance(level, int):
        level = logging.getLevelName(level)
    logconfig.configure_logging(
        level, service=_options.service, environment=_options.environment,
        project=_options.project, labels=_options.log_labels,
        # Keep writing where we wrote before: the worker's own setup must not move the stream.
        stream=logconfig.current_stream(),
    )
    _install_celery_filter()


@_safe
def _on_celeryd_init(sender: Any = None, instance: Any = None, **kw: Any) -> None:
    logconfig.set_worker_name(sender)
    if _options.quiet_banner and instance is not None and hasattr(instance, "quiet"):
        # The banner is multi-line prose on sys.__stdout__; worker_ready carries its facts.
        instance.quiet = True


@_safe
def _on_after_setup(sender: Any = None, instance: Any = None, conf: Any = None,
                    **kw: Any) -> None:
    # Celery skips redirecting print()/stderr when logging is custom; do it ourselves so that
    # a stray print() in task code still becomes a JSON line.
    if conf is not None and conf.worker_redirect_stdouts and instance is not None:
        instance.app.log.redirect_stdouts(conf.worker_redirect_stdouts_level)


@_safe
def _on_worker_ready(sender: Any = None, **kw: Any) -> None:
    hostname = getattr(sender, "hostname", None)
    logconfig.set_worker_name(hostname)
    app = getattr(sender, "app", None)
    fields: dict[str, Any] = {s.WORKER: hostname}
    pool = getattr(getattr(sender, "controller", None), "pool", None)
    if pool is not None:
        fields["pool"] = type(pool).__module__.rsplit(".", 1)[-1]
        fields["concurrency"] = getattr(pool, "limit", None)
    if app is not None:
        fields["queues"] = sorted(q.name for q in app.amqp.queues.consume_from.values()) if \
            app.amqp.queues.consume_from else None
    log_event(s.Event.WORKER_READY, f"Worker {hostname} ready", **fields)


@_safe
def _on_worker_shutdown(sender: Any = None, **kw: Any) -> None:
    log_event(s.Event.WORKER_SHUTDOWN, "Worker shutting down", **{s.WORKER: _hostname(sender)})


def _hostname(sender: Any) -> str | None:
    return getattr(sender, "hostname", None) or (sender if isinstance(sender, str) else None)


@_safe
def _on_process_init(sender: Any = None, **kw: Any) -> None:
    # A forked child inherits the parent's dict; whatever is in it belongs to the parent.
    _tasks.clear()
    if _options.tracing:
        _tracing.setup_tracing(_options.service, _options.environment)


# --- Celery's own prose lines ---------------------------------------------------------------


class CeleryLineFilter(logging.Filter):
    """Drop Celery's prose lines that our events replace while instrumented.

    ``Task x[id] succeeded in 0.02s: <return value>`` duplicates ``task_succeeded`` and, worse,
    logs the task's return value (customer data). The other Celery lines pass through and are
    tagged with an event name when we know what they mean (broker lost, time limits).
    """

    def __init__(self) -> None:
        super().__init__()
        from celery.app import trace as celery_trace

        self.replaced = {celery_trace.LOG_RECEIVED, celery_trace.LOG_SUCCESS,
                         celery_trace.LOG_FAILURE, celery_trace.LOG_RETRY}

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_instrumented() or not record.name.startswith("celery"):
            return True
        if record.msg in self.replaced:
            return False
        text = record.msg if isinstance(record.msg, str) else ""
        # (Celery's "Hard time limit exceeded" line stays a plain log line: our
        # time_limit_exceeded event reports it with the task's fields; tagging both would count
        # every time limit twice.)
        if "Connection to broker lost" in text:
            record.__dict__[_EVENT_ATTR] = s.Event.BROKER_CONNECTION_LOST.value
        elif text.startswith("Chord") and "raised" in text:
            record.__dict__[_EVENT_ATTR] = s.Event.CHORD_ERROR.value
        return True



_celery_filter: CeleryLineFilter | None = None


#: Celery loggers whose INFO lines our events replace. Raising their level (rather than only
#: filtering) matters for speed: Celery checks isEnabledFor(INFO) once and then skips building
#: the "received"/"succeeded" records altogether.
REPLACED_CELERY_LOGGERS = ("celery.app.trace", "celery.worker.strategy")


def _install_celery_filter() -> None:
    global _celery_filter
    handler = logconfig.current_handler()
    if handler is None or not _options.replace_celery_task_lines:
        return
    for name in REPLACED_CELERY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if _celery_filter is None:
        _celery_filter = CeleryLineFilter()
    if _celery_filter not in handler.filters:
        handler.addFilter(_celery_filter)


# --- instrument / uninstrument --------------------------------------------------------------

_HANDLERS: tuple[tuple[Any, Callable[..., Any]], ...] = (
    (signals.before_task_publish, _before_publish),
    (signals.after_task_publish, _after_publish),
    (signals.task_received, _on_received),
    (signals.task_prerun, _on_prerun),
    (signals.task_failure, _on_failure),
    (signals.task_retry, _on_retry),
    (signals.task_revoked, _on_revoked),
    (signals.task_rejected, _on_rejected),
    (signals.task_unknown, _on_unknown),
    (signals.task_internal_error, _on_internal_error),
    # postrun after the others: it clears the context they log with.
    (signals.task_postrun, _on_postrun),
    (signals.worker_ready, _on_worker_ready),
    (signals.worker_shutdown, _on_worker_shutdown),
    (signals.worker_process_init, _on_process_init),
    (signals.celeryd_init, _on_celeryd_init),
    (signals.celeryd_after_setup, _on_after_setup),
)


def instrument(
    app: Any = None,
    *,
    service: str | None = None,
    environment: str | None = None,
    project: str | None = None,
    tracing: bool = True,
    log_payloads: bool = False,
    configure_logging: bool = True,
    log_level: str | None = None,
    quiet_banner: bool = True,
    replace_celery_task_lines: bool = True,
    chord_size_lookup: bool = True,
    log_labels: bool = False,
) -> None:
    """Connect the signal handlers (and OpenTelemetry's) for ``app``; safe to call twice.

    ``service``/``environment`` name the trace resource, and with ``log_labels`` become
    ``logging.googleapis.com/labels`` on every line (off by default: on GKE each entry names
    its cluster, namespace, pod and container already, and the labels cost ~80 bytes a line);
    ``project`` is the GCP project for trace links (default: ``GOOGLE_CLOUD_PROJECT``). With
    ``configure_logging`` the worker's ``setup_logging`` signal installs our JSON logging
    instead of Celery's prose, and the process's logging is configured right away if nobody
    did it yet.
    ``log_payloads`` logs a truncated, redacted repr of args, kwargs and results (off by
    default: they carry customer data). ``chord_size_lookup`` reads each chord's size from the
    Redis result backend once per worker process (one GET per chord), so that chord members'
    lines say how many members to expect.
    """
    global _options
    _options = _Options(
        service=service or os.environ.get("OTEL_SERVICE_NAME"),
        environment=environment,
        project=project or os.environ.get("GOOGLE_CLOUD_PROJECT"),
        tracing=tracing,
        log_payloads=log_payloads,
        configure_logging=configure_logging,
        log_level=log_level,
        quiet_banner=quiet_banner,
        replace_celery_task_lines=replace_celery_task_lines,
        chord_size_lookup=chord_size_lookup,
        log_labels=log_labels,
    )
    if tracing:
        # Before our handlers: in prerun the task's span must already be current.
        _tracing.setup_tracing(_options.service, _options.environment)
    if configure_logging and not logconfig.is_configured():
        logconfig.configure_logging(
            log_level or "INFO", service=_options.service,
            environment=_options.environment, project=_options.project, labels=log_labels)
    _install_celery_filter()
    if _connected:
        return
    _wrap_request_on_failure()
    for signal, handler in _HANDLERS:
        signal.connect(handler, weak=False)
        _connected.append((signal, handler))
    if configure_logging:
        signals.setup_logging.connect(_on_setup_logging, weak=False)
        _connected.append((signals.setup_logging, _on_setup_logging))
    if app is not None and configure_logging:
        # Belt and braces for apps that configure logging without the signal.
        app.conf.worker_hijack_root_logger = False


def uninstrument() -> None:
    """Disconnect every handler ``instrument`` connected and forget per-task state."""
    for signal, handler in _connected:
        signal.disconnect(handler)
    _connected.clear()
    _unwrap_request_on_failure()
    _tasks.clear()
    _no_tenant_seen.clear()
    _recent_failures.clear()
    _chord_sizes.clear()
    for name in REPLACED_CELERY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _tracing.teardown_tracing()

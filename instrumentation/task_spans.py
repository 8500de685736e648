"""One OpenTelemetry span per task run and per publish, opened and closed by our own handlers.

You do not call this module: ``instrument(app)`` (tracing on, the default) makes the signal
handlers in ``signals.py`` call it, in the same handler call that writes the task's line and
binds its context, so a task pays for one signal receiver per signal, not two.

The spans are those of ``opentelemetry-instrumentation-celery`` (same names, kinds and
parentage), so trace viewers and queries written for it keep working:

* ``apply_async/<task name>`` (``PRODUCER``) while a task is published; its context goes into
  the message headers through the globally configured propagator (W3C ``traceparent`` by
  default);
* ``run/<task name>`` (``CONSUMER``) while the task runs, the child of the span in the message
  (so publish -> run is one trace across processes), current while the task's code runs;
* a failure sets the run span's status to ``ERROR`` and records the exception (unless the
  exception is in the task's ``throws``); a retry sets ``celery.retry.reason``.

Attributes are set only on recorded (sampled) spans: ``celery.action``, ``celery.task_name``,
``messaging.message.id``, ``messaging.destination`` (the routing key), ``celery.hostname``,
``celery.retries`` (when not 0), ``celery.eta``/``celery.expires`` (when set) and, when the run
ends, ``celery.state``. What is not copied from the upstream instrumentor, and why, is in
``docs/instrumentation.md`` ("Spans").

Why not ``CeleryInstrumentor`` itself: it costs every task its own prerun and postrun
receivers, a second context attach, a context manager per span, a duration histogram, and a
walk over nineteen request keys per sampled span. If the application (or
``opentelemetry-instrument``) instrumented Celery with ``CeleryInstrumentor`` already, those
spans are used and none are added here (``tracing.setup_tracing`` decides).

Nothing here raises: a broken exporter or span processor costs the task its span, never the
task itself (the caller's ``_safe`` counts the error).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.instrumentation.celery import celery_getter
from opentelemetry.propagate import get_global_textmap
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace.status import Status, StatusCode

#: Span and attribute names of opentelemetry-instrumentation-celery (and its semconv).
RUN_PREFIX = "run/"
PUBLISH_PREFIX = "apply_async/"
ACTION = "celery.action"
TASK_NAME = "celery.task_name"
STATE = "celery.state"
HOSTNAME = "celery.hostname"
RETRIES = "celery.retries"
ETA = "celery.eta"
EXPIRES = "celery.expires"
RETRY_REASON = "celery.retry.reason"
EXCHANGE = "celery.exchange"
MESSAGE_ID = "messaging.message.id"
DESTINATION = "messaging.destination"

#: Publishes whose span is open (a publish that raised never closes its span): bounded.
MAX_OPEN_PUBLISHES = 1024

_CONSUMER = trace.SpanKind.CONSUMER
_PRODUCER = trace.SpanKind.PRODUCER
_PARENT_BASED_OFF = ParentBased(ALWAYS_OFF).get_description()
_UNSAMPLED = trace.TraceFlags(trace.TraceFlags.DEFAULT)
_RANDOM_UNSAMPLED = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID)


class RunSpan:
    """The span of one running task and the context token that made it current."""

    __slots__ = ("span", "token")

    def __init__(self, span: Any, token: Any) -> None:
        self.span = span
        self.token = token


class TaskSpans:
    """Start and end the spans of task runs and publishes (see the module docstring)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        """Spans from ``tracer_provider`` (default: the global one).

        When its sampler is ``ParentBased(ALWAYS_OFF)`` (what ``tracing.setup_tracing``
        installs when nothing is exported), a run span whose parent is not sampled is made
        here as the SDK would make it (a non-recording span with the parent's trace id, or a
        new one, and a new span id), without the SDK's general path (sampler call, sampling
        result, span-count metrics): the common case, at a fraction of the cost.
        """
        self.tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider,
                                       schema_url="https://opentelemetry.io/schemas/1.11.0")
        sampler = getattr(self.tracer, "sampler", None)
        ids = getattr(self.tracer, "id_generator", None)
        drops_unsampled = sampler is not None and ids is not None and \
            sampler.get_description() == _PARENT_BASED_OFF
        self._ids = ids if drops_unsampled else None
        self._publishing: dict[str, Any] = {}
        self._propagator: Any = None
        self._carrier_fields: tuple[str, ...] = ()

    # --- run -----------------------------------------------------------------------------

    def start_run(self, task: Any, task_id: str, request: Any) -> RunSpan:
        """Open the task's span as the child of the message's span context and make it
        current (one context attach: the span in the extracted context)."""
        parent = self._extract(request)
        span = self._unsampled_span(parent) if self._ids is not None else None
        if span is None:
            span = self.tracer.start_span(RUN_PREFIX + task.name, context=parent,
                                          kind=_CONSUMER)
        token = context_api.attach(trace.set_span_in_context(span, parent))
        if span.is_recording():
            attributes = {ACTION: "run", TASK_NAME: task.name, MESSAGE_ID: task_id}
            _request_attributes(request, attributes)
            span.set_attributes(attributes)
        return RunSpan(span, token)

    def _extract(self, request: Any) -> Any:
        """The span context the message carries (None without one). A request that has none
        of the propagator's fields is not handed to it: with Celery's getter, which lists no
        keys, a propagator can only read the fields it names."""
        propagator = get_global_textmap()
        if propagator is not self._propagator:
            self._carrier_fields = tuple(propagator.fields)
            self._propagator = propagator
        for name in self._carrier_fields:
            if getattr(request, name, None) is not None:
                return propagator.extract(request, getter=celery_getter) or None
        return None

    def _unsampled_span(self, parent: Any) -> Any:
        """For ParentBased(ALWAYS_OFF): the span the SDK would make when the parent (the
        message's, else the current one) is not sampled; None when it is (the SDK records
        it)."""
        parent_ctx = trace.get_current_span(parent).get_span_context()
        ids = self._ids
        if parent_ctx.is_valid:
            if parent_ctx.trace_flags.sampled:
                return None
            trace_id, trace_state = parent_ctx.trace_id, parent_ctx.trace_state
            random_id = parent_ctx.trace_flags.random_trace_id
        else:
            trace_id, trace_state = ids.generate_trace_id(), None
            random_id = ids.is_trace_id_random()
        flags = _RANDOM_UNSAMPLED if random_id else _UNSAMPLED
        return trace.NonRecordingSpan(trace.SpanContext(
            trace_id, ids.generate_span_id(), is_remote=False, trace_flags=flags,
            trace_state=trace_state))

    @staticmethod
    def end_run(run: RunSpan, state: str | None) -> None:
        """Restore the context the task started with, then end its span."""
        try:
            context_api.detach(run.token)
        finally:
            span = run.span
            if state and span.is_recording():
                span.set_attribute(STATE, state)
            span.end()

    @staticmethod
    def record_failure(run: RunSpan, task: Any, exception: BaseException | None) -> None:
        span = run.span
        if not span.is_recording():
            return
        throws = getattr(task, "throws", None)
        if throws and exception is not None and isinstance(exception, throws):
            return  # an expected error (Task.throws) is no error of the span's
        if exception is None:
            span.set_status(Status(StatusCode.ERROR))
            return
        span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, str(exception)))

    @staticmethod
    def record_retry(run: RunSpan, reason: Any) -> None:
        if reason is not None and run.span.is_recording():
            run.span.set_attribute(RETRY_REASON, str(reason))

    # --- publish -------------------------------------------------------------------------

    def start_publish(self, task_name: str, task_id: str, headers: dict[str, Any],
                      routing_key: str | None = None, exchange: Any = None) -> None:
        """Open the publish span (child of the current span) and write its context into the
        outgoing ``headers``. It is not made current: a publish that raises would otherwise
        leave it current for the rest of the process."""
        span = self.tracer.start_span(PUBLISH_PREFIX + task_name, kind=_PRODUCER)
        if span.is_recording():
            attributes = {ACTION: "apply_async", TASK_NAME: task_name, MESSAGE_ID: task_id}
            if routing_key:
                attributes[DESTINATION] = routing_key
            exchange = getattr(exchange, "name", exchange)  # a kombu Exchange or its name
            if exchange and isinstance(exchange, str):
                attributes[EXCHANGE] = exchange
            span.set_attributes(attributes)
        get_global_textmap().inject(headers, context=trace.set_span_in_context(span))
        if len(self._publishing) >= MAX_OPEN_PUBLISHES:
            self._publishing.pop(next(iter(self._publishing))).end()
        self._publishing[task_id] = span

    def end_publish(self, task_id: str) -> None:
        span = self._publishing.pop(task_id, None)
        if span is not None:
            span.end()

    def open_publishes(self) -> int:
        """Publish spans started and not yet ended (0 when idle: no leak)."""
        return len(self._publishing)


def _request_attributes(request: Any, attributes: dict[str, Any]) -> None:
    """The request's attributes worth a span attribute, when set (recorded spans only)."""
    delivery_info = request.delivery_info
    if isinstance(delivery_info, Mapping) and delivery_info.get("routing_key"):
        attributes[DESTINATION] = delivery_info["routing_key"]
    if request.hostname:
        attributes[HOSTNAME] = request.hostname
    if request.retries:
        attributes[RETRIES] = request.retries
    for key, name in (("eta", ETA), ("expires", EXPIRES)):
        value = getattr(request, key, None)
        if value:
            attributes[name] = str(value)

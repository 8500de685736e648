"""Prometheus metrics for Celery workers, counted from the same events the logs are written from.

In the worker's app module (the prefork pool forks from it, so children inherit everything)::

    from instrumentation import instrument
    from instrumentation.metrics import enable_metrics

    instrument(app)
    enable_metrics(app, multiprocess_dir="/var/run/rhesis-metrics", tenant_label=True)

and serve the result, either from the health server's ``/metrics`` route::

    from instrumentation.metrics import render_metrics

    body, content_type = render_metrics(request.headers.get("Accept"))

or from a standalone thread: ``start_metrics_server(9808)`` (or ``enable_metrics(app,
port=9808)``, which starts it once the worker is ready).

What is counted: ``enable_metrics`` registers a :class:`MetricsObserver` with
``instrumentation.add_observer``; the signal handlers notify it of every task and worker event
with the same fields as the log line, and it maps them to the metric names operators know from
celery-exporter (``celery_task_succeeded_total``, ``celery_task_runtime_seconds``, ...), all
labelled ``name`` (task name), ``queue`` and ``worker`` -- plus ``organization_id`` when
``tenant_label=True``, capped at ``max_tenants`` distinct values per process (the rest are
counted under ``"other"``) so one busy platform cannot explode Prometheus' series count.
Two things are read at scrape time instead: ``celery_queue_length`` (Redis ``LLEN`` of each
queue and its priority sub-queues) and, when a ``chord_source`` is given, the chord gauges.

Why a multiprocess directory: under the prefork pool tasks run in child processes, while the
HTTP server runs in the parent. prometheus-client's multiprocess mode has every process write
its values to memory-mapped files in one directory and the server merge them. Each worker run
gets its own sub-directory (``<dir>/<pid>-<start time>``), so counts of an earlier run (the
directory of a Kubernetes ``emptyDir`` survives container restarts) are never added to this
one; sub-directories of runs that are gone are removed at start. Counters of child processes
that exit stay (a counter must not go down); their live gauges are removed with
``mark_process_dead`` from the ``worker_process_shutdown`` signal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from instrumentation import schema

__all__ = [
    "CHORDS_IN_FLIGHT",
    "CHORDS_STUCK",
    "NO_TENANT",
    "OTHER_TENANT",
    "QUEUE_LENGTH",
    "TASK_COUNTERS",
    "TASK_FAILED",
    "TASK_QUEUE_WAIT",
    "TASK_RECEIVED",
    "TASK_REJECTED",
    "TASK_RETRIED",
    "TASK_REVOKED",
    "TASK_RUNTIME",
    "TASK_SENT",
    "TASK_STARTED",
    "TASK_SUCCEEDED",
    "WORKER_UP",
    "ChordCollector",
    "ChordCounts",
    "MetricsObserver",
    "QueueLengthCollector",
    "TenantLimiter",
    "disable_metrics",
    "enable_metrics",
    "metrics_enabled",
    "queue_keys",
    "render_metrics",
    "set_chord_counts",
    "start_metrics_server",
]

_log = logging.getLogger(__name__)

# --- Metric names (as PromQL sees them; dashboards and alerts import these) ----------------
TASK_SENT = "celery_task_sent_total"
TASK_RECEIVED = "celery_task_received_total"
TASK_STARTED = "celery_task_started_total"
TASK_SUCCEEDED = "celery_task_succeeded_total"
TASK_FAILED = "celery_task_failed_total"
TASK_RETRIED = "celery_task_retried_total"
TASK_REVOKED = "celery_task_revoked_total"
TASK_REJECTED = "celery_task_rejected_total"
TASK_RUNTIME = "celery_task_runtime_seconds"
TASK_QUEUE_WAIT = "celery_task_queue_wait_seconds"
WORKER_UP = "celery_worker_up"
QUEUE_LENGTH = "celery_queue_length"
CHORDS_IN_FLIGHT = "celery_chords_in_flight"
CHORDS_STUCK = "celery_chords_stuck"

# --- Label names ---------------------------------------------------------------------------
#: celery-exporter's label for the task name (the log field is ``task_name``).
NAME = "name"
QUEUE = schema.QUEUE
WORKER = schema.WORKER
EXCEPTION = "exception"
TENANT = schema.ORGANIZATION_ID

#: Tenant label value of tasks without a tenant, and of tenants beyond the cap.
NO_TENANT = "none"
OTHER_TENANT = "other"

#: The counter each task event increments.
TASK_COUNTERS: dict[str, str] = {
    schema.Event.TASK_PUBLISHED: TASK_SENT,
    schema.Event.TASK_RECEIVED: TASK_RECEIVED,
    schema.Event.TASK_STARTED: TASK_STARTED,
    schema.Event.TASK_SUCCEEDED: TASK_SUCCEEDED,
    schema.Event.TASK_FAILED: TASK_FAILED,
    schema.Event.TASK_RETRIED: TASK_RETRIED,
    schema.Event.TASK_REVOKED: TASK_REVOKED,
    schema.Event.TASK_REJECTED: TASK_REJECTED,
}

_HELP = {
    TASK_SENT: "Tasks published",
    TASK_RECEIVED: "Tasks received by a worker",
    TASK_STARTED: "Tasks started",
    TASK_SUCCEEDED: "Tasks that succeeded",
    TASK_FAILED: "Tasks that failed, by exception type",
    TASK_RETRIED: "Task retries requested",
    TASK_REVOKED: "Tasks revoked",
    TASK_REJECTED: "Tasks rejected by a worker",
}

#: Task run time buckets (seconds): from fast bookkeeping tasks to the 300 s soft time limit.
RUNTIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   120.0, 300.0, 600.0, float("inf"))
#: Received-to-started buckets (seconds): prefetch waits are short, backlogs are long.
QUEUE_WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
                      1800.0, 3600.0, float("inf"))


_CHORD_HELP = {
    CHORDS_IN_FLIGHT: "Chords whose callback has not run yet",
    CHORDS_STUCK: "Chords the chord monitor considers stuck",
}


class TenantLimiter:
    """Maps an organization id to a label value, keeping at most ``max_tenants`` distinct ones.

    The first ``max_tenants`` tenants seen keep their own value, later ones become
    ``"other"`` (``allow`` lists tenants that always keep theirs, whatever the cap). The cap is
    per process: with the prefork pool the worst case is ``max_tenants`` x processes series.
    """

    def __init__(self, max_tenants: int = 50, allow: Iterable[str] = ()) -> None:
        if max_tenants < 0:
            raise ValueError(f"max_tenants must be >= 0, got {max_tenants}")
        self.max_tenants = max_tenants
        self._allow = frozenset(allow)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, organization_id: Any) -> str:
        if organization_id is None or organization_id == "":
            return NO_TENANT
        org = str(organization_id)
        if org in self._allow or org in self._seen:
            return org
        with self._lock:
            if len(self._seen) < self.max_tenants:
                self._seen.add(org)
                return org
        return OTHER_TENANT


class _Metrics:
    """The metric objects of one ``enable_metrics`` call, in a private registry."""

    def __init__(self, registry: CollectorRegistry, tenant_label: bool,
                 chord_gauges: bool = True) -> None:
        labels = (NAME, QUEUE, WORKER) + ((TENANT,) if tenant_label else ())
        self.labels = labels
        self.counters: dict[str, Counter] = {}
        for metric in dict.fromkeys(TASK_COUNTERS.values()):
            extra = (EXCEPTION,) if metric == TASK_FAILED else ()
            self.counters[metric] = Counter(metric, _HELP[metric], labels + extra,
                                            registry=registry)
        self.runtime = Histogram(TASK_RUNTIME, "Task run time in seconds", labels,
                                 buckets=RUNTIME_BUCKETS, registry=registry)
        self.queue_wait = Histogram(TASK_QUEUE_WAIT, "Seconds from received to started", labels,
                                    buckets=QUEUE_WAIT_BUCKETS, registry=registry)
        # Set by the worker's main process; "live": gone with the process that set it.
        self.worker_up = Gauge(WORKER_UP, "1 while the worker is up, 0 once it shut down",
                               (WORKER,), multiprocess_mode="livemax", registry=registry)
        # Pushed by the chord monitor from whichever process runs it: the latest push wins.
        # (Not created when a chord_source feeds these names at scrape time instead.)
        self.chords_in_flight: Gauge | None = None
        self.chords_stuck: Gauge | None = None
        if chord_gauges:
            self.chords_in_flight = Gauge(CHORDS_IN_FLIGHT, _CHORD_HELP[CHORDS_IN_FLIGHT],
                                          (NAME,), multiprocess_mode="mostrecent",
                                          registry=registry)
            self.chords_stuck = Gauge(CHORDS_STUCK, _CHORD_HELP[CHORDS_STUCK], (NAME,),
                                      multiprocess_mode="mostrecent", registry=registry)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _seconds(ms: Any) -> float | None:
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    return max(float(ms), 0.0) / 1000.0


def _with_bound_fields(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """``fields`` plus the running task's bound fields, as the log line merges them.

    Inside a running task the handlers bind the task's fields once (``instrumentation.context``,
    or structlog's contextvars) and pass only the event's own fields.
    """
    from instrumentation.context import task_fields

    return {**structlog.contextvars.get_contextvars(), **(task_fields() or {}), **fields}


class MetricsObserver:
    """An ``instrumentation`` observer: ``observer(event, fields)`` updates the metrics.

    ``fields`` are the log line's fields (schema names). Unknown events are ignored; this is
    on the task's hot path, so it does a dict lookup and one or two increments, nothing more.
    """

    def __init__(self, metrics: _Metrics, tenants: TenantLimiter | None = None) -> None:
        self._m = metrics
        self._tenants = tenants

    def _labels(self, fields: Mapping[str, Any]) -> tuple[str, ...]:
        values_ = (_text(fields.get(schema.TASK_NAME)), _text(fields.get(schema.QUEUE)),
                   _text(fields.get(schema.WORKER)))
        if self._tenants is None:
            return values_
        return (*values_, self._tenants.label(fields.get(schema.ORGANIZATION_ID)))

    def __call__(self, event: str, fields: Mapping[str, Any]) -> None:
        metric = TASK_COUNTERS.get(event)
        if metric is not None:
            if schema.TASK_NAME not in fields:
                fields = _with_bound_fields(fields)
            labels = self._labels(fields)
            if metric == TASK_FAILED:
                exc = _text(fields.get(schema.EXCEPTION_TYPE)) or "unknown"
                self._m.counters[metric].labels(*labels, exc).inc()
            else:
                self._m.counters[metric].labels(*labels).inc()
            if event in schema.FINISHED_EVENTS:
                runtime = _seconds(fields.get(schema.DURATION_MS))
                if runtime is not None:
                    self._m.runtime.labels(*labels).observe(runtime)
            elif event == schema.Event.TASK_STARTED:
                wait = _seconds(fields.get(schema.QUEUE_WAIT_MS))
                if wait is not None:
                    self._m.queue_wait.labels(*labels).observe(wait)
        elif event == schema.Event.WORKER_READY:
            self._m.worker_up.labels(_text(fields.get(schema.WORKER))).set(1)
        elif event == schema.Event.WORKER_SHUTDOWN:
            self._m.worker_up.labels(_text(fields.get(schema.WORKER))).set(0)


# --- Queue length: read from Redis at scrape time --------------------------------------------


def queue_keys(queue: str, priority_steps: Iterable[int] | None = None, sep: str | None = None,
               prefix: str = "") -> list[str]:
    """The Redis lists kombu keeps ``queue``'s messages in: one per priority step.

    kombu's Redis transport puts priority ``p`` (rounded down to a step) in
    ``queue + sep + str(p)``, and priority 0 in ``queue`` itself (``Channel._q_for_pri``).
    """
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    steps = sorted(set(PRIORITY_STEPS if priority_steps is None else priority_steps))
    sep = Channel.sep if sep is None else sep
    return [prefix + (f"{queue}{sep}{p}" if p else queue) for p in steps]


class QueueLengthCollector:
    """Collects ``celery_queue_length{queue}``: the sum of ``LLEN`` over a queue's priority lists.

    ``queues`` is called at every scrape (the set can grow as tasks get routed). When Redis
    does not answer, the metric is left out of that scrape (and a warning logged without the
    URL): a missing series is honest, a zero would say "the queue is empty".
    """

    def __init__(self, client: Any, queues: Callable[[], Iterable[str]], *,
                 priority_steps: Iterable[int] | None = None, sep: str | None = None,
                 prefix: str = "") -> None:
        self._client = client
        self._queues = queues
        self._steps = priority_steps
        self._sep = sep
        self._prefix = prefix

    def lengths(self) -> dict[str, int]:
        names = sorted({q for q in self._queues() if q})
        keys = {q: queue_keys(q, self._steps, self._sep, self._prefix) for q in names}
        with self._client.pipeline(transaction=False) as pipe:
            for q in names:
                for key in keys[q]:
                    pipe.llen(key)
            counts = iter(pipe.execute())
        return {q: sum(int(next(counts)) for _ in keys[q]) for q in names}

    def collect(self) -> Iterator[Metric]:
        import redis

        try:
            lengths = self.lengths()
        except (redis.RedisError, OSError) as exc:
            _log.warning("celery_queue_length not collected: %s", type(exc).__name__)
            return
        family = GaugeMetricFamily(QUEUE_LENGTH, "Messages waiting in the broker queue",
                                   labels=[QUEUE])
        for queue, n in lengths.items():
            family.add_metric([queue], n)
        yield family


def _broker_url(app: Any) -> str:
    url = str(app.conf.broker_url or app.conf.broker_read_url or "redis://localhost:6379/0")
    return url.split(";")[0].strip()  # failover lists: the first broker


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://", "redis+socket://"))


def _redis_client_for(app: Any) -> Any:
    """A Redis client for ``app``'s broker, with short timeouts (a scrape must not hang)."""
    import redis

    url = _broker_url(app)
    if not _is_redis(url):
        raise ValueError("celery_queue_length needs a Redis broker (redis://, rediss://)")
    if url.startswith("redis+socket://"):
        url = "unix://" + url[len("redis+socket://"):]
    kwargs: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
    ssl_options = app.conf.broker_use_ssl
    if url.startswith("rediss://") and isinstance(ssl_options, Mapping):
        kwargs.update({k: v for k, v in ssl_options.items() if k.startswith("ssl_")})
    return redis.Redis.from_url(url, **kwargs)


def _app_queues(app: Any) -> Callable[[], list[str]]:
    def queues() -> list[str]:
        names = [app.conf.task_default_queue or "celery"]
        with contextlib.suppress(Exception):
            names += list(app.amqp.queues.keys())
        return names

    return queues


# --- Chords: pushed by the chord monitor, or pulled from a callable at scrape time --------


@dataclass(frozen=True)
class ChordCounts:
    """Chords waiting for their callback, and the stuck ones, by callback task name."""

    in_flight: Mapping[str, int] = field(default_factory=dict)
    stuck: Mapping[str, int] = field(default_factory=dict)


class ChordCollector:
    """The chord gauges read from ``source()`` at each scrape (the pull alternative to
    :func:`set_chord_counts`). Nothing is written to the multiprocess files: the scrape thread
    takes no lock a pool child forked at that moment could inherit held."""

    def __init__(self, source: Callable[[], ChordCounts]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._source()
        except Exception as exc:  # a broken monitor must not break the scrape
            _log.warning("chord gauges not collected: %s", type(exc).__name__)
            return
        for name, values_ in ((CHORDS_IN_FLIGHT, counts.in_flight),
                              (CHORDS_STUCK, counts.stuck)):
            family = GaugeMetricFamily(name, _CHORD_HELP[name], labels=[NAME])
            for callback, n in values_.items():
                family.add_metric([callback], n)
            yield family


# --- State of this process -------------------------------------------------------------------


@dataclass
class _State:
    metrics: _Metrics
    observer: MetricsObserver
    registry: CollectorRegistry
    exposition: CollectorRegistry
    multiprocess_dir: Path | None
    chord_source: Callable[[], ChordCounts] | None
    env_before: str | None
    chord_names: dict[str, set[str]] = field(default_factory=lambda: {"in": set(), "stuck": set()})
    handlers: list[tuple[Any, Callable[..., None]]] = field(default_factory=list)
    server: Any = None


_state: _State | None = None
_state_lock = threading.Lock()
_chord_lock = threading.Lock()  # the scrape thread and task threads may both push


def metrics_enabled() -> bool:
    return _state is not None


def set_chord_counts(counts: ChordCounts) -> None:
    """Publish the chord monitor's latest view (no-op when metrics are not enabled).

    Callback names present last time but missing now are set to 0, so a recovered chord
    stops showing as stuck. Works from any process of the worker (the latest push of each
    callback name wins); push from one process, since only it knows which names to zero.
    """
    state = _state
    if state is None:
        return
    if state.metrics.chords_in_flight is None:
        _log.warning("set_chord_counts ignored: enable_metrics(chord_source=...) feeds the "
                     "chord gauges")
        return
    with _chord_lock:
        _set_chord_counts(state, counts)


def _set_chord_counts(state: _State, counts: ChordCounts) -> None:
    assert state.metrics.chords_in_flight is not None
    assert state.metrics.chords_stuck is not None
    for key, gauge, current in (("in", state.metrics.chords_in_flight, counts.in_flight),
                                ("stuck", state.metrics.chords_stuck, counts.stuck)):
        for name in state.chord_names[key] - set(current):
            gauge.labels(name).set(0)
        for name, n in current.items():
            gauge.labels(name).set(n)
        state.chord_names[key] |= set(current)


class _Exposition:
    """What ``/metrics`` shows: the merged (or in-process) metrics plus scrape-time readings."""

    def __init__(self, registry: CollectorRegistry, multiprocess_dir: Path | None,
                 extra: list[Any]) -> None:
        self._registry = registry
        self._dir = multiprocess_dir
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        if self._dir is not None:
            yield from MultiProcessCollector(None, path=str(self._dir)).collect()
        else:
            yield from self._registry.collect()
        for collector in self._extra:
            yield from collector.collect()


def _reinit_locks_in_child() -> None:
    # A pool child forked while another thread of the parent held one of these would
    # otherwise wait forever on its first use.
    global _state_lock, _chord_lock
    _state_lock = threading.Lock()
    _chord_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_locks_in_child)


# --- Multiprocess directory ------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_directory(base: Path) -> Path:
    """A fresh directory for this run under ``base``; removes those of runs that are gone."""
    base.mkdir(parents=True, exist_ok=True)
    me = os.getpid()
    for old in base.iterdir():
        pid_text = old.name.split("-", 1)[0]
        if not old.is_dir() or not pid_text.isdigit():
            continue
        pid = int(pid_text)
        # Same pid as ours: a previous container incarnation (pids restart at 1).
        if pid == me or not _pid_alive(pid):
            shutil.rmtree(old, ignore_errors=True)
    run = base / f"{me}-{time.time_ns()}"
    run.mkdir()
    return run


_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _use_multiprocess_dir(path: str | None) -> None:
    """Make metrics created from now on write to ``path`` (or to memory when None)."""
    if path is None:
        os.environ.pop(_ENV, None)
    else:
        os.environ[_ENV] = path
    # prometheus-client picks its value class (and caches open files in it) when it is first
    # imported; pick again so new metrics write to this directory, not an earlier one.
    values.ValueClass = values.get_value_class()


# --- Enabling --------------------------------------------------------------------------------


def enable_metrics(
    app: Any,
    *,
    multiprocess_dir: str | os.PathLike[str] | None = None,
    tenant_label: bool = False,
    max_tenants: int = 50,
    tenants: Iterable[str] = (),
    queues: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    queue_length: bool | None = None,
    chord_source: Callable[[], ChordCounts] | None = None,
    port: int | None = None,
    addr: str = "0.0.0.0",
) -> None:
    """Count this process's task and worker events as Prometheus metrics.

    ``multiprocess_dir`` (default: ``$PROMETHEUS_MULTIPROC_DIR``) switches on
    prometheus-client's multiprocess mode, required with the prefork pool. ``tenant_label``
    adds ``organization_id`` (at most ``max_tenants`` values per process, plus the ``tenants``
    always kept). ``queues`` (names or a callable; default: the app's queues) are measured in
    Redis at every scrape; ``queue_length`` defaults to "if the broker is Redis" (``True`` with
    another broker is a ``ValueError``). ``chord_source`` is called at every
    scrape for the chord gauges (then :func:`set_chord_counts` is ignored). ``port`` starts
    :func:`start_metrics_server` when the worker is ready. Calling it again replaces the
    previous configuration.
    """
    global _state
    from celery import signals

    from instrumentation import add_observer

    disable_metrics()
    env_before = os.environ.get(_ENV)
    base = multiprocess_dir or env_before
    run_dir = None
    if base:
        run_dir = _run_directory(Path(base))
        _use_multiprocess_dir(str(run_dir))
    registry = CollectorRegistry(auto_describe=False)
    metrics = _Metrics(registry, tenant_label, chord_gauges=chord_source is None)
    limiter = TenantLimiter(max_tenants, tenants) if tenant_label else None
    observer = MetricsObserver(metrics, limiter)

    extra: list[Any] = []
    if queue_length is None:
        queue_length = _is_redis(_broker_url(app))
    if queue_length:
        if queues is None:
            queue_names = _app_queues(app)
        elif callable(queues):
            queue_names = queues
        else:
            fixed = list(queues)
            queue_names = lambda: fixed  # noqa: E731
        options = app.conf.broker_transport_options or {}
        extra.append(QueueLengthCollector(
            _redis_client_for(app), queue_names,
            priority_steps=options.get("priority_steps"), sep=options.get("sep"),
            prefix=options.get("global_keyprefix", "") or ""))
    exposition = CollectorRegistry(auto_describe=False)
    if chord_source is not None:
        extra.append(ChordCollector(chord_source))
    exposition.register(_Exposition(registry, run_dir, extra))

    state = _State(metrics, observer, registry, exposition, run_dir, chord_source, env_before)

    def on_process_shutdown(pid: int | None = None, **_: Any) -> None:
        # Runs in the exiting pool child: its live gauges must not outlive it.
        if state.multiprocess_dir is not None:
            mark_process_dead(pid or os.getpid(), str(state.multiprocess_dir))

    def on_worker_ready(**_: Any) -> None:
        if port is not None:
            start_metrics_server(port, addr)

    for signal, handler in ((signals.worker_process_shutdown, on_process_shutdown),
                            (signals.worker_ready, on_worker_ready)):
        signal.connect(handler, weak=False)
        state.handlers.append((signal, handler))
    with _state_lock:
        _state = state
    add_observer(observer)


def disable_metrics() -> None:
    """Undo :func:`enable_metrics`: stop counting, disconnect, stop the standalone server."""
    global _state
    from instrumentation import remove_observer

    with _state_lock:
        state, _state = _state, None
    if state is None:
        return
    remove_observer(state.observer)
    for signal, handler in state.handlers:
        signal.disconnect(handler)
    if state.server is not None:
        httpd, _thread = state.server
        httpd.shutdown()
        httpd.server_close()
    if state.multiprocess_dir is not None:
        _use_multiprocess_dir(state.env_before)


def render_metrics(accept: str | None = None) -> tuple[bytes, str]:
    """The ``/metrics`` response: ``(body, content_type)``, negotiated from ``Accept``."""
    state = _state
    encoder, content_type = choose_encoder(accept or "")
    if state is None:
        return b"# rhesis-logs metrics are not enabled in this process\n", content_type
    return encoder(state.exposition), content_type


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> int:
    """Serve ``/metrics`` from a daemon thread of this process; returns the bound port.

    Idempotent per process: a second call returns the running server's port.
    """
    state = _state
    if state is None:
        raise RuntimeError("enable_metrics() must be called before start_metrics_server()")
    if state.server is None:
        state.server = start_http_server(port, addr, registry=state.exposition)
    return int(state.server[0].server_port)

"""One JSON object per line on stdout, for structlog and stdlib logging alike.

    from instrumentation import configure_logging, get_logger

    configure_logging(level="INFO", service="rhesis-worker", environment="prod",
                      project="my-gcp-project")
    get_logger(__name__).info("cache warmed", entries=12)
    logging.getLogger("celery").warning("plain stdlib works too")

Both lines leave through the same processor chain (``processors.py``), so ``kubectl logs``
shows only JSON and Cloud Logging promotes ``severity``, ``message``, ``time`` and the trace.
structlog loggers write straight to the stream; stdlib records reach the chain through
``structlog.stdlib.ProcessorFormatter`` with the chain as its ``foreign_pre_chain``; our own
events (``events.log_event``) take ``emit_event``, the same steps fused into one pass
(``processors.EventLine``) on the same writer.

Why stdout: the GKE logging agent marks everything on stderr as ERROR unless the line is JSON
with a severity. Writing JSON to stdout is correct either way.

A logging failure must never fail a task: a closed or broken stream is swallowed and counted
(``dropped_lines()``), on the structlog and the stdlib path alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import IO, Any

import structlog

from instrumentation import processors as p
from instrumentation import schema as s
from instrumentation.redaction import Redactor


class _State:
    """What configure_logging set up, so instrument() can reuse it and tests can reset it."""

    configured = False
    static: p.AddStaticFields | None = None
    event_line: p.EventLine | None = None  # our own events' fused renderer
    handler: logging.Handler | None = None
    stream: IO[str] | None = None
    dropped = 0
    generation = 0  # bumped by every (re)configuration; lazy loggers re-bind on change
    writer: LineWriter | None = None
    level = logging.INFO
    lock = threading.Lock()


_state = _State()
_writers: list[LineWriter] = []


def _after_fork_in_child() -> None:
    _state.lock = threading.Lock()
    for writer in _writers:
        writer.reinit_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class LineWriter:
    """Write whole lines to a stream, one ``os.write`` per line, never raising.

    Why not ``stream.write`` + ``flush``: structlog lines and stdlib records reach the same
    stream from several threads (Celery's main process has a few), and Python's text and
    buffered layers are not safe for that: lines came out spliced into each other. One lock
    for both paths, and one ``write(2)`` of the whole encoded line, keep every line intact.
    Across processes (prefork children share the fd) a single ``write(2)`` is atomic for
    regular files and for pipes up to ``PIPE_BUF`` (4096 bytes) on Linux; longer lines from
    different processes can still interleave on a pipe, which is why tracebacks stay on one
    line but are not unbounded (see ``processors.MAX_TRACEBACK``).

    Streams without a file descriptor (``io.StringIO`` in tests) get ``write`` + ``flush``.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        try:
            self._fd: int | None = stream.fileno()
            stream.flush()  # anything already buffered goes out before our direct writes
        except (AttributeError, OSError, ValueError):
            self._fd = None

    def reinit_after_fork(self) -> None:
        # A prefork child inherits this lock in whatever state a parent thread left it.
        self._lock = threading.Lock()

    def write_line(self, line: str | bytes) -> None:
        try:
            with self._lock:
                if self._fd is None:
                    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
                    self.stream.write(text + "\n")
                    self.stream.flush()
                    return
                data = (line + b"\n" if isinstance(line, bytes)
                        else (line + "\n").encode("utf-8", "replace"))
                written = os.write(self._fd, data)
                while written < len(data):  # a short write (a full pipe): the rest follows
                    data = data[written:]
                    written = os.write(self._fd, data)
        except Exception:
            note_drop()


class SafeWriteLogger:
    """structlog's output end: hands rendered lines to the LineWriter; never raises.

    structlog's own ``WriteLogger`` lets an ``OSError`` from a closed pipe escape into task
    code. This one swallows it, counts the dropped line, and tells stderr once.
    """

    def __init__(self, writer: LineWriter) -> None:
        self._writer = writer

    def msg(self, message: str | bytes) -> None:
        self._writer.write_line(message)

    log = debug = info = warn = warning = notice = msg
    err = error = exception = critical = fatal = alert = emergency = msg


class SafeWriteLoggerFactory:
    def __init__(self, writer: LineWriter) -> None:
        self._logger = SafeWriteLogger(writer)

    def __call__(self, *args: Any) -> SafeWriteLogger:
        return self._logger


class SafeStreamHandler(logging.StreamHandler):
    """The stdlib end: formats through ProcessorFormatter, writes through the LineWriter."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__(writer.stream)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            note_drop()
            return
        self.writer.write_line(line)

    def handleError(self, record: logging.LogRecord) -> None:
        note_drop()


def note_drop() -> None:
    """Count a line that could not be written; the first one is reported on stderr."""
    with _state.lock:
        _state.dropped += 1
        first = _state.dropped == 1
    if first:
        with contextlib.suppress(Exception):
            sys.__stderr__.write('{"severity":"ERROR","message":"log stream failed; '
                                 'dropping lines","event":"log"}\n')


def emit_event(event: str, severity: str, message: str | None,
               fields: dict[str, Any]) -> bool:
    """Write one of our events through the fused renderer (``processors.EventLine``): the hot
    path of every task event. ``fields`` is consumed. Returns False when logging is not
    configured by us, so the caller can fall back to structlog's own configuration.
    """
    render, writer = _state.event_line, _state.writer
    if render is None or writer is None:
        return False
    if SEVERITY_LEVELS.get(severity, logging.INFO) < _state.level:
        return True
    writer.write_line(render(event, severity, message, fields))
    return True


def dropped_lines() -> int:
    """How many lines could not be written since logging was configured."""
    return _state.dropped


def shared_processors(
    service: str | None = None,
    environment: str | None = None,
    project: str | None = None,
    labels: bool = False,
) -> list[Any]:
    """The chain every line goes through, structlog or stdlib, before it is rendered."""
    static = p.AddStaticFields(service, environment, labels)
    trace = p.AddTraceContext(project)
    redactor = Redactor(skip=p.NEVER_SECRET)
    _state.static = static
    _state.event_line = p.EventLine(static, trace, redactor)
    return [
        structlog.contextvars.merge_contextvars,
        p.merge_task_context,
        p.normalize_event,
        p.add_severity,
        p.add_time,
        p.add_logger_name,
        static,
        p.add_pid,
        trace,
        p.format_exception,
        redactor,
    ]


#: Severity (or level name) -> stdlib level number. structlog knows only the stdlib levels, so
#: Cloud Logging's extra severities filter like their nearest one (the line still says NOTICE).
SEVERITY_LEVELS = {"DEBUG": 10, "INFO": 20, "NOTICE": 20, "WARNING": 30, "WARN": 30, "ERROR": 40,
                   "CRITICAL": 50, "ALERT": 50, "EMERGENCY": 50}


def configure_logging(
    level: str | int = "INFO",
    *,
    service: str | None = None,
    environment: str | None = None,
    project: str | None = None,
    stream: IO[str] | None = None,
    quiet_loggers: dict[str, str] | None = None,
    labels: bool = False,
) -> None:
    """Route structlog and stdlib logging to one JSON line per record on ``stream`` (stdout).

    ``project`` is the GCP project id used to build ``logging.googleapis.com/trace``.
    ``labels`` writes ``{service, environment}`` as Cloud Logging labels on every line (off:
    on GKE each entry names its cluster, namespace, pod and container already).
    ``quiet_loggers`` maps logger names to a minimum level (e.g. ``{"kombu": "WARNING"}``).
    Calling it again replaces the previous configuration (handlers are not stacked).
    """
    numeric = level if isinstance(level, int) else SEVERITY_LEVELS.get(str(level).upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    stream = stream if stream is not None else sys.stdout
    chain = shared_processors(service, environment, project, labels)

    writer = LineWriter(stream)
    _writers[:] = [writer]  # the previous writer is no longer used
    structlog.configure(
        processors=[*chain, p.render_json],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=SafeWriteLoggerFactory(writer),
        cache_logger_on_first_use=True,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *chain],
        processors=[p.drop_internal, p.render_json_str],
    )
    handler = SafeStreamHandler(writer)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if _state.handler is not None and _state.handler in root.handlers:
        root.removeHandler(_state.handler)
    # Other handlers on the root (basicConfig, Celery's own) would print a second, non-JSON
    # copy of every record; kubectl logs must show only JSON.
    for old in list(root.handlers):
        if isinstance(old, logging.StreamHandler) and not isinstance(old, SafeStreamHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, lvl in (quiet_loggers or {}).items():
        logging.getLogger(name).setLevel(lvl)
    _state.handler = handler
    _state.stream = stream
    _state.writer = writer
    _state.level = numeric
    _state.configured = True
    _state.dropped = 0
    _state.generation += 1


def set_worker_name(hostname: str | None) -> None:
    """Stamp every later line of this process with the worker's hostname."""
    if _state.static is not None:
        _state.static.worker = hostname


def current_handler() -> logging.Handler | None:
    """The stdlib handler configure_logging installed on the root logger (None before)."""
    return _state.handler


def current_stream() -> IO[str] | None:
    """The stream configure_logging writes to (None before it ran)."""
    return _state.stream


def is_configured() -> bool:
    return _state.configured


def reset_logging() -> None:
    """Undo configure_logging (for tests and for embedding apps that reconfigure)."""
    root = logging.getLogger()
    if _state.handler is not None and _state.handler in root.handlers:
        root.removeHandler(_state.handler)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    _state.configured = False
    _state.handler = None
    _state.static = None
    _state.event_line = None
    _state.stream = None
    _state.writer = None
    _state.dropped = 0
    _state.generation += 1


class _LazyLogger:
    """A logger that binds to the configuration in force when it is *used*, not created.

    ``log = get_logger(__name__)`` at module level runs before ``configure_logging`` (which
    the worker calls from Celery's ``setup_logging``); binding then would keep structlog's
    default console renderer forever. This re-binds whenever the configuration changes.
    """

    __slots__ = ("_bound", "_generation", "_initial")

    def __init__(self, initial: dict[str, Any]) -> None:
        self._initial = initial
        self._bound: Any = None
        self._generation = -1

    def _logger(self) -> Any:
        if self._bound is None or self._generation != _state.generation:
            self._bound = structlog.get_logger().bind(**self._initial)
            self._generation = _state.generation
        return self._bound

    def bind(self, **values: Any) -> _LazyLogger:
        return _LazyLogger({**self._initial, **values})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger(), name)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; ``name`` becomes the ``logger`` field. Safe at module level."""
    if name is not None:
        initial.setdefault(s.LOGGER, name)
    return _LazyLogger(initial)

"""The reference Celery worker: ``celery -A worker.app worker``.

Importing this module reads and validates the settings (``worker.config``; a bad environment
is a ``ConfigError`` naming each problem), configures JSON logging, builds the Celery app,
registers the tasks, checks that every routing and annotation key names a registered task,
and instruments the app. The ``celery worker`` command starts the health server
(``worker.health``) on ``HEALTH_PORT`` before it connects to the broker, unless
``HEALTH_SERVER=0`` (the container entrypoint runs its own); ``/metrics`` is served there.

    BROKER_URL=redis://localhost:6379/0 celery -A worker.app worker -Q celery,execution,telemetry
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals

from instrumentation import configure_logging, get_logger, instrument, schema
from instrumentation.logconfig import is_configured
from worker.config import ConfigError, Settings, check_task_names, load_settings
from worker.health import hooks as health_hooks
from worker.tasks.base import TenantTask


def create_app(settings: Settings, *, set_as_current: bool = True) -> Celery:
    """A Celery app configured from ``settings`` with every task registered and checked.

    The worker uses the module-level ``app``; tests and tools that need the same tasks on
    another broker build their own (``set_as_current=False`` keeps ``app`` the default).
    """
    TenantTask.configure(max_retries=settings.max_retries, backoff=settings.retry_backoff,
                         backoff_max=settings.retry_backoff_max, jitter=settings.retry_jitter)
    new = Celery("rhesis-worker", task_cls=TenantTask, set_as_current=set_as_current)
    new.conf.update(settings.celery_config())
    if settings.result_backend.startswith(("redis://", "rediss://")):
        # Celery's Redis backend, with the chord join retried through an outage.
        from worker.result_backend import ResilientRedisBackend

        new.backend_cls = ResilientRedisBackend
    # Register the tasks and the remote-control command. They are shared_tasks, so they attach
    # to every app at finalize without importing this module (no import cycle).
    import worker.control
    import worker.tasks  # noqa: F401

    new.finalize(auto=True)
    # Keep a copy of each chord's callback next to Celery's chord keys, so that the chord
    # monitor (rhesis-worker chords) can name and recover the callback of a stuck chord.
    # Workers publish chords too (execute_test_run), so every app of ours installs it.
    from worker.chord_monitor import record

    record.install(new)
    problems = check_task_names(frozenset(new.tasks), new.conf.task_routes or {},
                                new.conf.task_annotations or {})
    if problems:
        raise ConfigError("invalid worker configuration:\n  - " + "\n  - ".join(problems))
    return new


settings: Settings = load_settings()

if not is_configured():  # a tool importing the app (rhesis-worker) may log to stderr instead
    configure_logging(settings.log_level, service=settings.service,
                      environment=settings.environment, project=settings.project)

app = create_app(settings)

instrument(app, service=settings.service, environment=settings.environment,
           project=settings.project, tracing=settings.tracing,
           log_payloads=settings.log_payloads, log_level=settings.log_level)

_log = get_logger(__name__)
_chord_gauges: Any = None

# /ping, /health, /metrics (and /debug where allowed) from the first second of the worker
# command, before it connects to the broker.
health_hooks.install(app, settings)


@signals.celeryd_init.connect(weak=False)
def _enable_metrics(**kwargs: Any) -> None:
    """Count task events as Prometheus metrics, served at /metrics of the health server
    (one port, HEALTH_PORT), or on METRICS_PORT once ready when this process runs no health
    server (HEALTH_SERVER=0: the container entrypoint serves health from its own process).

    Here and not at import: only a worker process should create the multiprocess directory
    and a metrics port, not every tool or test that imports the app. celeryd_init runs in the
    main process before the pool forks, so the children inherit the observer.
    """
    global _chord_gauges
    if not settings.metrics_port:
        return
    from instrumentation.metrics import enable_metrics
    from worker.chord_monitor.gauges import ChordGaugeFeeder

    chord_source = None
    if settings.chord_metrics_interval > 0 and settings.result_backend.startswith(
            ("redis://", "rediss://")):
        _chord_gauges = ChordGaugeFeeder(settings.result_backend,
                                         interval=settings.chord_metrics_interval,
                                         settings=settings)
        chord_source = _chord_gauges.counts
    try:
        enable_metrics(app, multiprocess_dir=settings.metrics_dir,
                       tenant_label=settings.metrics_tenant_label,
                       port=None if settings.health_server else settings.metrics_port,
                       chord_source=chord_source)
    except (OSError, ValueError) as exc:  # metrics are worth a log line, not a dead worker
        _log.error("metrics could not be enabled", **{schema.REASON: str(exc)})


@signals.worker_ready.connect(weak=False)
def _start_chord_gauges(sender: Any = None, **kwargs: Any) -> None:
    # After the pool forked: children must not inherit the survey thread.
    if _chord_gauges is not None:
        _chord_gauges.start()

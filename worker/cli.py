"""``rhesis-worker``: check and drive the reference worker from a shell or a pod.

    rhesis-worker status --json             # registered workers, pool sizes, queue counts
    rhesis-worker task info <task_id>       # where a task is: active, reserved, scheduled, done
    rhesis-worker retries                   # tasks waiting for a retry, with their ETA
    rhesis-worker demo --runs 5 --wait      # publish a mixed workload
    rhesis-worker health                    # serve /ping, /health, /debug... without a worker

The commands read the same environment as the worker (``BROKER_URL``, ...; see
``worker.config``). They are thin: each calls ``worker.inspection``, ``worker.demo`` or
``worker.health`` and turns their errors into one line on stderr and an exit status
(``instrumentation.exit_status.ExitStatus``):

== ==========================================================================================
0  done
1  a chord or task finding (``chords``/``fix-chords``: stuck chords remain)
2  bad option, bad configuration or unparsable URL
4  broker or result backend unreachable, refusing the password, or silent for ``--timeout``
5  the broker answered but no worker did (``status``, ``retries``, ``task revoke``)
== ==========================================================================================

Before a command talks to the workers it PINGs the broker and the result backend, each
within ``--timeout``: a Redis that accepts connections and never answers fails the command
in about that time instead of hanging it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click
import redis
from kombu.exceptions import OperationalError

from instrumentation.exit_status import ExitStatus
from worker.chord_monitor.cli import CommandFailed, chords, fix_chords
from worker.config import ConfigError
from worker.redis_client import RedisUnavailable, RedisURLError, describe_error

#: Errors of the broker or backend that a command turns into one line and UNAVAILABLE.
_UNAVAILABLE = (redis.RedisError, OSError, OperationalError)


def _app(timeout: float | None = None) -> Any:
    """The worker's Celery app; with ``timeout``, only once broker and backend answered a
    PING within it, and with Celery's own connections bounded by it too."""
    from instrumentation import configure_logging

    # Our output is stdout (tables, JSON); the app's log lines (task_published...) go to stderr.
    configure_logging(os.environ.get("LOG_LEVEL", "WARNING").upper(), stream=sys.stderr)
    try:
        from worker.app import app, settings
    except ConfigError as exc:
        raise CommandFailed(str(exc), ExitStatus.USAGE) from exc
    if timeout is not None:
        _check_redis(settings, timeout)
        _bound(app, timeout)
    return app


def _check_redis(settings: Any, timeout: float) -> None:
    from worker.redis_client import ping

    for what, url in (("broker", settings.broker_url),
                      ("result backend", settings.result_backend)):
        if not url.startswith(("redis://", "rediss://", "unix://")):
            continue
        try:
            ping(url, settings, timeout=timeout, what=what)
        except RedisURLError as exc:
            raise CommandFailed(str(exc), ExitStatus.USAGE) from exc
        except RedisUnavailable as exc:
            raise CommandFailed(f"cannot reach the {exc}", ExitStatus.UNAVAILABLE) from exc


def _bound(app: Any, timeout: float) -> None:
    """A tool must fail, not wait out the worker's 10 s socket timeout and its reconnects."""
    bound = max(timeout, 1.0)
    app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}),
                                         "socket_timeout": bound,
                                         "socket_connect_timeout": bound, "max_retries": 1}
    app.conf.update(broker_connection_timeout=bound, broker_connection_retry=False,
                    broker_connection_max_retries=1, redis_socket_timeout=bound,
                    redis_socket_connect_timeout=bound, result_backend_always_retry=False,
                    task_publish_retry_policy={"max_retries": 1, "interval_start": 0,
                                               "interval_step": 0.5, "interval_max": 1})


class WorkerGroup(click.Group):
    """Turns a broker or backend failure in any command into one line and UNAVAILABLE, and a
    bad configuration into USAGE."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            # Raised wherever the settings are first loaded (importing worker.app included).
            raise CommandFailed(str(exc), ExitStatus.USAGE) from exc
        except _UNAVAILABLE as exc:
            raise CommandFailed(f"Redis failed during the command: {describe_error(exc)}",
                                ExitStatus.UNAVAILABLE) from exc


def _emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text(data))


def inspect_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--json and --timeout, shared by every command that asks the workers."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
    @click.option("--timeout", default=2.0, show_default=True, type=float,
                  help="Seconds to wait for workers to answer.")
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def _no_workers(exc: Exception) -> None:
    raise CommandFailed(str(exc), ExitStatus.NO_WORKERS)


@click.group(cls=WorkerGroup)
def main() -> None:
    """Check and drive the rhesis reference Celery worker.

    Example: rhesis-worker status --json
    """


@main.command()
@inspect_options
def status(as_json: bool, timeout: float) -> None:
    """List the workers that answer, with pool size, registered tasks and active, reserved
    and scheduled counts. Exits with 5 when no worker answers, 4 when the broker does not.

    Example: rhesis-worker status --timeout 5
    """
    from worker.inspection import NoWorkersError, worker_status

    try:
        workers = worker_status(_app(timeout), timeout=timeout)
    except NoWorkersError as exc:
        _no_workers(exc)
        return

    def text(rows: list[dict[str, Any]]) -> str:
        lines = [f"{'WORKER':30} {'POOL':8} {'SIZE':>4} {'TASKS':>5} {'ACTIVE':>6} "
                 f"{'RESERVED':>8} {'SCHEDULED':>9}"]
        for r in rows:
            lines.append(f"{r['hostname']:30} {r['pool'] or '-':8} {r['pool_size'] or 0:>4} "
                         f"{r['registered']:>5} {r['active']:>6} {r['reserved']:>8} "
                         f"{r['scheduled']:>9}")
        return "\n".join(lines)

    _emit([w.as_dict() for w in workers], as_json, text)


@main.group()
def task() -> None:
    """Look up, revoke or forget one task by id.

    Example: rhesis-worker task info 1f0c...
    """


@task.command("info")
@click.argument("task_id")
@inspect_options
def task_info(task_id: str, as_json: bool, timeout: float) -> None:
    """Where a task is: active, reserved or scheduled on a worker, or its stored result.

    Example: rhesis-worker task info 0b6a1d6e-6c1b-4b7e-9a55-3d1c2f0a9e11 --json
    """
    from worker.inspection import find_task

    location = find_task(_app(timeout), task_id, timeout=timeout)

    def text(d: dict[str, Any]) -> str:
        return "\n".join(f"{k}: {v}" for k, v in d.items() if v is not None)

    _emit(location.as_dict(), as_json, text)


@task.command("revoke")
@click.argument("task_id")
@click.option("--terminate", is_flag=True, help="Also kill the task if it is running.")
@click.option("--signal", "signal_name", default="SIGTERM", show_default=True)
@inspect_options
def task_revoke(task_id: str, terminate: bool, signal_name: str, as_json: bool,
                timeout: float) -> None:
    """Revoke a task on every worker (discarded when it arrives; killed with --terminate).

    Example: rhesis-worker task revoke 0b6a1d6e-... --terminate
    """
    from worker.inspection import NoWorkersError, revoke_task

    try:
        replies = revoke_task(_app(timeout), task_id, terminate=terminate, signal=signal_name,
                              timeout=timeout)
    except NoWorkersError as exc:
        _no_workers(exc)
        return
    _emit(replies, as_json, lambda r: f"revoked {task_id} ({len(r)} worker(s) acknowledged)")


@task.command("forget")
@click.argument("task_id")
@click.option("--timeout", default=2.0, show_default=True, type=float,
              help="Seconds to wait for the result backend.")
def task_forget(task_id: str, timeout: float) -> None:
    """Delete a task's stored result from the result backend.

    Example: rhesis-worker task forget 0b6a1d6e-...
    """
    from worker.inspection import forget_task

    forget_task(_app(timeout), task_id)
    click.echo(f"forgot {task_id}")


@main.command()
@click.option("--all", "include_all", is_flag=True,
              help="Also list countdown/ETA tasks that are not retries.")
@inspect_options
def retries(include_all: bool, as_json: bool, timeout: float) -> None:
    """Tasks waiting on a worker for their retry, soonest first, with ETA and retry count.

    Example: rhesis-worker retries --json
    """
    from instrumentation import schema
    from worker.inspection import NoWorkersError, scheduled_retries

    try:
        rows = scheduled_retries(_app(timeout), timeout=timeout, include_first_attempts=include_all)
    except NoWorkersError as exc:
        _no_workers(exc)
        return

    def text(rs: list[dict[str, Any]]) -> str:
        if not rs:
            return "no retries scheduled"
        return "\n".join(f"{r['eta']}  retry {r[schema.RETRIES]}  {r['name']}  {r['id']}  "
                         f"{r[schema.WORKER]}  {r.get(schema.ORGANIZATION_ID) or '-'}" for r in rs)

    _emit(rows, as_json, text)


def _range(value: str) -> tuple[float, float]:
    lo, _, hi = value.partition("-")
    try:
        return float(lo), float(hi or lo)
    except ValueError as exc:
        raise click.BadParameter(f"expected MIN-MAX or a number, got {value!r}") from exc


@main.command()
@click.option("--runs", default=5, show_default=True, help="Test runs to publish.")
@click.option("--tests", "tests_range", default="3-12", show_default=True,
              help="Tests per run, MIN-MAX.")
@click.option("--latency-ms", default="20-300", show_default=True,
              help="Simulated test latency, MIN-MAX milliseconds.")
@click.option("--failure-rate", default=0.15, show_default=True)
@click.option("--retry-rate", default=0.15, show_default=True)
@click.option("--telemetry", "telemetry_batches", default=6, show_default=True,
              help="Telemetry batches (ok, flaky, exhausted, malformed, kwargs/no tenant).")
@click.option("--seed", type=int, default=None, help="Make the workload reproducible.")
@click.option("--wait/--no-wait", default=False, help="Wait for every run's summary.")
@click.option("--timeout", default=120.0, show_default=True,
              help="Seconds: with --wait, for every summary; always, for Redis to answer.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def demo(runs: int, tests_range: str, latency_ms: str, failure_rate: float, retry_rate: float,
         telemetry_batches: int, seed: int | None, wait: bool, timeout: float,
         as_json: bool) -> None:
    """Publish a mixed workload (chords, retries, failures, tenants) to running workers.

    Example: rhesis-worker demo --runs 10 --tests 5-20 --seed 7 --wait
    """
    from worker.demo import DemoPlan, publish_demo, wait_for_demo

    lo, hi = _range(tests_range)
    try:
        plan = DemoPlan(runs=runs, tests_per_run=(int(lo), int(hi)),
                        latency_ms=_range(latency_ms), failure_rate=failure_rate,
                        retry_rate=retry_rate, telemetry_batches=telemetry_batches, seed=seed)
    except ValueError as exc:
        raise CommandFailed(str(exc), ExitStatus.USAGE) from exc
    _app(min(timeout, 10.0))
    published = publish_demo(plan)
    out: dict[str, Any] = published.as_dict()
    if wait:
        try:
            out["summaries"] = wait_for_demo(published, timeout=timeout)
        except TimeoutError as exc:
            raise CommandFailed(str(exc), ExitStatus.UNAVAILABLE) from exc

    def text(d: dict[str, Any]) -> str:
        lines = [f"published {len(d['runs'])} runs, {len(d['telemetry'])} telemetry batches, "
                 f"{len(d['maintenance'])} maintenance task(s)"]
        for summary in d.get("summaries", []):
            c = summary["counts"]
            lines.append(f"{summary['run_id']} ({summary['mode']}, {summary['organization_id']}"
                         f"): {c['passed']} passed, {c['failed']} failed, {c['error']} error")
        return "\n".join(lines)

    _emit(out, as_json, text)


@main.command()
@click.option("--port", type=int, default=None, help="Port (default: HEALTH_PORT or 8080).")
@click.option("--host", default=None, help="Address (default: HEALTH_HOST or 0.0.0.0).")
@click.option("--worker", "worker_hostname", default=None,
              help="Worker node name /debug/detailed pings (default: every worker).")
def health(port: int | None, host: str | None, worker_hostname: str | None) -> None:
    """Serve the health and debug endpoints without a worker in this process.

    Example: rhesis-worker health --port 8080 --worker celery@worker-0
    """
    from worker.health import DebugAccess, DebugConfigError, HealthContext, HealthServer

    app = _app()
    from worker.app import settings

    try:
        debug = DebugAccess.from_env()
        server = HealthServer(HealthContext(settings, app, worker_hostname=worker_hostname),
                              host=host, port=port, debug=debug)
    except (DebugConfigError, OSError) as exc:
        error = click.ClickException(str(exc) if isinstance(exc, DebugConfigError)
                                     else f"cannot listen on port {port}: {exc}")
        error.exit_code = int(ExitStatus.USAGE if isinstance(exc, DebugConfigError)
                              else ExitStatus.UNAVAILABLE)
        raise error from exc
    click.echo(f"serving on {host or settings.health_host}:{server.port}"
               + (f", /debug on 127.0.0.1:{server.debug_port}" if server.debug_port else ""),
               err=True)
    server.run()


# The chord monitor's commands (worker.chord_monitor): rhesis-worker chords | fix-chords.
main.add_command(chords)
main.add_command(fix_chords)


if __name__ == "__main__":  # python -m worker.cli, for environments without the console script
    main()

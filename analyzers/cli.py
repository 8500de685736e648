"""``rhesis-logs``: parse and analyze Celery worker logs (files, stdin, kubectl, Cloud Logging).

    rhesis-logs analyze examples/worker.jsonl
    kubectl logs -l app=worker --prefix --timestamps | rhesis-logs analyze --format markdown
    rhesis-logs analyze --source kubectl -n workers -l app=worker --since 1h --fail-on stuck
    rhesis-logs chord 3f1c... worker-*.log
    rhesis-logs parse --follow < /var/log/worker.log

A thin layer over the library: options become arguments of ``analyzers.sources`` /
``analyzers.ingest`` / ``analyzers.report`` / ``analyzers.render`` calls, and the library's
``AnalyzerError`` (and bad option values) become exit status USAGE with a message saying
what to do. Following, record writing and timelines live in the library too
(``sources.follow``, ``render.records``, ``report.timeline``); the ``queries`` command lives
with ``queries/`` (``queries.cli``) and is loaded only when used.

Exit statuses (``instrumentation.exit_status.ExitStatus``): OK (0) healthy, FINDINGS (1) a
``--fail-on`` condition holds or the asked-for id is not in the logs, USAGE (2) usage or
source errors, NO_EVENTS (3) `analyze` understood no line as a task event (unless
``--allow-empty``), INTERRUPTED (130) Ctrl-C (``parse --follow`` ends there normally: OK).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pandas as pd

from analyzers.errors import AnalyzerError
from analyzers.render import FORMATS, FRAME_FORMATS, render, render_frame
from analyzers.render.records import TABLE_COLUMNS, RecordWriter, csv_text, ndjson
from analyzers.report import COLUMNS as REPORT_COLUMNS
from analyzers.report import (
    CONDITIONS,
    build_report,
    chord_timeline,
    parse_duration,
    parse_instant,
    task_timeline,
)
from analyzers.report.model import NO_EVENTS_HINT, NO_TASK_EVENTS
from analyzers.sources.follow import follow_lines
from instrumentation import schema as s
from instrumentation.exit_status import ExitStatus

SOURCES = ("auto", "file", "kubectl", "cloud-logging")
#: Window pulled from Cloud Logging when --since is not given (every request costs quota).
DEFAULT_CLOUD_HOURS = 1
PARSE_FORMATS = ("jsonl", "csv", "table")



class UserError(click.ClickException):
    """A problem the user can fix (bad source, missing input)."""

    exit_code = ExitStatus.USAGE


# --- Option types --------------------------------------------------------------------------


class InstantType(click.ParamType):
    """``1h`` (that long before now) or an RFC 3339 timestamp, as a UTC ``pd.Timestamp``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, pd.Timestamp):
            return value
        try:
            return parse_instant(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class DurationType(click.ParamType):
    """``15m``, ``90s``, ``1h30m`` as a ``timedelta``."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SizeType(click.ParamType):
    """A size in bytes: ``1048576``, ``512K``, ``1M``, ``4MB`` (powers of 1024), at least 2."""

    name = "SIZE"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        unit = text[-1:] if text[-1:] in self._UNITS else ""
        number = text[: len(text) - len(unit)]
        try:
            size = int(float(number) * self._UNITS[unit])
        except ValueError:
            self.fail(f"{value!r} is not a size (give bytes, or 512K, 1M, 4MB)", param, ctx)
        if size < 2:
            self.fail(f"{value!r} is too small (at least 2 bytes)", param, ctx)
        return size


# --- Shared options --------------------------------------------------------------------------


@dataclass
class SourceOptions:
    """Where the logs come from and which time window, as the shared options give them."""

    files: tuple[str, ...]
    source: str
    since: pd.Timestamp | None
    until: pd.Timestamp | None
    namespace: str | None
    context: str | None
    selector: str | None
    container: str | None
    previous: bool
    project: str | None
    cluster: str | None
    verbose: bool = False
    logging_endpoint: str | None = None
    max_line: int | None = None  # bytes; None: the library's default (1 MB)

    def resolved(self) -> str:
        """The source ``auto`` stands for: files/stdin, unless only remote options are given."""
        if self.source != "auto":
            return self.source
        if self.files:
            return "file"
        if self.project or self.cluster:
            return "cloud-logging"
        if self.selector or self.context or self.previous:
            return "kubectl"
        return "file"

    @property
    def live(self) -> bool:
        """Reading a live system (its "now" is the wall clock, not the last line read)."""
        return self.resolved() in ("kubectl", "cloud-logging")


def source_options(fn: Callable) -> Callable:
    """FILE arguments plus the source and time-window options, shared by every command."""
    decorators = [
        click.argument("files", nargs=-1, type=click.Path(allow_dash=True), metavar="[FILE]..."),
        click.option("--source", type=click.Choice(SOURCES), default="auto", show_default=True,
                     help="Where to read logs: files/stdin, `kubectl logs`, or Cloud Logging. "
                          "auto: files if given, else Cloud Logging if --project is given, "
                          "else kubectl if --selector/--context is given, else stdin."),
        click.option("--since", type=InstantType(), default=None,
                     help="Start of the window: a duration before now (15m, 1h, 2d) or an "
                          "RFC 3339 time. Files: no window unless asked for; Cloud Logging: "
                          "1h by default."),
        click.option("--until", type=InstantType(), default=None,
                     help="End of the window (same forms as --since). Default: now."),
        click.option("-n", "--namespace", default=None,
                     help="kubectl / Cloud Logging: Kubernetes namespace."),
        click.option("--context", default=None, help="kubectl: kubeconfig context."),
        click.option("-l", "--selector", default=None,
                     help="kubectl: label selector of the worker pods (e.g. app=worker)."),
        click.option("--container", default=None,
                     help="kubectl / Cloud Logging: only this container (default: all)."),
        click.option("--previous", is_flag=True, default=False,
                     help="kubectl: logs of the previous (crashed) container instance."),
        click.option("--project", default=None, help="Cloud Logging: Google Cloud project id."),
        click.option("--cluster", default=None, help="Cloud Logging: GKE cluster name."),
        click.option("--logging-endpoint", default=None, envvar="RHESIS_LOGGING_ENDPOINT",
                     hidden=True, help="Cloud Logging API endpoint (emulators, private "
                     "endpoints)."),
        click.option("-v", "--verbose", is_flag=True, default=False,
                     help="Show the kubectl command or the Cloud Logging filter on stderr."),
        click.option("--max-line", type=SizeType(), default=None, metavar="SIZE",
                     help="Cut lines longer than this (bytes; 512K, 1M, 4MB) and count them "
                          "(the report's lines.truncated), so memory never follows the "
                          "longest line. Default: 1M."),
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, files: tuple[str, ...], source: str, since: Any, until: Any,
                namespace: Any, context: Any, selector: Any, container: Any, previous: bool,
                project: Any, cluster: Any, logging_endpoint: Any, verbose: bool,
                max_line: int | None, **kwargs: Any) -> Any:
        if since is not None and until is not None and since >= until:
            raise click.BadParameter(f"--since ({since}) must be before --until ({until})",
                                     param_hint="--since/--until")
        options = SourceOptions(files, source, since, until, namespace, context, selector,
                                container, previous, project, cluster, verbose,
                                logging_endpoint, max_line)
        return fn(*args, sources=options, **kwargs)

    for decorator in reversed(decorators):
        wrapper = decorator(wrapper)
    return wrapper


def output_option(fn: Callable) -> Callable:
    """``--output FILE``: write there instead of stdout."""
    return click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
                        default=None, help="Write the result to this file (default: stdout).")(fn)


def filter_options(fn: Callable) -> Callable:
    """``--tenant`` and ``--task``: restrict the report to one tenant / task name (glob)."""
    fn = click.option("--task", "task_name", default=None, metavar="NAME",
                      help="Only this task name (shell globs allowed: 'tasks.eval.*').")(fn)
    return click.option("--tenant", default=None, metavar="ORG",
                        help="Only this tenant (organization id, or user id).")(fn)


# --- Loading -----------------------------------------------------------------------------


def load(options: SourceOptions, columns: Collection[str] | None = None
         ):  # -> analyzers.ingest.IngestResult
    """Read the logs the options name into the normalized frame (the library does the work).

    ``columns``: the only columns the command reads (the rest may stay null).
    """
    from analyzers import ingest

    try:
        limit = {} if options.max_line is None else {"max_line": options.max_line}
        return ingest.read_sources(open_source(options), columns=columns, **limit)
    except AnalyzerError as exc:
        raise UserError(str(exc)) from None


def open_source(options: SourceOptions):  # -> Iterable[analyzers.sources.SourceChunks]
    """The ``analyzers.sources`` object the options describe."""
    kind = options.resolved()
    if kind == "file":
        from analyzers.sources.files import open_sources

        paths = list(options.files) or ["-"]
        if paths == ["-"] and sys.stdin.isatty() and options.source == "auto":
            raise UserError(
                "no input: pass log FILEs, pipe logs on stdin, or read a cluster with "
                "--source kubectl (-l app=worker) or --source cloud-logging (--project ...)"
            )
        return open_sources(paths)
    if options.files:
        raise UserError(f"--source {kind} reads no FILEs: drop them, or use --source file")
    if kind == "kubectl":
        from analyzers.sources.kubectl import KubectlSource

        if not options.selector:
            raise UserError("--source kubectl needs the worker pods' label selector: "
                            "-l/--selector app=rhesis-worker (and -n/--namespace)")
        source = KubectlSource(
            options.selector, namespace=options.namespace, context=options.context,
            since=options.since.to_pydatetime() if options.since is not None else None,
            previous=options.previous, container=options.container,
        )
        if options.verbose:
            click.echo("rhesis-logs: running " + " ".join(source.command()), err=True)
        return source
    from analyzers.sources.cloud_logging import CloudLoggingSource

    if not options.project:
        raise UserError("--source cloud-logging needs --project PROJECT_ID "
                        "(and usually --cluster and --namespace)")
    since = (options.since.to_pydatetime() if options.since is not None
             else timedelta(hours=DEFAULT_CLOUD_HOURS))
    source = CloudLoggingSource(
        options.project, since=since,
        until=options.until.to_pydatetime() if options.until is not None else None,
        cluster=options.cluster, namespace=options.namespace, container=options.container,
        progress=sys.stderr.isatty(), api_endpoint=options.logging_endpoint,
        credentials=_emulator_credentials(options.logging_endpoint),
    )
    if options.verbose:
        click.echo(f"rhesis-logs: Cloud Logging filter:\n{source.filter()}", err=True)
    return source


def _emulator_credentials(endpoint: str | None):  # -> google.auth.credentials.Credentials
    """Anonymous credentials for a plain-HTTP endpoint on this machine (an emulator).

    Why: Google credentials must never travel over plain HTTP, and an emulator has no use for
    them; any other endpoint uses the application-default credentials as usual.
    """
    if not endpoint:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    return None


def _write(text: str, output: str | None) -> None:
    if output and output != "-":
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {output}: {exc.strerror}") from None
    else:
        click.echo(text, nl=not text.endswith("\n"))


def _terminal() -> tuple[int, bool]:
    """Width and colour for text output: the terminal's, else 160 columns without colour."""
    if sys.stdout.isatty():
        import shutil

        return shutil.get_terminal_size((160, 40)).columns, True
    return 160, False


# --- Commands ----------------------------------------------------------------------------


class LazyGroup(click.Group):
    """A group whose ``lazy`` subcommands are imported only when used (or listed).

    Why: ``queries`` pulls in YAML and HTTP modules that ``analyze`` never needs, and every
    millisecond of start-up is paid by each ``kubectl logs | rhesis-logs ...`` run.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})  # name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Click would turn Ctrl-C into "Aborted!" and 1, the code of a finding.
            click.echo("\nAborted!", err=True)
            ctx.exit(ExitStatus.INTERRUPTED)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, _, attr = self.lazy[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy={"queries": "queries.cli:queries"},
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rhesis-logs", prog_name="rhesis-logs")
def main() -> None:
    """Parse and analyze Celery worker logs: failures, retries, stuck chords, slow tasks.

    Reads our JSON lines, Celery's plain text, `kubectl logs --prefix --timestamps` output and
    Cloud Logging entries, from files, stdin, kubectl or the Cloud Logging API.

    \b
    Example:
      rhesis-logs analyze examples/worker.jsonl
    """


@main.command()
@source_options
@filter_options
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="text",
              show_default=True, help="text for a terminal, json for machines (docs/report.md), "
                                      "markdown for tickets, html for a page with charts.")
@click.option("--stuck-after", type=DurationType(), default="15m", show_default=True,
              help="A chord whose callback has not arrived this long after its last "
                   "activity is stuck.")
@click.option("--fail-on", type=click.Choice(CONDITIONS), multiple=True,
              help="Exit 1 if this holds (repeatable): failures, stuck (chords), retry-storm.")
@click.option("--allow-empty", is_flag=True,
              help="Exit 0 even when no line was understood as a task event (otherwise "
                   "exit 3, NO_EVENTS: an empty or unreadable log is not a healthy one).")
@output_option
def analyze(sources: SourceOptions, tenant: str | None, task_name: str | None, fmt: str,
            stuck_after: timedelta, fail_on: tuple[str, ...], output: str | None,
            allow_empty: bool = False) -> None:
    """Report on worker logs: totals, failures, retries, stuck chords, duplicates, slow tasks.

    \b
    Examples:
      rhesis-logs analyze examples/worker.jsonl
      rhesis-logs analyze w-*.log --since 2026-11-28T10:00Z --tenant org-1 -f html -o r.html
      rhesis-logs analyze --source kubectl -n workers -l app=worker --since 1h --fail-on stuck
      rhesis-logs analyze --source cloud-logging --project my-proj --cluster prod --since 1h
    """
    result = load(sources, columns=REPORT_COLUMNS)
    now = sources.until or (pd.Timestamp.now(tz="UTC") if sources.live else None)
    report = build_report(
        result.frame, lines_read=result.lines_read, lines_parsed=result.lines_parsed,
        unparsed=result.unparsed, lines_truncated=result.lines_truncated,
        since=sources.since, until=sources.until, tenant=tenant,
        task=task_name, stuck_after=stuck_after, now=now,
    )
    width, color = _terminal() if not output else (160, False)
    _write(render(report, fmt, width=width, color=color), output)
    if report.window.get("first_seen") is None and len(result.frame):
        # Everything was filtered out: say what the logs do cover, it is usually the window.
        spans = result.frame[s.TIME].agg(["min", "max"])
        click.echo(f"rhesis-logs: nothing matched the window/filters; the logs read span "
                   f"{spans['min']} .. {spans['max']} (UTC): check --since/--until, --tenant, "
                   "--task", err=True)
    if report.conditions()[NO_TASK_EVENTS] and not allow_empty:
        message = report.findings()[0]["message"]
        click.echo(f"rhesis-logs: {message}; {NO_EVENTS_HINT}", err=True)
        sys.exit(ExitStatus.NO_EVENTS)
    failing = report.failing(fail_on)
    if failing:
        click.echo(f"rhesis-logs: --fail-on condition(s) hold: {', '.join(failing)}", err=True)
        sys.exit(ExitStatus.FINDINGS)


def _timeline_command(kind: str, compute: Callable[[pd.DataFrame, str], pd.DataFrame]):
    def command(ident: str, sources: SourceOptions, fmt: str, output: str | None) -> None:
        result = load(sources)
        frame = compute(result.frame, ident)
        if frame.empty:
            click.echo(f"rhesis-logs: no lines about {kind} {ident} in these logs: check the id "
                       "or widen the window (--since) / add the other pods' logs", err=True)
            sys.exit(ExitStatus.FINDINGS)
        width, color = _terminal() if not output else (160, False)
        _write(render_frame(frame, fmt, f"Timeline of {kind} {ident}", width=width,
                            color=color), output)

    return command


def _timeline_options(fn: Callable) -> Callable:
    fn = output_option(fn)
    fn = click.option("-f", "--format", "fmt", type=click.Choice(FRAME_FORMATS), default="text",
                      show_default=True, help="Output format.")(fn)
    return source_options(fn)


@main.command()
@click.argument("chord_id")
@_timeline_options
def chord(chord_id: str, sources: SourceOptions, fmt: str, output: str | None) -> None:
    """The timeline of one chord across pods: members, errors, callback.

    CHORD_ID is the chord's group id (the callback's task id works too).

    \b
    Example:
      rhesis-logs chord 6a1f0c2e-0d7b-4c1e-9d59-0b7f3c1e2a11 examples/worker.jsonl
    """
    _timeline_command("chord", chord_timeline)(chord_id, sources, fmt, output)


@main.command()
@click.argument("task_id")
@_timeline_options
def task(task_id: str, sources: SourceOptions, fmt: str, output: str | None) -> None:
    """The timeline of one task across pods: published, received, started, retried, finished.

    \b
    Example:
      rhesis-logs task 0b1c2d3e-4f50-6172-8394-000000000042 worker-*.log --format json
    """
    _timeline_command("task", task_timeline)(task_id, sources, fmt, output)


# --- parse ---------------------------------------------------------------------------------


@main.command()
@source_options
@click.option("-f", "--format", "fmt", type=click.Choice(PARSE_FORMATS), default="jsonl",
              show_default=True, help="jsonl: one normalized record per line; csv; table.")
@click.option("--follow", is_flag=True, default=False,
              help="Stream records as lines arrive (stdin, or one growing FILE) until Ctrl-C.")
@output_option
def parse(sources: SourceOptions, fmt: str, follow: bool, output: str | None) -> None:
    """Print the normalized records read from logs (stdin when no FILE or '-').

    \b
    Examples:
      rhesis-logs parse examples/worker.jsonl --format table
      kubectl logs -f -l app=worker --prefix --timestamps | rhesis-logs parse --follow
    """
    if follow:
        if sources.resolved() != "file":
            raise UserError("--follow reads stdin or one FILE: pipe `kubectl logs -f ...` "
                            "into `rhesis-logs parse --follow`")
        _parse_follow(list(sources.files), fmt, output)
        return
    result = load(sources)
    frame = result.frame
    if fmt == "table":
        shown = frame[[name for name in TABLE_COLUMNS if name in frame.columns]]
        width, color = _terminal() if not output else (160, False)
        _write(render_frame(shown, "text", f"{len(frame):,} records", width=width,
                            color=color), output)
    elif fmt == "csv":
        _write(csv_text(frame), output)
    else:
        _write(ndjson(frame), output)
    if result.lines_read != result.lines_parsed:
        click.echo(f"rhesis-logs: {result.lines_read - result.lines_parsed:,} of "
                   f"{result.lines_read:,} lines could not be read (see `analyze`)", err=True)


def _parse_follow(paths: list[str], fmt: str, output: str | None) -> None:
    from analyzers.ingest import StreamParser

    parser = StreamParser(paths[0] if paths and paths != ["-"] else "stdin")
    with contextlib.ExitStack() as stack:
        out = (stack.enter_context(open(output, "w", encoding="utf-8"))
               if output and output != "-" else sys.stdout)
        writer = RecordWriter(out, fmt)
        with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
            try:
                for line in follow_lines(paths):
                    # A quiet input completes the text records held back for their tracebacks.
                    writer.write(parser.flush() if line is None else parser.feed(line))
            except AnalyzerError as exc:
                raise UserError(str(exc)) from None
            writer.write(parser.flush())


def entry() -> None:
    """The ``rhesis-logs`` console script: ``main()``, then a quick exit.

    Once the output is written and flushed, freeing a million-row frame object by object
    and tearing the interpreter down takes ~0.1 s that nobody needs, so the process ends
    with ``os._exit`` after the exit handlers ran (temporary files are still removed).
    In-process callers (``CliRunner``, tests) use ``main`` and keep the normal exit.
    """
    import atexit

    try:
        main()
        code = ExitStatus.OK
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or ExitStatus.OK
        else:
            print(exc.code, file=sys.stderr)
            code = ExitStatus.FINDINGS
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error for a log tool
        pass
    atexit._run_exitfuncs()
    os._exit(code)


def all_commands(group: click.Group) -> Iterable[tuple[str, click.Command]]:
    """Every command of the group, recursively, lazy ones loaded (the help test walks these)."""
    with click.Context(group) as ctx:
        named = [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]
    for name, command in named:
        if command is None:
            continue
        yield name, command
        if isinstance(command, click.Group):
            for sub, subcommand in all_commands(command):
                yield f"{name} {sub}", subcommand


"""``rhesis-logs``: parse and analyze Celery worker logs (files, stdin, kubectl, Cloud Logging).

    rhesis-logs analyze examples/worker.jsonl
    rhesis-logs analyze --since 1h                  # the configured source (``config``)
    kubectl logs -f -l app=worker --prefix --timestamps | rhesis-logs analyze -f
    rhesis-logs analyze --source kubectl -n workers -l app=worker --since 1h --fail-on stuck
    rhesis-logs analyze w.jsonl -o html --out-file report.html
    rhesis-logs chord 3f1c... worker-*.log
    rhesis-logs parse -f -o csv < /var/log/worker.log

Conventions are kubectl's, tail's and jq's: ``-f/--follow`` follows, ``-o/--output`` picks
the format (``--format`` is a hidden alias kept for old scripts), ``--out-file`` writes a file.
Text for a pipe or a file is ``$COLUMNS`` wide (100 by default) with no trailing spaces.

Where the logs come from: the FILEs; else stdin when it is a pipe or a regular file; else
the source ``analyzers.config`` resolves (``rhesis-logs config``, ``RHESIS_LOGS_*``, the
user's gcloud project or kubectl context), which is named on stderr before it is read.

A thin layer over the library: options become arguments of ``analyzers.sources`` /
``analyzers.ingest`` / ``analyzers.report`` / ``analyzers.render`` / ``analyzers.live``
calls, and the library's ``AnalyzerError`` (and bad option values) become exit status USAGE
with a one-line message saying what to do. The ``queries`` command lives with ``queries/``
(``queries.cli``) and is loaded only when used.

Exit statuses (``instrumentation.exit_status.ExitStatus``): OK (0) healthy, FINDINGS (1) a
``--fail-on`` condition holds or the asked-for id is not in the logs, USAGE (2) usage, input
or source errors, NO_EVENTS (3) `analyze` understood no line as a task event (unless
``--allow-empty``), INTERRUPTED (130) Ctrl-C; ``analyze -f`` prints its final report on
Ctrl-C and exits with that report's status.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
import sys
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pandas as pd

from analyzers import config
from analyzers.errors import AnalyzerError
from analyzers.ingest.line_limit import LineLimit
from analyzers.render import FORMATS, FRAME_FORMATS, render, render_frame
from analyzers.render.records import PARSE_FORMATS, TABLE_COLUMNS, RecordWriter, csv_text, ndjson
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
from analyzers.sources.follow import follow_chunks, follow_lines
from instrumentation import schema
from instrumentation.exit_status import ExitStatus

SOURCES = ("auto", "file", "kubectl", "cloud-logging", "log-analytics")
#: Window read from a cluster (kubectl, Cloud Logging) when --since is not given: every
#: Cloud Logging request costs quota, and a pod's whole log can be days long.
DEFAULT_WINDOW = "1h"
#: Width of text written to a pipe or a file when $COLUMNS does not say.
DEFAULT_COLUMNS = 100
#: Seconds between two redraws of ``analyze -f``.
DEFAULT_REFRESH_S = 2.0


class UserError(click.ClickException):
    """A problem the user can fix (bad source, missing input)."""

    exit_code = ExitStatus.USAGE


# --- Option types --------------------------------------------------------------------------


class InstantType(click.ParamType):
    """``1h`` (that long before now) or an RFC 3339 timestamp, as a UTC ``pd.Timestamp``.

    The text as typed is kept in ``ctx.meta`` (``raw:<name>``): a live report slides a
    duration along, and messages say "window 1h" rather than a computed timestamp.
    """

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, pd.Timestamp):
            return value
        try:
            converted = parse_instant(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if ctx is not None and param is not None:
            ctx.meta[f"raw:{param.name}"] = str(value)
        return converted


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


def as_duration(text: str | None) -> timedelta | None:
    """``text`` as a duration, or None when it is absent or an absolute time."""
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        return None


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
    since_text: str | None = None  # --since as typed ("1h", or a timestamp)
    #: Filled in by ``plan_source``: the source actually read and its settings.
    plan: SourcePlan | None = None

    def implied(self) -> str:
        """The source the options alone point at: ``--source``, FILEs, or remote options."""
        if self.source != "auto":
            return self.source
        if self.files:
            return "file"
        if self.project or self.cluster:
            return "cloud-logging"
        if self.selector or self.context or self.previous:
            return "kubectl"
        return "auto"

    def flags(self) -> dict[str, str | None]:
        """The options ``analyzers.config`` settings can stand in for."""
        return {"project": self.project, "cluster": self.cluster, "namespace": self.namespace,
                "selector": self.selector, "context": self.context,
                "container": self.container}

    @property
    def live(self) -> bool:
        """Reading a live system (its "now" is the wall clock, not the last line read)."""
        return self.plan is not None and self.plan.kind in ("kubectl", "cloud-logging")


@dataclass
class SourcePlan:
    """The source a command reads: ``file`` (FILEs or stdin), ``kubectl`` or ``cloud-logging``,
    its settings (flags over environment over config file) and why it was chosen."""

    kind: str
    settings: dict[str, str] = field(default_factory=dict)
    origin: str = ""


def source_options(fn: Callable) -> Callable:
    """FILE arguments plus the source and time-window options, shared by every command."""
    decorators = [
        click.argument("files", nargs=-1, type=click.Path(allow_dash=True), metavar="[FILE]..."),
        click.option("--source", type=click.Choice(SOURCES), default="auto", show_default=True,
                     help="Where to read logs: files/stdin, `kubectl logs`, or Cloud Logging. "
                          "auto: the FILEs; else stdin if it is a pipe or a file; else Cloud "
                          "Logging if --project is given, kubectl if --selector/--context is; "
                          "else the configured source (`rhesis-logs config`)."),
        click.option("--since", type=InstantType(), default=None,
                     help="Start of the window: a duration before now (15m, 1h, 2d) or an "
                          f"RFC 3339 time. Files: no window unless asked for; kubectl and "
                          f"Cloud Logging: {DEFAULT_WINDOW} by default; -f: the sliding "
                          "window kept in memory."),
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
        since_text = click.get_current_context().meta.get("raw:since")
        options = SourceOptions(files, source, since, until, namespace, context, selector,
                                container, previous, project, cluster, verbose,
                                logging_endpoint, max_line=max_line,
                                since_text=since_text)
        return fn(*args, sources=options, **kwargs)

    for decorator in reversed(decorators):
        wrapper = decorator(wrapper)
    return wrapper


def format_options(choices: Collection[str], default: str, help: str,
                   aliases: dict[str, str] | None = None) -> Callable:
    """``-o/--output FORMAT`` (kubectl's spelling) and ``--out-file FILE``.

    ``--format`` stays as a hidden alias of ``-o`` so scripts written for it keep working;
    it has no short form: ``-f`` is ``--follow``, as in ``tail`` and ``kubectl logs``.
    ``aliases`` maps accepted names onto the ones the command implements (parse: json ->
    jsonl). The command receives ``fmt`` and ``out_file``.
    """
    names = list(choices)

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, fmt: str | None, legacy_fmt: str | None, **kwargs: Any) -> Any:
            chosen = fmt or legacy_fmt or default
            return fn(*args, fmt=(aliases or {}).get(chosen, chosen), **kwargs)

        wrapper = click.option("--out-file", type=click.Path(dir_okay=False, allow_dash=True),
                               default=None, metavar="FILE",
                               help="Write the result to FILE (default: stdout).")(wrapper)
        wrapper = click.option("--format", "legacy_fmt", type=click.Choice(names),
                               default=None, hidden=True, help="Alias of -o/--output.")(wrapper)
        return click.option("-o", "--output", "fmt", type=click.Choice(names), default=None,
                            help=f"{help} [default: {default}]")(wrapper)

    return decorate


def filter_options(fn: Callable) -> Callable:
    """``--tenant`` and ``--task``: restrict the report to one tenant / task name (glob)."""
    fn = click.option("--task", "task_name", default=None, metavar="NAME",
                      help="Only this task name (shell globs allowed: 'tasks.eval.*').")(fn)
    return click.option("--tenant", default=None, metavar="ORG",
                        help="Only this tenant (organization id, or user id).")(fn)


# --- Choosing the source -----------------------------------------------------------------


def stdin_is_input(stream: Any = None) -> bool:
    """True when stdin is a pipe or a regular file: something was sent to read.

    A terminal, ``/dev/null`` (a character device: cron, CI, ``nohup``) or a closed stdin is
    not input, so a bare ``rhesis-logs analyze`` reads the configured source instead of
    waiting on a terminal or reporting "healthy" on nothing. A stream with no descriptor
    (tests, wrappers) is taken as input.
    """
    stream = sys.stdin if stream is None else stream
    if stream is None:
        return False
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return True
    try:
        mode = os.fstat(fd).st_mode
    except OSError:  # a closed descriptor
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _no_input() -> UserError:
    return UserError(
        "no input: pass log FILEs, pipe logs in (kubectl logs -l app=worker --prefix "
        "--timestamps | rhesis-logs analyze), or set a source once: rhesis-logs config set "
        "source kubectl|cloud-logging (see rhesis-logs config --help)")


def plan_source(options: SourceOptions) -> SourcePlan:
    """Decide what to read: FILEs, stdin (a pipe or a file), or a configured cluster."""
    implied = options.implied()
    if implied == "file":
        if options.files in ((), ("-",)) and not stdin_is_input():
            raise _no_input() if not options.files else UserError(
                "stdin is not a pipe or a file (a terminal, /dev/null): pipe logs in "
                "(... | rhesis-logs analyze -) or pass FILEs")
        return SourcePlan("file")
    if options.files:
        raise UserError(f"--source {implied} reads no FILEs: drop them, or use --source file")
    if implied == "auto" and stdin_is_input():
        return SourcePlan("file", origin="stdin")
    flags: dict[str, str | None] = options.flags()
    if implied != "auto":
        flags["source"] = implied
    try:
        choice = config.resolve(flags, detect=implied == "auto")
    except AnalyzerError as exc:
        raise UserError(str(exc)) from None
    if choice.source is None:
        raise _no_input()
    if choice.source not in SOURCES:
        raise UserError(f"source {choice.source!r} ({choice.origin}) cannot be read by this "
                        "command: use --source kubectl or --source cloud-logging")
    # A source given by flags alone needs no "why"; one from the environment or file does.
    origin = "" if choice.origin == "configured in flags" else choice.origin
    return SourcePlan(choice.source, dict(choice.settings), origin)


def describe(plan: SourcePlan) -> str:
    """``Cloud Logging project P, cluster C`` / ``kubectl logs -l app=w (context X)``."""
    get = plan.settings.get
    if plan.kind == "cloud-logging":
        parts = [f"Cloud Logging project {get('project') or '?'}"]
        parts += [f"{key} {get(key)}" for key in ("cluster", "namespace", "container")
                  if get(key)]
        return ", ".join(parts)
    where = [f"context {get('context')}"] if get("context") else []
    where += [f"namespace {get('namespace')}"] if get("namespace") else []
    return f"kubectl logs -l {get('selector') or '?'}" + (
        f" ({', '.join(where)})" if where else "")


def window_text(options: SourceOptions) -> str:
    """The window as the user gave it: ``1h``, ``since 2026-11-28T10:00:00Z .. until ...``."""
    since = options.since_text or DEFAULT_WINDOW
    text = since if as_duration(since) else f"since {since}"
    if options.until is not None:
        text += f" until {options.until:%Y-%m-%dT%H:%M:%SZ}"
    return text


# --- Loading -----------------------------------------------------------------------------


def load(options: SourceOptions, columns: Collection[str] | None = None
         ):  # -> analyzers.ingest.IngestResult
    """Read the logs the options name into the normalized frame (the library does the work).

    ``columns``: the only columns the command reads (the rest may stay null).
    """
    from analyzers import ingest

    try:
        limit = {} if options.max_line is None else {"max_line": options.max_line}
        result = ingest.read_sources(open_source(options), columns=columns, **limit)
    except AnalyzerError as exc:
        raise UserError(str(exc)) from None
    plan = options.plan
    if (plan is not None and plan.kind == "file" and not options.files
            and result.lines_read == 0):
        raise UserError("no input: stdin was empty; pass log FILEs or pipe logs in, or run "
                        "without a pipe to read the configured source (rhesis-logs config)")
    return result


def open_source(options: SourceOptions, *, follow: bool = False):
    """The ``analyzers.sources`` object the options describe (``follow``: a kubectl source
    that follows; files and stdin are followed by ``sources.follow``)."""
    plan = options.plan = options.plan or plan_source(options)
    if plan.kind == "file":
        from analyzers.sources.files import open_sources

        return open_sources(list(options.files) or ["-"])
    if plan.kind == "log-analytics":
        raise UserError("--source log-analytics runs the report in BigQuery and returns no log "
                        "lines: use it with `rhesis-logs analyze` (without -f)")
    get = plan.settings.get
    since = options.since

    def announce() -> None:
        click.echo(f"rhesis-logs: reading {describe(plan)}"
                   f"{f' ({plan.origin})' if plan.origin else ''}, "
                   f"window {window_text(options)}", err=True)

    if plan.kind == "kubectl":
        from analyzers.sources.kubectl import KubectlSource

        if not get("selector"):
            raise UserError("kubectl needs the worker pods' label selector: -l/--selector "
                            "app=worker, or once: rhesis-logs config set selector app=worker")
        source = KubectlSource(
            get("selector"), namespace=get("namespace"), context=get("context"),
            since=(since.to_pydatetime() if since is not None
                   else parse_duration(DEFAULT_WINDOW)),
            previous=options.previous, container=get("container"), follow=follow,
        )
        try:
            source.check_context()  # no kubectl, no context: one line, before anything else
        except AnalyzerError as exc:
            raise UserError(str(exc)) from None
        announce()
        if options.verbose:
            click.echo("rhesis-logs: running " + " ".join(source.command()), err=True)
        return source
    from analyzers.sources.cloud_logging import CloudLoggingSource

    if follow:
        raise UserError("-f/--follow reads stdin, one FILE or kubectl (--source kubectl); "
                        "for Cloud Logging run analyze --since 15m again, or use gcloud "
                        "logging tail ... | rhesis-logs analyze -f")
    if not get("project"):
        raise UserError("Cloud Logging needs a project: --project PROJECT_ID, or once: "
                        "rhesis-logs config set project PROJECT_ID")
    source = CloudLoggingSource(
        get("project"),
        since=since.to_pydatetime() if since is not None else parse_duration(DEFAULT_WINDOW),
        until=options.until.to_pydatetime() if options.until is not None else None,
        cluster=get("cluster"), namespace=get("namespace"), container=get("container"),
        progress=sys.stderr.isatty(), api_endpoint=options.logging_endpoint,
        credentials=_emulator_credentials(options.logging_endpoint),
    )
    try:
        source.check_credentials()  # no credentials: one line, before anything else
    except AnalyzerError as exc:
        raise UserError(str(exc)) from None
    announce()
    if options.verbose:
        click.echo(f"rhesis-logs: Cloud Logging filter:\n{source.filter()}", err=True)
    return source


def _line_limit(options: SourceOptions) -> LineLimit:
    return LineLimit() if options.max_line is None else LineLimit(options.max_line)


def follow_input(options: SourceOptions, limit: LineLimit) -> Iterator[bytes | None]:
    """Lines of the followed input (stdin, one FILE, or ``kubectl logs -f``) as they come,
    each cut to ``limit`` (``--max-line``)."""
    try:
        if options.implied() in ("file", "auto") and (options.files or stdin_is_input()):
            options.plan = plan_source(options)
            return _user_errors(follow_lines(list(options.files), limit))
        source = open_source(options, follow=True)
        if options.plan is not None and options.plan.kind == "kubectl":
            ((_, chunks),) = list(source)
            return _user_errors(follow_chunks(chunks, limit=limit))
        return _user_errors(follow_lines(list(options.files), limit))
    except AnalyzerError as exc:
        raise UserError(str(exc)) from None


def _user_errors(lines: Iterator[bytes | None]) -> Iterator[bytes | None]:
    """``lines``, with a library error on the way (a file vanished, kubectl failed) turned
    into the command's one-line error."""
    try:
        yield from lines
    except AnalyzerError as exc:
        raise UserError(str(exc)) from None


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


def _write(text: str, out_file: str | None) -> None:
    if out_file and out_file != "-":
        try:
            Path(out_file).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {out_file}: {exc.strerror}") from None
    else:
        click.echo(text, nl=not text.endswith("\n"))


def terminal(out_file: str | None = None) -> tuple[int, bool]:
    """Width and colour for text output: a terminal's own width with colour; for a pipe or a
    file ``$COLUMNS`` (``DEFAULT_COLUMNS`` when unset) and no colour."""
    if not out_file and sys.stdout.isatty():
        import shutil

        return shutil.get_terminal_size((DEFAULT_COLUMNS, 40)).columns, True
    try:
        width = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        width = 0
    return (width if width > 0 else DEFAULT_COLUMNS), False


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
    Cloud Logging entries, from files, stdin, kubectl or the Cloud Logging API. With no FILE
    and nothing piped in, reads the configured source (see `rhesis-logs config`).

    \b
    Examples:
      rhesis-logs analyze examples/worker.jsonl
      rhesis-logs analyze --since 1h
      kubectl logs -f -l app=worker --prefix --timestamps | rhesis-logs analyze -f
    """


@main.command()
@source_options
@filter_options
@format_options(FORMATS, "text", "text for a terminal, json for machines (docs/report.md), "
                                 "markdown for tickets, html for a page with charts.")
@click.option("-f", "--follow", is_flag=True, default=False,
              help="Keep reading (stdin, one growing FILE, or kubectl logs -f) and keep a "
                   "live report over the last --since (default 1h); Ctrl-C or the end of "
                   "input prints the final report.")
@click.option("--refresh", type=click.FloatRange(min=0.1), default=DEFAULT_REFRESH_S,
              show_default=True, metavar="SECONDS", help="-f: seconds between two redraws.")
@click.option("--stuck-after", type=DurationType(), default="15m", show_default=True,
              help="A chord whose callback has not arrived this long after its last "
                   "activity is stuck.")
@click.option("--fail-on", type=click.Choice(CONDITIONS), multiple=True,
              help="Exit 1 if this holds (repeatable): failures, stuck (chords), retry-storm.")
@click.option("--allow-empty", is_flag=True,
              help="Exit 0 even when no line was understood as a task event (otherwise "
                   "exit 3, NO_EVENTS: an empty or unreadable log is not a healthy one).")
@click.option("--dataset", default=None,
              help="--source log-analytics: the log bucket's linked BigQuery dataset.")
@click.option("--location", default=None,
              help="--source log-analytics: the dataset's BigQuery location.")
@click.option("--dry-run", is_flag=True,
              help="--source log-analytics: print what each query would scan and cost; run "
                   "nothing.")
@click.option("--max-bytes", type=SizeType(), default=None, metavar="SIZE",
              help="--source log-analytics: refuse to scan more than this (default 10G).")
@click.option("--bigquery-endpoint", default=None, envvar="RHESIS_BIGQUERY_ENDPOINT",
              hidden=True, help="BigQuery API endpoint (a local test endpoint).")
def analyze(sources: SourceOptions, tenant: str | None, task_name: str | None, fmt: str,
            out_file: str | None, follow: bool, refresh: float, stuck_after: timedelta,
            fail_on: tuple[str, ...], allow_empty: bool = False, dataset: str | None = None,
            location: str | None = None, dry_run: bool = False,
            max_bytes: int | None = None, bigquery_endpoint: str | None = None) -> None:
    """Report on worker logs: totals, failures, retries, stuck chords, duplicates, slow tasks.

    \b
    Examples:
      rhesis-logs analyze examples/worker.jsonl
      rhesis-logs analyze --since 1h            # the configured source (rhesis-logs config)
      rhesis-logs analyze w-*.log --since 2026-11-28T10:00Z --tenant org-1 -o html \\
          --out-file r.html
      rhesis-logs analyze --source kubectl -n workers -l app=worker --since 1h --fail-on stuck
      kubectl logs -f -l app=worker --prefix --timestamps | rhesis-logs analyze -f
      rhesis-logs analyze --source log-analytics --project P --dataset D --since 1h --dry-run
    """
    options = {"tenant": tenant, "task": task_name, "stuck_after": stuck_after}
    implied = sources.implied()
    if not follow and (implied == "log-analytics" or (
            implied == "auto" and not sources.files and not stdin_is_input())):
        sources.plan = plan_source(sources)  # the configured source may be log-analytics
    if sources.plan is not None and sources.plan.kind == "log-analytics":
        report = _analyze_log_analytics(sources, options, dataset=dataset, location=location,
                                        dry_run=dry_run, max_bytes=max_bytes, fmt=fmt,
                                        endpoint=bigquery_endpoint)
        if report is None:  # --dry-run: the estimate is the output
            return
    elif follow:
        report = _analyze_follow(sources, options, refresh)
    else:
        now = sources.until or (pd.Timestamp.now(tz="UTC") if sources.live else None)
        fast = _analyze_json_file(sources, options, now)
        if fast is not None:
            report, span = fast.report, (fast.first_time, fast.last_time)
        else:
            result = load(sources, columns=REPORT_COLUMNS)
            report = build_report(
                result.frame, lines_read=result.lines_read, lines_parsed=result.lines_parsed,
                unparsed=result.unparsed, lines_truncated=result.lines_truncated,
                since=sources.since, until=sources.until, now=now, **options)
            span = (tuple(result.frame[schema.TIME].agg(["min", "max"])) if len(result.frame)
                    else None)
        if report.window.get("first_seen") is None and span is not None:
            # Everything was filtered out: say what the logs do cover, it is usually the window.
            click.echo(f"rhesis-logs: nothing matched the window/filters; the logs read span "
                       f"{span[0]} .. {span[1]} (UTC): check --since/--until, "
                       "--tenant, --task", err=True)
    width, color = terminal(out_file)
    _write(render(report, fmt, width=width, color=color), out_file)
    if report.conditions()[NO_TASK_EVENTS] and not allow_empty:
        message = report.findings()[0]["message"]
        click.echo(f"rhesis-logs: {message}; {NO_EVENTS_HINT}", err=True)
        sys.exit(ExitStatus.NO_EVENTS)
    failing = report.failing(fail_on)
    if failing:
        click.echo(f"rhesis-logs: --fail-on condition(s) hold: {', '.join(failing)}", err=True)
        sys.exit(ExitStatus.FINDINGS)


def _analyze_log_analytics(sources: SourceOptions, options: dict[str, Any], *,
                           dataset: str | None, location: str | None, dry_run: bool,
                           max_bytes: int | None, fmt: str,
                           endpoint: str | None = None):  # -> Report | None
    """``analyze --source log-analytics``: every section as SQL in BigQuery, the same Report.

    ``--dry-run`` prints the bytes each query would scan and the on-demand price and returns
    None; otherwise the report (refused beyond ``--max-bytes``, default 10 GB).
    """
    from analyzers.sources import log_analytics

    plan = sources.plan
    assert plan is not None
    get = plan.settings.get
    project, dataset = get("project"), dataset or get("dataset")
    if not project or not dataset:
        raise UserError("--source log-analytics needs --project and --dataset (the log "
                        "bucket's linked BigQuery dataset: rhesis-logs queries install "
                        "--log-analytics --project P shows or creates it)")
    click.echo(f"rhesis-logs: reading Log Analytics {project}.{dataset}"
               f"{f' ({plan.origin})' if plan.origin else ''}, window {window_text(sources)}",
               err=True)
    try:
        client = None
        credentials = _emulator_credentials(endpoint)
        if endpoint:
            client = log_analytics.make_client(
                project, location or get("location"), client_options={"api_endpoint": endpoint},
                **({"credentials": credentials} if credentials is not None else {}))
        result = log_analytics.analyze_log_analytics(
            project, dataset, client=client, location=location or get("location"),
            since=sources.since,
            until=sources.until, cluster=get("cluster"), namespace=get("namespace"),
            max_bytes=log_analytics.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
            dry_run=dry_run, **options)
    except AnalyzerError as exc:
        raise UserError(str(exc)) from None
    if dry_run:
        click.echo(json.dumps(result.to_dict(), indent=2) if fmt == "json"
                   else "\n".join(result.lines()))
        return None
    return result


def _analyze_json_file(sources: SourceOptions, options: dict[str, Any], now: pd.Timestamp | None
                       ):  # -> analyzers.file_report.FileReport | None
    """One file of our JSON lines: the report computed in DuckDB (``analyzers.file_report``),
    without the frame; None for any other input (read into the frame as usual)."""
    plan = sources.plan or plan_source(sources)
    if plan.kind != "file" or len(sources.files) != 1 or sources.files[0] == "-":
        return None
    from analyzers import file_report

    limit = {} if sources.max_line is None else {"max_line": sources.max_line}
    return file_report.analyze_file(sources.files[0], since=sources.since,
                                    until=sources.until, now=now, **options, **limit)


def _analyze_follow(sources: SourceOptions, options: dict[str, Any], refresh: float):
    """``analyze -f``: follow the input into a ``LiveReport``; redraw it every ``refresh``
    seconds (a terminal: in place; otherwise a one-line progress on stderr); return the final
    report at the end of input or on Ctrl-C."""
    from analyzers.live import LiveReport
    from analyzers.render.live import LiveView

    if sources.until is not None:
        raise UserError("-f/--follow reads until Ctrl-C: drop --until (or -f)")
    window = as_duration(sources.since_text or DEFAULT_WINDOW)
    if window is None:  # an absolute --since: the window it spans now, slid along from here
        window = pd.Timestamp.now(tz="UTC") - sources.since
    if window <= timedelta(0):
        raise UserError("-f/--follow keeps the last --since: give a duration (15m, 1h) or a "
                        "time in the past")
    limit = _line_limit(sources)
    lines = follow_input(sources, limit)
    files = [f for f in sources.files if f != "-"]
    live = LiveReport(files[0] if files else "kubectl" if sources.live else "stdin", window)
    wall = sources.live  # kubectl: "now" is the clock; a pipe may replay old logs

    def report():
        return live.build_report(now=pd.Timestamp.now(tz="UTC") if wall else None,
                                 lines_truncated=limit.truncated, **options)

    with LiveView(live, window, refresh) as view:
        try:
            for line in lines:
                live.feed(line)
                view.tick(report)
        except AnalyzerError as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            # The final report is what -f is for: Ctrl-C ends the input, not the command.
            click.echo("rhesis-logs: interrupted: the final report follows", err=True)
        live.finish()
    return report()


def _timeline_command(kind: str, compute: Callable[[pd.DataFrame, str], pd.DataFrame]):
    def command(ident: str, sources: SourceOptions, fmt: str, out_file: str | None) -> None:
        result = load(sources)
        frame = compute(result.frame, ident)
        if frame.empty:
            click.echo(f"rhesis-logs: no lines about {kind} {ident} in these logs: check the id "
                       "or widen the window (--since) / add the other pods' logs", err=True)
            sys.exit(ExitStatus.FINDINGS)
        width, color = terminal(out_file)
        _write(render_frame(frame, fmt, f"Timeline of {kind} {ident}", width=width,
                            color=color), out_file)

    return command


def _timeline_options(fn: Callable) -> Callable:
    fn = format_options(FRAME_FORMATS, "text", "Output format.")(fn)
    return source_options(fn)


@main.command()
@click.argument("chord_id")
@_timeline_options
def chord(chord_id: str, sources: SourceOptions, fmt: str, out_file: str | None) -> None:
    """The timeline of one chord across pods: members, errors, callback.

    CHORD_ID is the chord's group id (the callback's task id works too).

    \b
    Example:
      rhesis-logs chord 6a1f0c2e-0d7b-4c1e-9d59-0b7f3c1e2a11 examples/worker.jsonl
    """
    _timeline_command("chord", chord_timeline)(chord_id, sources, fmt, out_file)


@main.command()
@click.argument("task_id")
@_timeline_options
def task(task_id: str, sources: SourceOptions, fmt: str, out_file: str | None) -> None:
    """The timeline of one task across pods: published, received, started, retried, finished.

    \b
    Example:
      rhesis-logs task 0b1c2d3e-4f50-6172-8394-000000000042 worker-*.log -o json
    """
    _timeline_command("task", task_timeline)(task_id, sources, fmt, out_file)


# --- parse ---------------------------------------------------------------------------------


@main.command()
@source_options
@format_options((*PARSE_FORMATS, "json"), "jsonl",
                "jsonl (or json): one record per line; csv; table. Columns are the schema's, "
                "in its order, whatever the input.", aliases={"json": "jsonl"})
@click.option("-f", "--follow", is_flag=True, default=False,
              help="Stream records as lines arrive (stdin, one growing FILE, or kubectl "
                   "logs -f) until the input ends or Ctrl-C.")
def parse(sources: SourceOptions, fmt: str, out_file: str | None, follow: bool) -> None:
    """Print the normalized records read from logs (stdin when no FILE or '-').

    \b
    Examples:
      rhesis-logs parse examples/worker.jsonl -o table
      kubectl logs -f -l app=worker --prefix --timestamps | rhesis-logs parse -f -o csv
    """
    if follow:
        _parse_follow(sources, fmt, out_file)
        return
    result = load(sources)
    frame = result.frame
    if fmt == "table":
        shown = frame[[name for name in TABLE_COLUMNS if name in frame.columns]]
        width, color = terminal(out_file)
        _write(render_frame(shown, "text", f"{len(frame):,} records", width=width,
                            color=color), out_file)
    elif fmt == "csv":
        _write(csv_text(frame), out_file)
    else:
        _write(ndjson(frame), out_file)
    if result.lines_read != result.lines_parsed:
        click.echo(f"rhesis-logs: {result.lines_read - result.lines_parsed:,} of "
                   f"{result.lines_read:,} lines could not be read (see `analyze`)", err=True)


def _parse_follow(sources: SourceOptions, fmt: str, out_file: str | None) -> None:
    """Records out as lines come in; Ctrl-C ends with INTERRUPTED like any command."""
    from analyzers.ingest import StreamParser

    limit = _line_limit(sources)
    lines = follow_input(sources, limit)
    files = list(sources.files)
    parser = StreamParser(files[0] if files and files != ["-"] else
                          "kubectl" if sources.live else "stdin")
    with contextlib.ExitStack() as stack:
        out = (stack.enter_context(open(out_file, "w", encoding="utf-8"))
               if out_file and out_file != "-" else sys.stdout)
        writer = RecordWriter(out, fmt)
        with contextlib.suppress(BrokenPipeError):
            try:
                for line in lines:
                    # A quiet input completes the text records held back for their tracebacks.
                    writer.write(parser.flush() if line is None else parser.feed(line))
            except AnalyzerError as exc:
                raise UserError(str(exc)) from None
            finally:
                if limit.truncated:
                    click.echo(f"rhesis-logs: {limit.truncated:,} line(s) longer than "
                               f"--max-line ({limit.limit:,} bytes) were cut", err=True)
            writer.write(parser.flush())


# --- config --------------------------------------------------------------------------------


def _config_path() -> Path:
    return config.config_path()


CONFIG_HELP = """Where `rhesis-logs analyze` reads when given no FILE and no pipe.

Settings live in $XDG_CONFIG_HOME/rhesis-logs/config.toml (or the file $RHESIS_LOGS_CONFIG
names); RHESIS_LOGS_<KEY> variables override them and the commands' flags override both.
With nothing set, the project of your gcloud configuration or application-default
credentials is read (Cloud Logging), else kubectl's current context.

\b
Keys:
""" + "\n".join(f"  {key:<10} {text}" for key, text in config.KEYS.items()) + """

\b
Example:
  rhesis-logs config set source cloud-logging
  rhesis-logs config set project my-proj
  rhesis-logs analyze --since 1h
"""


@main.group("config", help=CONFIG_HELP)
def config_group() -> None:
    pass


def _config_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AnalyzerError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot write {exc.filename or _config_path()}: "
                            f"{exc.strerror or exc}") from None

    return wrapper


def _key_argument(fn: Callable) -> Callable:
    return click.argument("key", type=click.Choice(list(config.KEYS)), metavar="KEY")(fn)


@config_group.command("set")
@_key_argument
@click.argument("value")
@_config_errors
def config_set(key: str, value: str) -> None:
    """Set KEY to VALUE in the config file.

    \b
    Example:
      rhesis-logs config set selector app=worker
    """
    path = _config_path()
    settings = config.load(path)
    config.check(key, value)
    settings[key] = value
    config.save(path, settings)
    click.echo(f"{key} = {value}  ({path})", err=True)


@config_group.command("get")
@_key_argument
@_config_errors
def config_get(key: str) -> None:
    """Print KEY's value (environment over file); exit 1 when it is not set.

    \b
    Example:
      rhesis-logs config get project
    """
    value = {**config.load(_config_path()), **config.from_environment()}.get(key)
    if value is None:
        click.echo(f"rhesis-logs: {key} is not set (rhesis-logs config set {key} VALUE)",
                   err=True)
        sys.exit(ExitStatus.FINDINGS)
    click.echo(value)


@config_group.command("unset")
@_key_argument
@_config_errors
def config_unset(key: str) -> None:
    """Remove KEY from the config file (nothing to do is not an error).

    \b
    Example:
      rhesis-logs config unset context
    """
    path = _config_path()
    settings = config.load(path)
    if settings.pop(key, None) is not None:
        config.save(path, settings)


@config_group.command("show")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@_config_errors
def config_show(fmt: str) -> None:
    """Every setting with where it comes from, and the source a bare `analyze` would read.

    \b
    Example:
      rhesis-logs config show
    """
    path = _config_path()
    rows = [(key, value, str(path)) for key, value in config.load(path).items()]
    env = config.from_environment()
    rows = [row for row in rows if row[0] not in env]
    rows += [(key, value, f"${config.ENV_PREFIX}{key.upper()}") for key, value in env.items()]
    rows.sort(key=lambda row: list(config.KEYS).index(row[0]))
    choice = config.resolve({})
    would = (f"{describe(SourcePlan(choice.source, dict(choice.settings)))} ({choice.origin})"
             if choice.source in SOURCES else
             f"{choice.source} ({choice.origin})" if choice.source else "nothing: no input")
    if fmt == "json":
        import json

        click.echo(json.dumps({"path": str(path), "settings": [
            {"key": k, "value": v, "from": f} for k, v, f in rows], "reads": would}, indent=2))
        return
    click.echo(f"config file: {path}{'' if path.exists() else ' (not created yet)'}")
    width = max((len(k) for k, _, _ in rows), default=0)
    for key, value, origin in rows:
        click.echo(f"{key:<{width}}  {value}  ({origin})")
    if not rows:
        click.echo("no settings")
    click.echo(f"a bare `rhesis-logs analyze` reads: {would}")


@config_group.command("path")
def config_path_cmd() -> None:
    """Print the config file's path (it may not exist yet).

    \b
    Example:
      rhesis-logs config path
    """
    click.echo(str(_config_path()))


def entry() -> None:
    """The ``rhesis-logs`` console script: ``main()``, then a quick exit.

    Once the output is written and flushed, freeing a million-row frame object by object
    and tearing the interpreter down takes ~0.1 s that nobody needs, so the process ends
    with ``os._exit`` after the exit handlers ran (temporary files are still removed).
    In-process callers (``CliRunner``, tests) use ``main`` and keep the normal exit.
    """
    import atexit
    import errno

    try:
        # Not standalone: click would print a usage error as four lines (usage, hint, blank,
        # error); a newcomer gets one line saying what is wrong and where the help is.
        returned = main(standalone_mode=False)
        code = returned if isinstance(returned, int) else ExitStatus.OK
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare group: its help
        exc.show()
        code = exc.exit_code
    except click.UsageError as exc:
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        print(f"Error: {exc.format_message()}{where}", file=sys.stderr)
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):  # Ctrl-C outside a command (start-up, prompts)
        print("\nAborted!", file=sys.stderr)
        code = ExitStatus.INTERRUPTED
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or ExitStatus.OK
        else:
            print(exc.code, file=sys.stderr)
            code = ExitStatus.FINDINGS
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # `| head` closed the pipe: not an error for a log tool. Further writes go nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitStatus.OK
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

"""``python -m worker.chord_monitor`` / ``rhesis-worker chords``: find, explain and recover
stuck chords; ``rhesis-worker fix-chords``: the cron-friendly quick check.

Thin over the library: options are parsed here, everything else is :class:`Monitor` and
:mod:`worker.chord_monitor.actions`. Exit codes (``instrumentation.exit_status.ExitStatus``):
0 healthy, every action done, or nothing needed doing; 1 stuck chords remain, a chord was not
found, an action was refused or a dry run would act; 2 a bad option or URL; 4 Redis or the
broker unreachable, refusing the password or not answering within ``--timeout``; 130
interrupted. Every failure is one line on stderr. ``--json`` may come before or after the
subcommand; the JSON document goes to stdout, the structured log events to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
import redis
from kombu.exceptions import OperationalError

from instrumentation import schema
from instrumentation.exit_status import ExitStatus
from instrumentation.redaction import redact_text
from worker.chord_monitor import actions
from worker.chord_monitor.analysis import DEFAULT_ORPHAN_GRACE_S, is_reportable
from worker.chord_monitor.model import ChordState, Reason
from worker.chord_monitor.monitor import (
    Finding,
    Monitor,
    MonitorError,
    MonitorUnavailable,
    MonitorUsageError,
    Orphan,
    OrphanSurvey,
)
from worker.redis_client import describe_error

DEFAULT_MAX_HOURS = 1.0
JSON_FLAG = "--json"

#: What an operator should do about each reason (printed by check and fix-chords).
RECOMMENDATIONS: dict[Reason, str] = {
    Reason.SIZE_KEY_MISSING: "when every member is done: `chords recover <id>`; otherwise "
    "`chords revoke` and re-run the work (and check Redis maxmemory-policy: use noeviction)",
    Reason.MEMBERS_LOST: "when recoverable (their messages were recorded): `chords recover "
    "<id>` re-publishes them; otherwise `chords revoke` then re-run the work (a worker died "
    "holding them, or between kombu's BRPOP and its unacked write)",
    Reason.ORPHANED_IN_UNACKED: "`chords recover <id>` puts the orphaned messages back in "
    "their queues (kombu's restore, without waiting for VISIBILITY_TIMEOUT)",
    Reason.CALLBACK_NOT_DISPATCHED: "`chords recover <id>` (a worker died while publishing)",
    Reason.CALLBACK_NOT_RUN: "`chords recover <id>` (the callback message was lost)",
    Reason.CALLBACK_FAILED: "`chords inspect <id> --verbose`, fix the callback, re-run the work",
    Reason.MEMBER_FAILED: "add an error callback (link_error) to the chord; `chords revoke` "
    "and re-run",
    Reason.MEMBER_REVOKED: "add an error callback (link_error) to the chord; re-run the work",
}


class CommandFailed(click.ClickException):
    """One line on stderr (``Error: ...``) and the exit status that says what kind of failure."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.FINDINGS):
        super().__init__(redact_text(" ".join(message.split())))
        self.exit_code = int(status)


def failure(exc: BaseException) -> CommandFailed:
    """The CLI's answer to a library or Redis error: usage (2), unavailable (4) or 1."""
    if isinstance(exc, MonitorUsageError):
        return CommandFailed(str(exc), ExitStatus.USAGE)
    if isinstance(exc, MonitorUnavailable):
        return CommandFailed(str(exc), ExitStatus.UNAVAILABLE)
    if isinstance(exc, redis.RedisError | OSError | OperationalError):
        return CommandFailed(f"Redis failed during the command: {describe_error(exc)}",
                             ExitStatus.UNAVAILABLE)
    return CommandFailed(str(exc), ExitStatus.FINDINGS)


#: What a command catches and turns into one line (see :func:`failure`).
FAILURES = (MonitorError, redis.RedisError, OSError, OperationalError)


@dataclass
class Options:
    backend: str | None
    broker: str | None
    key_prefix: str | None
    timeout: float
    as_json: bool = False
    orphan_grace: float = DEFAULT_ORPHAN_GRACE_S

    def monitor(self) -> Monitor:
        if not self.backend:
            raise CommandFailed(
                "no result backend: set CELERY_RESULT_BACKEND or pass --backend redis://...",
                ExitStatus.USAGE)
        if self.timeout <= 0:
            raise CommandFailed("--timeout must be positive", ExitStatus.USAGE)
        if self.orphan_grace < 0:
            raise CommandFailed("--orphan-grace must not be negative", ExitStatus.USAGE)
        monitor = None
        try:
            monitor = Monitor(self.backend, self.broker, prefix=self.key_prefix,
                              timeout=self.timeout, orphan_grace_s=self.orphan_grace)
            monitor.ping()
        except FAILURES as exc:
            if monitor is not None:
                monitor.close()
            raise failure(exc) from exc
        return monitor


@contextmanager
def opened(opts: Options) -> Iterator[Monitor]:
    """A monitor for one command (backend and broker answered a PING within --timeout);
    library and Redis errors become one line and an exit status."""
    monitor = opts.monitor()
    try:
        yield monitor
    except FAILURES as exc:
        raise failure(exc) from exc
    finally:
        monitor.close()


def _configure_logging() -> None:
    from instrumentation.logconfig import configure_logging, is_configured

    if not is_configured():
        configure_logging("INFO", service="chord-monitor", stream=sys.stderr)


class ChordGroup(click.Group):
    """A group that accepts ``--json`` anywhere and exits 130 on Ctrl-C."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        cut = args.index("--") if "--" in args else len(args)
        if JSON_FLAG in args[:cut]:
            ctx.meta[JSON_FLAG] = True
            args = [a for a in args[:cut] if a != JSON_FLAG] + args[cut:]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(ExitStatus.INTERRUPTED)


def connection_options(fn: Callable) -> Callable:
    """--backend, --broker, --key-prefix, --timeout: shared by `chords` and `fix-chords`."""
    for decorator in reversed([
        click.option("--backend", envvar="CELERY_RESULT_BACKEND", show_envvar=True,
                     help="Redis result backend URL."),
        click.option("--broker", envvar=["CELERY_BROKER_URL", "BROKER_URL"], show_envvar=True,
                     help="Broker URL: needed to see workers and queues, and to revoke."),
        click.option("--key-prefix", envvar="CHORD_MONITOR_KEY_PREFIX", default=None,
                     help="The backend's global_keyprefix (default: chords under any prefix)."),
        click.option("--timeout", default=1.0, show_default=True, type=float,
                     help="Seconds to wait for workers to answer, and for Redis to answer "
                     "each round trip (a Redis that does not answer fails the command)."),
        click.option("--orphan-grace", envvar="CHORD_MONITOR_ORPHAN_GRACE", show_envvar=True,
                     default=DEFAULT_ORPHAN_GRACE_S, show_default=True, type=float,
                     metavar="SECONDS",
                     help="A message in the broker's unacked hash that no live worker "
                     "holds is called orphaned only once delivered this long before the "
                     "workers were asked."),
    ]):
        fn = decorator(fn)
    return fn


def _opts(ctx: click.Context) -> Options:
    opts: Options = ctx.find_object(Options)
    if opts is None:  # pragma: no cover - every command runs under the group
        raise click.ClickException("internal: no options")
    root = ctx.find_root()
    opts.as_json = bool(opts.as_json or ctx.meta.get(JSON_FLAG) or root.meta.get(JSON_FLAG))
    return opts


def _emit_json(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, default=str, indent=2))


def _age(age_s: float | None) -> str:
    if age_s is None:
        return "age ?"
    if age_s < 120:
        return f"{age_s:.0f}s"
    if age_s < 7200:
        return f"{age_s / 60:.0f}m"
    return f"{age_s / 3600:.1f}h"


def _line(f: Finding) -> str:
    d = f.fields()
    tenant = d[schema.ORGANIZATION_ID] or "-"
    if d[schema.USER_ID]:
        tenant += f"/{d[schema.USER_ID]}"
    return (f"{f.chord_id}  {f.verdict.state.value:<11} {d[schema.MEMBERS_DONE]}/"
            f"{d[schema.MEMBERS_EXPECTED] if d[schema.MEMBERS_EXPECTED] is not None else '?'} done"
            f" {d[schema.MEMBERS_FAILED]} failed  callback {d[schema.CHORD_CALLBACK_NAME] or '?'}"
            f"[{d[schema.CHORD_CALLBACK_ID] or '?'}]  tenant {tenant}  {_age(f.verdict.age_s)}\n"
            f"    {f.verdict.reason.value}: {f.verdict.detail}")


def _stuck(findings: list[Finding], max_hours: float) -> list[Finding]:
    return [f for f in findings if is_reportable(f.verdict, max_hours * 3600)]


# --- the group ------------------------------------------------------------------------------

@click.group(cls=ChordGroup)
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def chords(ctx: click.Context, backend: str | None, broker: str | None,
           key_prefix: str | None, timeout: float, orphan_grace: float,
           as_json: bool) -> None:
    """Find, explain and recover stuck chords on a Redis result backend.

    Works with any Celery app's Redis backend. Example:

        python -m worker.chord_monitor --backend redis://localhost:6379/1 \\
            --broker redis://localhost:6379/0 check --max-hours 2 --json
    """
    ctx.obj = Options(backend, broker, key_prefix, timeout, as_json, orphan_grace)
    _configure_logging()


@chords.command()
@click.option("--max-hours", default=DEFAULT_MAX_HOURS, show_default=True, type=float,
              help="Count stuck chords at least this old.")
@click.option("--watch", type=float, default=None, metavar="SECONDS",
              help="Repeat every SECONDS until interrupted (Ctrl-C exits 130).")
@click.pass_context
def status(ctx: click.Context, max_hours: float, watch: float | None) -> None:
    """Workers, active tasks, chords in flight and stuck chords, with a one-line verdict.

    Example: rhesis-worker chords status --max-hours 0.5
    """
    opts = _opts(ctx)
    with opened(opts) as monitor:
        while True:
            code = _status_once(monitor, opts, max_hours)
            if watch is None:
                ctx.exit(code)
            time.sleep(watch)


def _status_once(monitor: Monitor, opts: Options, max_hours: float) -> int:
    # Orphans first: it asks the workers afresh, and the survey reuses that answer.
    orphans = (monitor.orphans() if monitor.broker is not None
               and monitor.broker.client is not None else None)
    workers = monitor.workers(refresh=orphans is None)  # fresh each round
    findings = monitor.survey()
    stuck = _stuck(findings, max_hours)
    by_state: dict[str, int] = {}
    for f in findings:
        by_state[f.verdict.state.value] = by_state.get(f.verdict.state.value, 0) + 1
    in_flight = by_state.get(ChordState.IN_PROGRESS.value, 0)
    if stuck:
        oldest = stuck[0]
        verdict = (f"STUCK: {len(stuck)} stuck chord(s), {in_flight} in flight; oldest "
                   f"{oldest.chord_id} ({_age(oldest.verdict.age_s)}, "
                   f"{oldest.verdict.reason.value})")
    else:
        verdict = f"OK: {in_flight} chord(s) in flight, none stuck"
    orphaned = orphans.orphans if orphans is not None else []
    if orphaned:
        verdict += (f"; {len(orphaned)} message(s) orphaned in unacked "
                    "(`chords orphans --restore`)")
    if opts.as_json:
        now = time.time()
        _emit_json({
            "verdict": verdict,
            "orphaned": None if orphans is None else [o.to_dict(now) for o in orphaned],
            "workers": None if workers is None else {
                h: {"active": len(w.active), "reserved": len(w.reserved),
                    "scheduled": len(w.scheduled)} for h, w in workers.items()},
            "chords": by_state,
            "stuck": [f.to_dict() for f in stuck],
        })
    else:
        if workers is None:
            click.echo("workers: unknown (no --broker)")
        else:
            click.echo(f"workers: {len(workers)}")
            for host, w in sorted(workers.items()):
                click.echo(f"  {host}: {len(w.active)} active, {len(w.reserved)} reserved, "
                           f"{len(w.scheduled)} scheduled")
        click.echo("chords: " + (", ".join(f"{n} {st}" for st, n in sorted(by_state.items()))
                                 or "none"))
        for f in stuck:
            click.echo(_line(f))
        if orphans is not None:
            click.echo(_orphans_line(orphans))
        click.echo(verdict)
    sys.stdout.flush()
    return ExitStatus.FINDINGS if stuck or orphaned else ExitStatus.OK


def _orphans_line(found: OrphanSurvey) -> str:
    if found.asked_at is None:
        return (f"unacked: {found.unacked} message(s); orphans unknown (no complete answer "
                "from the workers)")
    return f"unacked: {found.unacked} message(s), {len(found.orphans)} orphaned"


def _orphan_text(orphan: Orphan, now: float) -> str:
    d = orphan.to_dict(now)
    age = d["unacked_age_s"]
    return (f"{d[schema.TASK_NAME] or '?'}[{d[schema.TASK_ID] or '?'}]  queue "
            f"{d['routing_key'] or '?'}  in unacked {_age(age)}  {d[schema.STATE]}"
            + (f"  chord {d[schema.GROUP_ID]}" if d[schema.GROUP_ID] else "")
            + ("  (already ran: its ack was lost)" if orphan.ran else ""))


@chords.command()
@click.option("--restore", "do_restore", is_flag=True,
              help="Put them back in their queues, as kombu's restore would.")
@click.option("--dry-run", is_flag=True, help="With --restore: only say where they would go.")
@click.option("--include-ran", is_flag=True,
              help="Also restore messages whose task already finished (runs them again).")
@click.pass_context
def orphans(ctx: click.Context, do_restore: bool, dry_run: bool, include_ran: bool) -> None:
    """Messages orphaned in the broker's unacked hash: no live worker holds them.

    kombu delivers in two steps (BRPOP, then writing unacked); when Redis dies between
    applying the second and replying, the message waits for VISIBILITY_TIMEOUT (an hour).
    Lists them (exit 1 if any); --restore puts them back in their queues (exit 0 when all
    were). Needs --broker and a complete answer from every worker within --timeout.

    Example: rhesis-worker chords orphans --restore --dry-run
    """
    opts = _opts(ctx)
    if dry_run and not do_restore:
        raise click.UsageError("--dry-run goes with --restore")
    with opened(opts) as monitor:
        found = monitor.orphans()
        outcomes = (actions.restore_orphans(monitor, found.orphans, dry_run=dry_run,
                                            include_ran=include_ran)
                    if do_restore else [])
    now = time.time()
    if opts.as_json:
        _emit_json({"workers": found.workers, "unacked": found.unacked,
                    "workers_complete": found.asked_at is not None,
                    "orphans": [o.to_dict(now) for o in found.orphans],
                    "outcomes": [o.to_dict() for o in outcomes]})
    else:
        click.echo(f"workers: {found.workers}; " + _orphans_line(found))
        for orphan in found.orphans:
            click.echo("  " + _orphan_text(orphan, now))
        for o in outcomes:
            click.echo(f"  {o.action}: {o.detail}")
    if do_restore:
        ctx.exit(ExitStatus.OK if all(o.done for o in outcomes) else ExitStatus.FINDINGS)
    ctx.exit(ExitStatus.FINDINGS if found.orphans else ExitStatus.OK)


@chords.command()
@click.option("--max-hours", default=DEFAULT_MAX_HOURS, show_default=True, type=float,
              help="List stuck chords at least this old.")
@click.pass_context
def check(ctx: click.Context, max_hours: float) -> None:
    """List every stuck chord older than --max-hours with the reason; exit 1 if any.

    Example: rhesis-worker chords check --max-hours 2 --json
    """
    opts = _opts(ctx)
    with opened(opts) as monitor:
        findings = monitor.survey()
    stuck = _stuck(findings, max_hours)
    actions.report_stuck(stuck)
    if opts.as_json:
        _emit_json({"checked": len(findings), "max_hours": max_hours,
                    "stuck": [f.to_dict() for f in stuck]})
    else:
        for f in stuck:
            click.echo(_line(f))
            if f.verdict.reason in RECOMMENDATIONS:
                click.echo(f"    -> {RECOMMENDATIONS[f.verdict.reason]}")
        click.echo(f"{len(stuck)} stuck chord(s) of {len(findings)} checked")
    ctx.exit(ExitStatus.FINDINGS if stuck else ExitStatus.OK)


@chords.command(name="inspect")
@click.argument("chord_id")
@click.option("--verbose", "-v", is_flag=True, help="Show every member's result.")
@click.pass_context
def inspect_cmd(ctx: click.Context, chord_id: str, verbose: bool) -> None:
    """Members of one chord with state, worker, date done, result or error.

    Example: rhesis-worker chords inspect 3f0c2d1e-... --verbose
    """
    opts = _opts(ctx)
    with opened(opts) as monitor:
        finding = monitor.inspect(chord_id)
    if finding is None:
        raise CommandFailed(f"no chord {chord_id!r} in the result backend")
    doc = finding.to_dict(verbose=True)
    if opts.as_json:
        _emit_json(doc)
    else:
        click.echo(_line(finding))
        for m in doc["members"]:
            shown = m.get(schema.EXCEPTION_MESSAGE) if m.get(schema.EXCEPTION_MESSAGE) else (
                m.get(schema.RESULT) if verbose else "")
            click.echo(
                f"  [{m[schema.GROUP_INDEX]}] {m[schema.TASK_ID]} {m[schema.TASK_NAME] or '?'} "
                f"{m[schema.STATE]} {m[schema.WORKER] or '-'} {m['date_done'] or '-'} "
                f"{m['holder'] or ''} {shown if shown is not None else ''}".rstrip()
            )
        if "callback" in doc:
            cb = doc["callback"]
            click.echo(
                f"  callback {cb[schema.TASK_NAME]}[{cb[schema.TASK_ID]}] {cb[schema.STATE]} "
                f"{cb.get(schema.EXCEPTION_MESSAGE) or ''}".rstrip()
            )
    ctx.exit(ExitStatus.FINDINGS if finding.verdict.stuck else ExitStatus.OK)


def _act(ctx: click.Context, opts: Options, outcomes: list[actions.Outcome],
         extra: dict[str, Any] | None = None) -> None:
    if opts.as_json:
        _emit_json({"outcomes": [o.to_dict() for o in outcomes], **(extra or {})})
    else:
        for o in outcomes:
            click.echo(f"{o.chord_id}  {o.action}: {o.detail}")
            for tid in o.task_ids:
                click.echo(f"    task {tid}")
            for key in o.keys:
                click.echo(f"    key {key}")
        if not outcomes:
            click.echo("no stuck chords")
    # 0 when every chord was handled; a dry run that would act, or a refusal, is 1.
    ctx.exit(ExitStatus.OK if all(o.done for o in outcomes) else ExitStatus.FINDINGS)


@chords.command()
@click.option("--max-hours", default=DEFAULT_MAX_HOURS, show_default=True, type=float,
              help="Revoke stuck chords at least this old.")
@click.option("--dry-run", is_flag=True, help="Only show what would be revoked.")
@click.option("--terminate", is_flag=True, help="Also kill members that are running.")
@click.pass_context
def revoke(ctx: click.Context, max_hours: float, dry_run: bool, terminate: bool) -> None:
    """Revoke the pending members and the callback of stuck chords.

    Example: rhesis-worker chords revoke --max-hours 2 --dry-run
    """
    opts = _opts(ctx)
    with opened(opts) as monitor:
        stuck = _stuck(monitor.survey(), max_hours)
        outcomes = actions.revoke(monitor, stuck, dry_run=dry_run, terminate=terminate)
    _act(ctx, opts, outcomes)


@chords.command()
@click.argument("chord_id")
@click.option("--dry-run", is_flag=True, help="Only say whether it would run the callback.")
@click.pass_context
def recover(ctx: click.Context, chord_id: str, dry_run: bool) -> None:
    """Run the callback of a chord whose members are all done but whose callback never ran;
    re-publish lost members (from the recorder's copies, original task ids); put orphaned
    messages back in their queues.

    Runs it once: a second recover refuses or finds nothing to do. Otherwise explains why not.
    Example: rhesis-worker chords recover 3f0c2d1e-...
    """
    opts = _opts(ctx)
    with opened(opts) as monitor:
        outcome = actions.recover(monitor, chord_id, dry_run=dry_run)
    _act(ctx, opts, [outcome])


@chords.command()
@click.option("--max-hours", default=DEFAULT_MAX_HOURS, show_default=True, type=float,
              help="Clean stuck chords at least this old.")
@click.option("--dry-run", is_flag=True, help="Only show the keys that would be deleted.")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--purge-queues", is_flag=True,
              help="Also purge the whole queues holding their pending members (needs --force).")
@click.pass_context
def clean(ctx: click.Context, max_hours: float, dry_run: bool, force: bool,
          purge_queues: bool) -> None:
    """Remove the chord keys of stuck chords only (never of a chord still progressing).

    Example: rhesis-worker chords clean --max-hours 24 --dry-run
    """
    opts = _opts(ctx)
    if purge_queues and not force:
        raise click.UsageError("--purge-queues deletes whole queues: it needs --force")
    with opened(opts) as monitor:
        stuck = [f for f in monitor.survey()
                 if actions.cleanable(f) and (f.verdict.age_s is None
                                              or f.verdict.age_s >= max_hours * 3600)]
        if stuck and not dry_run and not force:
            if not sys.stdin.isatty():
                raise click.UsageError("not a terminal: pass --force to clean, or --dry-run")
            click.confirm(f"Delete the keys of {len(stuck)} chord(s)?", abort=True)
        queues = sorted({m.holder.split(":", 1)[1] for f in stuck
                         for m in f.snapshot.pending_members
                         if m.holder and m.holder.startswith("queue:")})
        outcomes = actions.clean(monitor, stuck, dry_run=dry_run)
        purged: dict[str, int] = {}
        if purge_queues and monitor.broker is not None:
            for q in queues:
                purged[q] = 0 if dry_run else monitor.broker.purge(q)
    if purged and not opts.as_json:
        for q, n in purged.items():
            click.echo(f"queue {q}: {'would purge' if dry_run else f'purged {n} message(s)'}")
    _act(ctx, opts, outcomes, {"purged": purged})


# --- fix-chords -----------------------------------------------------------------------------

@click.command(name="fix-chords")
@connection_options
@click.option("--report-after", default=30.0, show_default=True, type=float, metavar="MINUTES",
              help="Report stuck chords at least this many minutes old.")
@click.option("--revoke-after", default=2.0, show_default=True, type=float, metavar="HOURS",
              help="Revoke stuck chords at least this many hours old.")
@click.option("--yes", "-y", is_flag=True, help="Revoke without asking.")
@click.option("--dry-run", is_flag=True, help="Never act; say what would be done.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless something is wrong.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def fix_chords(backend: str | None, broker: str | None, key_prefix: str | None,
               timeout: float, orphan_grace: float, report_after: float,
               revoke_after: float, yes: bool, dry_run: bool, quiet: bool,
               as_json: bool) -> None:
    """Cron-friendly check: report stuck chords, revoke the old ones.

    Exits 0 when nothing needed doing or every stuck chord was revoked, 1 when stuck chords
    remain (reported, not yet old enough, not confirmed, or nothing to revoke), 4 when Redis
    or the broker cannot be used.

    Example (a CronJob every 15 minutes):

        rhesis-worker fix-chords --report-after 30 --revoke-after 2 --yes --quiet
    """
    _configure_logging()
    opts = Options(backend, broker, key_prefix, timeout, as_json, orphan_grace)
    try:
        with opened(opts) as monitor:
            findings = monitor.survey()
            stuck = _stuck(findings, report_after / 60)
            old = [f for f in stuck if f.verdict.age_s is None
                   or f.verdict.age_s >= revoke_after * 3600]
            actions.report_stuck(stuck)
            asked = bool(old) and not dry_run and not yes
            act = bool(old) and not dry_run and (
                yes or (sys.stdin.isatty() and not as_json
                        and click.confirm(f"Revoke {len(old)} chord(s)?")))
            outcomes = actions.revoke(monitor, old, dry_run=not act) if old else []
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    revoked = {o.chord_id for o in outcomes if o.done}
    remaining = [f for f in stuck if f.chord_id not in revoked]
    if as_json:
        _emit_json({"stuck": [f.to_dict() for f in stuck],
                    "outcomes": [o.to_dict() for o in outcomes],
                    "remaining": [f.chord_id for f in remaining],
                    "recommendations": {f.chord_id: RECOMMENDATIONS.get(f.verdict.reason)
                                        for f in stuck}})
    elif stuck or not quiet:
        for f in stuck:
            click.echo(_line(f))
            if f.verdict.reason in RECOMMENDATIONS:
                click.echo(f"    -> {RECOMMENDATIONS[f.verdict.reason]}")
        for o in outcomes:
            click.echo(f"{o.chord_id}  {o.action}: {o.detail}")
        # Only chords a confirmation would have revoked: one with nothing to revoke needs
        # an operator, not --yes.
        unconfirmed = [o for o in outcomes if o.dry_run and o.task_ids]
        if asked and not act and unconfirmed:
            click.echo(f"{len(unconfirmed)} chord(s) older than {revoke_after:g}h not "
                       "revoked: re-run with --yes")
        click.echo(f"{len(stuck)} stuck chord(s) of {len(findings)} checked, "
                   f"{len(revoked)} revoked, {len(remaining)} remain")
    sys.exit(ExitStatus.FINDINGS if remaining else ExitStatus.OK)

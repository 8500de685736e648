"""The assembled report: every section computed once, plus the JSON-ready view of it.

    >>> report = build_report(result.frame, lines_read=result.lines_read,
    ...                       lines_parsed=result.lines_parsed, unparsed=result.unparsed,
    ...                       since=since, tenant="org-1", stuck_after=pd.Timedelta("15m"))
    >>> report.failures                      # a DataFrame; every section is one
    >>> report.to_dict()["tasks"]["failed"]  # the machine contract (docs/report.md)
    >>> report.failing(["stuck"])            # ["stuck"] if a chord is stuck

Sections are computed on the frame after the window and tenant/task filters. The reference
time for "stuck" is ``now`` if given, else ``until``, else the last timestamp in the *whole*
frame (before the tenant filter: one tenant's quiet hour must not look like the end of logs).

The task ids are factorized once (``kernels.factorize``) and shared by the sections that count per
id; that hashing runs on a worker thread while the other sections are computed (it releases
the GIL), and the retry lines are picked once for both retry tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd

from analyzers.frame import check_frame
from analyzers.rfc3339 import RFC3339_MICROS
from instrumentation import schema

from . import columns as cols
from .chords import STUCK
from .chords import chords as chord_states
from .duplicates import duplicate_executions, lost_worker_rows, lost_workers
from .durations import slow_tasks
from .failures import failures
from .kernels import event_is, factorize, prepare
from .retries import retries, retry_outcomes, retry_rows, retry_storms
from .tables import to_records
from .timeseries import over_time
from .totals import READ, UNPARSED, line_totals, task_totals
from .values import times
from .window import filter_frame

#: Version of the JSON contract; bumped only for incompatible changes.
CONTRACT_VERSION = 1

#: Every frame column a report section or renderer reads. ``ingest.read_sources(...,
#: columns=COLUMNS)`` may leave the others null: a big JSON file is then read about twice
#: as fast. (A test checks this against the sections' source and their results.)
COLUMNS: frozenset[str] = frozenset(
    {
        schema.TIME,
        schema.SEVERITY,
        schema.MESSAGE,
        schema.EVENT,
        schema.TASK_ID,
        schema.TASK_NAME,
        schema.ORGANIZATION_ID,
        schema.USER_ID,
        schema.GROUP_ID,
        schema.RETRIES,
        schema.WORKER,
        schema.DURATION_MS,
        schema.QUEUE_WAIT_MS,
        schema.EXCEPTION_TYPE,
        schema.EXCEPTION_MESSAGE,
        schema.REDELIVERED,
        schema.REASON,
        schema.CHORD_ID,
        schema.CHORD_CALLBACK_ID,
        schema.CHORD_CALLBACK_NAME,
        schema.CHORD_SIZE,
        schema.MEMBERS_EXPECTED,
        schema.MEMBERS_FAILED,
        schema.SOURCE,
        schema.LINE_NO,
        schema.POD,
        schema.RAW,
        schema.REQUEUED,
        schema.FORMAT,
    }
)

#: The conditions ``--fail-on`` accepts.
CONDITIONS = ("failures", "stuck", "retry-storm")
#: The condition that no line was understood as a task event (an empty capture, a binary
#: file, a format nothing here reads): ``analyze`` exits NO_EVENTS unless --allow-empty.
NO_TASK_EVENTS = "no_task_events"
#: What to try when nothing was understood.
NO_EVENTS_HINT = (
    "check that the input is a Celery worker's log (kubectl context and selector, the "
    "--since window, the file captured); rhesis-logs reads Celery's own lines in any "
    "worker_log_format, JSON loggers' message field, Cloud Logging entries and the "
    "instrumentation's JSON; 'rhesis-logs parse' shows how each line was read; pass "
    "--allow-empty when an empty log is expected"
)

UNPARSED_EXAMPLES = 20
_RAW_WIDTH = 300


@dataclass
class Report:
    """Every section of one report. Tables are DataFrames; ``to_dict`` is the JSON contract."""

    lines: pd.DataFrame
    tasks: pd.DataFrame
    failures: pd.DataFrame
    retries: pd.DataFrame
    retry_storms: pd.DataFrame
    retry_outcomes: pd.DataFrame
    chords: pd.DataFrame
    stuck_chords: pd.DataFrame
    duplicates: pd.DataFrame
    lost_workers: pd.DataFrame
    slow_tasks: pd.DataFrame
    over_time: pd.DataFrame
    unparsed: pd.DataFrame
    window: dict[str, pd.Timestamp | None] = field(default_factory=dict)
    filters: dict[str, str | None] = field(default_factory=dict)
    stuck_after: timedelta = timedelta(minutes=15)
    #: Sections whose figures are not exactly what the local analyzer would compute from the
    #: same entries (a source that computes them elsewhere says which; see docs/report.md).
    approximate: list[str] = field(default_factory=list)
    #: Lines understood as task events in the whole input (before any filter).
    task_events: int = 0
    #: What the input looked like: records per format, unparsed lines per reason.
    shapes: dict[str, int] = field(default_factory=dict)

    def conditions(self) -> dict[str, bool]:
        """Which conditions hold: the ``--fail-on`` ones and ``no_task_events``."""
        failed = int(self.tasks.iloc[0][cols.FAILED]) if not self.tasks.empty else 0
        return {
            "failures": failed > 0 or not self.failures.empty,
            "stuck": not self.stuck_chords.empty,
            "retry-storm": not self.retry_storms.empty,
            NO_TASK_EVENTS: self.task_events == 0,
        }

    def findings(self) -> list[dict[str, Any]]:
        """What the report has to say first, most important first (``findings`` in JSON)."""
        out: list[dict[str, Any]] = []
        if self.task_events == 0:
            read = int(self.lines.iloc[0][READ]) if not self.lines.empty else 0
            seen = ", ".join(f"{n:,} {k}" for k, n in self.shapes.items()) or "nothing"
            out.append({
                "condition": NO_TASK_EVENTS,
                "message": f"no line was understood as a task event ({read:,} lines read; "
                           f"seen: {seen}): nothing can be said about the workers",
                "lines_read": read,
                "shapes": dict(self.shapes),
                "hint": NO_EVENTS_HINT,
            })
        for name in ("failures", "stuck", "retry-storm"):
            if self.conditions()[name]:
                out.append({"condition": name})
        for reason in self.stuck_chords.get(cols.STUCK_REASON, pd.Series(dtype=object)):
            out.append({"condition": "stuck", "reason": reason})
        return out

    def failing(self, on: Iterable[str]) -> list[str]:
        """The conditions among ``on`` that hold, in the order given."""
        held = self.conditions()
        unknown = [name for name in on if name not in held]
        if unknown:
            raise ValueError(f"unknown condition(s) {unknown}: choose from {list(CONDITIONS)}")
        return [name for name in on if held[name]]

    def to_dict(self) -> dict[str, Any]:
        """The machine contract documented in ``docs/report.md``."""

        def ts(value: pd.Timestamp | None) -> str | None:
            if value is None or pd.isna(value):
                return None
            return pd.Timestamp(value).strftime(RFC3339_MICROS)

        one = lambda table: to_records(table)[0] if not table.empty else {}  # noqa: E731
        return {
            "version": CONTRACT_VERSION,
            "window": {key: ts(value) for key, value in self.window.items()},
            "filters": dict(self.filters),
            "stuck_after_s": self.stuck_after.total_seconds(),
            "lines": one(self.lines),
            "tasks": one(self.tasks),
            "failures": to_records(self.failures),
            "retries": to_records(self.retries),
            "retry_storms": to_records(self.retry_storms),
            "retry_outcomes": to_records(self.retry_outcomes),
            "chords": to_records(self.chords),
            "stuck_chords": to_records(self.stuck_chords),
            "duplicates": to_records(self.duplicates),
            "lost_workers": to_records(self.lost_workers),
            "slow_tasks": to_records(self.slow_tasks),
            "over_time": to_records(self.over_time),
            "unparsed": {
                "count": one(self.lines).get(UNPARSED, len(self.unparsed)),
                "examples": to_records(self.unparsed),
            },
            "conditions": self.conditions(),
            "approximate": list(self.approximate),
            "findings": self.findings(),
        }


def _unparsed_examples(unparsed: pd.DataFrame | None) -> pd.DataFrame:
    if unparsed is None or unparsed.empty:
        return pd.DataFrame({schema.SOURCE: [], schema.LINE_NO: [], schema.RAW: []})
    head = unparsed.head(UNPARSED_EXAMPLES)
    raw = head[schema.RAW].astype("str").str.slice(0, _RAW_WIDTH)
    return pd.DataFrame(
        {schema.SOURCE: head[schema.SOURCE], schema.LINE_NO: head[schema.LINE_NO], schema.RAW: raw}
    ).reset_index(drop=True)


def build_report(
    frame: pd.DataFrame,
    *,
    lines_read: int | None = None,
    lines_parsed: int | None = None,
    unparsed: pd.DataFrame | None = None,
    lines_truncated: int = 0,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    tenant: str | None = None,
    task: str | None = None,
    stuck_after: timedelta = timedelta(minutes=15),
    now: pd.Timestamp | None = None,
    storm_factor: float = 5.0,
    storm_min_retries: int = 5,
) -> Report:
    """Filter ``frame`` to the window/tenant/task and compute every section.

    ``frame`` must have the normalized columns and dtypes (``analyzers.frame``): they are
    checked here once, so the sections read columns without checking again.
    """
    check_frame(frame)
    n_unparsed = 0 if unparsed is None else len(unparsed)
    if lines_parsed is None:
        lines_parsed = len(frame)
    if lines_read is None:
        lines_read = lines_parsed + n_unparsed
    all_times = times(frame)
    reference = now if now is not None else until if until is not None else all_times.max()
    if reference is not None and pd.isna(reference):
        reference = None

    task_events = int(event_is(frame, schema.TASK_EVENTS).sum())
    shapes: dict[str, int] = {}
    if len(frame):
        shapes.update({f"{k} records": int(v) for k, v in
                       frame[schema.FORMAT].astype("str").value_counts().items() if k != "nan"})
    if unparsed is not None and len(unparsed) and schema.REASON in unparsed.columns:
        shapes.update({f"unparsed ({k})": int(v) for k, v in
                       unparsed[schema.REASON].astype("str").value_counts().items()})
    filtered = filter_frame(frame, since=since, until=until, tenant=tenant, task=task)
    stuck = pd.Timedelta(stuck_after)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The task ids are factorized once, shared by the sections that count per task id.
        # That runs in NumPy and pandas with the GIL released, so on a second core it
        # overlaps the sections that need no ids.
        pending_ids = pool.submit(factorize, filtered[schema.TASK_ID])
        view = prepare(filtered)
        retried = retry_rows(view)  # picked once for both retry tables
        lost_rows = lost_worker_rows(view)  # once for lost workers and duplicates' causes
        without_ids = {
            "failures": failures(view),
            "retries": retries(view, rows=retried),
            "retry_storms": retry_storms(view, factor=storm_factor,
                                         min_retries=storm_min_retries, rows=retried),
            "lost_workers": lost_workers(view, rows=lost_rows),
            "over_time": over_time(view),
        }
        ids = pending_ids.result()
    slow = slow_tasks(view, ids=ids)
    # Chords after slow_tasks: a due callback is dated against the log's queue waits.
    chord_table = chord_states(view, now=reference, stuck_after=stuck, slow=slow)
    without_ids["chords"] = chord_table
    without_ids["stuck_chords"] = chord_table.loc[
        chord_table[cols.CHORD_STATE] == STUCK].reset_index(drop=True)
    view_times = times(view)
    return Report(
        lines=line_totals(lines_read, lines_parsed, records=len(frame),
                          truncated=lines_truncated),
        tasks=task_totals(view, ids=ids),
        retry_outcomes=retry_outcomes(view, ids=ids),
        duplicates=duplicate_executions(view, ids=ids, lost_rows=lost_rows),
        slow_tasks=slow,
        **without_ids,
        unparsed=_unparsed_examples(unparsed),
        window={
            "since": since,
            "until": until,
            "first_seen": view_times.min() if len(view) else None,
            "last_seen": view_times.max() if len(view) else None,
            "reference_time": reference,
        },
        filters={"tenant": tenant, "task": task},
        stuck_after=stuck.to_pytimedelta(),
        task_events=task_events,
        shapes=shapes,
    )

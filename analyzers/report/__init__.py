"""Report sections over the analyzer's normalized frame: pure functions, frame in, frame out.

    from analyzers.report import build_report, failures, filter_frame

    report = build_report(frame, lines_read=..., lines_parsed=..., unparsed=...,
                          since=since, tenant="org-1", stuck_after=timedelta(minutes=15))
    report.failures            # DataFrame: one row per task / exception / message fingerprint
    report.to_dict()           # the JSON contract (docs/report.md)
    task_timeline(frame, "5e0c...")   # one task's lines across pods, in lifecycle order

Each section is a function of the normalized frame (columns ``schema.FRAME_COLUMNS``, ``time``
tz-aware UTC) and can be called on its own; none reads files or calls services. All are
vectorized (groupby, factorize, bincount): a million rows take well under a second.
"""

from .chords import chords, stuck_chords
from .duplicates import duplicate_executions, lost_worker_rows, lost_workers
from .durations import slow_tasks
from .failures import failure_rows, failures, fingerprint
from .model import COLUMNS, CONDITIONS, CONTRACT_VERSION, Report, build_report
from .retries import retries, retry_outcomes, retry_storms
from .timeline import chord_timeline, task_timeline
from .timeseries import bucket_size, over_time
from .totals import line_totals, task_totals
from .window import filter_frame, filter_window, parse_duration, parse_instant

__all__ = [
    "COLUMNS",
    "CONDITIONS",
    "CONTRACT_VERSION",
    "Report",
    "bucket_size",
    "build_report",
    "chord_timeline",
    "chords",
    "duplicate_executions",
    "failure_rows",
    "failures",
    "filter_frame",
    "filter_window",
    "fingerprint",
    "line_totals",
    "lost_worker_rows",
    "lost_workers",
    "over_time",
    "parse_duration",
    "parse_instant",
    "retries",
    "retry_outcomes",
    "retry_storms",
    "slow_tasks",
    "stuck_chords",
    "task_timeline",
    "task_totals",
]

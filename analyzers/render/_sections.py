"""What the human renderers (text, markdown, html) show of each report section, in order.

The JSON renderer writes every column; people get the columns that answer the question
of the section, the most important rows first, and a note when rows were left out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from analyzers.report import Report
from analyzers.report import columns as c
from instrumentation import schema as s


@dataclass(frozen=True)
class Section:
    key: str  # attribute of Report and key of the JSON contract
    title: str
    columns: tuple[str, ...]
    empty: str  # what to say when the table has no rows
    limit: int = 20


SECTIONS: tuple[Section, ...] = (
    Section("failures", "Failures by task, exception and message",
            (s.TASK_NAME, s.EXCEPTION_TYPE, c.FINGERPRINT, c.COUNT, c.TENANTS, c.TENANT_IDS,
             c.FIRST_SEEN, c.LAST_SEEN, c.EXAMPLE_TASK_ID),
            "No task failed."),
    Section("retries", "Retries by task and exception",
            (s.TASK_NAME, s.EXCEPTION_TYPE, c.COUNT, c.TASK_IDS, c.MAX_RETRIES, c.TENANTS,
             c.LAST_SEEN, c.EXAMPLE_TASK_ID),
            "No task retried."),
    Section("retry_storms", "Retry storms",
            (c.SCOPE, c.KEY, s.TASK_NAME, s.ORGANIZATION_ID, c.COUNT, c.NORM, c.RATIO,
             c.FIRST_SEEN, c.LAST_SEEN),
            "No task retried far above its norm."),
    Section("retry_outcomes", "How retried tasks ended",
            (s.TASK_NAME, c.RETRIED_IDS, c.RECOVERED, c.EXHAUSTED, c.PENDING),
            "No task retried."),
    Section("stuck_chords", "Stuck chords (callback overdue)",
            (s.CHORD_ID, s.ORGANIZATION_ID, s.CHORD_CALLBACK_NAME, s.MEMBERS_EXPECTED,
             c.MEMBERS_FINISHED, s.MEMBERS_FAILED, c.LAST_ACTIVITY, c.IDLE_S,
             c.MEMBERS_PUBLISHED, s.CHORD_CALLBACK_ID),
            "No chord is stuck."),
    Section("chords", "All chords",
            (s.CHORD_ID, c.CHORD_STATE, s.ORGANIZATION_ID, s.CHORD_CALLBACK_NAME,
             s.MEMBERS_EXPECTED, c.MEMBERS_FINISHED, s.MEMBERS_FAILED, c.CALLBACK_RECEIVED,
             c.LAST_ACTIVITY),
            "No chord in these logs.", limit=15),
    Section("duplicates", "Duplicate executions",
            (s.TASK_ID, s.TASK_NAME, c.RECEIVED, c.SUCCEEDED, c.RETRIED, c.WORKERS,
             s.ORGANIZATION_ID, c.GAP_S, c.LIKELY_CAUSE),
            "No task ran more often than its retries explain."),
    Section("lost_workers", "Lost workers, time limits, broker disconnects",
            (c.KIND, s.WORKER, c.COUNT, c.TASK_IDS, c.FIRST_SEEN, c.LAST_SEEN,
             c.EXAMPLE_TASK_ID, s.TASK_NAME),
            "No worker was lost, no time limit hit, no broker connection lost."),
    Section("slow_tasks", "Run time and queue wait per task (ms)",
            (s.TASK_NAME, c.COUNT, c.P50_MS, c.P95_MS, c.P99_MS, c.MAX_MS, c.WAIT_P50_MS,
             c.WAIT_P95_MS, c.WAIT_MAX_MS),
            "No durations in these logs."),
    Section("unparsed", "Lines that could not be read (first few)",
            (s.SOURCE, s.LINE_NO, s.RAW),
            "Every line was read."),
)

_CELL_WIDTH = 80
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: Short headers for people (the JSON keeps the column names).
LABELS: dict[str, str] = {
    s.TASK_NAME: "task", s.EXCEPTION_TYPE: "exception", c.FINGERPRINT: "message (masked)",
    c.TENANT_IDS: "tenant ids", c.FIRST_SEEN: "first", c.LAST_SEEN: "last",
    c.EXAMPLE_TASK_ID: "example id", c.TASK_IDS: "ids", c.MAX_RETRIES: "max retries",
    s.ORGANIZATION_ID: "tenant", s.CHORD_CALLBACK_NAME: "callback",
    s.CHORD_CALLBACK_ID: "callback id", s.MEMBERS_EXPECTED: "expected",
    c.MEMBERS_PUBLISHED: "published", c.MEMBERS_FINISHED: "finished",
    s.MEMBERS_FAILED: "failed", c.LAST_ACTIVITY: "last activity", c.IDLE_S: "idle s",
    c.CHORD_STATE: "state", c.CALLBACK_RECEIVED: "callback seen", c.GAP_S: "gap s",
    c.LIKELY_CAUSE: "likely cause", c.P50_MS: "p50", c.P95_MS: "p95", c.P99_MS: "p99",
    c.MAX_MS: "max", c.WAIT_P50_MS: "wait p50", c.WAIT_P95_MS: "wait p95",
    c.WAIT_MAX_MS: "wait max", c.RETRIED_IDS: "retried ids", s.LINE_NO: "line",
    s.RAW: "text", s.TASK_ID: "task id", s.CHORD_ID: "chord id",
}


def label(column: str) -> str:
    """The header people see for ``column``."""
    return LABELS.get(column, column.replace("_", " "))


def cell(value: object) -> str:
    """One value as short human text: UTC times to the second, floats rounded, None blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value is pd.NaT or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                           and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        utc = value.tz_convert("UTC") if value.tzinfo else value
        return utc.strftime("%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    # Control characters from binary junk would drive the terminal: show them as U+FFFD.
    text = _CONTROL.sub("\ufffd", str(value).replace("\n", " "))
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def precise_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Time columns as ``YYYY-MM-DD HH:MM:SS.mmm`` text: timelines need the milliseconds."""
    changes = {
        name: frame[name].dt.strftime("%Y-%m-%d %H:%M:%S.%f").str.slice(0, 23)
        for name in frame.columns
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype)
    }
    return frame.assign(**changes) if changes else frame


def rows_of(table: pd.DataFrame, section: Section) -> tuple[list[str], list[list[str]], int]:
    """Header labels, the first ``limit`` rows as text cells, and how many rows were left out."""
    columns = [name for name in section.columns if name in table.columns]
    head = table.head(section.limit)
    if s.EXCEPTION_TYPE in columns:
        # People read "WorkerLostError"; the module path is in the JSON.
        short = head[s.EXCEPTION_TYPE].astype("str").str.rsplit(".", n=1).str[-1]
        head = head.assign(**{s.EXCEPTION_TYPE: short})
    body = [[cell(v) for v in row] for row in head[columns].itertuples(index=False, name=None)]
    return [label(name) for name in columns], body, max(len(table) - section.limit, 0)


def summary_lines(report: Report) -> list[tuple[str, str]]:
    """Label/value pairs for the head of a human report."""
    d = report.to_dict()
    lines, tasks, window = d["lines"], d["tasks"], d["window"]
    out = [
        ("Window (UTC)",
         f"{window.get('first_seen') or '-'} .. {window.get('last_seen') or '-'}"),
        ("Lines", f"{lines.get('read', 0):,} read, {lines.get('parsed', 0):,} parsed, "
                  f"{lines.get('unparsed', 0):,} unparsed"),
        ("Tasks", ", ".join(f"{tasks.get(k, 0):,} {k}" for k in (
            c.RECEIVED, c.SUCCEEDED, c.FAILED, c.RETRIED, c.REVOKED))),
        ("Task ids / tenants", f"{tasks.get(c.TASK_IDS, 0):,} / {tasks.get(c.TENANTS, 0):,}"),
    ]
    filters = {k: v for k, v in d["filters"].items() if v}
    if filters:
        out.append(("Filters", ", ".join(f"{k}={v}" for k, v in filters.items())))
    if window.get("since") or window.get("until"):
        out.append(("Asked for", f"{window.get('since') or '-'} .. {window.get('until') or '-'}"))
    if d.get("approximate"):  # a source that computed some sections elsewhere says which
        out.append(("Approximate", ", ".join(d["approximate"])))
    held = [name for name, value in d["conditions"].items() if value]
    out.append(("Findings", ", ".join(held) if held else "healthy"))
    return out

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
from analyzers.report import columns as cols
from analyzers.report.model import NO_TASK_EVENTS
from analyzers.report.retries import STORM_COLUMNS
from instrumentation import schema


@dataclass(frozen=True)
class Section:
    key: str  # attribute of Report and key of the JSON contract
    title: str
    columns: tuple[str, ...]
    empty: str  # what to say when the table has no rows
    limit: int = 20


SECTIONS: tuple[Section, ...] = (
    Section(
        "failures",
        "Failures by task, exception and message",
        (
            schema.TASK_NAME,
            schema.EXCEPTION_TYPE,
            cols.FINGERPRINT,
            cols.COUNT,
            cols.TENANTS,
            cols.TENANT_IDS,
            cols.FIRST_SEEN,
            cols.LAST_SEEN,
            cols.EXAMPLE_TASK_ID,
        ),
        "No task failed.",
    ),
    Section(
        "retries",
        "Retries by task and exception",
        (
            schema.TASK_NAME,
            schema.EXCEPTION_TYPE,
            cols.COUNT,
            cols.TASK_IDS,
            cols.MAX_RETRIES,
            cols.TENANTS,
            cols.LAST_SEEN,
            cols.EXAMPLE_TASK_ID,
        ),
        "No task retried.",
    ),
    Section(
        "retry_storms",
        "Retry storms",
        STORM_COLUMNS,  # every column of the section
        "No task retried far above its norm.",
    ),
    Section(
        "retry_outcomes",
        "How retried tasks ended",
        (schema.TASK_NAME, cols.RETRIED_IDS, cols.RECOVERED, cols.EXHAUSTED, cols.PENDING),
        "No task retried.",
    ),
    Section(
        "stuck_chords",
        "Stuck chords (callback overdue)",
        (
            schema.CHORD_ID,
            schema.ORGANIZATION_ID,
            schema.CHORD_CALLBACK_NAME,
            schema.MEMBERS_EXPECTED,
            cols.MEMBERS_FINISHED,
            schema.MEMBERS_FAILED,
            cols.LAST_ACTIVITY,
            cols.IDLE_S,
            cols.STUCK_REASON,
            cols.MEMBERS_PUBLISHED,
            schema.CHORD_CALLBACK_ID,
        ),
        "No chord is stuck.",
    ),
    Section(
        "chords",
        "All chords",
        (
            schema.CHORD_ID,
            cols.CHORD_STATE,
            schema.ORGANIZATION_ID,
            schema.CHORD_CALLBACK_NAME,
            schema.MEMBERS_EXPECTED,
            cols.MEMBERS_FINISHED,
            schema.MEMBERS_FAILED,
            cols.CALLBACK_RECEIVED,
            cols.LAST_ACTIVITY,
        ),
        "No chord in these logs.",
        limit=15,
    ),
    Section(
        "duplicates",
        "Duplicate executions",
        (
            schema.TASK_ID,
            schema.TASK_NAME,
            cols.RECEIVED,
            cols.SUCCEEDED,
            cols.RETRIED,
            cols.WORKERS,
            schema.ORGANIZATION_ID,
            cols.GAP_S,
            cols.LIKELY_CAUSE,
        ),
        "No task ran more often than its retries explain.",
    ),
    Section(
        "lost_workers",
        "Lost workers, time limits, broker disconnects",
        (
            cols.KIND,
            schema.WORKER,
            cols.COUNT,
            cols.TASK_IDS,
            cols.FIRST_SEEN,
            cols.LAST_SEEN,
            cols.REQUEUED,
            cols.EXAMPLE_TASK_ID,
            schema.TASK_NAME,
        ),
        "No worker was lost, no time limit hit, no broker connection lost.",
    ),
    Section(
        "slow_tasks",
        "Run time and queue wait per task (ms)",
        (
            schema.TASK_NAME,
            cols.COUNT,
            cols.P50_MS,
            cols.P95_MS,
            cols.P99_MS,
            cols.MAX_MS,
            cols.WAIT_P50_MS,
            cols.WAIT_P95_MS,
            cols.WAIT_MAX_MS,
        ),
        "No durations in these logs.",
    ),
    Section(
        "unparsed",
        "Lines that could not be read (first few)",
        (schema.SOURCE, schema.LINE_NO, schema.RAW),
        "Every line was read.",
    ),
)

_CELL_WIDTH = 80
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: Short headers for people (the JSON keeps the column names).
LABELS: dict[str, str] = {
    schema.TASK_NAME: "task",
    schema.EXCEPTION_TYPE: "exception",
    cols.FINGERPRINT: "message (masked)",
    cols.TENANT_IDS: "tenant ids",
    cols.FIRST_SEEN: "first",
    cols.LAST_SEEN: "last",
    cols.EXAMPLE_TASK_ID: "example id",
    cols.TASK_IDS: "ids",
    cols.MAX_RETRIES: "max retries",
    schema.ORGANIZATION_ID: "tenant",
    schema.CHORD_CALLBACK_NAME: "callback",
    schema.CHORD_CALLBACK_ID: "callback id",
    schema.MEMBERS_EXPECTED: "expected",
    cols.MEMBERS_PUBLISHED: "published",
    cols.MEMBERS_FINISHED: "finished",
    schema.MEMBERS_FAILED: "failed",
    cols.LAST_ACTIVITY: "last activity",
    cols.IDLE_S: "idle s",
    cols.CHORD_STATE: "state",
    cols.CALLBACK_RECEIVED: "callback seen",
    cols.GAP_S: "gap s",
    cols.LIKELY_CAUSE: "likely cause",
    cols.P50_MS: "p50",
    cols.P95_MS: "p95",
    cols.P99_MS: "p99",
    cols.MAX_MS: "max",
    cols.WAIT_P50_MS: "wait p50",
    cols.WAIT_P95_MS: "wait p95",
    cols.WAIT_MAX_MS: "wait max",
    cols.RETRIED_IDS: "retried ids",
    schema.LINE_NO: "line",
    schema.RAW: "text",
    schema.TASK_ID: "task id",
    schema.CHORD_ID: "chord id",
}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 row``, ``3 rows``, ``1,200 rows``: the count with its noun in the right number."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def label(column: str) -> str:
    """The header people see for ``column``."""
    return LABELS.get(column, column.replace("_", " "))


def cell(value: object, width: int | None = _CELL_WIDTH) -> str:
    """One value as short human text: UTC times to the second, floats rounded, None blank.

    ``width``: longer text is cut there with an ellipsis (None: never cut, for the HTML page,
    which clips with CSS and keeps the whole text on hover).
    """
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
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


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
    if schema.EXCEPTION_TYPE in columns:
        # People read "WorkerLostError"; the module path is in the JSON.
        short = head[schema.EXCEPTION_TYPE].astype("str").str.rsplit(".", n=1).str[-1]
        head = head.assign(**{schema.EXCEPTION_TYPE: short})
    body = [[cell(v) for v in row] for row in head[columns].itertuples(index=False, name=None)]
    return [label(name) for name in columns], body, max(len(table) - section.limit, 0)


#: The label of the first summary line when no task event was read.
NOTHING_UNDERSTOOD = "NOTHING UNDERSTOOD"


def summary_lines(report: Report) -> list[tuple[str, str]]:
    """Label/value pairs for the head of a human report."""
    d = report.to_dict()
    lines, tasks, window = d["lines"], d["tasks"], d["window"]
    out = [(NOTHING_UNDERSTOOD, f"{f['message']}. Try: {f['hint']}.")
           for f in d["findings"] if f["condition"] == NO_TASK_EVENTS]
    out += [
        ("Window (UTC)",
         f"{window.get('first_seen') or '-'} .. {window.get('last_seen') or '-'}"),
        ("Lines", f"{lines.get('read', 0):,} read, {lines.get('parsed', 0):,} parsed, "
                  f"{lines.get('unparsed', 0):,} unparsed"),
        ("Tasks", ", ".join(f"{tasks.get(k, 0):,} {k}" for k in (
            cols.RECEIVED, cols.SUCCEEDED, cols.FAILED, cols.RETRIED, cols.REVOKED))),
        ("Task ids / tenants", f"{tasks.get(cols.TASK_IDS, 0):,} / {tasks.get(cols.TENANTS, 0):,}"),
    ]
    filters = {k: v for k, v in d["filters"].items() if v}
    if filters:
        out.append(("Filters", ", ".join(f"{k}={v}" for k, v in filters.items())))
    if window.get("since") or window.get("until"):
        out.append(("Asked for", f"{window.get('since') or '-'} .. {window.get('until') or '-'}"))
    if d.get("approximate"):  # a source that computed some sections elsewhere says which
        out.append(("Approximate", ", ".join(d["approximate"])))
    held = [name.replace("_", " ") for name, value in d["conditions"].items() if value]
    # "healthy" only when task events were read and nothing is wrong with them.
    out.append(("Findings", ", ".join(held) if held else "healthy"))
    return out

"""The report as GitHub-flavoured Markdown, to paste into a ticket.

    >>> ticket_body = render_markdown(report)
"""

from __future__ import annotations

import pandas as pd

from analyzers.report import Report

from ._sections import SECTIONS, Section, plural, precise_times, rows_of, summary_lines


def _escape(text: str) -> str:
    # Pipes end a table cell, backticks/asterisks start formatting, '<' could open HTML.
    # ("_" inside words is no emphasis in GitHub Markdown: task_name stays readable.)
    for ch in "\\|`*<>[]":
        text = text.replace(ch, "\\" + ch)
    return text


def table_markdown(frame: pd.DataFrame, section: Section) -> str:
    """One section as a Markdown table (or its empty sentence)."""
    if frame.empty:
        return f"_{section.empty}_\n"
    headers, body, left_out = rows_of(frame, section)
    lines = [
        "| " + " | ".join(_escape(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in body]
    if left_out:
        lines.append(f"\n_{plural(left_out, 'more row')} (see `--format json`)._")
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    """The whole report as Markdown."""
    out = ["# rhesis-logs report", ""]
    out += [f"- **{label}:** {_escape(value)}" for label, value in summary_lines(report)]
    out.append("")
    for section in SECTIONS:
        out += [f"## {section.title}", "", table_markdown(getattr(report, section.key), section)]
    return "\n".join(out)


def render_frame_markdown(frame: pd.DataFrame, title: str, limit: int = 1000) -> str:
    """Any frame (a timeline) as a titled Markdown table."""
    frame = precise_times(frame.dropna(axis=1, how="all"))
    section = Section("frame", title, tuple(frame.columns), "No records.", limit=limit)
    return f"## {title}\n\n" + table_markdown(frame, section)

"""The terminal report: a summary and one rich table per section.

    >>> print(render_text(report))                 # plain text, 120 columns
    >>> render_text(report, width=200, color=True) # ANSI colours for a terminal

Sections without rows print one line saying so, so a healthy run is short to read.
"""

from __future__ import annotations

import io

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from analyzers.report import Report

from ._sections import SECTIONS, Section, rows_of, summary_lines

_NO_WRAP = {"first", "last", "last activity", "count", "tenants", "ids", "idle s", "gap s",
            "expected", "published", "finished", "failed", "received", "succeeded", "retried",
            "state", "line"}


def _console(width: int, color: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, no_color=not color,
        color_system="standard" if color else None, highlight=False, soft_wrap=False,
    )
    return console, buffer


def table_of(frame: pd.DataFrame, section: Section) -> Table | str:
    """A rich Table of ``frame`` as ``section`` describes it, or the section's empty text."""
    if frame.empty:
        return section.empty
    headers, body, left_out = rows_of(frame, section)
    table = Table(title=section.title, title_justify="left", box=box.SIMPLE_HEAD,
                  caption=f"{left_out:,} more rows (see --format json)" if left_out else None,
                  caption_justify="left")
    for name in headers:
        # Times and counts stay on one line; free text folds.
        short = name in _NO_WRAP or name.startswith(("p", "wait", "max"))
        table.add_column(name, overflow="fold", no_wrap=short)
    for row in body:
        table.add_row(*row)
    return table


def render_text(report: Report, *, width: int = 120, color: bool = False) -> str:
    """The whole report as text for a terminal or a file."""
    console, buffer = _console(width, color)
    console.rule("rhesis-logs report")
    for label, value in summary_lines(report):
        style = "bold red" if label == "Findings" and value != "healthy" else None
        console.print(f"{label + ':':<20}{value}", style=style)
    console.print()
    for section in SECTIONS:
        shown = table_of(getattr(report, section.key), section)
        if isinstance(shown, str):
            console.print(f"[bold]{section.title}[/bold]: {shown}")
        else:
            console.print(shown)
        console.print()
    return buffer.getvalue()


def render_frame_text(frame: pd.DataFrame, title: str, *, width: int = 120,
                      color: bool = False, limit: int = 1000) -> str:
    """Any frame (a timeline, parsed records) as one titled table."""
    console, buffer = _console(width, color)
    section = Section("frame", title, tuple(frame.columns), "No records.", limit=limit)
    shown = table_of(frame, section)
    console.print(shown if not isinstance(shown, str) else f"{title}: {shown}")
    return buffer.getvalue()

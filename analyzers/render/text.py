"""The terminal report: a summary and one rich table per section.

    >>> print(render_text(report))                 # plain text, 120 columns
    >>> render_text(report, width=200, color=True) # ANSI colours for a terminal

Sections without rows print one line saying so, so a healthy run is short to read. No line
ends in spaces (rich pads cells to the width; they are stripped).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd

from analyzers.report import Report

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

from ._sections import (
    SECTIONS,
    Section,
    cell,
    label,
    plural,
    precise_times,
    rows_of,
    summary_lines,
)

_FOLDED = 40  # free text wider than this folds onto more lines (a UUID is 36)
_LEAD_COLUMNS = 5  # render_frame_text: columns shown aligned before the name=value part


def _console(width: int, color: bool) -> tuple[Console, io.StringIO]:
    # rich is imported here, not at module level: `--format json` should not pay for it.
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, no_color=not color,
        color_system="standard" if color else None, highlight=False, soft_wrap=False,
    )
    return console, buffer


def _fit(headers: list[str], body: list[list[str]], width: int) -> int:
    """How many leading columns fit in ``width`` (columns are listed most important first)."""
    used = 0
    for i, name in enumerate(headers):
        longest = max([len(row[i]) for row in body] + [len(name)])
        used += min(longest, _FOLDED) + 3  # padding and separator
        if used > width and i >= 3:
            return i
    return len(headers)


def table_of(frame: pd.DataFrame, section: Section, width: int = 160) -> Table | str:
    """A rich Table of ``frame`` as ``section`` describes it, or the section's empty text.

    Columns that do not fit ``width`` are left out from the right (the least important);
    the caption says so. Nothing is cut silently.
    """
    from rich import box
    from rich.table import Table

    if frame.empty:
        return section.empty
    headers, body, left_out = rows_of(frame, section)
    keep = _fit(headers, body, width)
    notes = []
    if left_out:
        notes.append(plural(left_out, "more row"))
    if keep < len(headers):
        notes.append(f"columns {', '.join(headers[keep:])} left out for width")
    table = Table(title=section.title, title_justify="left", box=box.SIMPLE_HEAD,
                  caption=("; ".join(notes) + " (see --format json)") if notes else None,
                  caption_justify="left")
    for i, name in enumerate(headers[:keep]):
        # Short values (times, ids, counts, names) stay on one line; long free text folds.
        longest = max([len(row[i]) for row in body] + [len(name)])
        if longest <= _FOLDED:
            table.add_column(name, no_wrap=True)
        else:
            table.add_column(name, overflow="fold", min_width=_FOLDED)
    for row in body:
        table.add_row(*row[:keep])
    return table


def render_text(report: Report, *, width: int = 120, color: bool = False) -> str:
    """The whole report as text for a terminal or a file."""
    console, buffer = _console(width, color)
    console.rule("rhesis-logs report")
    for name, value in summary_lines(report):
        style = "bold red" if name == "Findings" and value != "healthy" else None
        console.print(f"{name + ':':<20}{value}", style=style)
    console.print()
    for section in SECTIONS:
        shown = table_of(getattr(report, section.key), section, width)
        if isinstance(shown, str):
            console.print(f"[bold]{section.title}[/bold]: {shown}")
        else:
            console.print(shown)
        console.print()
    return without_trailing_spaces(buffer.getvalue())


def without_trailing_spaces(text: str) -> str:
    """Each line right-stripped: rich pads table cells to the full width, which shows as
    trailing spaces in a file, a diff or a pipe to ``grep``."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def render_frame_text(frame: pd.DataFrame, title: str, *, width: int = 120,
                      color: bool = False, limit: int | None = None) -> str:
    """Any frame (a timeline, parsed records) as aligned lines: the first columns padded,
    then the rest as ``name=value`` (empty values left out), so nothing is cut for width."""
    frame = precise_times(frame.dropna(axis=1, how="all"))
    if limit is not None:
        frame = frame.head(limit)
    lines = [title, ""] if title else []
    if frame.empty:
        return "\n".join([*lines, "No records."]) + "\n"
    cells = [[cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    names = list(frame.columns)
    lead = min(_LEAD_COLUMNS, len(names))
    pads = [max(len(r[i]) for r in cells) for i in range(lead)]
    for row in cells:
        head = "  ".join(row[i].ljust(pads[i]) for i in range(lead))
        tail = "  ".join(f"{label(names[i])}={row[i]}" for i in range(lead, len(names))
                         if row[i])
        lines.append(f"{head}  {tail}".rstrip())
    return "\n".join(lines) + "\n"

"""Renderers: one report, four readers (terminal, machines, tickets, browsers).

    from analyzers.render import render

    text = render(report, "text")        # rich tables as plain text (color=True for ANSI)
    doc = render(report, "json")         # the machine contract, docs/report.md
    md = render(report, "markdown")      # for a ticket
    page = render(report, "html")        # one self-contained page with inline SVG charts

``render_frame(frame, fmt, title)`` renders any table (a timeline) in text, json or markdown.

Every text cell goes through ``instrumentation.redaction`` first, whatever the format: logs
that did not come from our instrumentation (plain Celery text, another service's JSON) may
carry passwords and tokens in messages, exception texts and tracebacks.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from analyzers.report import Report
from instrumentation.redaction import redact_text

from .html import render_html
from .json import render_frame_json, render_json
from .markdown import render_frame_markdown, render_markdown
from .text import render_frame_text, render_text

FORMATS = ("text", "json", "markdown", "html")
FRAME_FORMATS = ("text", "json", "markdown")


def render(report: Report, fmt: str, *, width: int = 120, color: bool = False) -> str:
    """``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
    report = redact_report(report)
    if fmt == "text":
        return render_text(report, width=width, color=color)
    if fmt == "json":
        return render_json(report)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}: choose from {', '.join(FORMATS)}")


def render_frame(frame: pd.DataFrame, fmt: str, title: str, *, width: int = 120,
                 color: bool = False) -> str:
    """Any frame as a titled table (text, markdown) or ``{"records": [...]}`` (json)."""
    frame = redact_frame(frame)
    if fmt == "text":
        return render_frame_text(frame, title, width=width, color=color)
    if fmt == "json":
        return render_frame_json(frame)
    if fmt == "markdown":
        return render_frame_markdown(frame, title)
    raise ValueError(f"unknown format {fmt!r}: choose from {', '.join(FRAME_FORMATS)}")


def redact_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the secrets in its text cells masked (a copy; the tables of a report
    are small, aggregated ones)."""
    out = None
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object and not pd.api.types.is_string_dtype(column.dtype):
            continue
        masked = column.map(lambda v: redact_text(v) if isinstance(v, str) else v)
        if not masked.equals(column):
            out = frame.copy() if out is None else out
            out[name] = masked
    return frame if out is None else out


def redact_report(report: Report) -> Report:
    """``report`` with every table through :func:`redact_frame`."""
    tables = {f.name: redact_frame(getattr(report, f.name))
              for f in dataclasses.fields(report)
              if isinstance(getattr(report, f.name), pd.DataFrame)}
    return dataclasses.replace(report, **tables)


__all__ = [
    "FORMATS",
    "FRAME_FORMATS",
    "redact_frame",
    "redact_report",
    "render",
    "render_frame",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
]

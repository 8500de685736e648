"""Renderers: one report, four readers (terminal, machines, tickets, browsers).

    from analyzers.render import render

    text = render(report, "text")        # rich tables as plain text (color=True for ANSI)
    doc = render(report, "json")         # the machine contract, docs/report.md
    md = render(report, "markdown")      # for a ticket
    page = render(report, "html")        # one self-contained page with inline SVG charts

``render_frame(frame, fmt, title)`` renders any table (a timeline) in text, json or markdown.
"""

from __future__ import annotations

import pandas as pd

from analyzers.report import Report

from .html import render_html
from .json import render_frame_json, render_json
from .markdown import render_frame_markdown, render_markdown
from .text import render_frame_text, render_text

FORMATS = ("text", "json", "markdown", "html")
FRAME_FORMATS = ("text", "json", "markdown")


def render(report: Report, fmt: str, *, width: int = 120, color: bool = False) -> str:
    """``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
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
    if fmt == "text":
        return render_frame_text(frame, title, width=width, color=color)
    if fmt == "json":
        return render_frame_json(frame)
    if fmt == "markdown":
        return render_frame_markdown(frame, title)
    raise ValueError(f"unknown format {fmt!r}: choose from {', '.join(FRAME_FORMATS)}")


__all__ = [
    "FORMATS",
    "FRAME_FORMATS",
    "render",
    "render_frame",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
]

"""The report as one self-contained HTML page with inline SVG charts.

    >>> Path("report.html").write_text(render_html(report))

One file, nothing fetched: inline CSS, inline SVG (failures and retries over time, run-time
percentiles per task, queue wait where known), then every section as a table. All text from
the logs is escaped.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from analyzers.report import Report
from analyzers.report import columns as cols
from instrumentation import schema as s

from ._sections import SECTIONS, Section, rows_of, summary_lines
from .svg import percentile_bars, time_chart

_CHART_TASKS = 15

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.6rem 1rem;min-width:7rem}
.card b{display:block;font-size:1.6rem}.card.bad b{color:#d62728}
.findings{padding:.6rem 1rem;border-radius:6px;background:#e8f5e9}
.findings.bad{background:#fdecea}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border-bottom:1px solid #eee;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#fafafa}td{word-break:break-word}
.empty{color:#666;font-style:italic}.more{color:#666}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.summary dt{font-weight:600}figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}
"""


def _table(frame: pd.DataFrame, section: Section) -> str:
    if frame.empty:
        return f'<p class="empty">{escape(section.empty)}</p>'
    headers, body, left_out = rows_of(frame, section)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in body
    )
    more = f'<p class="more">{left_out:,} more rows (see --format json).</p>' if left_out else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}"


def _cards(report: Report) -> str:
    tasks = report.tasks.iloc[0].to_dict() if not report.tasks.empty else {}
    cards = [
        (cols.RECEIVED, tasks.get(cols.RECEIVED, 0), False),
        (cols.SUCCEEDED, tasks.get(cols.SUCCEEDED, 0), False),
        (cols.FAILED, tasks.get(cols.FAILED, 0), tasks.get(cols.FAILED, 0) > 0),
        (cols.RETRIED, tasks.get(cols.RETRIED, 0), False),
        ("stuck chords", len(report.stuck_chords), len(report.stuck_chords) > 0),
        ("retry storms", len(report.retry_storms), len(report.retry_storms) > 0),
        ("duplicates", len(report.duplicates), len(report.duplicates) > 0),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card{" bad" if bad else ""}"><b>{int(value):,}</b>{escape(label)}</div>'
        for label, value, bad in cards
    ) + "</div>"


def _charts(report: Report) -> str:
    out = []
    ot = report.over_time
    if not ot.empty:
        series = {name: ot[name].tolist() for name in (cols.FAILED, cols.RETRIED)}
        out.append("<h2>Failures and retries over time</h2><figure>"
                   + time_chart(ot[cols.BUCKET].tolist(), series,
                                title="Failures and retries over time")
                   + "<figcaption>Events per bucket of "
                   + escape(_bucket_text(ot)) + ".</figcaption></figure>")
    slow = report.slow_tasks
    runs = slow.loc[slow[cols.COUNT] > 0].head(_CHART_TASKS) if not slow.empty else slow
    if not runs.empty:
        out.append("<h2>Run time percentiles per task</h2><figure>"
                   + percentile_bars(
                       runs[s.TASK_NAME].astype(str).tolist(),
                       {"p50": runs[cols.P50_MS].astype(float).tolist(),
                        "p95": runs[cols.P95_MS].astype(float).tolist(),
                        "p99": runs[cols.P99_MS].astype(float).tolist()},
                       title="Run time percentiles per task (ms)")
                   + "<figcaption>Slowest p95 first; milliseconds.</figcaption></figure>")
    waits = slow.loc[slow[cols.WAITS] > 0].sort_values(cols.WAIT_P95_MS, ascending=False).head(
        _CHART_TASKS) if not slow.empty else slow
    if not waits.empty:
        out.append("<h2>Queue wait (received → started) per task</h2><figure>"
                   + percentile_bars(
                       waits[s.TASK_NAME].astype(str).tolist(),
                       {"p50": waits[cols.WAIT_P50_MS].astype(float).tolist(),
                        "p95": waits[cols.WAIT_P95_MS].astype(float).tolist()},
                       title="Queue wait per task (ms)")
                   + "</figure>")
    return "".join(out)


def _bucket_text(ot: pd.DataFrame) -> str:
    if len(ot) < 2:
        return "the whole window"
    step = pd.Timestamp(ot[cols.BUCKET].iloc[1]) - pd.Timestamp(ot[cols.BUCKET].iloc[0])
    seconds = step.total_seconds()
    if seconds < 60:
        return f"{seconds:g} seconds"
    return f"{seconds / 60:g} minutes" if seconds < 3600 else f"{seconds / 3600:g} hours"


def render_html(report: Report) -> str:
    """The whole report as one HTML document (a str)."""
    summary = summary_lines(report)
    findings = dict(summary).get("Findings", "healthy")
    bad = findings != "healthy"
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in summary
                 if k != "Findings")
    sections = "".join(
        f"<h2>{escape(sec.title)}</h2>{_table(getattr(report, sec.key), sec)}"
        for sec in SECTIONS
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>rhesis-logs report</title><style>{_CSS}</style></head><body>"
        "<h1>rhesis-logs report</h1>"
        f'<p class="findings{" bad" if bad else ""}"><b>Findings:</b> {escape(findings)}</p>'
        f"{_cards(report)}<dl class=\"summary\">{dl}</dl>{_charts(report)}{sections}"
        "</body></html>\n"
    )

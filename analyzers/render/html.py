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
from instrumentation import schema

from ._sections import SECTIONS, Section, cell, plural, rows_of, summary_lines
from .svg import percentile_bars, time_chart

_CHART_TASKS = 15

#: Chord states a row is highlighted for (the chords tables).
_BAD_STATES = frozenset({"stuck", "failed"})
#: Sections whose every row asks for attention.
_BAD_SECTIONS = frozenset({"stuck_chords"})

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5rem 2rem;color:#222}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
nav.toc{margin:1rem 0;font-size:.9rem;line-height:1.8}
nav.toc a{margin-right:1rem;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.6rem 1rem;min-width:7rem}
.card b{display:block;font-size:1.6rem;font-variant-numeric:tabular-nums}
.card.bad b{color:#d62728}
.findings{padding:.6rem 1rem;border-radius:6px;background:#e8f5e9}
.findings.bad{background:#fdecea}
.table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid #eee;padding:.25rem .5rem;text-align:left;vertical-align:top;
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
th{background:#fafafa}
td .clip{display:block;overflow:hidden;text-overflow:ellipsis}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fdecea}
.empty{color:#666;font-style:italic}.more{color:#666}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.summary dt{font-weight:600}figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}
@media (max-width:1000px){body{margin:1rem}table{font-size:.78rem}th,td{padding:.2rem .3rem}}
"""


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _weight(name: str, series: pd.Series) -> float:
    """A column's share of the table width, by what it holds.

    Why: a fixed layout never lets a long value widen the table past the window; the
    shares keep numbers narrow and messages wide, and the cells clip the rest.
    """
    if name in (schema.RAW,):
        return 60
    if name in (cols.FINGERPRINT, schema.EXCEPTION_MESSAGE):
        return 30
    if _is_number(series):
        return 8
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
            series):
        return 11
    if name.endswith(("_id", "_ids")):
        return 12
    return 18


def _table(frame: pd.DataFrame, section: Section) -> str:
    if frame.empty:
        return f'<p class="empty">{escape(section.empty)}</p>'
    headers, _, left_out = rows_of(frame, section)
    columns = [name for name in section.columns if name in frame.columns]
    head = frame.head(section.limit)
    numeric = [_is_number(frame[name]) for name in columns]
    short = rows_of(head, section)[1]  # the cells as the other renderers show them
    head_html = "".join(
        f'<th{" class=num" if num else ""} title="{escape(h)}">{escape(h)}</th>'
        for h, num in zip(headers, numeric, strict=True))
    weights = [_weight(name, frame[name]) for name in columns]
    colgroup = "<colgroup>" + "".join(
        f'<col style="width:{100 * w / sum(weights):.1f}%">' for w in weights) + "</colgroup>"
    rows = []
    states = head[cols.CHORD_STATE].tolist() if cols.CHORD_STATE in head.columns else None
    for i, values in enumerate(head[columns].itertuples(index=False, name=None)):
        bad = section.key in _BAD_SECTIONS or (states is not None and states[i] in _BAD_STATES)
        cells = []
        for name, value, text, num in zip(columns, values, short[i], numeric, strict=True):
            if num:
                cells.append(f'<td class="num">{escape(text)}</td>')
                continue
            # The whole value on hover; CSS clips the shown text with an ellipsis instead of
            # breaking words. Exception types show the class name (the module is on hover).
            full = cell(value, width=None)
            shown = text if name == schema.EXCEPTION_TYPE else full
            cells.append(f'<td><span class="clip" title="{escape(full)}">{escape(shown)}'
                         "</span></td>")
        rows.append(f'<tr{" class=bad" if bad else ""}>' + "".join(cells) + "</tr>")
    more = (f'<p class="more">{escape(plural(left_out, "more row"))} (see --format json).</p>'
            if left_out else "")
    return (f'<div class="table-wrap"><table>{colgroup}<thead><tr>{head_html}</tr></thead><tbody>'
            f"{''.join(rows)}</tbody></table></div>{more}")


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
        out.append('<h2 id="over-time">Failures and retries over time</h2><figure>'
                   + time_chart(ot[cols.BUCKET].tolist(), series,
                                title="Failures and retries over time")
                   + "<figcaption>Events per bucket of "
                   + escape(_bucket_text(ot)) + ".</figcaption></figure>")
    slow = report.slow_tasks
    runs = slow.loc[slow[cols.COUNT] > 0].head(_CHART_TASKS) if not slow.empty else slow
    if not runs.empty:
        out.append('<h2 id="run-times">Run time percentiles per task</h2><figure>'
                   + percentile_bars(
                       runs[schema.TASK_NAME].astype(str).tolist(),
                       {"p50": runs[cols.P50_MS].astype(float).tolist(),
                        "p95": runs[cols.P95_MS].astype(float).tolist(),
                        "p99": runs[cols.P99_MS].astype(float).tolist()},
                       title="Run time percentiles per task (ms)", log=True)
                   + "<figcaption>Slowest p95 first; milliseconds, on a log scale."
                   "</figcaption></figure>")
    waits = slow.loc[slow[cols.WAITS] > 0].sort_values(cols.WAIT_P95_MS, ascending=False).head(
        _CHART_TASKS) if not slow.empty else slow
    if not waits.empty:
        out.append('<h2 id="queue-waits">Queue wait (received → started) per task</h2><figure>'
                   + percentile_bars(
                       waits[schema.TASK_NAME].astype(str).tolist(),
                       {"p50": waits[cols.WAIT_P50_MS].astype(float).tolist(),
                        "p95": waits[cols.WAIT_P95_MS].astype(float).tolist()},
                       title="Queue wait per task (ms)", log=True)
                   + "<figcaption>Milliseconds, on a log scale.</figcaption></figure>")
    return "".join(out)


def _bucket_text(ot: pd.DataFrame) -> str:
    if len(ot) < 2:
        return "the whole window"
    step = pd.Timestamp(ot[cols.BUCKET].iloc[1]) - pd.Timestamp(ot[cols.BUCKET].iloc[0])
    seconds = step.total_seconds()
    if seconds < 60:
        return _amount(seconds, "second")
    return _amount(seconds / 60, "minute") if seconds < 3600 else _amount(seconds / 3600, "hour")


def _amount(value: float, unit: str) -> str:
    """``1 second``, ``1.5 seconds``, ``30 seconds``."""
    return f"{value:g} {unit}" + ("" if value == 1 else "s")


_CHART_ANCHORS = (("over-time", "Over time"), ("run-times", "Run times"),
                  ("queue-waits", "Queue waits"))


def render_html(report: Report) -> str:
    """The whole report as one HTML document (a str)."""
    summary = summary_lines(report)
    findings = dict(summary).get("Findings", "healthy")
    bad = findings != "healthy"
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in summary
                 if k != "Findings")
    sections = "".join(
        f'<h2 id="{sec.key.replace("_", "-")}">{escape(sec.title)}</h2>'
        f"{_table(getattr(report, sec.key), sec)}"
        for sec in SECTIONS
    )
    charts = _charts(report)
    toc = [(key, title) for key, title in _CHART_ANCHORS if f'id="{key}"' in charts]
    toc += [(sec.key.replace("_", "-"), sec.title) for sec in SECTIONS]
    nav = '<nav class="toc" aria-label="Sections">' + "\n".join(
        f'<a href="#{key}">{escape(title)}</a>' for key, title in toc) + "</nav>"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>rhesis-logs report</title><style>{_CSS}</style></head><body>"
        "<h1>rhesis-logs report</h1>"
        f'<p class="findings{" bad" if bad else ""}"><b>Findings:</b> {escape(findings)}</p>'
        f"{_cards(report)}<dl class=\"summary\">{dl}</dl>{nav}{charts}{sections}"
        "</body></html>\n"
    )

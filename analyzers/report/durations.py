"""Slow tasks: run time percentiles per task, and queue wait (received -> started).

    >>> slow_tasks(frame)
       task_name  count  p50_ms  p95_ms  p99_ms  max_ms  mean_ms  waits  wait_p50_ms ...

Run time is ``duration_ms`` of the events that close an execution (succeeded, failed,
retried, revoked). Queue wait is ``queue_wait_ms`` of ``task_started``; where a reader could
not fill it (plain Celery text has no started line with a wait), it is the time between the
``task_received`` and ``task_started`` lines of the same task id and retry number. Rows are
sorted by p95, slowest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from instrumentation import schema as s

from . import columns as c
from ._util import Codes, empty, event_is, keys, numbers, pick, task_codes, times
from .failures import UNKNOWN

_MAX_RETRY = 1023  # retry numbers above this share a key (no task retries that often)

COLUMNS = (
    s.TASK_NAME, c.COUNT, c.P50_MS, c.P95_MS, c.P99_MS, c.MAX_MS, c.MEAN_MS,
    c.WAITS, c.WAIT_P50_MS, c.WAIT_P95_MS, c.WAIT_MAX_MS,
)


def _percentiles(values: pd.Series, by: pd.Series, names: tuple[str, ...],
                 qs: tuple[float, ...]) -> pd.DataFrame:
    g = values.groupby(by, sort=False, observed=True)
    q = g.quantile(list(qs)).unstack()
    q.columns = list(names)
    return q


def _queue_waits(frame: pd.DataFrame, ids: Codes | None) -> pd.DataFrame:
    started = event_is(frame, s.Event.TASK_STARTED)
    rows = pick(frame, started, (s.TASK_NAME, s.QUEUE_WAIT_MS))
    wait = numbers(rows, s.QUEUE_WAIT_MS).to_numpy(copy=True)
    missing = np.isnan(wait)
    if missing.any():
        # Fall back to the received line of the same id and retry number, matched on one
        # integer key (task code, retry number): no string merge over a million rows.
        received = event_is(frame, s.Event.TASK_RECEIVED)
        codes, _ = task_codes(frame, ids)
        retry_no = numbers(frame, s.RETRIES).fillna(0).clip(0, _MAX_RETRY).to_numpy()
        key = codes * (_MAX_RETRY + 1) + retry_no.astype(np.int64)
        t = times(frame)
        micros = t.to_numpy(dtype="datetime64[us]").view(np.int64)
        ok = (codes >= 0) & t.notna().to_numpy(bool)
        rec = received & ok
        when_received = pd.Series(micros[rec], index=key[rec])
        when_received = when_received[~when_received.index.duplicated(keep="last")]
        positions = np.flatnonzero(started)[missing]
        matched = when_received.reindex(key[positions]).to_numpy(dtype="float64")
        gap_ms = (micros[positions] - matched) / 1000.0
        gap_ms[~ok[positions] | (gap_ms < 0)] = np.nan
        wait[missing] = gap_ms
    return pd.DataFrame({s.TASK_NAME: keys(rows, s.TASK_NAME, UNKNOWN), "_wait": wait})


def slow_tasks(frame: pd.DataFrame, *, ids: Codes | None = None) -> pd.DataFrame:
    """p50/p95/p99/max/mean run time and p50/p95/max queue wait per task name."""
    finished = pick(frame, event_is(frame, s.FINISHED_EVENTS), (s.TASK_NAME, s.DURATION_MS))
    dur = numbers(finished, s.DURATION_MS)
    have = dur.notna()
    names = keys(finished, s.TASK_NAME, UNKNOWN)[have]
    dur = dur[have]
    waits = _queue_waits(frame, ids).dropna(subset=["_wait"])
    if dur.empty and waits.empty:
        return empty(COLUMNS)

    parts: list[pd.DataFrame] = []
    if not dur.empty:
        g = dur.groupby(names, sort=False, observed=True)
        run = _percentiles(dur, names, (c.P50_MS, c.P95_MS, c.P99_MS), (0.5, 0.95, 0.99))
        run[c.COUNT] = g.size()
        run[c.MAX_MS] = g.max()
        run[c.MEAN_MS] = g.mean()
        parts.append(run)
    if not waits.empty:
        w = waits["_wait"]
        by = waits[s.TASK_NAME]
        qw = _percentiles(w, by, (c.WAIT_P50_MS, c.WAIT_P95_MS), (0.5, 0.95))
        gw = w.groupby(by, sort=False, observed=True)
        qw[c.WAITS] = gw.size()
        qw[c.WAIT_MAX_MS] = gw.max()
        parts.append(qw)
    out = pd.concat(parts, axis=1)
    out.index = pd.Index(out.index.astype(str), name=s.TASK_NAME)
    out = out.reset_index()
    for name in COLUMNS:
        if name not in out.columns:
            out[name] = float("nan")
    out[c.COUNT] = out[c.COUNT].fillna(0).astype("int64")
    out[c.WAITS] = out[c.WAITS].fillna(0).astype("int64")
    out = out.sort_values([c.P95_MS, c.WAIT_P95_MS], ascending=False, na_position="last")
    return out.reset_index(drop=True)[list(COLUMNS)].round(3)

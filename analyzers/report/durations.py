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

from instrumentation import schema

from . import columns as cols
from .failures import UNKNOWN
from .kernels import Codes, event_is, pick, task_codes
from .values import empty, keys, numbers, times

_MAX_RETRY = 1023  # retry numbers above this share a key (no task retries that often)

COLUMNS = (
    schema.TASK_NAME, cols.COUNT, cols.P50_MS, cols.P95_MS, cols.P99_MS, cols.MAX_MS, cols.MEAN_MS,
    cols.WAITS, cols.WAIT_P50_MS, cols.WAIT_P95_MS, cols.WAIT_MAX_MS,
)


def _groups(by: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Group numbers and labels as ``groupby(by, sort=False, observed=True)`` has them."""
    codes, uniques = pd.factorize(by)  # first appearance; a categorical keeps its dtype
    return codes, pd.Index(uniques, name=by.name)


def _quantiles(values: np.ndarray, groups: np.ndarray, n_groups: int,
               qs: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: the ``qs`` quantiles (one column each), the count and the maximum.

    pandas' ``groupby().quantile`` argsorts every group; the few order statistics a quantile
    needs come out of ``np.partition`` in linear time. The interpolation is pandas' own
    (``lo + (hi - lo) * frac``, ``frac = q * (n - 1) % 1``), so the figures match it to the bit.
    """
    small = np.int16 if n_groups < 2**15 else np.int64  # int16 sorts by radix, in ~1 ms
    order = np.argsort(groups.astype(small), kind="stable")
    counts = np.bincount(groups, minlength=n_groups)
    ends = np.cumsum(counts)
    grouped = values[order]
    out = np.empty((n_groups, len(qs)), dtype=np.float64)
    peak = np.empty(n_groups, dtype=np.float64)
    q = np.asarray(qs, dtype=np.float64)
    for g, (end, n) in enumerate(zip(ends, counts, strict=True)):
        part = grouped[end - n : end]
        pos = q * float(n - 1)
        lo = pos.astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        frac = pos % 1
        part.partition(np.unique(np.concatenate([lo, hi])))
        low, high = part[lo], part[hi]
        out[g] = np.where(frac == 0.0, low, low + (high - low) * frac)
        peak[g] = part.max()
    return out, counts, peak


def _stats(values: np.ndarray, by: pd.Series, quantiles: dict[str, float], count: str,
           peak: str, mean: str | None = None) -> pd.DataFrame:
    """Quantiles, count, maximum (and mean) of ``values`` per ``by``, one row per group."""
    groups, index = _groups(by)
    if (np.signbit(values) & (values == 0)).any():
        # -0.0 and 0.0 tie: which one a quantile or the maximum shows is up to the sort.
        # Keep pandas' choice rather than NumPy's (a log of negative zeros is rare).
        series = pd.Series(values, index=by.index)
        g = series.groupby(by, sort=False, observed=True)
        table = g.quantile(list(quantiles.values())).unstack()
        table.columns = list(quantiles)
        table[count], table[peak] = g.size(), g.max()
    else:
        q, n, top = _quantiles(values, groups, len(index), tuple(quantiles.values()))
        table = pd.DataFrame(q, index=index, columns=list(quantiles))
        table[count], table[peak] = n, top
    if mean is not None:
        # pandas' grouped mean sums with Kahan compensation: kept, so means match to the bit.
        means = pd.Series(values).groupby(groups).mean().to_numpy()
        table[mean] = pd.Series(means, index=index)
    return table


def _queue_waits(frame: pd.DataFrame, ids: Codes | None) -> pd.DataFrame:
    started = event_is(frame, schema.Event.TASK_STARTED)
    rows = pick(frame, started, (schema.TASK_NAME, schema.QUEUE_WAIT_MS))
    wait = numbers(rows, schema.QUEUE_WAIT_MS).to_numpy(copy=True)
    missing = np.isnan(wait)
    if missing.any():
        wait[missing] = _received_gaps(frame, ids, np.flatnonzero(started)[missing])
    return pd.DataFrame({schema.TASK_NAME: keys(rows, schema.TASK_NAME, UNKNOWN), "_wait": wait})


def _received_gaps(frame: pd.DataFrame, ids: Codes | None, started: np.ndarray) -> np.ndarray:
    """Milliseconds from the ``task_received`` line of the same id and retry number to each
    ``started`` row (positions); NaN where there is none, or it is later.

    Matched on one integer key (task code, retry number): no string merge over a million rows.
    """
    codes, first = task_codes(frame, ids)
    t = times(frame)
    micros = t.to_numpy(dtype="datetime64[us]").view(np.int64)
    ok = (codes >= 0) & t.notna().to_numpy(bool)
    received = np.flatnonzero(event_is(frame, schema.Event.TASK_RECEIVED) & ok)
    retry_no = _retry_numbers(frame, np.concatenate([received, started]))
    width = int(retry_no.max(initial=0)) + 1
    key = codes[np.concatenate([received, started])] * width + retry_no
    rec_key, start_key = key[: len(received)], key[len(received):]
    matched = _last_value(rec_key, micros[received], start_key, len(first) * width)
    gap_ms = (micros[started] - matched) / 1000.0
    gap_ms[~ok[started] | (gap_ms < 0)] = np.nan
    return gap_ms


def _retry_numbers(frame: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """The retry number of the rows at ``positions``: 0 when missing, at most ``_MAX_RETRY``."""
    retries = numbers(frame, schema.RETRIES).to_numpy()[positions]
    return np.clip(np.nan_to_num(retries, nan=0.0), 0, _MAX_RETRY).astype(np.int64)


#: A lookup table indexed by key is used up to this many slots per row of the frame.
_DENSE_SLOTS = 4


def _last_value(keys_: np.ndarray, values: np.ndarray, wanted: np.ndarray,
                n_keys: int) -> np.ndarray:
    """For each of ``wanted``, the value of the last row with that key (NaN if none).

    Keys are small integers (task code times retry numbers seen): a table indexed by key
    answers with one scatter and one gather. Past a few slots per row, a hashed lookup.
    """
    if not len(keys_):  # no row to look up: nothing found
        return np.full(len(wanted), np.nan)
    if n_keys <= _DENSE_SLOTS * (len(keys_) + len(wanted)) + 1024:
        # The last row of each key: NumPy does not promise which of repeated indices an
        # assignment keeps, so the latest row number per key is taken with maximum.at.
        last = np.full(n_keys + 1, -1, dtype=np.int64)  # the extra slot: negative keys
        np.maximum.at(last, keys_, np.arange(len(keys_), dtype=np.int64))
        found = last[np.where(wanted >= 0, wanted, n_keys)]
        return np.where(found >= 0, values[np.maximum(found, 0)].astype(np.float64), np.nan)
    latest = pd.Series(values, index=keys_)
    latest = latest[~latest.index.duplicated(keep="last")]
    return latest.reindex(wanted).to_numpy(dtype="float64")


def slow_tasks(frame: pd.DataFrame, *, ids: Codes | None = None) -> pd.DataFrame:
    """p50/p95/p99/max/mean run time and p50/p95/max queue wait per task name."""
    finished = pick(
        frame, event_is(frame, schema.FINISHED_EVENTS), (schema.TASK_NAME, schema.DURATION_MS)
    )
    dur = numbers(finished, schema.DURATION_MS)
    have = dur.notna()
    names = keys(finished, schema.TASK_NAME, UNKNOWN)[have]
    dur = dur[have]
    waits = _queue_waits(frame, ids).dropna(subset=["_wait"])
    if dur.empty and waits.empty:
        return empty(COLUMNS)

    parts: list[pd.DataFrame] = []
    if not dur.empty:
        parts.append(_stats(
            dur.to_numpy(), names, {cols.P50_MS: 0.5, cols.P95_MS: 0.95, cols.P99_MS: 0.99},
            count=cols.COUNT, peak=cols.MAX_MS, mean=cols.MEAN_MS))
    if not waits.empty:
        parts.append(_stats(
            waits["_wait"].to_numpy(), waits[schema.TASK_NAME],
            {cols.WAIT_P50_MS: 0.5, cols.WAIT_P95_MS: 0.95}, count=cols.WAITS,
            peak=cols.WAIT_MAX_MS))
    out = pd.concat(parts, axis=1)
    out.index = pd.Index(out.index.astype(str), name=schema.TASK_NAME)
    out = out.reset_index()
    for name in COLUMNS:
        if name not in out.columns:
            out[name] = float("nan")
    out[cols.COUNT] = out[cols.COUNT].fillna(0).astype("int64")
    out[cols.WAITS] = out[cols.WAITS].fillna(0).astype("int64")
    out = out.sort_values([cols.P95_MS, cols.WAIT_P95_MS], ascending=False, na_position="last")
    return out.reset_index(drop=True)[list(COLUMNS)].round(3)

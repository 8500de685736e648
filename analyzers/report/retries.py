"""Retries: by task and exception, retry storms, and how retried tasks ended.

    >>> retries(frame)          # task_name, exception_type, count, task_ids, max_retries, ...
    >>> retry_storms(frame)     # scope ("task_id" | "task_name"), key, retries, norm, ratio
    >>> retry_outcomes(frame)   # per task_name: retried_ids, recovered, exhausted, pending

A *retry storm* is retrying far above the norm, at two scales:

* one task id retried ``min_retries`` times or more and at least ``factor`` times the median
  retries per retried id of the same task name (the other id's count when there are two, 1
  when it is alone): a poison message, a stuck tenant;
* one task name whose retries in one time bucket reach ``min_retries`` and ``factor`` times its
  median per-bucket count over the window (the span of all the frame's lines), empty buckets
  included (a dependency went down).

Celery keeps the task id across retries, so outcomes are per id: *recovered* if the id later
succeeded, *exhausted* if it failed, *pending* if the logs end before either.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from instrumentation import schema

from . import columns as cols
from .failures import UNKNOWN
from .kernels import Codes, event_is, factorize, pick, rows_at, task_codes
from .timeseries import bucket_size
from .values import empty, occurrences, text, times

RETRY_COLUMNS = (
    schema.TASK_NAME,
    schema.EXCEPTION_TYPE,
    cols.COUNT,
    cols.TASK_IDS,
    cols.MAX_RETRIES,
    cols.TENANTS,
    cols.TENANT_IDS,
    cols.FIRST_SEEN,
    cols.LAST_SEEN,
    cols.EXAMPLE_TASK_ID,
    cols.EXAMPLE_MESSAGE,
)
STORM_COLUMNS = (
    cols.SCOPE,
    cols.KEY,
    schema.TASK_NAME,
    schema.ORGANIZATION_ID,
    cols.COUNT,
    cols.NORM,
    cols.RATIO,
    cols.FIRST_SEEN,
    cols.LAST_SEEN,
)
OUTCOME_COLUMNS = (schema.TASK_NAME, cols.RETRIED_IDS, cols.RECOVERED, cols.EXHAUSTED, cols.PENDING)

SCOPE_TASK_ID = "task_id"
SCOPE_TASK_NAME = "task_name"


def retry_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``task_retried`` lines with the columns :func:`retries` and :func:`retry_storms`
    read (names and exception types filled). Pass it to both as ``rows=`` to pick it once."""
    rows = pick(
        frame,
        event_is(frame, schema.Event.TASK_RETRIED),
        (
            schema.TIME,
            schema.TASK_NAME,
            schema.EXCEPTION_TYPE,
            schema.TASK_ID,
            schema.ORGANIZATION_ID,
            schema.EXCEPTION_MESSAGE,
            schema.RETRIES,
        ),
    )
    return pd.DataFrame(
        {
            schema.TIME: times(rows),
            schema.TASK_NAME: text(rows, schema.TASK_NAME, UNKNOWN),
            schema.EXCEPTION_TYPE: text(rows, schema.EXCEPTION_TYPE, UNKNOWN),
            schema.TASK_ID: text(rows, schema.TASK_ID),
            schema.ORGANIZATION_ID: rows[schema.ORGANIZATION_ID],
            schema.EXCEPTION_MESSAGE: rows[schema.EXCEPTION_MESSAGE],
            schema.RETRIES: pd.to_numeric(rows[schema.RETRIES], errors="coerce"),
        },
        index=rows.index,
    )


def retries(frame: pd.DataFrame, *, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (task name, exception type): retry events, distinct ids, most retries."""
    rows = retry_rows(frame) if rows is None else rows
    if rows.empty:
        return empty(RETRY_COLUMNS)
    g = rows.groupby([schema.TASK_NAME, schema.EXCEPTION_TYPE], sort=False, dropna=False)
    out = occurrences(g, **{cols.TASK_IDS: (schema.TASK_ID, "nunique"),
                             cols.MAX_RETRIES: (schema.RETRIES, "max")})
    # The retries field counts retries *before* this one: the n-th retry logs retries=n-1.
    out[cols.MAX_RETRIES] = out[cols.MAX_RETRIES] + 1
    out = out.reset_index().sort_values(cols.COUNT, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(RETRY_COLUMNS)]


#: What a storm row tells about its retry lines (first tenant, first and last time).
_STORM_AGG = {
    cols.COUNT: (schema.TIME, "size"),
    schema.ORGANIZATION_ID: (schema.ORGANIZATION_ID, "first"),
    cols.FIRST_SEEN: (schema.TIME, "min"),
    cols.LAST_SEEN: (schema.TIME, "max"),
}


def retry_storms(
    frame: pd.DataFrame,
    *,
    factor: float = 5.0,
    min_retries: int = 5,
    bucket: pd.Timedelta | None = None,
    rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Task ids and task names retrying far above their norm (see the module docstring).

    Counts and norms are integer arithmetic over all retry lines; the lines of the few groups
    that storm are then aggregated for the table (grouping every id costs ~10x as much).
    """
    rows = retry_rows(frame) if rows is None else rows
    if rows.empty:
        return empty(STORM_COLUMNS)
    found = [_id_storms(rows, factor, min_retries)]
    if rows[schema.TIME].notna().any():
        found.append(_bucket_storms(frame, rows, factor, min_retries, bucket))
    out = pd.concat([f for f in found if not f.empty] or [empty(STORM_COLUMNS)])
    if out.empty:
        return empty(STORM_COLUMNS)
    out = out.sort_values(cols.RATIO, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(STORM_COLUMNS)]


def _id_storms(rows: pd.DataFrame, factor: float, min_retries: int) -> pd.DataFrame:
    """One task id against the retried ids of its task name."""
    named = np.flatnonzero(rows[schema.TASK_ID].notna().to_numpy(bool))
    names, _ = pd.factorize(rows[schema.TASK_NAME].to_numpy()[named])
    ids, _ = factorize(rows[schema.TASK_ID].iloc[named])
    # (name, id) pairs numbered by first appearance, as groupby(sort=False) orders them.
    pair, _ = pd.factorize(names * np.int64(ids.max(initial=0) + 1) + ids)
    count = np.bincount(pair)
    pair_name = np.zeros(len(count), dtype=np.int64)
    pair_name[pair] = names
    # The norm is the median retries per retried id of the task name. With two ids that
    # median would sit halfway to the storm itself, so the norm is the other id's count; a
    # lone retried id has a norm of 1 (one retry is normal).
    norm, siblings, total = _per_group_median(count, pair_name)
    norm = np.where(siblings <= 1, 1.0, np.where(siblings == 2, total - count, norm))
    norm = np.clip(norm, 1.0, None)
    ratio = count / norm
    storm = np.flatnonzero((count >= min_retries) & (ratio >= factor))
    if not len(storm):
        return empty(STORM_COLUMNS)
    lines = named[np.isin(pair, storm)]
    out = rows.iloc[lines].groupby([schema.TASK_NAME, schema.TASK_ID], sort=False).agg(**_STORM_AGG)
    out = out.reset_index()
    out[cols.NORM], out[cols.RATIO] = norm[storm], ratio[storm]
    out[cols.SCOPE] = SCOPE_TASK_ID
    out[cols.KEY] = out[schema.TASK_ID]
    return out


def _per_group_median(values: np.ndarray, groups: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each element: the median, size and sum of its group (``transform`` style)."""
    order = np.lexsort((values, groups))
    size = np.bincount(groups)
    total = np.bincount(groups, weights=values)
    ends = np.cumsum(size)
    starts = ends - size
    ordered = values[order].astype(np.float64)
    low = ordered[starts + (size - 1) // 2]
    high = ordered[starts + size // 2]
    median = (low + high) / 2  # the middle value twice when the size is odd
    return median[groups], size[groups], total[groups]


def _bucket_storms(frame: pd.DataFrame, rows: pd.DataFrame, factor: float, min_retries: int,
                   bucket: pd.Timedelta | None) -> pd.DataFrame:
    """One task name against its own per-bucket norm."""
    # Buckets span the whole window, not just the retries: quiet time is part of the norm.
    everything = times(frame)
    start, end = everything.min(), everything.max()
    # At least a minute: a second-long burst of five retries is not yet a storm.
    size = bucket or bucket_size(end - start, minimum=pd.Timedelta("1min"))
    edges = pd.date_range(start.floor(size), end.floor(size), freq=size)
    n_buckets = max(len(edges), 1)
    b = rows[schema.TIME].dt.floor(size)
    timed = np.flatnonzero(b.notna().to_numpy(bool))
    names, labels = pd.factorize(rows[schema.TASK_NAME].to_numpy()[timed])
    number = ((b.iloc[timed] - edges[0]) // size).to_numpy(dtype=np.int64)
    # Retries per (task name, bucket), every bucket of the window (the empty ones as 0).
    counts = np.bincount(names * n_buckets + number, minlength=len(labels) * n_buckets)
    counts = counts.reshape(len(labels), n_buckets)
    norms = np.clip(np.median(counts.astype(np.float64), axis=1), 1.0, None)
    ratio = counts / norms[:, None]
    hot = (counts > 0) & (counts >= min_retries) & (ratio >= factor)
    if not hot.any():
        return empty(STORM_COLUMNS)
    lines = timed[hot[names, number]]
    picked = rows.iloc[lines].assign(**{cols.BUCKET: b.iloc[lines]})
    out = picked.groupby([schema.TASK_NAME, cols.BUCKET]).agg(**_STORM_AGG).reset_index()
    norm_of = pd.Series(norms, index=pd.Index(labels, dtype=object))
    out[cols.NORM] = out[schema.TASK_NAME].map(norm_of).astype("float64")
    out[cols.RATIO] = out[cols.COUNT] / out[cols.NORM]
    out[cols.SCOPE] = SCOPE_TASK_NAME
    out[cols.KEY] = out[schema.TASK_NAME]
    return out


def retry_outcomes(frame: pd.DataFrame, *, ids: Codes | None = None) -> pd.DataFrame:
    """Per task name: ids that retried, and how many recovered, exhausted or are pending."""
    retried = event_is(frame, schema.Event.TASK_RETRIED)
    if not retried.any():
        return empty(OUTCOME_COLUMNS)
    ok = event_is(frame, schema.Event.TASK_SUCCEEDED)
    bad = event_is(frame, schema.Event.TASK_FAILED, schema.Event.TASK_INTERNAL_ERROR)
    codes, first = task_codes(frame, ids)
    n = len(first)
    valid = codes >= 0

    # Per id counts with bincount: no Python loop over rows, no groupby over strings.
    # (np.compress, not codes[mask]: NumPy's boolean indexing is ~5x slower here.)
    def per_id(mask: np.ndarray) -> np.ndarray:
        return np.bincount(np.compress(mask & valid, codes), minlength=n)

    n_ok, n_bad = per_id(ok), per_id(bad)
    # Each retried id's first retry line (in row order): its task name is the id's.
    lines = np.flatnonzero(retried & valid)
    _, first_line = np.unique(codes[lines], return_index=True)
    heads = np.sort(lines[first_line])
    names = text(rows_at(frame, heads, (schema.TASK_NAME,)), schema.TASK_NAME, UNKNOWN)
    retried_ids = codes[heads]
    recovered = n_ok[retried_ids] > 0
    outcomes = {
        cols.RETRIED_IDS: np.ones(len(heads), dtype=bool),
        cols.RECOVERED: recovered,
        cols.EXHAUSTED: ~recovered & (n_bad[retried_ids] > 0),
        cols.PENDING: ~recovered & (n_bad[retried_ids] == 0),
    }
    # groupby(task name, sort=True).sum(), as a bincount over the sorted names' codes.
    group, labels = pd.factorize(names.to_numpy(dtype=object), sort=True)
    out = pd.DataFrame({schema.TASK_NAME: labels})
    for name, flags in outcomes.items():
        out[name] = np.bincount(group, weights=flags, minlength=len(labels)).astype("int64")
    out = out.sort_values(cols.RETRIED_IDS, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(OUTCOME_COLUMNS)]

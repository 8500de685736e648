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

from instrumentation import schema as s

from . import columns as c
from ._util import Codes, col, empty, event_is, join_unique, pick, task_codes, text, times
from .failures import UNKNOWN
from .timeseries import bucket_size

RETRY_COLUMNS = (
    s.TASK_NAME, s.EXCEPTION_TYPE, c.COUNT, c.TASK_IDS, c.MAX_RETRIES, c.TENANTS,
    c.TENANT_IDS, c.FIRST_SEEN, c.LAST_SEEN, c.EXAMPLE_TASK_ID, c.EXAMPLE_MESSAGE,
)
STORM_COLUMNS = (
    c.SCOPE, c.KEY, s.TASK_NAME, s.ORGANIZATION_ID, c.COUNT, c.NORM, c.RATIO,
    c.FIRST_SEEN, c.LAST_SEEN,
)
OUTCOME_COLUMNS = (s.TASK_NAME, c.RETRIED_IDS, c.RECOVERED, c.EXHAUSTED, c.PENDING)

SCOPE_TASK_ID = "task_id"
SCOPE_TASK_NAME = "task_name"


def _retry_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = pick(frame, event_is(frame, s.Event.TASK_RETRIED), (
        s.TIME, s.TASK_NAME, s.EXCEPTION_TYPE, s.TASK_ID, s.ORGANIZATION_ID,
        s.EXCEPTION_MESSAGE, s.RETRIES))
    return pd.DataFrame(
        {
            s.TIME: times(rows),
            s.TASK_NAME: text(rows, s.TASK_NAME, UNKNOWN),
            s.EXCEPTION_TYPE: text(rows, s.EXCEPTION_TYPE, UNKNOWN),
            s.TASK_ID: text(rows, s.TASK_ID),
            s.ORGANIZATION_ID: col(rows, s.ORGANIZATION_ID),
            s.EXCEPTION_MESSAGE: col(rows, s.EXCEPTION_MESSAGE),
            s.RETRIES: pd.to_numeric(col(rows, s.RETRIES), errors="coerce"),
        },
        index=rows.index,
    )


def retries(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (task name, exception type): retry events, distinct ids, most retries."""
    rows = _retry_rows(frame)
    if rows.empty:
        return empty(RETRY_COLUMNS)
    g = rows.groupby([s.TASK_NAME, s.EXCEPTION_TYPE], sort=False, dropna=False)
    out = g.agg(
        **{
            c.COUNT: (s.TIME, "size"),
            c.TASK_IDS: (s.TASK_ID, "nunique"),
            c.MAX_RETRIES: (s.RETRIES, "max"),
            c.TENANTS: (s.ORGANIZATION_ID, "nunique"),
            c.FIRST_SEEN: (s.TIME, "min"),
            c.LAST_SEEN: (s.TIME, "max"),
            c.EXAMPLE_TASK_ID: (s.TASK_ID, "first"),
            c.EXAMPLE_MESSAGE: (s.EXCEPTION_MESSAGE, "first"),
        }
    )
    out[c.TENANT_IDS] = g[s.ORGANIZATION_ID].agg(join_unique)
    # The retries field counts retries *before* this one: the n-th retry logs retries=n-1.
    out[c.MAX_RETRIES] = out[c.MAX_RETRIES] + 1
    out = out.reset_index().sort_values(c.COUNT, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(RETRY_COLUMNS)]


def retry_storms(
    frame: pd.DataFrame,
    *,
    factor: float = 5.0,
    min_retries: int = 5,
    bucket: pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Task ids and task names retrying far above their norm (see the module docstring)."""
    rows = _retry_rows(frame)
    if rows.empty:
        return empty(STORM_COLUMNS)
    found: list[pd.DataFrame] = []

    # One id against the retried ids of its task name.
    per_id = rows.groupby([s.TASK_NAME, s.TASK_ID], sort=False).agg(
        **{
            c.COUNT: (s.TIME, "size"),
            s.ORGANIZATION_ID: (s.ORGANIZATION_ID, "first"),
            c.FIRST_SEEN: (s.TIME, "min"),
            c.LAST_SEEN: (s.TIME, "max"),
        }
    ).reset_index()
    # The norm is the median retries per retried id of the task name. With two ids that
    # median would sit halfway to the storm itself, so the norm is the other id's count; a
    # lone retried id has a norm of 1 (one retry is normal).
    per_id[c.NORM] = per_id.groupby(s.TASK_NAME)[c.COUNT].transform("median")
    siblings = per_id.groupby(s.TASK_NAME)[c.COUNT].transform("size")
    alone = siblings <= 1
    per_id.loc[alone, c.NORM] = 1.0
    two = siblings == 2
    # With two ids, the sibling is "the other one".
    per_id.loc[two, c.NORM] = (
        per_id.loc[two].groupby(s.TASK_NAME)[c.COUNT].transform("sum") - per_id.loc[two, c.COUNT]
    )
    per_id[c.NORM] = per_id[c.NORM].clip(lower=1.0)
    per_id[c.RATIO] = per_id[c.COUNT] / per_id[c.NORM]
    storms = per_id.loc[(per_id[c.COUNT] >= min_retries) & (per_id[c.RATIO] >= factor)].copy()
    storms[c.SCOPE] = SCOPE_TASK_ID
    storms[c.KEY] = storms[s.TASK_ID]
    found.append(storms)

    # One task name against its own per-bucket norm.
    t = rows[s.TIME]
    if t.notna().any():
        # Buckets span the whole window, not just the retries: quiet time is part of the norm.
        everything = times(frame)
        start, end = everything.min(), everything.max()
        # At least a minute: a second-long burst of five retries is not yet a storm.
        size = bucket or bucket_size(end - start, minimum=pd.Timedelta("1min"))
        edges = pd.date_range(start.floor(size), end.floor(size), freq=size)
        b = t.dt.floor(size)
        per_bucket = rows.assign(**{c.BUCKET: b}).groupby([s.TASK_NAME, c.BUCKET]).agg(
            **{
                c.COUNT: (s.TIME, "size"),
                s.ORGANIZATION_ID: (s.ORGANIZATION_ID, "first"),
                c.FIRST_SEEN: (s.TIME, "min"),
                c.LAST_SEEN: (s.TIME, "max"),
            }
        ).reset_index()
        # Median over all buckets of the window, counting the empty ones as zero.
        n_buckets = max(len(edges), 1)
        counts = per_bucket.pivot_table(
            index=s.TASK_NAME, columns=c.BUCKET, values=c.COUNT, aggfunc="sum", fill_value=0
        )
        pad = n_buckets - counts.shape[1]
        values = counts.to_numpy(dtype="float64")
        if pad > 0:
            values = np.hstack([values, np.zeros((values.shape[0], pad))])
        norms = pd.Series(np.median(values, axis=1), index=counts.index).clip(lower=1.0)
        per_bucket[c.NORM] = per_bucket[s.TASK_NAME].map(norms).astype("float64")
        per_bucket[c.RATIO] = per_bucket[c.COUNT] / per_bucket[c.NORM]
        hot = per_bucket.loc[
            (per_bucket[c.COUNT] >= min_retries) & (per_bucket[c.RATIO] >= factor)
        ].copy()
        hot[c.SCOPE] = SCOPE_TASK_NAME
        hot[c.KEY] = hot[s.TASK_NAME]
        found.append(hot)

    out = pd.concat([f for f in found if not f.empty] or [empty(STORM_COLUMNS)])
    if out.empty:
        return empty(STORM_COLUMNS)
    out = out.sort_values(c.RATIO, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(STORM_COLUMNS)]


def retry_outcomes(frame: pd.DataFrame, *, ids: Codes | None = None) -> pd.DataFrame:
    """Per task name: ids that retried, and how many recovered, exhausted or are pending."""
    retried = event_is(frame, s.Event.TASK_RETRIED)
    if not retried.any():
        return empty(OUTCOME_COLUMNS)
    ok = event_is(frame, s.Event.TASK_SUCCEEDED)
    bad = event_is(frame, s.Event.TASK_FAILED, s.Event.TASK_INTERNAL_ERROR)
    codes, first = task_codes(frame, ids)
    n = len(first)
    valid = codes >= 0

    # Per id counts with bincount: no Python loop over rows, no groupby over strings.
    def per_id(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask & valid], minlength=n)

    n_retried, n_ok, n_bad = per_id(retried), per_id(ok), per_id(bad)
    has_retry = n_retried > 0
    # The task name of each retried id, from its retry lines.
    first = pick(frame, retried & valid, (s.TASK_NAME,))
    first["_code"] = codes[retried & valid]
    first = first.drop_duplicates("_code")
    names = pd.Series(
        text(first, s.TASK_NAME, UNKNOWN).to_numpy(dtype=object), index=first["_code"].to_numpy()
    )
    idx = np.flatnonzero(has_retry)
    per = pd.DataFrame(
        {
            s.TASK_NAME: names.reindex(idx).fillna(UNKNOWN).to_numpy(dtype=object),
            c.RETRIED_IDS: 1,
            c.RECOVERED: n_ok[idx] > 0,
            c.EXHAUSTED: (n_ok[idx] == 0) & (n_bad[idx] > 0),
            c.PENDING: (n_ok[idx] == 0) & (n_bad[idx] == 0),
        }
    )
    out = per.groupby(s.TASK_NAME, sort=True)[
        [c.RETRIED_IDS, c.RECOVERED, c.EXHAUSTED, c.PENDING]
    ].sum().astype("int64").reset_index()
    out = out.sort_values(c.RETRIED_IDS, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(OUTCOME_COLUMNS)]

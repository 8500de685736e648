"""Task outcomes over time, in buckets sized to the window (for charts and trend tables).

    >>> over_time(frame)            # bucket, received, succeeded, failed, retried
    >>> over_time(frame, bucket=pd.Timedelta("5min"))

Without ``bucket`` the size is chosen from the span of the logs so that there are at most
about 60 buckets (1 s, 5 s, 10 s, 30 s, 1 min, 5 min, 15 min, 1 h, 6 h, 1 day or 1 week).
Empty buckets are kept as zeros so that a chart's x axis is continuous time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from instrumentation import schema as s

from . import columns as c
from ._util import empty, event_is, times

SERIES: tuple[tuple[str, str], ...] = (
    (c.RECEIVED, s.Event.TASK_RECEIVED),
    (c.SUCCEEDED, s.Event.TASK_SUCCEEDED),
    (c.FAILED, s.Event.TASK_FAILED),
    (c.RETRIED, s.Event.TASK_RETRIED),
)
COLUMNS = (c.BUCKET, *(name for name, _ in SERIES))

_SIZES = ("1s", "5s", "10s", "30s", "1min", "5min", "15min", "1h", "6h", "1D", "7D")


def bucket_size(span: pd.Timedelta, max_buckets: int = 60,
                minimum: pd.Timedelta | None = None) -> pd.Timedelta:
    """The smallest readable bucket size (at least ``minimum``) giving at most
    ``max_buckets`` over ``span``."""
    for size in _SIZES:
        if minimum is not None and pd.Timedelta(size) < minimum:
            continue
        if span / pd.Timedelta(size) <= max_buckets:
            return pd.Timedelta(size)
    return pd.Timedelta(_SIZES[-1])


def over_time(frame: pd.DataFrame, bucket: pd.Timedelta | None = None) -> pd.DataFrame:
    """Counts of received, succeeded, failed and retried tasks per time bucket."""
    masks = {name: event_is(frame, event) for name, event in SERIES}
    t = times(frame)
    any_event = np.logical_or.reduce(list(masks.values())) & t.notna().to_numpy(bool)
    if not any_event.any():
        return empty(COLUMNS)
    when = t[any_event]
    start, end = when.min(), when.max()
    size = bucket or bucket_size(end - start)
    first = start.floor(size)
    index = pd.date_range(first, end.floor(size), freq=size, name=c.BUCKET)
    # Integer bucket numbers, then one bincount per series: no crosstab, no string keys.
    unit = np.timedelta64(int(size.value), "ns")
    offset = (t.to_numpy(dtype="datetime64[ns]") - first.tz_convert(None).to_datetime64())
    offset[~any_event] = np.timedelta64(0, "ns")  # NaT rows are not counted; keep them quiet
    number = (offset // unit).astype(np.int64)
    out = pd.DataFrame(index=index)
    for name, mask in masks.items():
        m = mask & any_event
        out[name] = np.bincount(number[m], minlength=len(index))[: len(index)]
    return out.reset_index()

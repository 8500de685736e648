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

from instrumentation import schema

from . import columns as cols
from .kernels import event_is
from .values import empty, times

SERIES: tuple[tuple[str, str], ...] = (
    (cols.RECEIVED, schema.Event.TASK_RECEIVED),
    (cols.SUCCEEDED, schema.Event.TASK_SUCCEEDED),
    (cols.FAILED, schema.Event.TASK_FAILED),
    (cols.RETRIED, schema.Event.TASK_RETRIED),
)
COLUMNS = (cols.BUCKET, *(name for name, _ in SERIES))

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
    ticks = t.to_numpy(dtype=f"datetime64[{t.dt.unit}]")  # the frame's own unit: no copy
    rows = np.flatnonzero(np.logical_or.reduce(list(masks.values())) & ~np.isnat(ticks))
    if not len(rows):
        return empty(COLUMNS)
    when = ticks[rows]
    start, end = t.iloc[rows[when.argmin()]], t.iloc[rows[when.argmax()]]
    size = bucket or bucket_size(end - start)
    first = start.floor(size)
    index = pd.date_range(first, end.floor(size), freq=size, name=cols.BUCKET)
    # Integer bucket numbers of the counted rows only, then one bincount over (bucket, series)
    # pairs: no crosstab, no string keys, no boolean selection of the rows of each series.
    unit = np.timedelta64(int(size.value), "ns")
    offset = when.astype("datetime64[ns]") - first.tz_convert(None).to_datetime64()
    number = (offset // unit).astype(np.int64)
    series = np.zeros(len(rows), dtype=np.int64)
    for k, mask in enumerate(masks.values()):
        series += k * mask[rows]  # the events differ, so a row is in one series only
    pairs = np.bincount(number * len(masks) + series, minlength=len(index) * len(masks))
    counts = pairs.reshape(-1, len(masks))[: len(index)]
    out = pd.DataFrame(index=index)
    for k, name in enumerate(masks):
        out[name] = counts[:, k]
    return out.reset_index()

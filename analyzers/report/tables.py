"""JSON-ready rows of a result table: the shape of every table in the JSON contract.

    from analyzers.report.tables import to_records

    to_records(report.failures)   # [{"task_name": ..., "first_seen": "2026-...Z", ...}, ...]

``Report.to_dict`` and the JSON renderer (timelines) both write tables through it, so a
timestamp or a missing value looks the same everywhere (``docs/report.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzers.rfc3339 import RFC3339_MICROS


def to_records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: timestamps as RFC 3339 strings, NaN/NA as None, numpy scalars as Python."""
    if frame.empty:
        return []
    # Column by column into Python lists, then zipped into rows: pandas' to_dict("records")
    # boxes every cell through its own checks, several times slower on a big table.
    names = list(frame.columns)
    columns = []
    for name in names:
        series = frame[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
            series.dtype
        ):
            values = series.dt.strftime(RFC3339_MICROS).astype(object)
        else:
            values = series.astype(object)
        values = values.where(series.notna(), None).tolist()
        columns.append([v.item() if isinstance(v, np.generic) else v for v in values])
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]

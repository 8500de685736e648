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
    out = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
            series.dtype
        ):
            iso = series.dt.strftime(RFC3339_MICROS)
            out[name] = iso.astype(object).where(series.notna(), None)
        else:
            out[name] = series.astype(object).where(series.notna(), None)
    rows = pd.DataFrame(out).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, np.generic):
                row[key] = value.item()
    return rows

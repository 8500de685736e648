"""Typed views of frame columns and empty result tables, as the report sections read them.

    from analyzers.report import values

    values.times(frame)                          # the time column, tz-aware UTC
    values.numbers(frame, schema.DURATION_MS)    # float64, NaN where absent
    values.text(frame, schema.WORKER, "?")       # plain strings, nulls filled
    values.empty([schema.TASK_ID, "count"])      # a result table with headers and no rows

Column access is strict: every frame the report receives has all of
``schema.FRAME_COLUMNS`` (``analyzers.frame.from_arrow`` builds it so, and
``build_report`` checks it once), so a misspelt name is a ``KeyError``, not a silent null.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from instrumentation import schema

from . import columns as cols

_STRING = "str"


def times(frame: pd.DataFrame) -> pd.Series:
    """The ``time`` column (tz-aware UTC: the frame's dtype)."""
    return frame[schema.TIME]


def numbers(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column as float64 with NaN for missing values."""
    column = frame[name]
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    ):
        # Already numbers (Int64, float64): one conversion, no parsing pass.
        return pd.Series(column.to_numpy(dtype="float64", na_value=np.nan), index=column.index,
                         name=name)
    return pd.to_numeric(column, errors="coerce").astype("float64")


def text(frame: pd.DataFrame, name: str, missing: str | None = None) -> pd.Series:
    """A string column as plain Python-string objects, ``missing`` filling the nulls."""
    c = frame[name]
    if isinstance(c.dtype, pd.CategoricalDtype) and c.cat.categories.dtype == _STRING:
        # Take the few categories by code: ``astype`` would convert row by row (~40 ms for
        # 300 k rows) to reach the same strings.
        values = c.cat.categories.array.take(c.cat.codes.to_numpy(), allow_fill=True)
        out = pd.Series(values, index=c.index, name=c.name)
    else:
        out = c.astype(_STRING) if c.dtype != _STRING else c
    if missing is not None:
        out = out.fillna(missing)
    return out


def keys(frame: pd.DataFrame, name: str, missing: str) -> pd.Series:
    """A grouping key: the column with nulls as ``missing``, kept categorical if it was."""
    c = frame[name]
    if isinstance(c.dtype, pd.CategoricalDtype):
        if c.isna().any():
            if missing not in c.cat.categories:
                c = c.cat.add_categories([missing])
            c = c.fillna(missing)
        return _without_unused(c)
    return text(frame, name, missing)


def _without_unused(c: pd.Series) -> pd.Series:
    """``c.cat.remove_unused_categories()``, counting the codes instead of hashing them."""
    codes = c.cat.codes.to_numpy()
    used = np.bincount(codes.astype(np.intp) + 1, minlength=len(c.cat.categories) + 1)[1:] > 0
    renumber = np.append(np.cumsum(used) - 1, -1)  # code -1 (null) picks the appended -1
    dtype = pd.CategoricalDtype(c.cat.categories[used], ordered=c.cat.ordered)
    cat = pd.Categorical.from_codes(renumber[codes], dtype=dtype, validate=False)
    return pd.Series(cat, index=c.index, name=c.name)


def join_unique(values: pd.Series, limit: int = 5) -> str:
    """Up to ``limit`` sorted distinct non-null values, comma separated ("+N" for the rest)."""
    uniq = sorted({str(v) for v in values.dropna().unique()})
    extra = len(uniq) - limit
    head = ", ".join(uniq[:limit])
    return f"{head} +{extra}" if extra > 0 else head


def empty(columns: Iterable[str]) -> pd.DataFrame:
    """An empty result table with the given columns (so renderers always see the headers)."""
    names = list(dict.fromkeys(columns))
    # One empty object block: a Series per column costs ~10x as much (sections return this
    # often, and a report has a dozen sections).
    if not names:
        return pd.DataFrame({})
    return pd.DataFrame(np.empty((0, len(names)), dtype=object), columns=names)


def occurrences(groups: Any, **extra: tuple[str, str]) -> pd.DataFrame:
    """The columns every table of grouped occurrences shows (failures, retries): count,
    tenants, first and last seen, an example id and message, the tenant ids; ``extra`` adds
    named aggregations of its own."""
    out = groups.agg(**{
        cols.COUNT: (schema.TIME, "size"),
        **extra,
        cols.TENANTS: (schema.ORGANIZATION_ID, "nunique"),
        cols.FIRST_SEEN: (schema.TIME, "min"),
        cols.LAST_SEEN: (schema.TIME, "max"),
        cols.EXAMPLE_TASK_ID: (schema.TASK_ID, "first"),
        cols.EXAMPLE_MESSAGE: (schema.EXCEPTION_MESSAGE, "first"),
    })
    out[cols.TENANT_IDS] = groups[schema.ORGANIZATION_ID].agg(join_unique)
    return out

"""Small helpers every report section uses: tolerant column access and event masks.

The report reads frames from several readers (our JSON lines, Celery's plain text, Cloud
Logging), and a reader may leave out a column it never fills. Sections therefore read
columns through :func:`col`, which hands back an all-null column instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from instrumentation import schema as s

_STRING = "str"


def col(frame: pd.DataFrame, name: str, dtype: str = "object") -> pd.Series:
    """``frame[name]``, or an all-null column of ``dtype`` when the reader left it out."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(pd.array([None] * len(frame), dtype=dtype), index=frame.index, name=name)


#: Columns :func:`prepare` turns into categoricals: hashed once, then every section's
#: per-id counting, grouping and lookups work on integer codes.
CATEGORICAL = (s.TASK_ID, s.EVENT, s.TASK_NAME)


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the task id and event columns as categoricals (same values).

    Optional: every section gives the same answer without it; with it, a million-row report
    hashes the 36-character task ids once instead of in four sections.
    """
    changes = {
        name: frame[name].astype("category")
        for name in CATEGORICAL
        if name in frame.columns and not isinstance(frame[name].dtype, pd.CategoricalDtype)
    }
    return frame.assign(**changes) if changes else frame


def pick(frame: pd.DataFrame, mask: np.ndarray, names: Iterable[str]) -> pd.DataFrame:
    """Only ``names`` of the rows in ``mask``.

    Much cheaper than ``frame.loc[mask]``, which copies all ~60 columns: on a million rows
    that copy alone costs more than a whole report section.
    """
    # ``.array[mask]`` gives a fresh RangeIndex: frames concatenated from several sources may
    # repeat index labels, which would make the columns misalign.
    return pd.DataFrame({n: col(frame, n).array[mask] for n in dict.fromkeys(names)})


def factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for null) and the distinct values, reusing a categorical's codes."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(dtype=np.int64), values.cat.categories
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def distinct_per_group(
    groups: np.ndarray, items: np.ndarray, n_groups: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Number of distinct ``items`` codes per ``groups`` code (codes < 0 are ignored).

    A vectorized ``groupby(...).nunique()``: unique (group, item) pairs, then a bincount.
    """
    keep = (groups >= 0) & (items >= 0)
    if mask is not None:
        keep &= mask
    width = np.int64(items.max() + 1) if keep.any() else np.int64(1)
    # pd.unique hashes (khash); np.unique on int64 is an order of magnitude slower here.
    pairs = pd.unique(groups[keep].astype(np.int64) * width + items[keep])
    return np.bincount(pairs // width, minlength=n_groups)


def isin(values: pd.Series, candidates: Iterable) -> np.ndarray:
    """``values.isin(candidates)`` as a bool array, hashing in Arrow for large candidate sets.

    (pandas' Arrow-string ``isin`` builds a Python list of the candidates first.)
    """
    cand = pd.Series(candidates, dtype="object").dropna().astype("str")
    if values.empty or cand.empty:
        return np.zeros(len(values), dtype=bool)
    if isinstance(values.dtype, pd.CategoricalDtype):
        hit = isin(pd.Series(values.cat.categories), cand)
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, hit[np.maximum(codes, 0)], False)
    arr = pa.array(values.astype("str"), from_pandas=True)
    found = pc.is_in(arr, value_set=pa.array(cand.to_numpy(dtype=object), type=pa.string()))
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def times(frame: pd.DataFrame) -> pd.Series:
    """The ``time`` column as tz-aware UTC timestamps (coerced if a reader left strings)."""
    t = col(frame, s.TIME)
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        return t if str(t.dt.tz) == "UTC" else t.dt.tz_convert("UTC")
    return pd.to_datetime(t, utc=True, errors="coerce", format="ISO8601")


def numbers(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column as float64 with NaN for missing values."""
    return pd.to_numeric(col(frame, name), errors="coerce").astype("float64")


def event_is(frame: pd.DataFrame, *events: str | Iterable[str]) -> np.ndarray:
    """Boolean mask of rows whose ``event`` is one of ``events`` (strings or sets of them)."""
    wanted: list[str] = []
    for e in events:
        if isinstance(e, str):
            wanted.append(str(e))
        else:
            wanted.extend(str(x) for x in e)
    if s.EVENT not in frame.columns or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    return frame[s.EVENT].isin(wanted).to_numpy(dtype=bool, na_value=False)


def text(frame: pd.DataFrame, name: str, missing: str | None = None) -> pd.Series:
    """A string column as plain Python-string objects, ``missing`` filling the nulls."""
    c = col(frame, name)
    out = c.astype(_STRING) if c.dtype != _STRING else c
    if missing is not None:
        out = out.fillna(missing)
    return out


def keys(frame: pd.DataFrame, name: str, missing: str) -> pd.Series:
    """A grouping key: the column with nulls as ``missing``, kept categorical if it was."""
    c = col(frame, name)
    if isinstance(c.dtype, pd.CategoricalDtype):
        if c.isna().any():
            if missing not in c.cat.categories:
                c = c.cat.add_categories([missing])
            c = c.fillna(missing)
        return c.cat.remove_unused_categories()
    return text(frame, name, missing)


def join_unique(values: pd.Series, limit: int = 5) -> str:
    """Up to ``limit`` sorted distinct non-null values, comma separated ("+N" for the rest)."""
    uniq = sorted({str(v) for v in values.dropna().unique()})
    extra = len(uniq) - limit
    head = ", ".join(uniq[:limit])
    return f"{head} +{extra}" if extra > 0 else head


def empty(columns: Iterable[str]) -> pd.DataFrame:
    """An empty result table with the given columns (so renderers always see the headers)."""
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})


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
            iso = series.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            out[name] = iso.astype(object).where(series.notna(), None)
        else:
            out[name] = series.astype(object).where(series.notna(), None)
    rows = pd.DataFrame(out).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, np.generic):
                row[key] = value.item()
    return rows

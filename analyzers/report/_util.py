"""Small helpers every report section uses: tolerant column access and event masks.

The report reads frames from several readers (our JSON lines, Celery's plain text, Cloud
Logging), and a reader may leave out a column it never fills. Sections therefore read
columns through :func:`col`, which hands back an all-null column instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from instrumentation import schema as s

_STRING = "str"


def col(frame: pd.DataFrame, name: str, dtype: str = "object") -> pd.Series:
    """``frame[name]``, or an all-null column of ``dtype`` when the reader left it out."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(pd.array([None] * len(frame), dtype=dtype), index=frame.index, name=name)


#: Columns :func:`prepare` turns into categoricals: few distinct values, compared and
#: grouped by every section, so integer codes pay off. (Task ids are not among them: with
#: hundreds of thousands of distinct ids the categorical itself costs more than it saves.)
CATEGORICAL = (s.EVENT, s.TASK_NAME)


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the event and task name columns as categoricals (same values).

    Optional: every section gives the same answer without it, only slower.
    """
    changes = {
        name: categorical(frame[name])
        for name in CATEGORICAL
        if name in frame.columns and not isinstance(frame[name].dtype, pd.CategoricalDtype)
    }
    return frame.assign(**changes) if changes else frame


def categorical(values: pd.Series) -> pd.Series:
    """``values`` as an (unordered, unsorted) categorical, hashed once.

    ``astype("category")`` sorts the categories: for a million distinct task ids that sort
    costs seconds. Arrow's dictionary encoding keeps first-seen order and is linear.
    """
    try:
        encoded = pa.chunked_array(pa.array(values, from_pandas=True)).combine_chunks()
        encoded = pc.dictionary_encode(encoded)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return values.astype("category")
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes)
    categories = pd.Index(encoded.dictionary.to_pandas(), dtype=values.dtype)
    cat = pd.Categorical.from_codes(codes.astype(np.int64), categories=categories)
    return pd.Series(cat, index=values.index, name=values.name)


def pick(frame: pd.DataFrame, mask: np.ndarray, names: Iterable[str]) -> pd.DataFrame:
    """Only ``names`` of the rows in ``mask``.

    Much cheaper than ``frame.loc[mask]``, which copies all ~60 columns: on a million rows
    that copy alone costs more than a whole report section.
    """
    # ``.array[mask]`` gives a fresh RangeIndex: frames concatenated from several sources may
    # repeat index labels, which would make the columns misalign.
    # Positions, not the boolean mask: a sparse mask (30 k failures in a million rows) would
    # be rebuilt as an Arrow bitmap for every column.
    positions = np.flatnonzero(mask)
    return pd.DataFrame({n: _take(col(frame, n), positions) for n in dict.fromkeys(names)})


#: A picked categorical with more categories than this becomes plain values: a subset of a
#: million-id categorical would otherwise drag all million categories into every operation.
_MAX_CATEGORIES = 10_000


def _take(values: pd.Series, positions: np.ndarray):
    if isinstance(values.dtype, pd.CategoricalDtype) and (
        len(values.cat.categories) > _MAX_CATEGORIES
    ):
        codes = values.cat.codes.to_numpy()[positions]
        return values.cat.categories.take(codes, allow_fill=True, fill_value=None).array
    return values.array.take(positions)


#: ``factorize(frame[TASK_ID])``: sections that count per task id accept it precomputed
#: (``ids=``), so ``build_report`` hashes the ids once instead of once per section.
Codes = tuple[np.ndarray, np.ndarray]


def task_codes(frame: pd.DataFrame, ids: Codes | None = None) -> Codes:
    """``ids`` if given, else the codes of the frame's task ids."""
    return ids if ids is not None else factorize(col(frame, s.TASK_ID))


def factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for null) and the position of each code's first occurrence.

    ``values.iloc[first[code]]`` is the value behind ``code``. Strings are hashed to 64 bits
    by Polars (vectorized, ~10 ms per million) and the hashes factorized: an order of
    magnitude faster than hashing the strings in pandas, which matters because a million log
    lines carry hundreds of thousands of 36-character task ids. Two distinct ids sharing a
    64-bit hash is a ~1e-8 event for a million ids; the report would merge those two tasks.
    """
    n = len(values)
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy(dtype=np.int64)
        uniq = len(values.cat.categories)
    else:
        null = values.isna().to_numpy(dtype=bool)
        keys = _hash64(values)
        codes = np.full(n, -1, dtype=np.int64)
        if (~null).any():
            sub, _ = pd.factorize(keys[~null])
            codes[~null] = sub
        uniq = int(codes.max()) + 1 if n else 0
    first = np.full(uniq, -1, dtype=np.int64)
    valid = np.flatnonzero(codes >= 0)
    first[codes[valid[::-1]]] = valid[::-1]  # written last-to-first: the first one stays
    return codes, first


def _hash64(values: pd.Series) -> np.ndarray:
    try:
        arr = pa.array(values, from_pandas=True)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = arr.cast(pa.string())
        return pl.from_arrow(arr).hash(seed=0).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return pd.util.hash_pandas_object(values.astype("str"), index=False).to_numpy()


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
    events = frame[s.EVENT]
    if isinstance(events.dtype, pd.CategoricalDtype):
        # Look the few categories up once, then index by code: ~1 ms per million rows.
        hit = np.append(np.asarray(events.cat.categories.isin(wanted), dtype=bool), False)
        return hit[events.cat.codes.to_numpy()]  # code -1 (null) picks the appended False
    return events.isin(wanted).to_numpy(dtype=bool, na_value=False)


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

"""Speed kernels of the report: task id codes, row picking, event masks, distinct counts.

    from analyzers.report import kernels

    codes, first = kernels.factorize(frame[schema.TASK_ID])   # exact, first-appearance order
    failed = kernels.event_is(frame, Event.TASK_FAILED)       # a boolean mask
    rows = kernels.pick(frame, failed, [schema.TASK_ID, schema.TIME])

Sections call these where the obvious pandas idiom costs seconds on a million rows
(``frame.loc[mask]`` copies every column, ``astype("category")`` sorts its categories,
``groupby().nunique()`` hashes tuples). Each gives exactly the answer of that idiom.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from instrumentation import schema

#: Columns :func:`prepare` turns into categoricals: few distinct values, compared and
#: grouped by every section, so integer codes pay off. (Task ids are not among them: with
#: hundreds of thousands of distinct ids the categorical itself costs more than it saves.)
CATEGORICAL = (schema.EVENT, schema.TASK_NAME)


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
        encoded = pc.dictionary_encode(to_arrow(values))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return values.astype("category")
    codes = _indices(encoded)
    categories = pd.Index(encoded.dictionary.to_pandas(), dtype=values.dtype)
    dtype = pd.CategoricalDtype(categories, ordered=False)
    # Codes straight from Arrow are valid by construction: skip from_codes' range check.
    cat = pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
    return pd.Series(cat, index=values.index, name=values.name)


def to_arrow(values: pd.Series) -> pa.Array:
    """``values`` as one Arrow array (no copy for an Arrow-backed column of one chunk)."""
    return _one_chunk(pa.array(values, from_pandas=True))


def _one_chunk(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A plain Arrow array (a pandas Arrow column may come as several chunks)."""
    if isinstance(arr, pa.ChunkedArray):
        return arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    return arr


def _indices(encoded: pa.DictionaryArray) -> np.ndarray:
    """The dictionary indices as int64 codes, -1 where the value was null."""
    indices = encoded.indices.fill_null(-1) if encoded.null_count else encoded.indices
    return indices.to_numpy().astype(np.int64, copy=False)


def pick(frame: pd.DataFrame, mask: np.ndarray, names: Iterable[str]) -> pd.DataFrame:
    """Only ``names`` of the rows in ``mask``.

    Much cheaper than ``frame.loc[mask]``, which copies all ~60 columns: on a million rows
    that copy alone costs more than a whole report section.
    """
    # Positions, not the boolean mask: a sparse mask (30 k failures in a million rows) would
    # be rebuilt as an Arrow bitmap for every column.
    return rows_at(frame, np.flatnonzero(mask), names)


def rows_at(frame: pd.DataFrame, positions: np.ndarray, names: Iterable[str]) -> pd.DataFrame:
    """Only ``names`` of the rows at ``positions`` (ascending), with a fresh RangeIndex."""
    # Taking from the arrays gives a fresh RangeIndex: frames concatenated from several
    # sources may repeat index labels, which would make the columns misalign.
    return pd.DataFrame({n: _take(frame[n], positions) for n in dict.fromkeys(names)})


#: A picked categorical with more categories than this becomes plain values: a subset of a
#: million-id categorical would otherwise drag all million categories into every operation.
_MAX_CATEGORIES = 10_000


def _take(values: pd.Series, positions: np.ndarray):
    if isinstance(values.dtype, pd.CategoricalDtype) and (
        len(values.cat.categories) > _MAX_CATEGORIES
    ):
        codes = values.cat.codes.to_numpy()[positions]
        return values.cat.categories.take(codes, allow_fill=True, fill_value=None).array
    if _arrow_backed(values.dtype):
        chunks = values.array.__arrow_array__()
        if chunks.num_chunks > 1:
            return values.dtype.__from_arrow__(_take_chunks(chunks, positions))
    return values.array.take(positions)


def _arrow_backed(dtype) -> bool:
    return isinstance(dtype, pd.ArrowDtype) or (
        isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow")


def _take_chunks(chunks: pa.ChunkedArray, positions: np.ndarray) -> pa.ChunkedArray:
    """``chunks.take(positions)`` for ascending ``positions``, chunk by chunk.

    Arrow's take on a chunked array first concatenates all the chunks: ~5 ms for a column of
    a million strings, even to take none of them (a reader may hand over a dozen chunks).
    """
    starts = np.cumsum([0, *(len(chunk) for chunk in chunks.chunks)])
    cuts = np.searchsorted(positions, starts)
    spans = zip(chunks.chunks, starts[:-1], cuts[:-1], cuts[1:], strict=True)
    pieces = [chunk.take(positions[lo:hi] - start) for chunk, start, lo, hi in spans if hi > lo]
    return pa.chunked_array(pieces, type=chunks.type)


#: ``factorize(frame[TASK_ID])``: sections that count per task id accept it precomputed
#: (``ids=``), so ``build_report`` hashes the ids once instead of once per section.
Codes = tuple[np.ndarray, np.ndarray]


def task_codes(frame: pd.DataFrame, ids: Codes | None = None) -> Codes:
    """``ids`` if given, else the codes of the frame's task ids."""
    return ids if ids is not None else factorize(frame[schema.TASK_ID])


def factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for null) and the position of each code's first occurrence.

    ``values.iloc[first[code]]`` is the value behind ``code``; codes are numbered in order of
    first appearance. Exact: two distinct values never share a code.

    Strings of one length (task ids are 36-character UUIDs) are hashed to 64 bits in NumPy
    and the hashes factorized, then every row is compared with the first row of its code;
    should two ids ever share a hash, that comparison fails and the strings are
    dictionary-encoded by Arrow instead (as strings of mixed lengths always are). Hashing
    first matters because a million log lines carry hundreds of thousands of task ids and
    hashing the strings themselves costs several times as much (``docs/ingest.md``).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy(dtype=np.int64)
        first = np.full(len(values.cat.categories), -1, dtype=np.int64)
        valid = np.flatnonzero(codes >= 0)
        first[codes[valid[::-1]]] = valid[::-1]  # written last-to-first: the first one stays
        return codes, first
    codes = _string_codes(values)
    return codes, _first_appearances(codes)


def _first_appearances(codes: np.ndarray) -> np.ndarray:
    """Where each code first occurs, for codes numbered in order of first appearance.

    Such a code is new exactly where it exceeds every code before it: a running maximum,
    no scatter over a million random positions.
    """
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    new = np.empty(len(codes), dtype=bool)
    new[0] = codes[0] >= 0
    np.greater(codes[1:], np.maximum.accumulate(codes)[:-1], out=new[1:])
    return np.flatnonzero(new)


def _string_codes(values: pd.Series) -> np.ndarray:
    """First-appearance codes of the values as strings, -1 for null."""
    try:
        arr = pa.array(values, from_pandas=True)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        codes, _ = pd.factorize(values.astype("str"))  # mixed Python objects: rare, small
        return codes.astype(np.int64, copy=False)
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    valid = [chunk.drop_null() if chunk.null_count else chunk for chunk in chunks]
    words = _words(valid)
    if words is None:
        return _indices(pc.dictionary_encode(_one_chunk(arr)))
    sub, _ = pd.factorize(_hash64(words))
    first = _first_appearances(sub)
    if not all((word[first[sub]] == word).all() for word in words):
        return _indices(pc.dictionary_encode(_one_chunk(arr)))  # a hash collision
    n_valid = len(words[0]) if words else 0
    if n_valid == len(values):
        return sub.astype(np.int64, copy=False)
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[arr.is_valid().to_numpy(zero_copy_only=False)] = sub
    return codes


def _offsets(chunk: pa.Array) -> np.ndarray:
    """Arrow's offsets buffer of a (large) string array, as NumPy integers."""
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    return np.frombuffer(chunk.buffers()[1], dtype=width, count=len(chunk) + 1,
                         offset=chunk.offset * np.dtype(width).itemsize)


def _widths(chunk: pa.Array) -> set[int]:
    """The string lengths in a null-free ``chunk``: one value when they all have one length."""
    lengths = np.diff(_offsets(chunk))
    return {int(lengths[0])} if len(lengths) and (lengths == lengths[0]).all() else set(
        np.unique(lengths).tolist())


def _words(chunks: list[pa.Array]) -> list[np.ndarray] | None:
    """The strings of null-free ``chunks`` as columns of 8-byte words, or None.

    None unless every string has one length of 8 bytes or more. The strings lie back to back
    in Arrow's data buffer, so the k-th word of every string is one strided NumPy view (the
    last word overlaps the one before it when the length is not a multiple of 8); together
    the words cover every byte, so equal words mean equal strings.
    """
    widths = set().union(*(_widths(chunk) for chunk in chunks if len(chunk)))
    if len(widths) > 1 or (widths and min(widths) < 8):
        return None
    if not widths:
        return []
    width = widths.pop()
    starts = [*range(0, width - 7, 8), *([width - 8] if width % 8 else [])]
    per_chunk = []
    for chunk in chunks:
        if not len(chunk):
            continue
        data, base = chunk.buffers()[2], int(_offsets(chunk)[0])
        per_chunk.append([
            np.ndarray((len(chunk),), dtype=np.uint64, buffer=data, offset=base + start,
                       strides=(width,))
            for start in starts
        ])
    if len(per_chunk) == 1:
        return per_chunk[0]
    return [np.concatenate(column) for column in zip(*per_chunk, strict=True)]


#: SplitMix64's finalizer constants (Steele et al.): each word is xored in and mixed by this
#: bijection, so ids that differ in a few bits only (counters, sequential UUIDs) still land
#: far apart and rarely send :func:`factorize` to its exact fallback.
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
#: Rows hashed at a time: the running hashes stay in cache across the per-word passes.
_BLOCK = 1 << 15


def _hash64(words: list[np.ndarray]) -> np.ndarray:
    """64-bit hashes of strings given as :func:`_words` columns (xor in, then mix, per word)."""
    n = len(words[0]) if words else 0
    out = np.empty(n, dtype=np.uint64)
    shifted = np.empty(min(n, _BLOCK), dtype=np.uint64)
    for lo in range(0, n, _BLOCK):
        h = out[lo:lo + _BLOCK]
        tmp = shifted[: len(h)]
        h[:] = len(words)
        for word in words:
            h ^= word[lo:lo + _BLOCK]
            np.right_shift(h, _S30, out=tmp)
            h ^= tmp
            h *= _C1
            np.right_shift(h, _S27, out=tmp)
            h ^= tmp
            h *= _C2
            np.right_shift(h, _S31, out=tmp)
            h ^= tmp
    return out


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


def event_is(frame: pd.DataFrame, *events: str | Iterable[str]) -> np.ndarray:
    """Boolean mask of rows whose ``event`` is one of ``events`` (strings or sets of them)."""
    wanted: list[str] = []
    for e in events:
        if isinstance(e, str):
            wanted.append(str(e))
        else:
            wanted.extend(str(x) for x in e)
    if schema.EVENT not in frame.columns or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    events = frame[schema.EVENT]
    if isinstance(events.dtype, pd.CategoricalDtype):
        # A few categories: a set lookup each (Index.isin costs more than the codes below).
        wanted_set = set(wanted)
        is_hit = np.array([name in wanted_set for name in events.cat.categories], dtype=bool)
        return _codes_in(events.cat.codes.to_numpy(), is_hit)
    return events.isin(wanted).to_numpy(dtype=bool, na_value=False)


def _codes_in(codes: np.ndarray, is_hit: np.ndarray) -> np.ndarray:
    """Whether each categorical code's category ``is_hit`` (code -1, null, never is)."""
    # A report asks for one to three events at a time: comparing the small integer codes
    # once per event is ~0.05 ms per million rows, a lookup table indexed by code ~1 ms.
    hits, misses = np.flatnonzero(is_hit), np.flatnonzero(~is_hit)
    if len(misses) < len(hits) and len(misses) <= _FEW_CODES:
        # Most events wanted (all task events, say): rule out the few others instead.
        return (codes >= 0) & ~_equal_any(codes, misses)
    if len(hits) <= _FEW_CODES:
        return _equal_any(codes, hits)
    table = np.append(is_hit, False)
    return table[codes]  # code -1 (null) picks the last entry, False


#: Up to this many codes, :func:`_codes_in` compares codes one by one.
_FEW_CODES = 4


def _equal_any(codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(codes), dtype=bool)
    for code in wanted:
        mask |= codes == int(code)  # a Python int keeps the comparison in int8
    return mask



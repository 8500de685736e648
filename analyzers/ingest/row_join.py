"""Left joins on a batch's line index ``_i``, done by position instead of by hashing.

The text path joins its per-line frames on ``_i`` (the line's index in the batch) again and
again: a record's first line with the line's columns, parsed headers with the sentences
found in them. The keys are unique and one side is in line order, so a binary search finds
every row and one gather moves the columns; a hash join would build a table of every key
and move the (string) columns through it::

    out = left_join(records, lines, ["body", "pod"])
    # == records.join(lines.select("_i", "body", "pod"), on="_i", how="left")

Where the sides are not so (a null key, neither side in strictly increasing order, a
repeated key on the right), it is Polars' join.
"""

from __future__ import annotations

import numpy as np
import polars as pl

KEY = "_i"


def left_join(left: pl.DataFrame, right: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``left.join(right.select("_i", *columns), on="_i", how="left")``: the rows and order
    of ``left``, with ``columns`` from the row of ``right`` with the same ``_i`` (null where
    there is none)."""
    idx = _positions(left.get_column(KEY), right.get_column(KEY))
    if idx is None:
        return left.join(right.select(KEY, *columns), on=KEY, how="left")
    return left.hstack(right.select(pl.col(columns).gather(idx)))


def _positions(left: pl.Series, right: pl.Series) -> pl.Series | None:
    """For each left key, the row of ``right`` holding it (null: none); None: use a join."""
    if left.null_count() or right.null_count() or len(right) == 0:
        return None
    lk = left.to_numpy()
    rk = right.to_numpy()
    if _increasing(rk):  # unique right keys, searchable as they are
        pos = np.minimum(np.searchsorted(rk, lk), len(rk) - 1)
        found = rk[pos] == lk
        if found.all():
            return pl.Series(pos, dtype=pl.Int64)
        return pl.Series(pos, dtype=pl.Int64).set(pl.Series(~found), None)
    if len(lk) and _increasing(lk):  # search the right keys among the left ones
        pos = np.minimum(np.searchsorted(lk, rk), len(lk) - 1)
        found = lk[pos] == rk
        hits = pos[found]
        if len(np.unique(hits)) != len(hits):  # a repeated right key: rows would repeat
            return None
        inv = np.full(len(lk), -1, dtype=np.int64)
        inv[hits] = np.flatnonzero(found)
        out = pl.Series(inv)
        return out.set(out < 0, None) if (inv < 0).any() else out
    return None


def _increasing(keys: np.ndarray) -> bool:
    return len(keys) < 2 or bool((keys[1:] > keys[:-1]).all())

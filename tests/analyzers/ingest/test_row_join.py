"""row_join.left_join gives what Polars' left join on ``_i`` gives, whichever path it takes."""

from __future__ import annotations

import polars as pl
import pytest

from analyzers.ingest import row_join


def _lines(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "_i": list(range(0, 2 * n, 2)),
        "body": [f"line {i}" if i % 3 else None for i in range(n)],
        "t": [float(i) for i in range(n)],
    })


def _expected(left: pl.DataFrame, right: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return left.join(right.select("_i", *columns), on="_i", how="left", maintain_order="left")


@pytest.mark.parametrize(
    ("keys", "right_order"),
    [
        ([0, 4, 10, 18], "sorted"),  # every key found in a sorted right side
        ([18, 0, 6], "sorted"),  # unsorted left keys
        ([0, 3, 4, 99], "sorted"),  # keys the right side lacks: nulls
        ([0, 2, 4, 6, 8, 10], "shuffled"),  # right side out of order, left sorted
        ([0, 2, 5, 6, 8], "shuffled"),  # ... and a key it lacks
        ([], "sorted"),
    ],
)
def test_left_join_matches_polars(keys: list[int], right_order: str) -> None:
    right = _lines(10)
    if right_order == "shuffled":
        right = right.select(pl.all().gather([7, 2, 9, 0, 4, 1, 8, 3, 6, 5]))
    left = pl.DataFrame({"_i": pl.Series(keys, dtype=pl.Int64), "x": [str(k) for k in keys]})
    got = row_join.left_join(left, right, ["body", "t"])
    assert got.equals(_expected(left, right, ["body", "t"]))
    assert got.columns == ["_i", "x", "body", "t"]


def test_repeated_right_key_repeats_rows_as_a_join_does() -> None:
    right = pl.DataFrame({"_i": [4, 0, 4], "body": ["a", "b", "c"]})
    left = pl.DataFrame({"_i": [0, 4]})
    got = row_join.left_join(left, right, ["body"])
    assert got.height == 3
    assert sorted(got.get_column("body").to_list()) == ["a", "b", "c"]


def test_null_keys_join_as_polars_does() -> None:
    right = _lines(5)
    left = pl.DataFrame({"_i": pl.Series([2, None, 6], dtype=pl.Int64)})
    assert row_join.left_join(left, right, ["body"]).equals(_expected(left, right, ["body"]))

"""``report.kernels``: task id codes, row picking and event masks, on the shapes readers hand over.

The report hashes task ids in NumPy when they all have one length (UUIDs) and falls back to
Arrow's dictionary encoding otherwise; either way the codes must be what ``pd.factorize``
gives. Readers may hand over columns of several Arrow chunks, with nulls, or sliced.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analyzers.report import kernels
from analyzers.report.failures import fingerprint
from instrumentation import schema


def _uuids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i * 7919 + 1)) for i in range(n)]


def _strings(values: list[str | None], chunks: int = 1) -> pd.Series:
    """A pandas ``str`` column over ``chunks`` Arrow chunks, as the readers build them."""
    cuts = np.linspace(0, len(values), chunks + 1).astype(int)
    arrays = [pa.array(values[lo:hi], pa.large_string()) for lo, hi in pairwise(cuts)]
    dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    return pd.Series(dtype.__from_arrow__(pa.chunked_array(arrays, pa.large_string())))


def _expected(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values.astype(object))
    first = np.array([int(np.flatnonzero(codes == k)[0]) for k in range(len(uniques))])
    return codes, first.astype(np.int64)


IDS = _uuids(50)
CASES = {
    "uuids": [IDS[i % 17] for i in range(200)],
    "uuids with nulls": [None if i % 5 == 0 else IDS[i % 23] for i in range(200)],
    "mixed lengths": [["t1", "t22", "cb-1", None, IDS[0]][i % 5] for i in range(100)],
    "short": ["a", "b", "a", "c"],
    "all null": [None, None, None],
    "empty": [],
}


@pytest.mark.parametrize("chunks", [1, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_factorize_gives_pandas_codes_in_first_appearance_order(name: str, chunks: int) -> None:
    values = CASES[name]
    series = _strings(values, chunks=chunks if len(values) >= chunks else 1)
    codes, first = kernels.factorize(series)
    want_codes, want_first = _expected(series)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_array_equal(first, want_first)
    assert codes.dtype == np.int64 and first.dtype == np.int64


@pytest.mark.parametrize("make", [lambda i: f"{i:036d}", lambda i: str(uuid.UUID(int=i)),
                                  lambda i: f"task-{i:08d}"],
                         ids=["counter", "sequential-uuid", "prefixed"])
def test_factorize_never_merges_sequential_ids(make) -> None:
    """Ids that differ in a few bits (counters, custom ids) must not share a hash: a weak
    mix merged thousands of them in a million, silently joining unrelated tasks."""
    n = 1_000_000
    codes, first = kernels.factorize(_strings([make(i) for i in range(n)]))
    assert len(first) == n
    np.testing.assert_array_equal(codes, np.arange(n))


def test_factorize_of_a_slice_and_of_python_objects() -> None:
    series = _strings([IDS[i % 7] for i in range(40)]).iloc[3:]  # an Arrow array with an offset
    np.testing.assert_array_equal(kernels.factorize(series)[0], _expected(series)[0])
    mixed = pd.Series(["a", 1, None, "a", 1], dtype=object)
    np.testing.assert_array_equal(kernels.factorize(mixed)[0], [0, 1, -1, 0, 1])


def test_factorize_of_a_categorical_keeps_its_codes() -> None:
    series = pd.Series(pd.Categorical(["b", None, "a", "b"], categories=["a", "b", "z"]))
    codes, first = kernels.factorize(series)
    np.testing.assert_array_equal(codes, [1, -1, 0, 1])
    np.testing.assert_array_equal(first, [2, 0, -1])  # "z" never occurs


def test_picking_rows_from_several_chunks() -> None:
    values = [None if i % 9 == 0 else f"v{i}" for i in range(100)]
    frame = pd.DataFrame({"x": _strings(values, chunks=4)})
    for positions in ([], [0], [5, 24, 25, 26, 99], list(range(100))):
        picked = kernels.rows_at(frame, np.array(positions, dtype=np.int64), ["x"])["x"]
        assert picked.dtype == frame["x"].dtype
        assert picked.tolist() == [frame["x"].iloc[p] for p in positions]


def test_event_masks_on_categorical_and_plain_columns() -> None:
    events = ["task_received", None, "task_failed", "worker_lost", "task_succeeded"] * 3
    plain = pd.DataFrame({schema.EVENT: pd.Series(events, dtype="str")})
    prepared = kernels.prepare(plain)
    assert isinstance(prepared[schema.EVENT].dtype, pd.CategoricalDtype)
    for wanted in (["task_failed"], [schema.TASK_EVENTS], ["task_failed", "worker_lost"], ["nope"]):
        want = plain[schema.EVENT].isin([str(e) for w in wanted for e in
                                    ([w] if isinstance(w, str) else w)]).to_numpy(bool)
        np.testing.assert_array_equal(kernels.event_is(prepared, *wanted), want)
        np.testing.assert_array_equal(kernels.event_is(plain, *wanted), want)


def test_fingerprint_collapses_whitespace_only_where_there_is_some() -> None:
    messages = pd.Series(["a b", "a  b", "a\tb", "a\nb ", " a b", "a\u00a0b", None], dtype="str")
    assert fingerprint(messages).tolist() == ["a b", "a b", "a b", "a b", "a b", "a\u00a0b", ""]


def test_the_report_does_not_import_polars() -> None:
    """Polars costs ~0.1 s of start-up; the report hashes task ids without it."""
    code = "import sys, analyzers.report; print('polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

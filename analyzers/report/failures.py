"""Failures grouped by task, exception type and a fingerprint of the message.

    >>> failures(frame)
       task_name  exception_type  fingerprint  count  tenants  tenant_ids  first_seen ...

The fingerprint is the exception message with the parts that differ between occurrences of
the same bug masked (UUIDs -> ``<id>``, hex runs -> ``<hex>``, numbers -> ``<n>``), so
``Timeout after 30.2s for org 17`` and ``Timeout after 4.0s for org 9`` land in one row.
Masking runs as vectorized regex replacements over the failed rows only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from instrumentation import schema

from . import columns as cols
from .kernels import event_is, pick, to_arrow
from .values import empty, occurrences, text, times

#: Events counted as a task failure.
FAILURE_EVENTS = (schema.Event.TASK_FAILED, schema.Event.TASK_INTERNAL_ERROR)

UNKNOWN = "<unknown>"
_FINGERPRINT_WIDTH = 200

# Order matters: a UUID contains hex runs, and hex runs contain digits. The third field is a
# cheaper pattern that every string the mask would change matches (None: no such pattern);
# the strings it misses skip the replacement. (Whitespace changes only where it is not one
# plain space.)
_MASKS: tuple[tuple[str, str, str | None], ...] = (
    (r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", "-"),
    (r"(?i)\b0x[0-9a-f]+\b", "<hex>", "(?i)0x"),
    (r"(?i)\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b", "<hex>", None),  # mixed hex, >=1 digit
    (r"(?i)\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b", "<hex>", None),
    (r"\d+(?:\.\d+)?", "<n>", None),
    (r"\s+", " ", r"[\t\n\f\r]|  "),  # RE2's \s is exactly [\t\n\f\r ]
)

_NEEDED = (
    schema.TIME,
    schema.TASK_NAME,
    schema.EXCEPTION_TYPE,
    schema.EXCEPTION_MESSAGE,
    schema.TASK_ID,
    schema.ORGANIZATION_ID,
    schema.RETRIES,
)

COLUMNS = (
    schema.TASK_NAME,
    schema.EXCEPTION_TYPE,
    cols.FINGERPRINT,
    cols.COUNT,
    cols.TENANTS,
    cols.TENANT_IDS,
    cols.FIRST_SEEN,
    cols.LAST_SEEN,
    cols.EXAMPLE_TASK_ID,
    cols.EXAMPLE_MESSAGE,
)


def fingerprint(messages: pd.Series) -> pd.Series:
    """Mask ids, hex and numbers in each message (vectorized), trimmed to 200 characters."""
    text = messages.astype("str").fillna("")
    # The same message repeats across failures: mask each distinct message once, in Arrow
    # (RE2, no per-call pandas overhead, no Python strings).
    encoded = pc.dictionary_encode(to_arrow(text))
    distinct = encoded.dictionary
    for pattern, repl, needed in _MASKS:
        distinct = _mask(distinct, pattern, repl, needed)
    distinct = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(distinct), 0, _FINGERPRINT_WIDTH)
    masked = pa.chunked_array([distinct.take(encoded.indices)], type=distinct.type)
    return pd.Series(text.dtype.__from_arrow__(masked), index=messages.index)


def _mask(values: pa.Array, pattern: str, repl: str, needed: str | None) -> pa.Array:
    """``pattern`` replaced by ``repl``, only in the strings that match ``needed``."""
    if needed is None:
        return pc.replace_substring_regex(values, pattern=pattern, replacement=repl)
    hit = pc.match_substring_regex(values, pattern=needed)
    hits = pc.sum(hit).as_py() or 0
    if hits == 0:
        return values
    if hits == len(values):
        return pc.replace_substring_regex(values, pattern=pattern, replacement=repl)
    changed = pc.replace_substring_regex(values.filter(hit), pattern=pattern, replacement=repl)
    return pc.replace_with_mask(values, hit, changed)


def once_per_attempt(rows: pd.DataFrame) -> pd.DataFrame:
    """Drop repeated lines of the same task id and retry number (rows without an id stay).

    A hard time limit is reported by the pool process *and* the worker's main process: one
    failure, two ``task_failed`` lines. Counting attempts, not lines, gives what happened.
    """
    ids = rows[schema.TASK_ID]
    if rows.empty or ids.isna().all():
        return rows
    # DataFrame.duplicated over (id, retry number), on one integer key per line.
    id_code, _ = pd.factorize(ids.astype("str"))  # -1 for a missing id
    retry_code, _ = pd.factorize(pd.to_numeric(rows[schema.RETRIES], errors="coerce"),
                                 use_na_sentinel=False)
    attempt = id_code.astype(np.int64) * (int(retry_code.max()) + 1) + retry_code
    repeated = pd.Series(attempt).duplicated().to_numpy() & (id_code >= 0)
    return rows.loc[~repeated].reset_index(drop=True)


def failure_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The failed-task rows, with ``exception_type`` filled and a ``fingerprint`` column."""
    rows = pick(frame, event_is(frame, *FAILURE_EVENTS), _NEEDED)
    rows = once_per_attempt(rows)
    message = text(rows, schema.EXCEPTION_MESSAGE)
    return pd.DataFrame(
        {
            schema.TIME: times(rows),
            schema.TASK_NAME: text(rows, schema.TASK_NAME, UNKNOWN),
            schema.EXCEPTION_TYPE: text(rows, schema.EXCEPTION_TYPE, UNKNOWN),
            cols.FINGERPRINT: fingerprint(message),
            schema.TASK_ID: rows[schema.TASK_ID],
            schema.ORGANIZATION_ID: rows[schema.ORGANIZATION_ID],
            schema.EXCEPTION_MESSAGE: message,
            schema.RETRIES: pd.to_numeric(rows[schema.RETRIES], errors="coerce"),
        },
        index=rows.index,
    )


def failures(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, exception type, fingerprint), most frequent first."""
    rows = failure_rows(frame)
    if rows.empty:
        return empty(COLUMNS)
    keys = [schema.TASK_NAME, schema.EXCEPTION_TYPE, cols.FINGERPRINT]
    g = rows.groupby(keys, sort=False, dropna=False, observed=True)
    out = occurrences(g)
    out = out.reset_index()
    out = out.sort_values([cols.COUNT, cols.LAST_SEEN], ascending=[False, False], kind="stable")
    return out.reset_index(drop=True)[list(COLUMNS)]

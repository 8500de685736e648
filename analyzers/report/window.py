"""Time windows and row filters: which part of the logs a report looks at.

    >>> parse_duration("15m")
    datetime.timedelta(seconds=900)
    >>> since = parse_instant("1h", now=pd.Timestamp("2026-11-28T12:00:00Z"))
    >>> str(since)
    '2026-11-28 11:00:00+00:00'
    >>> filtered = filter_frame(frame, since=since, tenant="org-1", task="tasks.*")

``parse_instant`` accepts a duration before ``now`` (``90s``, ``15m``, ``1h30m``, ``2d``) or an
absolute RFC 3339 / ISO 8601 time (a naive one is read as UTC). Errors are ``ValueError``
with a message that shows an accepted form, so the CLI can pass it straight to the user.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import timedelta

import pandas as pd

from instrumentation import schema

from .values import times

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``"15m"`` -> 15 minutes; units ms, s, m, h, d, w, combinable (``"1h30m"``)."""
    spec = text.strip().lower().replace(" ", "")
    if not spec:
        raise ValueError("empty duration: use e.g. 30s, 15m, 1h or 2d")
    if spec.isdigit():  # a bare number is seconds, as in kubectl's --since=300
        return timedelta(seconds=int(spec))
    pos, total = 0, 0.0
    for m in _DURATION.finditer(spec):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(spec) or pos == 0:
        raise ValueError(f"cannot read {text!r} as a duration: use e.g. 30s, 15m, 1h30m or 2d")
    return timedelta(seconds=total)


def parse_instant(text: str, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """A point in time: a duration before ``now`` (``"1h"``) or an absolute timestamp."""
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    try:
        return now - pd.Timedelta(parse_duration(text))
    except ValueError:
        pass
    try:
        ts = pd.Timestamp(text.strip())
    except (ValueError, TypeError):
        raise ValueError(
            f"cannot read {text!r} as a time: use a duration before now (15m, 1h, 2d) "
            "or a timestamp such as 2026-11-28T11:50:00Z"
        ) from None
    if pd.isna(ts):
        raise ValueError(f"cannot read {text!r} as a time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def filter_window(
    frame: pd.DataFrame,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Rows with ``since <= time < until`` (rows without a time go only when a bound is set)."""
    if since is None and until is None:
        return frame
    t = times(frame)
    keep = t.notna()
    if since is not None:
        keep &= t >= since
    if until is not None:
        keep &= t < until
    return frame.loc[keep.to_numpy(dtype=bool, na_value=False)]


def _matches(values: pd.Series, pattern: str) -> pd.Series:
    """Exact match, or a shell glob (``tasks.*``) when the pattern has wildcards."""
    if any(ch in pattern for ch in "*?["):
        return values.str.fullmatch(fnmatch.translate(pattern).removesuffix(r"\Z"), na=False)
    return values == pattern


def filter_frame(
    frame: pd.DataFrame,
    *,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    tenant: str | None = None,
    task: str | None = None,
) -> pd.DataFrame:
    """The rows a report should look at: a time window, one tenant, one task name (or glob).

    The tenant filter keeps rows whose ``organization_id`` *or* ``user_id`` equals ``tenant``;
    lines that belong to no task (worker events) are dropped by a tenant or task filter.
    """
    out = filter_window(frame, since, until)
    if tenant:
        org = out[schema.ORGANIZATION_ID].astype("str")
        user = out[schema.USER_ID].astype("str")
        out = out.loc[((org == tenant) | (user == tenant)).to_numpy(dtype=bool, na_value=False)]
    if task:
        names = out[schema.TASK_NAME].astype("str")
        out = out.loc[_matches(names, task).to_numpy(dtype=bool, na_value=False)]
    return out

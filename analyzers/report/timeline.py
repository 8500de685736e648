"""The timeline of one task or one chord across pods, from the normalized frame.

    >>> from analyzers.report import chord_timeline, task_timeline
    >>> task_timeline(frame, "5e0c...")    # published, received, started, retried, finished
    >>> chord_timeline(frame, "a1b2...")   # every member, chord errors / monitor lines, callback

Both return a DataFrame sorted by time (ties in lifecycle order: published before received
before started before finished), with a ``role`` column (``task``, ``member``, ``callback``,
``chord``) and the columns that say where and how: worker, pod, retries, duration, queue
wait, exception, tenant, and the source line. ``chord_timeline`` also accepts the callback's
task id in place of the chord (group) id. An id not in the logs gives an empty frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from instrumentation import schema as s

from . import columns as cols
from .kernels import isin, pick
from .values import times

COLUMNS = (
    s.TIME, s.EVENT, cols.ROLE, s.TASK_ID, s.TASK_NAME, s.WORKER, s.POD, s.RETRIES,
    s.DURATION_MS, s.QUEUE_WAIT_MS, s.EXCEPTION_TYPE, s.ORGANIZATION_ID, s.SOURCE, s.LINE_NO,
    s.EXCEPTION_MESSAGE, s.MESSAGE,
)

TASK, MEMBER, CALLBACK, CHORD = "task", "member", "callback", "chord"

_ORDER = {
    str(e): i
    for i, e in enumerate((
        s.Event.TASK_PUBLISHED, s.Event.TASK_RECEIVED, s.Event.TASK_STARTED,
        s.Event.TASK_RETRIED, s.Event.TASK_SUCCEEDED, s.Event.TASK_FAILED,
        s.Event.TASK_REVOKED, s.Event.WORKER_LOST, s.Event.TIME_LIMIT_EXCEEDED,
    ))
}


def _as_str(values: pd.Series) -> pd.Series:
    return values.astype("str")


def _assemble(frame: pd.DataFrame, mask: np.ndarray, role: pd.Series | str) -> pd.DataFrame:
    rows = pick(frame, mask, [name for name in COLUMNS if name != cols.ROLE])
    rows[s.TIME] = times(rows)
    rows[cols.ROLE] = role if isinstance(role, str) else role.to_numpy()
    order = _as_str(rows[s.EVENT]).map(_ORDER).fillna(len(_ORDER))
    rows = rows.assign(_o=order.to_numpy()).sort_values([s.TIME, "_o"], kind="stable")
    return rows.drop(columns="_o").reset_index(drop=True)[list(COLUMNS)]


def task_timeline(frame: pd.DataFrame, task_id: str) -> pd.DataFrame:
    """Every line about task ``task_id``, in order."""
    mask = (_as_str(frame[s.TASK_ID]) == task_id).to_numpy(dtype=bool, na_value=False)
    return _assemble(frame, mask, TASK)


def chord_timeline(frame: pd.DataFrame, chord_id: str) -> pd.DataFrame:
    """Every line about chord ``chord_id`` (or the chord whose callback has that id)."""
    group = _as_str(frame[s.GROUP_ID])
    callback_of = _as_str(frame[s.CHORD_CALLBACK_ID])
    task_ids = frame[s.TASK_ID]
    # The callback's own lines carry the chord's group too: they are not a member's.
    is_own_callback = (_as_str(task_ids) == callback_of).to_numpy(dtype=bool, na_value=False)
    members = (group == chord_id).to_numpy(dtype=bool, na_value=False) & ~is_own_callback
    if not members.any():
        # Maybe the id is the callback's: find its chord through the members that name it.
        named = (callback_of == chord_id).to_numpy(dtype=bool, na_value=False)
        groups = group[named].dropna().unique()
        if len(groups):
            chord_id = str(groups[0])
            members = (group == chord_id).to_numpy(dtype=bool, na_value=False) & ~is_own_callback
    chord_lines = (
        (_as_str(frame[s.CHORD_ID]) == chord_id).to_numpy(dtype=bool, na_value=False)
        & ~members
    )
    callbacks = callback_of[members | chord_lines].dropna().unique()
    is_callback = isin(task_ids, callbacks) & ~members & ~chord_lines
    mask = members | chord_lines | is_callback
    role = np.where(members, MEMBER, np.where(is_callback, CALLBACK, CHORD))[mask]
    return _assemble(frame, mask, pd.Series(role))

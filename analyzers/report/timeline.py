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

from instrumentation import schema

from . import columns as cols
from .kernels import isin, pick
from .values import times

COLUMNS = (
    schema.TIME,
    schema.EVENT,
    cols.ROLE,
    schema.TASK_ID,
    schema.TASK_NAME,
    schema.WORKER,
    schema.POD,
    schema.RETRIES,
    schema.DURATION_MS,
    schema.QUEUE_WAIT_MS,
    schema.EXCEPTION_TYPE,
    schema.ORGANIZATION_ID,
    schema.SOURCE,
    schema.LINE_NO,
    schema.EXCEPTION_MESSAGE,
    schema.MESSAGE,
)

TASK, MEMBER, CALLBACK, CHORD = "task", "member", "callback", "chord"

_ORDER = {
    str(e): i
    for i, e in enumerate((
        schema.Event.TASK_PUBLISHED, schema.Event.TASK_RECEIVED, schema.Event.TASK_STARTED,
        schema.Event.TASK_RETRIED, schema.Event.TASK_SUCCEEDED, schema.Event.TASK_FAILED,
        schema.Event.TASK_REVOKED, schema.Event.WORKER_LOST, schema.Event.TIME_LIMIT_EXCEEDED,
    ))
}


def _as_str(values: pd.Series) -> pd.Series:
    return values.astype("str")


def _assemble(frame: pd.DataFrame, mask: np.ndarray, role: pd.Series | str) -> pd.DataFrame:
    rows = pick(frame, mask, [name for name in COLUMNS if name != cols.ROLE])
    rows[schema.TIME] = times(rows)
    rows[cols.ROLE] = role if isinstance(role, str) else role.to_numpy()
    order = _as_str(rows[schema.EVENT]).map(_ORDER).fillna(len(_ORDER))
    rows = rows.assign(_o=order.to_numpy()).sort_values([schema.TIME, "_o"], kind="stable")
    return rows.drop(columns="_o").reset_index(drop=True)[list(COLUMNS)]


def task_timeline(frame: pd.DataFrame, task_id: str) -> pd.DataFrame:
    """Every line about task ``task_id``, in order."""
    mask = (_as_str(frame[schema.TASK_ID]) == task_id).to_numpy(dtype=bool, na_value=False)
    return _assemble(frame, mask, TASK)


def chord_timeline(frame: pd.DataFrame, chord_id: str) -> pd.DataFrame:
    """Every line about chord ``chord_id`` (or the chord whose callback has that id)."""
    group = _as_str(frame[schema.GROUP_ID])
    callback_of = _as_str(frame[schema.CHORD_CALLBACK_ID])
    task_ids = frame[schema.TASK_ID]
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
        (_as_str(frame[schema.CHORD_ID]) == chord_id).to_numpy(dtype=bool, na_value=False)
        & ~members
    )
    callbacks = callback_of[members | chord_lines].dropna().unique()
    is_callback = isin(task_ids, callbacks) & ~members & ~chord_lines
    mask = members | chord_lines | is_callback
    role = np.where(members, MEMBER, np.where(is_callback, CALLBACK, CHORD))[mask]
    return _assemble(frame, mask, pd.Series(role))

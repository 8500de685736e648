"""Duplicate executions and lost workers.

    >>> duplicate_executions(frame)  # ids run more often than their retries explain
    >>> lost_workers(frame)          # worker lost, time limits, broker connection lost

Celery keeps a task's id across retries, so an id is expected ``retries + 1`` times in
``task_received``. More than that (or more than one ``task_succeeded``) means the broker gave
the same message out twice: on Redis, typically an unacknowledged message coming back after
``visibility_timeout`` (one hour by default; ``gap_s`` near 3600 is that signature), or a
worker that died mid-task. ``likely_cause`` says which the logs point to:
``worker_lost`` (a lost-worker or time-limit line names the id), ``visibility_timeout``
(redelivered flag or a gap of about an hour or more), ``redelivered`` (flag only), ``unknown``.

Per-id counting uses integer codes of the task ids (``_util.factorize``) and ``np.bincount``:
linear, and no Python loop over rows, which matters at a million lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from instrumentation import schema

from . import columns as cols
from .failures import UNKNOWN
from .kernels import Codes, event_is, isin, pick, task_codes
from .values import empty, join_unique, text, times

DUPLICATE_COLUMNS = (
    schema.TASK_ID,
    schema.TASK_NAME,
    cols.RECEIVED,
    cols.STARTED,
    cols.SUCCEEDED,
    cols.RETRIED,
    cols.WORKERS,
    schema.ORGANIZATION_ID,
    cols.FIRST_SEEN,
    cols.LAST_SEEN,
    cols.GAP_S,
    schema.REDELIVERED,
    cols.LIKELY_CAUSE,
)
LOST_COLUMNS = (
    cols.KIND, schema.WORKER, cols.COUNT, cols.TASK_IDS, cols.REQUEUED, cols.FIRST_SEEN,
    cols.LAST_SEEN, cols.EXAMPLE_TASK_ID, schema.TASK_NAME, cols.EXAMPLE_MESSAGE,
)
#: Lines about one pool process loss, on one worker, come within this much of each other
#: (billiard's "Process ... exited", Celery's "Task handler raised error: WorkerLostError",
#: the instrumentation's worker_lost): they are one loss.
SAME_LOSS_S = 5.0

_TASK_IN_TEXT = r"([\w.:-]+)\[([0-9a-fA-F-]{8,})\]"
_OUTCOMES = (schema.Event.TASK_SUCCEEDED, schema.Event.TASK_FAILED, schema.Event.TASK_RETRIED,
             schema.Event.TASK_REVOKED)

#: Redis' default visibility_timeout; a redelivery gap this long (give or take) is its mark.
VISIBILITY_TIMEOUT_S = 3600.0

WORKER_LOST, TIME_LIMIT, BROKER_LOST = "worker_lost", "time_limit", "broker_connection_lost"
_KIND_OF_EVENT = {
    schema.Event.WORKER_LOST: WORKER_LOST,
    schema.Event.TIME_LIMIT_EXCEEDED: TIME_LIMIT,
    schema.Event.BROKER_CONNECTION_LOST: BROKER_LOST,
}
# Failed tasks whose exception says the same thing (a worker may log either or both).
_KIND_OF_EXCEPTION = (
    (r"WorkerLostError$", WORKER_LOST),
    # Not SoftTimeLimitExceeded: task code may raise it itself (a plain failure); a real
    # soft limit is Celery's "Soft time limit (...) exceeded" line, read as its own event.
    (r"(?<![Ss]oft)TimeLimitExceeded$", TIME_LIMIT),
)


def duplicate_executions(frame: pd.DataFrame, *, ids: Codes | None = None,
                         lost_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Task ids executed more often than their retries explain, with the likely cause.

    ``lost_rows``: ``lost_worker_rows(frame)`` if the caller has it (it is not cheap)."""
    rec = event_is(frame, schema.Event.TASK_RECEIVED)
    sta = event_is(frame, schema.Event.TASK_STARTED)
    suc = event_is(frame, schema.Event.TASK_SUCCEEDED)
    ret = event_is(frame, schema.Event.TASK_RETRIED)
    if not (rec | sta | suc).any():
        return empty(DUPLICATE_COLUMNS)
    codes, first = task_codes(frame, ids)
    n = len(first)
    valid = codes >= 0

    def per_id(mask: np.ndarray) -> np.ndarray:
        # np.compress, not codes[mask]: NumPy's boolean indexing is ~5x slower here.
        return np.bincount(np.compress(mask & valid, codes), minlength=n)

    n_rec, n_sta, n_suc, n_ret = per_id(rec), per_id(sta), per_id(suc), per_id(ret)
    expected = n_ret + 1
    dup = (n_rec > expected) | (n_sta > expected) | (n_suc > 1)
    if not dup.any():
        return empty(DUPLICATE_COLUMNS)

    in_dup = valid & dup[np.maximum(codes, 0)] & (rec | sta | suc | ret)
    dup_rows = pick(
        frame,
        in_dup,
        (
            schema.TASK_ID,
            schema.TASK_NAME,
            schema.TIME,
            schema.WORKER,
            schema.POD,
            schema.ORGANIZATION_ID,
            schema.REDELIVERED,
            schema.EVENT,
        ),
    )
    ids = text(dup_rows, schema.TASK_ID)
    t = times(dup_rows)
    worker = text(dup_rows, schema.WORKER).fillna(text(dup_rows, schema.POD))
    details = pd.DataFrame(
        {
            schema.TASK_ID: ids,
            schema.TASK_NAME: text(dup_rows, schema.TASK_NAME),
            schema.TIME: t,
            "_worker": worker,
            schema.ORGANIZATION_ID: dup_rows[schema.ORGANIZATION_ID],
            schema.REDELIVERED: dup_rows[schema.REDELIVERED].astype("boolean").fillna(False),
            "_received_at": t.where(event_is(dup_rows, schema.Event.TASK_RECEIVED)),
        }
    )
    g = details.groupby(schema.TASK_ID, sort=False)
    out = g.agg(
        **{
            schema.TASK_NAME: (schema.TASK_NAME, "first"),
            cols.WORKERS: ("_worker", "nunique"),
            schema.ORGANIZATION_ID: (schema.ORGANIZATION_ID, "first"),
            cols.FIRST_SEEN: (schema.TIME, "min"),
            cols.LAST_SEEN: (schema.TIME, "max"),
            schema.REDELIVERED: (schema.REDELIVERED, "any"),
        }
    )
    # Longest gap between two consecutive receptions of the same id.
    received = details.dropna(subset=["_received_at"]).sort_values([schema.TASK_ID, "_received_at"])
    gaps = received.groupby(schema.TASK_ID)["_received_at"].diff().dt.total_seconds()
    out[cols.GAP_S] = gaps.groupby(received[schema.TASK_ID]).max().reindex(out.index)

    dup_codes = np.flatnonzero(dup)
    counts = pd.DataFrame(
        {cols.RECEIVED: n_rec[dup_codes], cols.STARTED: n_sta[dup_codes],
         cols.SUCCEEDED: n_suc[dup_codes], cols.RETRIED: n_ret[dup_codes]},
        index=pd.Index(frame[schema.TASK_ID].iloc[first[dup_codes]].astype("str").to_numpy()),
    )
    out = out.join(counts, how="left")

    if lost_rows is None:
        lost_rows = lost_worker_rows(frame)
    lost_ids = set(lost_rows[schema.TASK_ID].dropna())
    near_hour = (out[cols.GAP_S] >= VISIBILITY_TIMEOUT_S * 0.95).fillna(False)
    out[cols.LIKELY_CAUSE] = np.select(
        [
            out.index.isin(list(lost_ids)),
            near_hour.to_numpy(bool),
            out[schema.REDELIVERED].to_numpy(bool),
        ],
        [WORKER_LOST, "visibility_timeout", "redelivered"],
        default="unknown",
    )
    out.index.name = schema.TASK_ID
    out = out.reset_index().sort_values([cols.RECEIVED, cols.FIRST_SEEN], ascending=[False, True])
    return out.reset_index(drop=True)[list(DUPLICATE_COLUMNS)]


def lost_worker_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per lost-worker, time-limit or broker-connection line (deduplicated per task)."""
    by_event = event_is(frame, *_KIND_OF_EVENT)
    failed = event_is(frame, schema.Event.TASK_FAILED, schema.Event.TASK_INTERNAL_ERROR)
    # Only the failed rows' exception types are scanned, each distinct type once: a regex
    # over every row costs.
    by_exception = np.zeros(len(frame), dtype=bool)
    exc_kind = pd.Series(pd.NA, index=np.flatnonzero(failed), dtype="object")
    if failed.any():
        exc = text(pick(frame, failed, (schema.EXCEPTION_TYPE,)), schema.EXCEPTION_TYPE, "")
        exc_code, exc_types = pd.factorize(exc)
        for pattern, name in _KIND_OF_EXCEPTION:
            hit = np.asarray(exc_types.str.contains(pattern, regex=True), dtype=bool)[exc_code]
            exc_kind[hit] = name
            by_exception[exc_kind.index[hit]] = True
    mask = by_event | by_exception
    rows = pick(
        frame,
        mask,
        (
            schema.EVENT,
            schema.WORKER,
            schema.POD,
            schema.SOURCE,
            schema.TIME,
            schema.TASK_ID,
            schema.TASK_NAME,
            schema.EXCEPTION_MESSAGE,
            schema.REASON,
            schema.MESSAGE,
            schema.REQUEUED,
        ),
    )
    kind = rows[schema.EVENT].astype("str").map({str(k): v for k, v in _KIND_OF_EVENT.items()})
    from_exc = exc_kind.reindex(np.flatnonzero(mask)).to_numpy(dtype=object)
    kind = pd.Series(np.where(pd.isna(from_exc), kind.to_numpy(dtype=object), from_exc),
                     index=rows.index)
    message = (
        rows[schema.EXCEPTION_MESSAGE]
        .fillna(rows[schema.REASON])
        .fillna(rows[schema.MESSAGE])
    )
    # Celery's own "Hard time limit (1s) exceeded for tasks.x[<id>]" names the task only in
    # its text: read name and id from there when the fields are empty (few rows).
    named = text(rows, schema.MESSAGE).str.extract(_TASK_IN_TEXT)
    out = pd.DataFrame(
        {
            cols.KIND: kind,
            schema.WORKER: text(rows, schema.WORKER).fillna(text(rows, schema.POD)).fillna(UNKNOWN),
            schema.TIME: times(rows),
            schema.TASK_ID: text(rows, schema.TASK_ID).fillna(named[1]),
            schema.TASK_NAME: text(rows, schema.TASK_NAME).fillna(named[0]),
            cols.EXAMPLE_MESSAGE: message,
            cols.REQUEUED: rows[schema.REQUEUED].astype("boolean").fillna(False).to_numpy(bool),
            "_stream": text(rows, schema.SOURCE).fillna("")
            + "/"
            + text(rows, schema.POD).fillna(""),
            "_reason": text(rows, schema.REASON).fillna(""),
        }
    )
    out = _one_row_per_loss(_without_time_limit_kills(out)).drop(columns="_reason")
    if (out[cols.KIND] == WORKER_LOST).any() and out[schema.TASK_ID].isna().any():
        out = _infer_lost_tasks(frame, out)
    # A worker may log a lost task twice (the pool's error and the task's failure).
    has_id = out[schema.TASK_ID].notna()
    once = out.loc[has_id].drop_duplicates([cols.KIND, schema.TASK_ID])
    out = pd.concat([once, out.loc[~has_id]]).sort_values(schema.TIME, kind="stable")
    return out.drop(columns="_stream")


def _without_time_limit_kills(out: pd.DataFrame) -> pd.DataFrame:
    """Without billiard's "Process ... exited with 'signal 9 (SIGKILL)'" that follows a hard
    time limit in the same stream within ``SAME_LOSS_S``: the pool killed the process for
    the time limit, already reported as such."""
    killed = (out[cols.KIND] == WORKER_LOST) & out["_reason"].str.startswith("signal 9")
    hard = (out[cols.KIND] == TIME_LIMIT) & out["_reason"].str.startswith("hard")
    if not (killed.any() and hard.any()):
        return out
    drop = []
    limits = out.loc[hard, ["_stream", schema.TIME]]
    for i in out.index[killed]:
        same = limits.loc[limits["_stream"] == out.at[i, "_stream"], schema.TIME]
        gap = (out.at[i, schema.TIME] - same).dt.total_seconds()
        if ((gap >= 0) & (gap <= SAME_LOSS_S)).any():
            drop.append(i)
    return out.drop(index=drop)


def _one_row_per_loss(out: pd.DataFrame) -> pd.DataFrame:
    """Lines about one pool process loss, in one stream within ``SAME_LOSS_S`` of each other,
    count once: billiard's "Process ... exited" and Celery's "Task handler raised error"
    name no task, so they go when a line of the same loss names one (the instrumentation's
    ``worker_lost``); without one, the first stays (requeued if any was). Lines naming a
    task are never dropped here (one per task id and kind, later)."""
    lost = (out[cols.KIND] == WORKER_LOST).to_numpy(bool)
    if lost.sum() < 2:
        return out
    w = out.loc[lost, ["_stream", schema.TIME, schema.TASK_ID, cols.REQUEUED]].sort_values(
        ["_stream", schema.TIME], kind="stable")
    gap = w.groupby("_stream")[schema.TIME].diff().dt.total_seconds()
    loss = (gap.isna() | (gap > SAME_LOSS_S)).cumsum().to_numpy()
    has_id = w[schema.TASK_ID].notna().to_numpy(bool)
    named = pd.Series(has_id).groupby(loss).transform("any").to_numpy(bool)
    # the first id-less line of a loss that no line names; every line that names a task
    first_idless = pd.Series(~has_id & ~named).groupby(loss).cumsum().to_numpy() == 1
    keep = has_id | (~named & ~has_id & first_idless)
    requeued = pd.Series(w[cols.REQUEUED].to_numpy(bool)).groupby(loss).transform("any")
    out = out.copy()
    kept_idless = w.index[keep & ~has_id]
    out.loc[kept_idless, cols.REQUEUED] = requeued.to_numpy(bool)[keep & ~has_id]
    return out.drop(index=w.index[~keep])


def _infer_lost_tasks(frame: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """Celery's own lost-worker lines name no task. The task is the one id that, in the same
    stream, was received before the loss with no outcome since, and is received again first
    after it (the message requeued: ``task_acks_late`` + ``task_reject_on_worker_lost``).

    Such an id has two consecutive ``task_received`` lines; the span between them is a
    *redelivery window*. Windows are few (one per redelivery), so each loss is matched
    against them, not against every line."""
    received = pick(frame, event_is(frame, schema.Event.TASK_RECEIVED), (schema.TASK_ID,))
    again = text(received, schema.TASK_ID)
    again = again[again.duplicated()].unique()  # only ids received more than once matter
    if len(again) == 0:
        return out
    events = event_is(frame, schema.Event.TASK_RECEIVED, *_OUTCOMES) & isin(
        frame[schema.TASK_ID], again
    )
    rows = pick(
        frame,
        events,
        (schema.EVENT, schema.TASK_ID, schema.TASK_NAME, schema.TIME, schema.SOURCE, schema.POD),
    )
    ev = (
        pd.DataFrame(
            {
                "received": (
                    rows[schema.EVENT].astype("str") == str(schema.Event.TASK_RECEIVED)
                ).to_numpy(bool),
                "id": text(rows, schema.TASK_ID).to_numpy(object),
                "name": text(rows, schema.TASK_NAME).to_numpy(object),
                "t": times(rows).to_numpy(dtype="datetime64[us]"),  # not Timestamp objects
                "stream": (
                    text(rows, schema.SOURCE).fillna("") + "/" + text(rows, schema.POD).fillna("")
                ).to_numpy(object),
            }
        )
        .dropna(subset=["id", "t"])
        .sort_values(["id", "t"], kind="stable")
    )
    same_id = ev["id"].eq(ev["id"].shift(-1))
    start = ev["received"] & ev["received"].shift(-1, fill_value=False) & same_id
    windows = pd.DataFrame({
        "id": ev["id"][start].to_numpy(object), "name": ev["name"][start].to_numpy(object),
        "stream": ev["stream"][start].to_numpy(object), "start": ev["t"][start].to_numpy(),
        "end": ev["t"].shift(-1)[start].to_numpy(),
    })
    if windows.empty:
        return out
    # Each loss against the window of its stream that started last before it; it is that
    # window's task unless an earlier window of the stream is still open (ambiguous).
    windows = windows.sort_values("start", kind="stable")
    windows["open_before"] = windows.groupby("stream")["end"].transform(
        lambda e: e.cummax().shift(1))
    todo = (out[cols.KIND] == WORKER_LOST) & out[schema.TASK_ID].isna()
    losses = pd.DataFrame({
        "row": out.index[todo],
        "stream": out.loc[todo, "_stream"].to_numpy(object),
        "t": pd.to_datetime(out.loc[todo, schema.TIME]).dt.tz_convert(None)
        .to_numpy(dtype="datetime64[us]"),
    }).dropna(subset=["t"]).sort_values("t", kind="stable")
    if losses.empty:
        return out
    windows["start"] = windows["start"].astype("datetime64[us]")
    m = pd.merge_asof(losses, windows, left_on="t", right_on="start", by="stream",
                      direction="backward")
    ok = (m["end"] > m["t"]) & ~(m["open_before"] > m["t"])
    m = m.loc[ok.to_numpy(bool)]
    out = out.copy()
    out.loc[m["row"].to_numpy(), schema.TASK_ID] = m["id"].to_numpy(object)
    named = m.loc[m["name"].notna()]
    out.loc[named["row"].to_numpy(), schema.TASK_NAME] = named["name"].to_numpy(object)
    out.loc[m["row"].to_numpy(), cols.REQUEUED] = True
    return out


def lost_workers(frame: pd.DataFrame, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Lost workers, time limits and broker disconnects, per kind and worker.

    ``rows``: ``lost_worker_rows(frame)`` if the caller has it (it is not cheap)."""
    if rows is None:
        rows = lost_worker_rows(frame)
    if rows.empty:
        return empty(LOST_COLUMNS)
    g = rows.groupby([cols.KIND, schema.WORKER], sort=False)
    out = g.agg(
        **{
            cols.COUNT: (schema.TIME, "size"),
            cols.TASK_IDS: (schema.TASK_ID, "nunique"),
            cols.FIRST_SEEN: (schema.TIME, "min"),
            cols.LAST_SEEN: (schema.TIME, "max"),
            cols.EXAMPLE_TASK_ID: (schema.TASK_ID, "first"),
            cols.EXAMPLE_MESSAGE: (cols.EXAMPLE_MESSAGE, "first"),
        }
    )
    out[cols.REQUEUED] = g[cols.REQUEUED].sum().astype("int64").to_numpy()
    out[schema.TASK_NAME] = g[schema.TASK_NAME].agg(join_unique)
    out = out.reset_index().sort_values(cols.COUNT, ascending=False, kind="stable")
    return out.reset_index(drop=True)[list(LOST_COLUMNS)]

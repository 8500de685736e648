"""Chords from the logs alone: members published vs finished, and whether the callback came.

    >>> chords(frame, now=pd.Timestamp("2026-11-28T12:00Z"), stuck_after=pd.Timedelta("15m"))
    >>> stuck_chords(frame, now=..., stuck_after=...)      # only the stuck ones

A chord member is a task event carrying a ``group_id`` and a ``chord_callback_id`` (or a
``chord_size``); the chord's id is that group id. For each chord the table gives members
expected (the largest ``chord_size`` seen, else the members seen), published (distinct member
ids seen on any event), finished and failed, the callback's id and name, whether the callback
was received, the tenant, first seen and last activity. Lines the chord monitor writes
(``chord_stuck``, ``chord_recovered`` ...) and Celery's ``Chord '<group>' raised`` errors are
folded in by ``chord_id`` / ``group_id``.

``chord_state`` is, in order of precedence:

* ``completed``  the callback was received;
* ``recovered`` / ``revoked`` / ``cleaned``  the chord monitor acted on it;
* ``failed``     a member failed or a chord error was logged (Celery will not call back);
* ``stuck``      every member finished, none failed, and the callback was not received
  although it is overdue: with the Redis backend the last member sends it within
  milliseconds, so it is overdue once ``max(60 s, 10 x p95 queue wait)`` (of the callback
  task in this log's ``slow_tasks`` with 20 waits or more, else the largest p95 of any
  task) has passed since the last member finished; or
  members are still missing and there was no activity for ``stuck_after`` before ``now``;
  or the chord monitor reported it stuck and no member moved since. ``stuck_reason`` says
  which, in words;
* ``pending``    still inside ``stuck_after``.

``now`` is the end of the window the logs cover (the CLI passes ``--until``, else the time of
the last line read), so replaying old log files gives the same answer as reading them live.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from instrumentation import schema

from . import columns as cols
from .durations import slow_tasks
from .kernels import distinct_per_group, event_is, factorize, isin, pick
from .values import empty, times

COMPLETED, FAILED, STUCK, PENDING = "completed", "failed", "stuck", "pending"
RECOVERED, REVOKED, CLEANED = "recovered", "revoked", "cleaned"

_CHORD_IN_TEXT = r"Chord(?: callback)? '([^']+)' raised"

#: Default of ``--stuck-after``.
STUCK_AFTER = pd.Timedelta("15min")

COLUMNS = (
    schema.CHORD_ID,
    cols.CHORD_STATE,
    schema.CHORD_CALLBACK_ID,
    schema.CHORD_CALLBACK_NAME,
    schema.ORGANIZATION_ID,
    schema.MEMBERS_EXPECTED,
    cols.MEMBERS_PUBLISHED,
    cols.MEMBERS_FINISHED,
    schema.MEMBERS_FAILED,
    cols.CALLBACK_RECEIVED,
    cols.FIRST_SEEN,
    cols.LAST_ACTIVITY,
    cols.IDLE_S,
    cols.STUCK_REASON,
)
#: A callback is overdue this many times the p99 queue wait after its last member ...
OVERDUE_FACTOR = 10.0
#: ... and never sooner than this.
OVERDUE_FLOOR = pd.Timedelta("60s")
#: The callback task's own queue waits are used when there are at least this many.
MIN_WAITS = 20

_TERMINAL = (schema.Event.TASK_SUCCEEDED, schema.Event.TASK_FAILED, schema.Event.TASK_REVOKED)
_MEMBER_FAILED = (schema.Event.TASK_FAILED, schema.Event.TASK_REVOKED)
#: Events of the callback that prove it was sent (the Log Analytics SQL uses the same set).
CALLBACK_SEEN = (
    schema.Event.TASK_RECEIVED,
    schema.Event.TASK_STARTED,
    schema.Event.TASK_SUCCEEDED,
    schema.Event.TASK_FAILED,
    schema.Event.TASK_RETRIED,
)
#: The chord monitor's event -> the chord state it sets (shared with the Log Analytics SQL).
MONITOR_STATE = {
    schema.Event.CHORD_RECOVERED: RECOVERED,
    schema.Event.CHORD_REVOKED: REVOKED,
    schema.Event.CHORD_CLEANED: CLEANED,
    schema.Event.CHORD_STUCK: STUCK,
}


def _member_rows(frame: pd.DataFrame) -> pd.DataFrame:
    group = frame[schema.GROUP_ID]
    callback = frame[schema.CHORD_CALLBACK_ID]
    is_member = group.notna() & (callback.notna() | frame[schema.CHORD_SIZE].notna())
    mask = is_member.to_numpy(dtype=bool, na_value=False) & event_is(frame, schema.TASK_EVENTS)
    rows = pick(
        frame,
        mask,
        (
            schema.GROUP_ID,
            schema.TASK_ID,
            schema.TIME,
            schema.EVENT,
            schema.CHORD_CALLBACK_ID,
            schema.CHORD_CALLBACK_NAME,
            schema.CHORD_SIZE,
            schema.ORGANIZATION_ID,
        ),
    )
    # The callback's own lines carry the chord's group and callback id too (it runs with
    # the options of the chord): it is the callback, not a member.
    own = (rows[schema.TASK_ID].astype("str") == rows[schema.CHORD_CALLBACK_ID].astype("str"))
    rows = rows.loc[~own.to_numpy(dtype=bool, na_value=False)].reset_index(drop=True)
    task_id = rows[schema.TASK_ID]
    return pd.DataFrame(
        {
            schema.CHORD_ID: rows[schema.GROUP_ID],
            schema.TASK_ID: task_id,
            schema.TIME: times(rows),
            schema.CHORD_CALLBACK_ID: rows[schema.CHORD_CALLBACK_ID],
            schema.CHORD_CALLBACK_NAME: rows[schema.CHORD_CALLBACK_NAME],
            schema.CHORD_SIZE: pd.to_numeric(rows[schema.CHORD_SIZE], errors="coerce"),
            schema.ORGANIZATION_ID: rows[schema.ORGANIZATION_ID],
            "_finished": event_is(rows, _TERMINAL),
            "_failed": event_is(rows, _MEMBER_FAILED),
        },
        index=rows.index,
    )


def _chord_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Chord-monitor lines and Celery chord errors, keyed by chord id."""
    mask = event_is(frame, schema.CHORD_MONITOR_EVENTS, schema.Event.CHORD_ERROR)
    rows = pick(
        frame,
        mask,
        (
            schema.CHORD_ID,
            schema.GROUP_ID,
            schema.EVENT,
            schema.TIME,
            schema.CHORD_CALLBACK_ID,
            schema.CHORD_CALLBACK_NAME,
            schema.ORGANIZATION_ID,
            schema.MEMBERS_EXPECTED,
            schema.MESSAGE,
        ),
    )
    chord = rows[schema.CHORD_ID].astype("str").fillna(rows[schema.GROUP_ID].astype("str"))
    # Celery's own "Chord '<group id>' raised: ChordError(...)" line names the chord only in
    # its text; these rows are few, so one regex over them is cheap.
    if chord.isna().any():
        named = rows[schema.MESSAGE].astype("str").str.extract(_CHORD_IN_TEXT, expand=False)
        chord = chord.fillna(named)
    out = pd.DataFrame(
        {
            schema.CHORD_ID: chord,
            schema.EVENT: rows[schema.EVENT].astype("str"),
            schema.TIME: times(rows),
            schema.CHORD_CALLBACK_ID: rows[schema.CHORD_CALLBACK_ID],
            schema.CHORD_CALLBACK_NAME: rows[schema.CHORD_CALLBACK_NAME],
            schema.ORGANIZATION_ID: rows[schema.ORGANIZATION_ID],
            schema.MEMBERS_EXPECTED: pd.to_numeric(rows[schema.MEMBERS_EXPECTED], errors="coerce"),
        },
        index=rows.index,
    )
    return out.loc[chord.notna().to_numpy(dtype=bool)]


def chords(
    frame: pd.DataFrame,
    *,
    now: pd.Timestamp | None = None,
    stuck_after: pd.Timedelta = STUCK_AFTER,
    slow: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every chord seen in the logs with its state (see the module docstring). ``slow``: the
    report's ``slow_tasks`` table if computed already (its queue waits date a due callback)."""
    members = _member_rows(frame)
    events = _chord_events(frame)
    if members.empty and events.empty:
        return empty(COLUMNS)
    if now is None:
        now = times(frame).max()

    # Integer codes for chords and member ids: distinct counts become unique + bincount.
    gcodes, gfirst = factorize(members[schema.CHORD_ID])
    tcodes, _ = factorize(members[schema.TASK_ID])
    chord_ids = members[schema.CHORD_ID].iloc[gfirst].astype("str").to_numpy(dtype=object)
    n = len(chord_ids)
    g = members.groupby(gcodes, sort=True)
    per = g.agg(
        **{
            schema.CHORD_CALLBACK_ID: (schema.CHORD_CALLBACK_ID, "first"),
            schema.CHORD_CALLBACK_NAME: (schema.CHORD_CALLBACK_NAME, "first"),
            schema.ORGANIZATION_ID: (schema.ORGANIZATION_ID, "first"),
            schema.MEMBERS_EXPECTED: (schema.CHORD_SIZE, "max"),
            cols.FIRST_SEEN: (schema.TIME, "min"),
            cols.LAST_ACTIVITY: (schema.TIME, "max"),
        }
    )
    per[cols.MEMBERS_PUBLISHED] = distinct_per_group(gcodes, tcodes, n)
    per[cols.MEMBERS_FINISHED] = distinct_per_group(gcodes, tcodes, n, members["_finished"])
    per[schema.MEMBERS_FAILED] = distinct_per_group(gcodes, tcodes, n, members["_failed"])
    per.index = pd.Index(np.asarray(chord_ids, dtype=object), name=schema.CHORD_ID)
    per["_work_last"] = per[cols.LAST_ACTIVITY]  # members' and callback's lines, not monitor's
    if not events.empty:
        ev = events.groupby(schema.CHORD_ID, sort=False).agg(
            **{
                "_ev_callback_id": (schema.CHORD_CALLBACK_ID, "first"),
                "_ev_callback_name": (schema.CHORD_CALLBACK_NAME, "first"),
                "_ev_org": (schema.ORGANIZATION_ID, "first"),
                "_ev_expected": (schema.MEMBERS_EXPECTED, "max"),
                "_ev_first": (schema.TIME, "min"),
                "_ev_last": (schema.TIME, "max"),
            }
        )
        # The latest monitor verdict / chord error per chord decides over idle time.
        last = events.sort_values(schema.TIME, kind="stable").groupby(schema.CHORD_ID).tail(1)
        ev["_ev_last_event"] = last.set_index(schema.CHORD_ID)[schema.EVENT]
        ev["_chord_error"] = (
            events[schema.EVENT].eq(str(schema.Event.CHORD_ERROR)).groupby(events[schema.CHORD_ID]).any()
        )
        per = per.join(ev, how="outer")
        for mine, theirs in (
            (schema.CHORD_CALLBACK_ID, "_ev_callback_id"),
            (schema.CHORD_CALLBACK_NAME, "_ev_callback_name"),
            (schema.ORGANIZATION_ID, "_ev_org"),
            (schema.MEMBERS_EXPECTED, "_ev_expected"),
        ):
            per[mine] = per[mine].fillna(per[theirs])
        per[cols.FIRST_SEEN] = per[[cols.FIRST_SEEN, "_ev_first"]].min(axis=1)
        per[cols.LAST_ACTIVITY] = per[[cols.LAST_ACTIVITY, "_ev_last"]].max(axis=1)
    else:
        per["_ev_last_event"] = pd.Series(dtype="object")
        per["_ev_last"] = per["_work_last"]  # no monitor lines: nothing to compare
        per["_chord_error"] = False

    for name in (cols.MEMBERS_PUBLISHED, cols.MEMBERS_FINISHED, schema.MEMBERS_FAILED):
        per[name] = per[name].fillna(0).astype("int64")
    per[schema.MEMBERS_EXPECTED] = per[schema.MEMBERS_EXPECTED].fillna(per[cols.MEMBERS_PUBLISHED])
    per[schema.MEMBERS_EXPECTED] = per[schema.MEMBERS_EXPECTED].astype("int64")

    # Was the callback seen at all? (One hashed lookup over the ids of task events.)
    callback = per[schema.CHORD_CALLBACK_ID]
    task_ids = frame[schema.TASK_ID]
    is_callback = isin(task_ids, callback.dropna().unique())
    seen = is_callback & event_is(frame, *CALLBACK_SEEN)
    seen_ids = pd.Series(task_ids[seen].astype("str").unique())
    per[cols.CALLBACK_RECEIVED] = callback.notna() & isin(callback, seen_ids)
    # The callback's own lines are activity of the chord too.
    if is_callback.any():
        cb_rows = pick(frame, is_callback, (schema.TASK_ID, schema.TIME))
        cb_last = times(cb_rows).groupby(cb_rows[schema.TASK_ID].astype("str").to_numpy()).max()
        cb_time = callback.astype("str").map(cb_last)
        per[cols.LAST_ACTIVITY] = per[[cols.LAST_ACTIVITY]].assign(_cb=cb_time).max(axis=1)
        per["_work_last"] = per[["_work_last"]].assign(_cb=cb_time).max(axis=1)

    idle = now - per[cols.LAST_ACTIVITY]
    per[cols.IDLE_S] = (idle.dt.total_seconds()).clip(lower=0).round(3)
    monitor = per["_ev_last_event"].map(MONITOR_STATE)
    chord_error = per["_chord_error"].fillna(False).astype(bool)
    state = np.select(
        [
            per[cols.CALLBACK_RECEIVED].to_numpy(bool),
            monitor.isin([RECOVERED, REVOKED, CLEANED]).to_numpy(bool),
            (chord_error | (per[schema.MEMBERS_FAILED] > 0)).to_numpy(bool),
            # The monitor's "stuck" stands unless the chord moved after it said so.
            (monitor.eq(STUCK) & ~(per["_work_last"] > per["_ev_last"])).to_numpy(
                bool, na_value=False),
            (idle >= stuck_after).fillna(False).to_numpy(bool),
        ],
        [COMPLETED, monitor.fillna("").to_numpy(object), FAILED, STUCK, STUCK],
        default=PENDING,
    )
    state, reason = overdue_callbacks(
        state, monitor_stuck=monitor.eq(STUCK).to_numpy(bool, na_value=False),
        expected=per[schema.MEMBERS_EXPECTED], finished=per[cols.MEMBERS_FINISHED],
        failed=per[schema.MEMBERS_FAILED], callback_received=per[cols.CALLBACK_RECEIVED],
        callback_name=per[schema.CHORD_CALLBACK_NAME],
        since_done=(now - per["_work_last"]).dt.total_seconds(), idle_s=per[cols.IDLE_S],
        stuck_after=stuck_after, waits=lambda: slow if slow is not None else slow_tasks(frame))
    per[cols.CHORD_STATE] = state
    per[cols.STUCK_REASON] = reason
    per.index.name = schema.CHORD_ID
    out = per.reset_index()
    order = out[cols.CHORD_STATE].map({STUCK: 0, FAILED: 1, PENDING: 2}).fillna(3)
    out = out.assign(_o=order).sort_values(["_o", cols.IDLE_S], ascending=[True, False])
    return out.reset_index(drop=True)[list(COLUMNS)]


def overdue_callbacks(
    state: np.ndarray, *, monitor_stuck: np.ndarray, expected: pd.Series, finished: pd.Series,
    failed: pd.Series, callback_received: pd.Series, callback_name: pd.Series,
    since_done: pd.Series, idle_s: pd.Series, stuck_after: pd.Timedelta,
    waits: Callable[[], pd.DataFrame],
) -> tuple[np.ndarray, np.ndarray]:
    """Chord states with the overdue-callback rule applied, and the reason of each stuck one.

    Every member finished and none failed: the callback is due at once (the last member
    sends it), so it is overdue ``overdue_s`` after the last member's line, whatever
    --stuck-after says. ``waits()`` gives the report's ``slow_tasks`` table (asked for only
    when some callback is due). Shared by the local report and the Log Analytics one.
    """
    state = np.asarray(state, dtype=object).copy()
    all_done = ((finished >= expected) & (expected > 0) & (failed == 0)
                & ~callback_received.astype(bool)).to_numpy(bool)
    overdue = np.full(len(state), np.inf)
    if all_done.any():
        table = waits()
        names = callback_name.astype("str").to_numpy(object)
        by_name = {name: overdue_s(table, name) for name in set(names[all_done])}
        overdue[all_done] = [by_name[name] for name in names[all_done]]
    since = since_done.to_numpy(dtype="float64", na_value=np.nan)
    early = all_done & (since >= overdue)
    reason = np.full(len(state), None, dtype=object)
    for k in np.flatnonzero(early & np.isin(state, [PENDING, STUCK])):
        state[k] = STUCK
        reason[k] = (f"all {int(expected.iloc[k])} members finished {since[k]:.0f} s before "
                     f"the end of the log and the callback was never received; with this "
                     f"log's queue waits it was overdue after {overdue[k]:.0f} s")
    for k in np.flatnonzero((state == STUCK) & pd.isna(reason)):
        reason[k] = ("the chord monitor reported it stuck" if monitor_stuck[k] else
                     f"{int(finished.iloc[k])} of {int(expected.iloc[k])} members finished and "
                     f"nothing happened for {float(idle_s.iloc[k]):.0f} s "
                     f"(--stuck-after {pd.Timedelta(stuck_after).total_seconds():.0f} s)")
    return state, reason


def overdue_s(slow: pd.DataFrame, callback_name: str) -> float:
    """Seconds after which a due callback is overdue: ``max(OVERDUE_FLOOR, OVERDUE_FACTOR x
    p95 queue wait)`` of the callback's task when it has ``MIN_WAITS`` waits, else the largest
    p95 queue wait of any task (``slow``: the report's ``slow_tasks`` table)."""
    waits = pd.to_numeric(slow[cols.WAITS], errors="coerce").fillna(0).to_numpy()
    p95 = pd.to_numeric(slow[cols.WAIT_P95_MS], errors="coerce").to_numpy(dtype="float64")
    mine = (slow[schema.TASK_NAME].astype("str") == callback_name).to_numpy(bool)
    if (mine & (waits >= MIN_WAITS)).any():
        wait_ms = float(np.nanmax(p95[mine]))
    else:
        known = p95[(waits > 0) & ~np.isnan(p95)]
        wait_ms = float(known.max()) if len(known) else 0.0
    return max(OVERDUE_FLOOR.total_seconds(), OVERDUE_FACTOR * wait_ms / 1000)


def stuck_chords(
    frame: pd.DataFrame,
    *,
    now: pd.Timestamp | None = None,
    stuck_after: pd.Timedelta = STUCK_AFTER,
) -> pd.DataFrame:
    """Only the chords whose callback is overdue (``chord_state == "stuck"``)."""
    table = chords(frame, now=now, stuck_after=stuck_after)
    return table.loc[table[cols.CHORD_STATE] == STUCK].reset_index(drop=True)

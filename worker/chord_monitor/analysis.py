"""Decide whether a chord is stuck, and why: pure functions over a :class:`ChordSnapshot`.

    verdict = analyze(snapshot, now=datetime.now(UTC))
    if verdict.stuck: print(verdict.reason, verdict.detail)

The rules follow Celery 5.7's Redis backend (see :mod:`worker.chord_monitor.keys`), checked in
this order:

1. The callback has a result: SUCCESS is completed, REVOKED is revoked; FAILURE caused by a
   failed or revoked member (Celery's ``ChordError``) is a handled failure when the callback
   has an error callback, else stuck (nobody hears of it); any other FAILURE is
   ``callback_failed``.
2. The callback sits in a queue or on a worker: waiting for it; in ``unacked`` with no live
   worker holding it: ``orphaned_in_unacked`` (see below).
3. ``.c`` is ``done`` (Celery published the callback and cleaned up) but the callback has no
   result and, with the broker inspected, is nowhere: ``callback_not_run``.
4. No size key: the join script will never fire, whatever the members do:
   ``size_key_missing`` (the silent case); when members failed and the callback is unknown,
   Celery most likely failed the chord itself (it deletes ``.s`` then): ``member_failed``.
5. Size key present, every member joined, no claim: ``callback_not_dispatched`` (a worker died
   between joining and publishing, and nothing will retry).
6. Members not done that no queue and no worker holds (when the broker was inspected):
   ``members_lost``; members orphaned in ``unacked``: ``orphaned_in_unacked``. Otherwise
   the chord is in progress.

*Lost* members are recoverable (:func:`can_republish`) when the recorder kept every one of
their messages (``replay`` is ``recorded``), every member of the chord is known, and the
workers' replies were complete: ``recover`` then re-publishes them with their original task
ids (the join counts a task id and index once, so a copy that also runs does not count twice).

*Orphaned* (:func:`orphaned`): a pending member or the callback whose message sits in kombu's
``unacked`` hash, delivered at least ``orphan_grace_s`` before the workers were asked, and
listed by none of them (``active``, ``reserved``, ``scheduled``), with every worker that
answered having answered all three. kombu's delivery is two steps (``BRPOP``, then
``QoS.append`` writes ``unacked``): when Redis applies the second and its reply never reaches
the worker, nothing but ``VISIBILITY_TIMEOUT`` brings the message back. With no reply, a
partial one, or an inspect error, nothing is called orphaned; the grace keeps a message in
the middle of its delivery out. ``recover`` puts orphans back in their queues.

Age (``age_s``) counts from the chord's record (first member published) or, without one, from
its first member done; ``None`` when nothing tells.
"""

from __future__ import annotations

from datetime import datetime

from worker.chord_monitor.keys import CLAIM_DONE
from worker.chord_monitor.model import (
    EXPLANATIONS,
    RECOVERABLE,
    REPLAY_RECORDED,
    UNACKED_HOLDER,
    UNDECODABLE,
    ChordSnapshot,
    ChordState,
    Reason,
    TaskInfo,
    UnackedEntry,
    Verdict,
)

_CHORD_ERROR_MARKERS = ("ChordError", "Dependency ")
#: A message younger than this in ``unacked`` (from its ``unacked_index`` score to the moment
#: the workers were asked) is never called orphaned: it may be in the middle of its delivery.
DEFAULT_ORPHAN_GRACE_S = 60.0


def age_of(snap: ChordSnapshot, now: datetime) -> float | None:
    first = snap.first_seen()
    return None if first is None else max(0.0, (now - first).total_seconds())


def has_error_callback(snap: ChordSnapshot) -> bool:
    options = (snap.callback_signature or {}).get("options") or {}
    return bool(options.get("link_error"))


def is_orphan(entry: UnackedEntry | None, held: bool, asked_at: float | None,
              grace_s: float) -> bool:
    """One ``unacked`` entry is orphaned: the workers' replies were complete (``asked_at``),
    none of them holds it, and it was delivered at least ``grace_s`` before they were asked."""
    return (entry is not None and not held and asked_at is not None
            and entry.delivered_at is not None and entry.delivered_at <= asked_at - grace_s)


def orphaned(snap: ChordSnapshot, grace_s: float = DEFAULT_ORPHAN_GRACE_S) -> list[TaskInfo]:
    """Pending members, and the callback without a result, orphaned in ``unacked``."""
    tasks = list(snap.pending_members)
    if snap.callback is not None and snap.callback.state is None:
        tasks.append(snap.callback)
    return [t for t in tasks
            if t.holder == UNACKED_HOLDER
            and is_orphan(t.unacked, False, snap.workers_asked_at, grace_s)]


def lost_members(snap: ChordSnapshot) -> list[TaskInfo]:
    """Pending members that no queue, ``unacked`` or worker holds (the broker was read)."""
    if not snap.holders_known:
        return []
    return [m for m in snap.pending_members if not m.holder]


def can_republish(snap: ChordSnapshot) -> tuple[bool, str]:
    """Whether ``recover`` may re-publish the lost members: each one's message was recorded,
    no member is unknown, and the workers' replies can prove that none of them holds one."""
    lost = lost_members(snap)
    if not lost:
        return False, "no member is lost"
    if snap.callback_signature is None:
        return False, "the chord has no record (install record.install(app))"
    expected = snap.expected
    if expected is None or len(snap.members) < expected:
        return False, (f"only {len(snap.members)} of {expected if expected is not None else '?'}"
                       " members are known")
    unrecorded = [m for m in lost if m.replay != REPLAY_RECORDED]
    if unrecorded:
        m = unrecorded[0]
        more = f" (and {len(unrecorded) - 1} more)" if len(unrecorded) > 1 else ""
        return False, (f"member {m.index} {m.task_id} "
                       f"{m.replay or 'not recorded (record without message copies)'}{more}")
    if snap.workers_asked_at is None:
        return False, "the workers' replies were incomplete: cannot prove none holds them"
    return True, f"{len(lost)} lost member(s) recorded: recover re-publishes them"


def _stuck(snap: ChordSnapshot, reason: Reason, detail: str, age: float | None,
           orphans: list[TaskInfo] | None = None) -> Verdict:
    ids = [t.task_id for t in orphans or []]
    if reason is Reason.MEMBERS_LOST:
        recoverable = can_republish(snap)[0]
    else:
        recoverable = bool(ids) or (reason in RECOVERABLE and can_recover(snap)[0])
    return Verdict(ChordState.STUCK, reason, f"{EXPLANATIONS[reason]}; {detail}".rstrip("; "),
                   age, recoverable=recoverable, orphaned=ids)


def _orphan_detail(orphans: list[TaskInfo], now: datetime) -> str:
    """``member <id> (<name>) delivered <n>s ago on <routing key>`` for each orphan."""
    parts = []
    for t in orphans[:5]:
        entry = t.unacked
        age = entry.age_s(now.timestamp()) if entry else None
        parts.append(f"{t.name or 'task'} {t.task_id} delivered "
                     f"{'?' if age is None else f'{age:.0f}'}s ago on "
                     f"{entry.routing_key if entry else '?'}")
    more = f" and {len(orphans) - 5} more" if len(orphans) > 5 else ""
    return "; ".join(parts) + more


def can_recover(snap: ChordSnapshot) -> tuple[bool, str]:
    """Whether ``recover`` has all it needs: every member succeeded, the callback is known."""
    if snap.callback_signature is None:
        return False, "the callback is unknown (no chord record: install record.install(app))"
    if snap.callback is not None and snap.callback.state is not None:
        return False, f"the callback already has a result ({snap.callback.state})"
    if snap.callback is not None and snap.callback.holder:
        return False, f"the callback is waiting in {snap.callback.holder}"
    expected = snap.expected
    if expected is None:
        return False, "the number of members is unknown"
    if snap.members_failed:
        return False, f"{snap.members_failed} member(s) failed; the callback would fail too"
    if snap.joined_states.get(UNDECODABLE):
        return False, "stored results are not JSON (another result_serializer)"
    succeeded = [m for m in snap.members if (m.joined_state or m.state) == "SUCCESS"]
    if len(succeeded) < expected:
        return False, f"only {len(succeeded)} of {expected} members are done"
    return True, "all members succeeded and the callback never ran"


def analyze(snap: ChordSnapshot, now: datetime, *,
            orphan_grace_s: float = DEFAULT_ORPHAN_GRACE_S) -> Verdict:
    """The verdict on one chord at ``now`` (timezone-aware)."""
    age = age_of(snap, now)
    orphans = orphaned(snap, orphan_grace_s)
    cb = snap.callback
    cb_state = cb.state if cb else None
    expected = snap.expected
    progress = f"{snap.joined}/{expected if expected is not None else '?'} members done"

    if cb_state == "SUCCESS":
        return Verdict(ChordState.COMPLETED, Reason.DONE, "the callback succeeded", age)
    if cb_state == "REVOKED":
        return Verdict(ChordState.REVOKED, Reason.REVOKED, "the callback was revoked", age)
    if cb_state == "FAILURE":
        error = (cb.error if cb else None) or ""
        if snap.members_failed or any(m in error for m in _CHORD_ERROR_MARKERS):
            revoked = any((m.joined_state or m.state) == "REVOKED" for m in snap.failed_members)
            reason = Reason.MEMBER_REVOKED if revoked else Reason.MEMBER_FAILED
            if has_error_callback(snap):
                return Verdict(ChordState.FAILED, Reason.HANDLED_FAILURE,
                               f"{reason.value}: the error callback was called", age)
            return _stuck(snap, reason, error[:200], age)
        return _stuck(snap, Reason.CALLBACK_FAILED, error[:200], age)
    if cb_state is not None:  # STARTED, RETRY, ...
        return Verdict(ChordState.IN_PROGRESS, Reason.WAITING_FOR_CALLBACK,
                       f"the callback is {cb_state}", age)
    if cb is not None and any(t is cb for t in orphans):
        return _stuck(snap, Reason.ORPHANED_IN_UNACKED,
                      f"the callback: {_orphan_detail([cb], now)}", age, [cb])
    if cb is not None and cb.holder:
        return Verdict(ChordState.IN_PROGRESS, Reason.WAITING_FOR_CALLBACK,
                       f"the callback waits in {cb.holder}", age)

    if snap.claim == CLAIM_DONE:
        if cb is None:
            return Verdict(ChordState.COMPLETED, Reason.DONE,
                           "Celery published the callback (which one is unknown: no record)",
                           age)
        if not snap.holders_known:
            return Verdict(ChordState.IN_PROGRESS, Reason.WAITING_FOR_CALLBACK,
                           "Celery published the callback (broker not inspected)", age)
        return _stuck(snap, Reason.CALLBACK_NOT_RUN, progress, age)
    if snap.claim is not None:
        return Verdict(ChordState.IN_PROGRESS, Reason.WAITING_FOR_CALLBACK,
                       "a worker is publishing the callback", age)

    if snap.size is None:
        if snap.members_failed and cb is None:
            return _stuck(snap, Reason.MEMBER_FAILED,
                          f"{snap.members_failed} member(s) failed; {progress}", age)
        detail = progress
        if snap.members_failed:
            detail += f"; {snap.members_failed} member(s) failed"
        if orphans:
            detail += f"; {len(orphans)} orphaned in unacked: {_orphan_detail(orphans, now)}"
        return _stuck(snap, Reason.SIZE_KEY_MISSING, detail, age, orphans)

    if expected is not None and snap.joined >= expected:
        if snap.members_failed:
            return _stuck(snap, Reason.MEMBER_FAILED,
                          f"{snap.members_failed} member(s) failed; {progress}", age)
        return _stuck(snap, Reason.CALLBACK_NOT_DISPATCHED, progress, age)

    lost = lost_members(snap)
    if lost:
        extra = f"; {len(orphans)} orphaned in unacked" if orphans else ""
        ok, why = can_republish(snap)
        return _stuck(snap, Reason.MEMBERS_LOST,
                      f"{len(lost)} lost; {progress}{extra}; "
                      f"{why if ok else 'not recoverable: ' + why}", age, orphans)
    if orphans:
        return _stuck(snap, Reason.ORPHANED_IN_UNACKED,
                      f"{len(orphans)} member(s) orphaned in unacked: "
                      f"{_orphan_detail(orphans, now)}; {progress}",
                      age, orphans)
    detail = progress
    if snap.members_failed:
        detail += f"; {snap.members_failed} member(s) failed: the chord will fail"
    return Verdict(ChordState.IN_PROGRESS, Reason.RUNNING, detail, age)


def is_reportable(verdict: Verdict, max_age_s: float) -> bool:
    """Stuck and older than ``max_age_s``; a stuck chord of unknown age is always reported."""
    return verdict.stuck and (verdict.age_s is None or verdict.age_s >= max_age_s)

"""The stuck/healthy rules of :func:`worker.chord_monitor.analysis.analyze`, on hand-made
snapshots (pure functions: no Redis needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.chord_monitor.analysis import (
    analyze,
    can_recover,
    can_republish,
    is_orphan,
    is_reportable,
    lost_members,
)
from worker.chord_monitor.broker import INSPECT_KINDS, WorkerTasks, asked_at
from worker.chord_monitor.keys import ChordRef
from worker.chord_monitor.model import (
    REPLAY_RECORDED,
    UNACKED_HOLDER,
    ChordSnapshot,
    ChordState,
    Reason,
    TaskInfo,
    UnackedEntry,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SIG = {"task": "app.collect", "args": [], "kwargs": {}, "options": {"task_id": "cb"}}


def snap(*, size: int | None = 3, joined: int = 0, states: tuple[str, ...] = (),
         pending: int = 0, held: bool = True, claim: str | None = None,
         cb_state: str | None = None, cb_error: str | None = None, cb_holder: str | None = None,
         signature: dict | None = SIG, holders_known: bool = True,
         created: datetime | None = NOW - timedelta(hours=3)) -> ChordSnapshot:
    members = [TaskInfo(f"m{i}", index=i, joined_state=st, state=st, result=i)
               for i, st in enumerate(states or ("SUCCESS",) * joined)]
    members += [TaskInfo(f"p{i}", index=len(members) + i,
                         holder="queue:celery" if held else None) for i in range(pending)]
    joined_states: dict[str, int] = {}
    for m in members:
        if m.joined_state:
            joined_states[m.joined_state] = joined_states.get(m.joined_state, 0) + 1
    return ChordSnapshot(
        ref=ChordRef("", "gid"), size=size, joined=sum(joined_states.values()),
        joined_states=joined_states, claim=claim, has_chord_data=True, members=members,
        recorded_members=len(members) or None,
        callback=TaskInfo("cb", name="app.collect", state=cb_state, error=cb_error,
                          holder=cb_holder) if signature is not None else None,
        callback_signature=signature, created=created, holders_known=holders_known)


class TestHealthy:
    def test_members_running_is_in_progress(self):
        """Size key present, pending members held by a queue: in progress."""
        v = analyze(snap(joined=1, pending=2), NOW)
        assert (v.state, v.reason) == (ChordState.IN_PROGRESS, Reason.RUNNING)
        assert not v.stuck and v.age_s == 3 * 3600

    def test_callback_succeeded_is_completed(self):
        """A callback with SUCCESS completes the chord, whatever keys remain."""
        v = analyze(snap(size=None, claim="done", cb_state="SUCCESS"), NOW)
        assert v.state is ChordState.COMPLETED

    def test_callback_queued_is_waiting(self):
        """The callback sits in a queue: waiting, not stuck."""
        v = analyze(snap(size=None, claim="done", cb_holder="queue:celery"), NOW)
        assert v.reason is Reason.WAITING_FOR_CALLBACK and not v.stuck

    def test_claim_token_is_dispatching(self):
        """A dispatch claim that is not `done`: a worker is publishing right now."""
        v = analyze(snap(joined=3, claim="a1b2"), NOW)
        assert v.reason is Reason.WAITING_FOR_CALLBACK

    def test_no_broker_means_no_guess_about_lost_members(self):
        """Without the broker inspected, unheld members are not called lost."""
        v = analyze(snap(joined=1, pending=2, held=False, holders_known=False), NOW)
        assert v.state is ChordState.IN_PROGRESS

    def test_revoked_callback_is_revoked(self):
        assert analyze(snap(cb_state="REVOKED"), NOW).state is ChordState.REVOKED

    def test_member_failed_with_error_callback_is_handled(self):
        """Celery failed the chord and an error callback was linked: handled, not stuck."""
        sig = {**SIG, "options": {"task_id": "cb", "link_error": [{"task": "app.on_error"}]}}
        v = analyze(snap(size=None, states=("SUCCESS", "FAILURE"), cb_state="FAILURE",
                         cb_error="ChordError: Dependency m1 raised ValueError()",
                         signature=sig), NOW)
        assert (v.state, v.reason) == (ChordState.FAILED, Reason.HANDLED_FAILURE)


class TestStuck:
    @pytest.mark.parametrize(("kwargs", "reason", "recoverable"), [
        (dict(size=None, joined=3), Reason.SIZE_KEY_MISSING, True),
        (dict(size=None, joined=1, pending=2), Reason.SIZE_KEY_MISSING, False),
        (dict(size=None, joined=3, signature=None), Reason.SIZE_KEY_MISSING, False),
        (dict(joined=3), Reason.CALLBACK_NOT_DISPATCHED, True),
        (dict(size=None, joined=3, claim="done"), Reason.CALLBACK_NOT_RUN, True),
        (dict(joined=1, pending=2, held=False), Reason.MEMBERS_LOST, False),
        (dict(size=None, states=("SUCCESS", "FAILURE", "SUCCESS"), cb_state="FAILURE",
              cb_error="ChordError: Dependency m1 raised ValueError('x')"),
         Reason.MEMBER_FAILED, False),
        (dict(size=None, states=("SUCCESS", "REVOKED"), cb_state="FAILURE",
              cb_error="ChordError: Dependency m1 raised TaskRevokedError()"),
         Reason.MEMBER_REVOKED, False),
        (dict(size=None, states=("FAILURE", "SUCCESS"), signature=None),
         Reason.MEMBER_FAILED, False),
        (dict(size=None, claim="done", joined=0, cb_state="FAILURE",
              cb_error="RuntimeError: boom"), Reason.CALLBACK_FAILED, False),
    ])
    def test_reason(self, kwargs, reason, recoverable):
        """Each way a chord gets stuck is named, and only the fixable ones are recoverable."""
        v = analyze(snap(**kwargs), NOW)
        assert v.stuck, v
        assert v.reason is reason, v
        assert v.recoverable is recoverable, v

    def test_size_missing_with_failed_member_and_known_callback(self):
        """Size gone before the end: Celery never fails the chord, the root cause is the key."""
        v = analyze(snap(size=None, states=("SUCCESS", "FAILURE", "SUCCESS")), NOW)
        assert v.reason is Reason.SIZE_KEY_MISSING
        assert "1 member(s) failed" in v.detail
        assert not v.recoverable
        assert "failed" in can_recover(snap(size=None, states=("SUCCESS", "FAILURE")))[1]

    def test_recover_refuses_when_callback_has_a_result(self):
        ok, why = can_recover(snap(size=None, joined=3, cb_state="STARTED"))
        assert not ok and "STARTED" in why


class TestAge:
    def test_age_from_first_member_without_record(self):
        """Without a record, age counts from the first member done."""
        s = snap(size=None, joined=2, created=None)
        s.members[0].date_done = NOW - timedelta(minutes=10)
        s.members[1].date_done = NOW - timedelta(minutes=5)
        assert analyze(s, NOW).age_s == 600

    def test_reportable_threshold(self):
        v = analyze(snap(size=None, joined=3, created=NOW - timedelta(minutes=20)), NOW)
        assert is_reportable(v, 0) and is_reportable(v, 1200)
        assert not is_reportable(v, 1201)
        unknown = analyze(snap(size=None, joined=3, created=None), NOW)
        assert unknown.age_s is None and is_reportable(unknown, 10**9)

    def test_recover_refuses_undecodable_results(self):
        """Results in another serializer cannot be passed on: refuse rather than send None."""
        s = snap(size=None, joined=3)
        s.joined_states["<undecodable>"] = 1
        ok, why = can_recover(s)
        assert not ok and "not JSON" in why


ASKED = NOW.timestamp()


def in_unacked(info: TaskInfo, delivered_s_before: float) -> TaskInfo:
    """Put ``info`` in kombu's unacked hash, delivered that long before the workers were
    asked (and listed by none of them)."""
    info.holder = UNACKED_HOLDER
    info.unacked = UnackedEntry(f"tag-{info.task_id}", info.task_id, info.name or "app.t",
                                "celery", "celery", ASKED - delivered_s_before)
    return info


class TestOrphaned:
    def test_member_in_unacked_past_the_grace_is_orphaned(self):
        """No worker lists it and it was delivered 2 minutes before they were asked."""
        s = snap(joined=1, pending=2)
        in_unacked(s.members[1], 120)
        s.workers_asked_at = ASKED
        v = analyze(s, NOW, orphan_grace_s=60)
        assert (v.state, v.reason) == (ChordState.STUCK, Reason.ORPHANED_IN_UNACKED)
        assert v.orphaned == ["p0"] and v.recoverable
        assert "p0 delivered 120s ago on celery" in v.detail

    @pytest.mark.parametrize(("delivered_before", "asked"), [
        (30, ASKED),  # within the grace: maybe in the middle of its delivery
        (120, None),  # no complete answer from the workers: cannot say nobody holds it
    ])
    def test_not_orphaned_without_proof(self, delivered_before: float, asked: float | None):
        s = snap(joined=1, pending=2)
        in_unacked(s.members[1], delivered_before)
        s.workers_asked_at = asked
        v = analyze(s, NOW, orphan_grace_s=60)
        assert (v.state, v.reason, v.orphaned) == (ChordState.IN_PROGRESS, Reason.RUNNING, [])

    def test_orphaned_callback(self):
        s = snap(size=None, joined=3, claim="done")
        in_unacked(s.callback, 600)
        s.workers_asked_at = ASKED
        v = analyze(s, NOW)
        assert (v.reason, v.orphaned, v.recoverable) == (
            Reason.ORPHANED_IN_UNACKED, ["cb"], True)
        assert v.detail.split("; ")[1].startswith("the callback: app.collect cb")

    def test_lost_members_dominate_but_orphans_are_named(self):
        s = snap(joined=0, pending=2, held=False)
        in_unacked(s.members[0], 600)
        s.workers_asked_at = ASKED
        v = analyze(s, NOW)
        assert v.reason is Reason.MEMBERS_LOST and "1 orphaned in unacked" in v.detail
        assert v.orphaned == ["p0"]

    def test_size_key_missing_keeps_its_reason_and_lists_the_orphans(self):
        s = snap(size=None, joined=2, pending=1)
        in_unacked(s.members[2], 600)
        s.workers_asked_at = ASKED
        v = analyze(s, NOW)
        assert v.reason is Reason.SIZE_KEY_MISSING and v.orphaned == ["p0"]
        assert "1 orphaned in unacked" in v.detail and v.recoverable

    def test_is_orphan(self):
        entry = UnackedEntry("t", "id", "n", "", "q", 100.0)
        assert is_orphan(entry, False, 160.0, 60)
        assert not is_orphan(entry, True, 160.0, 60)  # a worker lists it
        assert not is_orphan(entry, False, 159.9, 60)
        assert not is_orphan(entry, False, None, 0)
        assert not is_orphan(None, False, 160.0, 60)
        assert not is_orphan(UnackedEntry("t", "id", "n", "", "q", None), False, 160.0, 0)


class TestWorkerReplies:
    def test_asked_at_needs_every_kind_from_every_worker(self):
        full = set(INSPECT_KINDS)
        a = WorkerTasks("a", answered=set(full), asked_at=10.0)
        b = WorkerTasks("b", answered=set(full), asked_at=11.0)
        assert asked_at({"a": a, "b": b}) == 10.0
        assert asked_at({}) is None and asked_at(None) is None
        partial = WorkerTasks("c", answered={"active", "scheduled"}, asked_at=10.0)
        assert asked_at({"a": a, "c": partial}) is None


def lost_snap(replays: tuple[str | None, ...] = (REPLAY_RECORDED, REPLAY_RECORDED),
              asked: float | None = 1.0, known: int | None = None) -> ChordSnapshot:
    """A chord of 1 + len(replays) members: one joined, the others lost (held by nobody)."""
    sn = snap(joined=1, pending=len(replays), held=False, size=1 + len(replays))
    for m, replay in zip(sn.pending_members, replays, strict=True):
        m.replay = replay
    if known is not None:
        sn.members = sn.members[:known]
    sn.workers_asked_at = asked
    return sn


class TestLostMembers:
    def test_recorded_lost_members_are_recoverable(self):
        """Every lost member's message recorded, replies complete: recover re-publishes."""
        sn = lost_snap()
        v = analyze(sn, NOW)
        assert (v.reason, v.recoverable) == (Reason.MEMBERS_LOST, True), v
        assert "2 lost" in v.detail and "recover re-publishes them" in v.detail
        assert [m.task_id for m in lost_members(sn)] == ["p0", "p1"]

    @pytest.mark.parametrize(("sn", "why"), [
        (lost_snap((REPLAY_RECORDED, "not recorded: too large (70000 bytes > 65536)")),
         "member 2 p1 not recorded: too large (70000 bytes > 65536)"),
        (lost_snap((None, REPLAY_RECORDED)),
         "member 1 p0 not recorded (record without message copies)"),
        (lost_snap(asked=None), "replies were incomplete"),
        (lost_snap(known=2), "only 2 of 3 members are known"),
    ])
    def test_not_recoverable_unless_every_lost_member_was_recorded(self, sn, why):
        """One lost member without a copy (too large, an older record), a member unknown, or
        a worker that may hold one: members_lost, not recoverable, and the detail says why."""
        v = analyze(sn, NOW)
        assert (v.reason, v.recoverable) == (Reason.MEMBERS_LOST, False), v
        assert why in v.detail and why in can_republish(sn)[1]

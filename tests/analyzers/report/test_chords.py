"""Chord states from the logs alone: completed, failed, stuck, pending, monitor verdicts."""

from __future__ import annotations

import pandas as pd
import pytest

from analyzers.report import chords, stuck_chords
from analyzers.report import columns as cols
from instrumentation import schema
from tests.analyzers.report.frames import at, ev, make_frame, run

STUCK_AFTER = pd.Timedelta("15min")


def member(task_id: str, seconds: float, chord: str = "g1", size: int = 3,
           outcome: str = schema.Event.TASK_SUCCEEDED, org: str = "org-7", **extra) -> list[dict]:
    fields = {schema.GROUP_ID: chord, schema.CHORD_CALLBACK_ID: f"cb-{chord}",
              schema.CHORD_CALLBACK_NAME: "tasks.collect", schema.CHORD_SIZE: size,
              schema.ORGANIZATION_ID: org, **extra}
    if outcome == schema.Event.TASK_FAILED:
        fields[schema.EXCEPTION_TYPE] = "ValueError"
    return run(task_id, "tasks.member", seconds, outcome=outcome, **fields)


def published(task_id: str, seconds: float, chord: str = "g1", size: int = 3) -> dict:
    return ev(schema.Event.TASK_PUBLISHED, seconds, **{
        schema.TASK_ID: task_id, schema.TASK_NAME: "tasks.member", schema.GROUP_ID: chord,
        schema.CHORD_CALLBACK_ID: f"cb-{chord}", schema.CHORD_SIZE: size})


def callback(seconds: float, chord: str = "g1") -> list[dict]:
    return run(f"cb-{chord}", "tasks.collect", seconds)


def state_of(rows: list[dict], now_s: float) -> pd.Series:
    out = chords(make_frame(rows), now=at(now_s), stuck_after=STUCK_AFTER)
    assert len(out) == 1
    return out.iloc[0]


class TestChordStates:
    """Each way a chord can end up, decided by what the logs show."""

    @pytest.mark.parametrize(
        ("rows", "now_s", "state"),
        [
            # all three finished, callback ran
            ([*member("m1", 0), *member("m2", 1), *member("m3", 2), *callback(3)], 5000,
             "completed"),
            # all finished, no callback, quiet for over an hour
            ([*member("m1", 0), *member("m2", 1), *member("m3", 2)], 5000, "stuck"),
            # same, but only 60 s since the last member: not yet
            ([*member("m1", 0), *member("m2", 1), *member("m3", 2)], 62, "pending"),
            # one member failed: Celery will not call back
            ([*member("m1", 0), *member("m2", 1, outcome=schema.Event.TASK_FAILED),
              *member("m3", 2)], 5000, "failed"),
            # a member never finished (lost), quiet for long
            ([*member("m1", 0), *member("m2", 1), published("m3", 0)], 5000, "stuck"),
        ],
    )
    def test_state(self, rows, now_s, state) -> None:
        assert state_of(rows, now_s)[cols.CHORD_STATE] == state

    def test_counts_tenant_and_callback(self) -> None:
        rows = [published("m1", 0), published("m2", 0), published("m3", 0),
                *member("m1", 1), *member("m2", 2)]
        row = state_of(rows, 5000)
        assert row[schema.CHORD_ID] == "g1"
        assert row[schema.MEMBERS_EXPECTED] == 3
        assert row[cols.MEMBERS_PUBLISHED] == 3
        assert row[cols.MEMBERS_FINISHED] == 2
        assert row[schema.MEMBERS_FAILED] == 0
        assert row[schema.CHORD_CALLBACK_ID] == "cb-g1"
        assert row[schema.CHORD_CALLBACK_NAME] == "tasks.collect"
        assert row[schema.ORGANIZATION_ID] == "org-7"
        assert not row[cols.CALLBACK_RECEIVED]
        assert row[cols.LAST_ACTIVITY] == at(2.11)
        assert row[cols.IDLE_S] == pytest.approx(5000 - 2.11, abs=0.01)

    def test_members_retrying_count_once_when_finished(self) -> None:
        rows = [*member("m1", 0, outcome=schema.Event.TASK_RETRIED), *member("m1", 10),
                *member("m2", 1), *member("m3", 2), *callback(20)]
        row = state_of(rows, 100)
        assert row[cols.MEMBERS_FINISHED] == 3
        assert row[cols.CHORD_STATE] == "completed"

    @pytest.mark.parametrize(
        ("event", "state"),
        [(schema.Event.CHORD_RECOVERED, "recovered"), (schema.Event.CHORD_REVOKED, "revoked"),
         (schema.Event.CHORD_CLEANED, "cleaned")],
    )
    def test_chord_monitor_actions_decide(self, event, state) -> None:
        rows = [*member("m1", 0), *member("m2", 1),
                ev(schema.Event.CHORD_STUCK, 1000, **{schema.CHORD_ID: "g1"}),
                ev(event, 1001, **{schema.CHORD_ID: "g1"})]
        assert state_of(rows, 5000)[cols.CHORD_STATE] == state

    def test_chord_monitor_stuck_is_stuck_even_inside_the_threshold(self) -> None:
        rows = [*member("m1", 0), ev(schema.Event.CHORD_STUCK, 10, **{
            schema.CHORD_ID: "g1", schema.MEMBERS_EXPECTED: 3})]
        row = state_of(rows, 20)
        assert row[cols.CHORD_STATE] == "stuck"

    def test_chord_known_only_from_the_monitor(self) -> None:
        rows = [ev(schema.Event.CHORD_STUCK, 10, **{
            schema.CHORD_ID: "g9", schema.MEMBERS_EXPECTED: 5, schema.ORGANIZATION_ID: "org-3",
            schema.CHORD_CALLBACK_NAME: "tasks.collect"})]
        row = state_of(rows, 20)
        assert (
            row[schema.CHORD_ID],
            row[schema.MEMBERS_EXPECTED],
            row[schema.ORGANIZATION_ID],
        ) == ("g9", 5, "org-3")

    def test_celery_chord_error_line_names_the_chord_in_text(self) -> None:
        rows = [*member("m1", 0), *member("m2", 1),
                ev(schema.Event.CHORD_ERROR, 2, **{
                    schema.MESSAGE: "Chord 'g1' raised: ChordError(\"Dependency m2 raised\")"})]
        assert state_of(rows, 5000)[cols.CHORD_STATE] == "failed"

    def test_plain_groups_are_not_chords(self) -> None:
        rows = run("a", "tasks.x", 0, **{schema.GROUP_ID: "grp"})
        assert chords(make_frame(rows), now=at(5000)).empty


class TestStuckChords:
    """Only stuck chords, most idle first, several chords at once."""

    def test_filters_and_orders(self) -> None:
        rows = [*member("a1", 0, chord="A"), *member("b1", 100, chord="B"),
                *member("c1", 0, chord="C"), *callback(5, chord="C")]
        out = stuck_chords(make_frame(rows), now=at(5000), stuck_after=STUCK_AFTER)
        assert list(out[schema.CHORD_ID]) == ["A", "B"]
        assert (out[cols.CHORD_STATE] == "stuck").all()


def test_the_callbacks_own_lines_are_not_members() -> None:
    """A callback runs with the chord's group and callback id: it is not counted a member."""
    own = {
        schema.GROUP_ID: "g1",
        schema.CHORD_CALLBACK_ID: "cb-g1",
        schema.CHORD_CALLBACK_NAME: "tasks.collect",
        schema.ORGANIZATION_ID: "org-7",
    }
    rows = [*member("m1", 0, size=None), *member("m2", 1, size=None),
            *run("cb-g1", "tasks.collect", 2, **own)]
    row = chords(make_frame(rows), now=at(100)).iloc[0]
    assert (row[cols.MEMBERS_PUBLISHED], row[cols.MEMBERS_FINISHED],
            row[schema.MEMBERS_EXPECTED]) == (2, 2, 2)
    assert row[cols.CHORD_STATE] == "completed"


def test_a_monitor_stuck_verdict_is_overtaken_by_later_progress() -> None:
    """Members finishing after the monitor said "stuck" put the chord back to pending."""
    rows = [*member("m1", 0), ev(schema.Event.CHORD_STUCK, 10, **{schema.CHORD_ID: "g1"}),
            *member("m2", 20)]
    out = chords(make_frame(rows), now=at(30), stuck_after=STUCK_AFTER)
    assert out.iloc[0][cols.CHORD_STATE] == "pending"


class TestOverdueCallback:
    """All members finished and no callback: stuck once overdue against the log's own queue
    waits, long before --stuck-after (issue 12)."""

    @staticmethod
    def members() -> list[dict]:
        return [*member("m1", 0), *member("m2", 1), *member("m3", 2)]

    @staticmethod
    def last_member_s(rows: list[dict]) -> float:
        return max((r[schema.TIME] - at(0)).total_seconds() for r in rows)

    @staticmethod
    def busy_queue(wait_ms: float, n: int = 30) -> list[dict]:
        """Other tasks of the same log, each waiting ``wait_ms`` in the queue."""
        return [row for i in range(n) for row in run(f"o{i}", "tasks.other", 0.5 + i / 100,
                                                    wait_ms=wait_ms)]

    def test_stuck_a_minute_after_the_last_member_when_queues_are_quick(self) -> None:
        rows = self.members()
        done = self.last_member_s(rows)
        assert state_of(rows, done + 59)[cols.CHORD_STATE] == "pending"
        row = state_of(rows, done + 61)
        assert row[cols.CHORD_STATE] == "stuck"
        assert "members finished" in row[cols.STUCK_REASON]
        assert "callback was never received" in row[cols.STUCK_REASON]
        table = stuck_chords(make_frame(rows), now=at(done + 61), stuck_after=STUCK_AFTER)
        assert table[schema.CHORD_ID].tolist() == ["g1"]

    def test_slow_queues_push_the_deadline_out(self) -> None:
        rows = [*self.busy_queue(wait_ms=20_000), *self.members()]
        done = self.last_member_s(rows)
        # p99 wait 20 s: the callback may take up to 10 x 20 s = 200 s to be received.
        assert state_of(rows, done + 150)[cols.CHORD_STATE] == "pending"
        assert state_of(rows, done + 201)[cols.CHORD_STATE] == "stuck"

    def test_the_callbacks_own_waits_decide_when_there_are_enough(self) -> None:
        quick_callbacks = [row for i in range(25) for row in
                           run(f"c{i}", "tasks.collect", 0.2 + i / 100, wait_ms=5.0)]
        rows = [*self.busy_queue(wait_ms=20_000), *quick_callbacks, *self.members()]
        done = self.last_member_s(rows)
        assert state_of(rows, done + 61)[cols.CHORD_STATE] == "stuck"

    def test_a_completed_chord_is_never_stuck(self) -> None:
        rows = [*self.members(), *callback(2.5)]
        for now_s in (61, 600, 86_400):
            row = state_of(rows, now_s)
            assert row[cols.CHORD_STATE] == "completed"
            assert pd.isna(row[cols.STUCK_REASON])

    def test_missing_members_still_wait_for_stuck_after(self) -> None:
        rows = [*member("m1", 0), *member("m2", 1), published("m3", 0)]
        assert state_of(rows, 600)[cols.CHORD_STATE] == "pending"
        row = state_of(rows, 5000)
        assert row[cols.CHORD_STATE] == "stuck"
        assert "--stuck-after" in row[cols.STUCK_REASON]

    def test_the_json_finding_gives_the_reason(self) -> None:
        from analyzers.report import build_report

        rows = self.members()
        report = build_report(make_frame(rows), now=at(self.last_member_s(rows) + 61))
        doc = report.to_dict()
        assert doc["conditions"]["stuck"]
        reasons = [f["reason"] for f in doc["findings"] if f.get("reason")]
        assert len(reasons) == 1 and "overdue" in reasons[0]

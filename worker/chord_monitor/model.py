"""The facts the monitor gathers about one chord, and the verdict it reaches on them.

:class:`ChordSnapshot` is plain data read from Redis (and, where a broker is given, from the
queues and the workers); :func:`worker.chord_monitor.analysis.analyze` turns one into a
:class:`Verdict` without any I/O, so every rule can be tested with hand-made snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from instrumentation import schema
from worker.chord_monitor.keys import ChordRef

#: Shown for a stored value that is not JSON (a result_serializer other than json).
UNDECODABLE = "<undecodable>"
#: ``TaskInfo.replay`` of a member whose message the recorder kept (``record.py``).
REPLAY_RECORDED = "recorded"
#: ``TaskInfo.holder`` of a message found in kombu's ``unacked`` hash (and on no worker).
UNACKED_HOLDER = "unacked"


class ChordState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"  # a member failed and the callback's error callback was called
    REVOKED = "revoked"  # the callback was revoked (by an operator or `revoke`)
    STUCK = "stuck"


class Reason(StrEnum):
    """Why a chord is stuck (or, for the healthy states, what it is doing)."""

    SIZE_KEY_MISSING = "size_key_missing"
    MEMBERS_LOST = "members_lost"
    ORPHANED_IN_UNACKED = "orphaned_in_unacked"
    CALLBACK_NOT_DISPATCHED = "callback_not_dispatched"
    CALLBACK_NOT_RUN = "callback_not_run"
    CALLBACK_FAILED = "callback_failed"
    MEMBER_FAILED = "member_failed"
    MEMBER_REVOKED = "member_revoked"
    # Not stuck:
    RUNNING = "running"
    WAITING_FOR_CALLBACK = "waiting_for_callback"
    DONE = "done"
    HANDLED_FAILURE = "handled_failure"
    REVOKED = "revoked"


#: One line of explanation per stuck reason, for humans (the reason code is for machines).
EXPLANATIONS: dict[Reason, str] = {
    Reason.SIZE_KEY_MISSING: "the chord size key is missing (expired or evicted): Celery will "
    "never call the callback, silently",
    Reason.MEMBERS_LOST: "members are not done and no queue or worker holds them",
    Reason.ORPHANED_IN_UNACKED: "a message sits in the broker's unacked hash and no live worker "
    "holds it (kombu's delivery was cut between its two steps): only VISIBILITY_TIMEOUT "
    "would bring it back",
    Reason.CALLBACK_NOT_DISPATCHED: "all members are done but the callback was never published",
    Reason.CALLBACK_NOT_RUN: "the callback was published but never ran and is in no queue",
    Reason.CALLBACK_FAILED: "the callback ran and failed",
    Reason.MEMBER_FAILED: "a member failed and the callback has no error callback",
    Reason.MEMBER_REVOKED: "a member was revoked and the callback has no error callback",
}

#: Reasons where ``recover`` may run the callback itself.
RECOVERABLE = frozenset(
    {Reason.SIZE_KEY_MISSING, Reason.CALLBACK_NOT_DISPATCHED, Reason.CALLBACK_NOT_RUN}
)


@dataclass(frozen=True)
class UnackedEntry:
    """One entry of kombu's ``unacked`` hash: a message delivered and not acked."""

    tag: str  # the delivery tag (the hash field)
    task_id: str | None
    task_name: str | None
    exchange: str
    routing_key: str
    delivered_at: float | None  # its ``unacked_index`` score: the consumer's clock, epoch s
    group_id: str | None = None
    root_id: str | None = None
    retries: int | None = None

    def age_s(self, now: float) -> float | None:
        return None if self.delivered_at is None else max(0.0, now - self.delivered_at)

    def to_dict(self) -> dict[str, Any]:
        when = (datetime.fromtimestamp(self.delivered_at, UTC).isoformat()
                if self.delivered_at is not None else None)
        return {"tag": self.tag, schema.TASK_ID: self.task_id, schema.TASK_NAME: self.task_name,
                "exchange": self.exchange, "routing_key": self.routing_key,
                "delivered_at": when, schema.GROUP_ID: self.group_id, schema.ROOT_ID: self.root_id,
                schema.RETRIES: self.retries}


@dataclass
class TaskInfo:
    """A member or the callback, as far as Redis and the broker know it."""

    task_id: str
    name: str | None = None
    index: int | None = None
    state: str | None = None  # None: no result meta (PENDING)
    joined_state: str | None = None  # the state recorded in the chord's .j, if counted
    worker: str | None = None
    date_done: datetime | None = None
    result: Any = None
    error: str | None = None
    holder: str | None = None  # "worker:<host>:active", "queue:<name>", "unacked"
    unacked: UnackedEntry | None = None  # its entry, when holder is "unacked"
    kwargs: dict[str, Any] | None = None
    #: Whether the recorder kept this member's message (``recorded``), else why not; None
    #: when the record says nothing (no record, or one written before copies were kept).
    replay: str | None = None

    @property
    def done(self) -> bool:
        return self.joined_state is not None or self.state in ("SUCCESS", "FAILURE", "REVOKED")


@dataclass
class ChordSnapshot:
    """Everything read about one chord at one moment."""

    ref: ChordRef
    size: int | None = None  # Celery's .s key
    total_diff: int = 0  # Celery's .t key
    joined: int = 0  # entries in .j
    joined_states: dict[str, int] = field(default_factory=dict)
    joined_ids: set[str] = field(default_factory=set)
    claim: str | None = None  # .c: None, "done" or a dispatch token
    has_chord_data: bool = False  # any of .j .t .s .d exists
    has_record: bool = False  # our rhesis-chord-<gid> record exists
    members: list[TaskInfo] = field(default_factory=list)  # known members (record/.d/.j)
    recorded_members: int | None = None  # how many members the publisher recorded
    callback: TaskInfo | None = None
    callback_signature: dict[str, Any] | None = None
    created: datetime | None = None  # from the record (first member published)
    organization_id: str | None = None
    user_id: str | None = None
    # Lineage of the chord's members (from the record): the recovered callback keeps it.
    root_id: str | None = None
    parent_id: str | None = None
    recovered_at: str | None = None  # our recover marker
    holders_known: bool = False  # queues and workers were inspected
    # When every worker that answered answered all three inspect calls (active, reserved,
    # scheduled), the wall-clock time they were asked; None when none answered, a reply was
    # missing or no broker was given: then nothing is called orphaned.
    workers_asked_at: float | None = None
    ttl_s: int | None = None  # seconds until Celery's chord keys expire

    @property
    def exists(self) -> bool:
        """Any key of the chord was still there when read (it may vanish after SCAN saw it)."""
        return self.has_chord_data or self.has_record or self.claim is not None

    @property
    def expected(self) -> int | None:
        """Members the chord waits for: size + diff, else what the publisher recorded."""
        if self.size is not None:
            return self.size + self.total_diff
        return self.recorded_members

    @property
    def failed_members(self) -> list[TaskInfo]:
        return [m for m in self.members
                if (m.joined_state or m.state) in ("FAILURE", "REVOKED")]

    @property
    def members_failed(self) -> int:
        return (self.joined_states.get("FAILURE", 0) + self.joined_states.get("REVOKED", 0)
                or len(self.failed_members))

    @property
    def pending_members(self) -> list[TaskInfo]:
        return [m for m in self.members if not m.done]

    def first_seen(self) -> datetime | None:
        """The earliest moment known for the chord: its record, else its first member done."""
        if self.created is not None:
            return self.created
        dates = [m.date_done for m in self.members if m.date_done is not None]
        return min(dates) if dates else None


@dataclass
class Verdict:
    """What the monitor concludes about one chord."""

    state: ChordState
    reason: Reason
    detail: str
    age_s: float | None
    recoverable: bool = False
    #: Task ids of pending members (and the callback) orphaned in ``unacked``: ``recover``
    #: puts them back in their queues.
    orphaned: list[str] = field(default_factory=list)

    @property
    def stuck(self) -> bool:
        return self.state is ChordState.STUCK

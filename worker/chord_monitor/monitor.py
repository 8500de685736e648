"""Survey the chords of one result backend: read them, locate their pending tasks, judge them.

    monitor = Monitor(backend_url, broker_url=broker_url)      # broker optional
    for finding in monitor.survey():
        print(finding.verdict.state, finding.to_dict())
    monitor.close()

Without a broker URL (or with a non-Redis broker, whose queues it cannot read) nothing can
tell whether a pending member still sits in a queue, so ``members_lost`` and
``callback_not_run`` are never concluded (those chords stay "in progress"); everything read
from the result backend alone still is.

``monitor.orphans()`` lists every message orphaned in kombu's ``unacked`` hash, chord member
or not (see :func:`worker.chord_monitor.analysis.is_orphan`); ``actions.restore_orphans``
puts them back in their queues.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from instrumentation import schema
from worker.chord_monitor.analysis import DEFAULT_ORPHAN_GRACE_S, analyze, is_orphan
from worker.chord_monitor.broker import BrokerView, QueuedMember, WorkerTasks, asked_at
from worker.chord_monitor.collect import ChordReader, decode
from worker.chord_monitor.keys import (
    GROUP_META,
    RECORD,
    ChordRef,
    glob_escape,
    normalize_prefix,
    parse_chord_key,
)
from worker.chord_monitor.model import ChordSnapshot, TaskInfo, UnackedEntry, Verdict
from worker.chord_monitor.unacked import read_entries
from worker.config import Settings
from worker.redis_client import (
    RedisUnavailable,
    RedisURLError,
    describe_error,
    make_client,
    ping,
    tls_settings,
)

# Keys of the JSON report that are not log fields of the schema.
PREFIX = "key_prefix"
DETAIL = "detail"
RECOVERABLE_KEY = "recoverable"
TTL_S = "ttl_s"
CREATED = "created"
FAILED = "failed"
MEMBERS = "members"
CALLBACK_STATE = "callback_state"
HOLDER = "holder"
ORPHANED = "orphaned"
#: A task in one of these states already ran: its message left in ``unacked`` lost its ack.
FINISHED_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


class MonitorError(Exception):
    """A problem the operator must fix (bad URL, Redis unreachable); the CLI shows it."""


class MonitorUsageError(MonitorError):
    """The URLs given cannot be used (not Redis, unparsable): the caller must fix them."""


class MonitorUnavailable(MonitorError):
    """Redis or the broker cannot be reached, refuses the password, or does not answer."""


def task_dict(info: TaskInfo, verbose: bool = False) -> dict[str, Any]:
    out = {
        schema.TASK_ID: info.task_id,
        schema.TASK_NAME: info.name,
        schema.GROUP_INDEX: info.index,
        schema.STATE: info.state or info.joined_state or "PENDING",
        schema.WORKER: info.worker,
        "date_done": info.date_done.isoformat() if info.date_done else None,
        HOLDER: info.holder,
    }
    if info.error:
        out[schema.EXCEPTION_MESSAGE] = info.error
    if verbose and not info.error:
        out[schema.RESULT] = info.result
    return out


@dataclass
class Orphan:
    """A message orphaned in ``unacked``, with its task's state in the result backend."""

    entry: UnackedEntry
    state: str | None  # None: no result stored (the task never ran, or not here)

    @property
    def ran(self) -> bool:
        """The task already finished: only its ack was lost, and restoring would run it
        again (the worker acked into a connection that died)."""
        return self.state in FINISHED_STATES

    def to_dict(self, now: float) -> dict[str, Any]:
        age = self.entry.age_s(now)
        return {**self.entry.to_dict(), schema.STATE: self.state or "PENDING",
                "unacked_age_s": None if age is None else round(age, 1), "ran": self.ran}


@dataclass
class OrphanSurvey:
    """What :meth:`Monitor.orphans` found."""

    asked_at: float | None  # None: the workers' replies could prove nothing
    workers: int  # how many answered
    unacked: int  # entries read
    orphans: list[Orphan]


@dataclass
class Finding:
    """One chord: what was read and what it means."""

    snapshot: ChordSnapshot
    verdict: Verdict

    @property
    def chord_id(self) -> str:
        return self.snapshot.ref.group_id

    def fields(self) -> dict[str, Any]:
        """The schema fields of a chord-monitor log event about this chord."""
        snap, cb = self.snapshot, self.snapshot.callback
        return {
            schema.CHORD_ID: self.chord_id,
            schema.REASON: self.verdict.reason.value,
            schema.STATE: self.verdict.state.value,
            schema.MEMBERS_DONE: max(snap.joined, sum(1 for m in snap.members if m.done)),
            schema.MEMBERS_EXPECTED: snap.expected,
            schema.MEMBERS_FAILED: snap.members_failed,
            schema.CHORD_CALLBACK_ID: cb.task_id if cb else None,
            schema.CHORD_CALLBACK_NAME: cb.name if cb else None,
            schema.AGE_S: round(self.verdict.age_s, 1) if self.verdict.age_s is not None else None,
            schema.ORGANIZATION_ID: snap.organization_id,
            schema.USER_ID: snap.user_id,
        }

    def orphans(self) -> list[TaskInfo]:
        """The pending members (and callback) the verdict calls orphaned in ``unacked``."""
        snap, ids = self.snapshot, set(self.verdict.orphaned)
        tasks = [*snap.members, *([snap.callback] if snap.callback else [])]
        return [t for t in tasks if t.task_id in ids and t.unacked is not None]

    def to_dict(self, verbose: bool = False) -> dict[str, Any]:
        snap = self.snapshot
        out = self.fields()
        out.update({
            DETAIL: self.verdict.detail,
            RECOVERABLE_KEY: self.verdict.recoverable,
            PREFIX: snap.ref.prefix,
            CREATED: snap.created.isoformat() if snap.created else None,
            TTL_S: snap.ttl_s,
            CALLBACK_STATE: (snap.callback.state or "PENDING") if snap.callback else None,
            FAILED: [task_dict(m) for m in snap.failed_members[:20]],
            ORPHANED: [t.unacked.to_dict() for t in self.orphans()[:20] if t.unacked],
        })
        if verbose:
            out[MEMBERS] = [task_dict(m, verbose=True) for m in snap.members]
            if snap.callback:
                out["callback"] = task_dict(snap.callback, verbose=True)
        return out


class Monitor:
    """Reads chords from ``backend_url`` (and, when given, the broker and its workers)."""

    def __init__(self, backend_url: str, broker_url: str | None = None, *,
                 prefix: str | None = None, timeout: float = 1.0, page: int = 500,
                 settings: Settings | None = None,
                 orphan_grace_s: float = DEFAULT_ORPHAN_GRACE_S):
        if not backend_url or not backend_url.startswith(("redis://", "rediss://", "unix://")):
            raise MonitorUsageError(
                "the chord monitor needs a Redis result backend URL (redis://...): set "
                "CELERY_RESULT_BACKEND or pass --backend")
        self.backend_url = backend_url
        self.broker_url = broker_url
        self.prefix = prefix
        self.timeout = timeout
        self.orphan_grace_s = orphan_grace_s
        # TLS options from REDIS_SSL_* (the worker's), unless the caller has its settings.
        self.settings = settings or tls_settings()
        try:
            # Reads are bounded (a page of SCAN/ZRANGE is quick); a hung Redis times out.
            self.client = make_client(backend_url, self.settings, timeout=max(timeout, 2.0),
                                      retries=1, what="result backend URL")
            self.broker = BrokerView(broker_url, timeout=timeout, page=page,
                                     settings=self.settings) if broker_url else None
        except RedisURLError as exc:
            raise MonitorUsageError(str(exc)) from exc
        self.reader = ChordReader(self.client, prefix, page=page)
        self._workers: dict[str, WorkerTasks] | None = None

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.broker is not None:
            self.broker.close()
        with contextlib.suppress(Exception):
            self.client.close()

    def ping(self) -> None:
        """One PING to the backend (and the broker, when it is Redis), each within
        ``timeout``: a Redis that accepts connections and never answers fails here, fast."""
        targets = [("result backend", self.backend_url)]
        if self.broker is not None and self.broker.client is not None:
            targets.append(("broker", self.broker.broker_url))
        for what, url in targets:
            try:
                ping(url, self.settings, timeout=max(self.timeout, 0.5), what=what)
            except RedisURLError as exc:
                raise MonitorUsageError(str(exc)) from exc
            except RedisUnavailable as exc:
                raise MonitorUnavailable(f"cannot reach the {exc}") from exc

    def workers(self, refresh: bool = False) -> dict[str, WorkerTasks] | None:
        """Workers and the tasks they hold; None without a broker."""
        if self.broker is None:
            return None
        if self._workers is None or refresh:
            self._workers = self.broker.workers()
        return self._workers

    def find(self, chord_id: str) -> ChordRef | None:
        """The chord with header group id ``chord_id`` (under the configured prefix, or any)."""
        head = "*" if self.prefix is None else glob_escape(normalize_prefix(self.prefix))
        gid = glob_escape(chord_id)
        try:
            for pattern in (f"{head}{GROUP_META}{gid}.[sjtdc]", f"{head}{RECORD}{gid}"):
                for key in self.client.scan_iter(match=pattern, count=1000):
                    ref = parse_chord_key(key)
                    if ref is not None and ref.group_id == chord_id:
                        return ref
        except (redis.RedisError, OSError) as exc:
            raise MonitorUnavailable(f"reading the chords failed: {describe_error(exc)}"
                                     ) from exc
        return None

    def locate(self, snaps: list[ChordSnapshot]) -> None:
        """Set ``holder`` on pending members and callbacks without a result (needs a broker)."""
        if self.broker is None:
            return
        unrecorded = {snap.ref.group_id: snap for snap in snaps
                      if snap.callback_signature is None and snap.claim is None
                      and snap.has_chord_data}
        wanted: dict[str, list[TaskInfo]] = {}
        for snap in snaps:
            tasks = list(snap.pending_members)
            if snap.callback is not None and snap.callback.state is None:
                tasks.append(snap.callback)
            for info in tasks:
                wanted.setdefault(info.task_id, []).append(info)
        found = (self.broker.scan(set(wanted), set(unrecorded), self.workers())
                 if wanted or unrecorded else None)
        if found is not None:
            for tid, where in found.holders.items():
                for info in wanted[tid]:
                    info.holder = where
                    info.unacked = found.unacked.get(tid)
            for gid, queued in found.group_messages.items():
                self._adopt(unrecorded[gid], queued)
            # Callbacks learnt from those messages: one more pass to see if they are queued.
            callbacks = {snap.callback.task_id: snap.callback
                         for gid in found.group_messages
                         if (snap := unrecorded[gid]).callback is not None
                         and snap.callback.state is None}
            if callbacks:
                more = self.broker.scan(set(callbacks), set(), self._workers)
                for tid, where in more.holders.items():
                    callbacks[tid].holder = where
                    callbacks[tid].unacked = more.unacked.get(tid)
        # Queues are only readable on a Redis broker: elsewhere a queued member would look lost.
        when = asked_at(self._workers) if self.broker.client is not None else None
        for snap in snaps:
            snap.holders_known = self.broker.client is not None
            snap.workers_asked_at = when

    def _adopt(self, snap: ChordSnapshot, queued: list[QueuedMember]) -> None:
        """Learn members, callback and tenant of an unrecorded chord from its queued messages."""
        known = {m.task_id: m for m in snap.members}
        for q in queued:
            info = known.get(q.task_id)
            if info is None:
                info = known[q.task_id] = TaskInfo(q.task_id, name=q.name, index=q.index)
                snap.members.append(info)
            info.holder = q.where
            snap.organization_id = snap.organization_id or q.tenant.get(schema.ORGANIZATION_ID)
            snap.user_id = snap.user_id or q.tenant.get(schema.USER_ID)
            if snap.callback_signature is None and q.callback:
                snap.callback_signature = q.callback
                cb_id = (q.callback.get("options") or {}).get("task_id")
                if cb_id:
                    snap.callback = TaskInfo(cb_id, name=q.callback.get("task"))
                    self.reader.read_metas(snap.ref, [snap.callback])
        snap.members.sort(key=lambda m: (m.index is None, m.index or 0, m.task_id))

    def survey(self, refs: list[ChordRef] | None = None, *, now: datetime | None = None
               ) -> list[Finding]:
        """Read, locate and judge every chord (or the given ones)."""
        try:
            # A chord whose keys expired between SCAN and the read is gone, not stuck.
            snaps = [snap for ref in (refs if refs is not None else self.reader.refs())
                     if (snap := self.reader.snapshot(ref)).exists]
            self.locate(snaps)
        except (redis.RedisError, OSError) as exc:
            raise MonitorUnavailable(f"reading the chords failed: {describe_error(exc)}"
                                     ) from exc
        now = now or datetime.now(UTC)
        findings = [Finding(snap, analyze(snap, now, orphan_grace_s=self.orphan_grace_s))
                    for snap in snaps]
        findings.sort(key=lambda f: (-(f.verdict.age_s or 0), f.chord_id))
        return findings

    def inspect(self, chord_id: str) -> Finding | None:
        ref = self.find(chord_id)
        found = self.survey([ref]) if ref is not None else []
        return found[0] if found else None

    def orphans(self) -> OrphanSurvey:
        """Every message orphaned in ``unacked`` (any task), with its task's state.

        The workers are asked first (fresh, never a cached answer), ``unacked`` is read
        after: an entry acked meanwhile is simply not seen.
        """
        if self.broker is None or self.broker.client is None:
            raise MonitorUsageError("finding orphaned messages needs a Redis broker: pass "
                                    "--broker redis://... (or set BROKER_URL)")
        try:
            workers = self.workers(refresh=True) or {}
            when = asked_at(workers)
            held = {tid for w in workers.values() for tid, _ in w.held()}
            count = 0
            found = []
            for entry in read_entries(self.broker.client, self.broker.page):
                count += 1
                if is_orphan(entry, entry.task_id in held, when, self.orphan_grace_s):
                    found.append(entry)
            states = self._task_states([e.task_id for e in found if e.task_id])
        except (redis.RedisError, OSError) as exc:
            raise MonitorUnavailable(f"reading unacked failed: {describe_error(exc)}"
                                     ) from exc
        return OrphanSurvey(when, len(workers), count,
                            [Orphan(e, states.get(e.task_id or "")) for e in found])

    def _task_states(self, task_ids: list[str]) -> dict[str, str]:
        """Each task's state from its result meta (under the configured prefix)."""
        ref = ChordRef(normalize_prefix(self.prefix), "")
        out: dict[str, str] = {}
        for i in range(0, len(task_ids), self.reader.page):
            chunk = task_ids[i:i + self.reader.page]
            for tid, raw in zip(chunk, self.client.mget([ref.task_key(t) for t in chunk]),
                                strict=True):
                meta = decode(raw)
                if isinstance(meta, dict) and isinstance(meta.get("status"), str):
                    out[tid] = meta["status"]
        return out

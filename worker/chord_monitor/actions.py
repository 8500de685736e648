"""What the monitor does to stuck chords: revoke, recover, clean. Each logs a schema event.

    monitor = Monitor(backend_url, broker_url)
    outcomes = revoke(monitor, [f for f in monitor.survey() if f.verdict.stuck], dry_run=True)
    outcome = recover(monitor, "chord-id")            # runs the callback once, or says why not
    outcomes = restore_orphans(monitor, monitor.orphans().orphans, dry_run=True)
    outcomes = clean(monitor, stuck_findings)          # deletes stuck chords' keys only

``revoke`` sends ``revoke`` for the pending members and the callback over the broker, and
stores REVOKED as the callback's (and lost members') result so that whoever waits on the chord
stops waiting. ``recover`` publishes the callback with the stored results in header order,
exactly as Celery's join would, guarded twice: our ``rhesis-chord-recovered-<gid>`` marker
(``SET NX``: a second ``recover`` refuses) and Celery's own dispatch claim ``.c`` (``SET NX``:
a worker joining at that moment cannot publish it too); afterwards it does Celery's cleanup
(deletes ``.j .t .s .d``, sets ``.c`` to ``done``). ``clean`` deletes a chord's keys in a
``WATCH``/``MULTI`` transaction that aborts if the chord moved since it was judged.

When a chord's pending members (or its callback) are orphaned in kombu's ``unacked`` hash
(:func:`worker.chord_monitor.analysis.orphaned`), ``recover`` puts those messages back in
their queues instead, as kombu's ``QoS.restore_by_tag`` would after ``VISIBILITY_TIMEOUT``
(:func:`worker.chord_monitor.unacked.restore`); the workers then run them and the chord
completes by itself. ``restore_orphans`` does the same for any orphaned message, chord or
not, except one whose task already finished (its ack was lost: restoring would run it again).

When members are *lost* (in no queue, not in ``unacked``, on no worker: kombu's ``BRPOP``
delivered them and the worker died before ``QoS.append`` wrote ``unacked``), ``recover``
re-publishes each one from the copy :mod:`worker.chord_monitor.record` kept, with its original
task id, group id, group index and callback (:func:`republish`), so they join the same chord
and Celery's own join calls the callback. It asks the workers once more right before, and
skips a member one of them now holds or that has a result; a lock
(``rhesis-chord-recovered-<gid>.republishing``, ``SET NX``) keeps two recovers from
publishing twice. A member that runs twice anyway (a worker that did not answer held it)
counts once: the join records ``task_id:group_index`` in ``.d``.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from celery import Celery
from celery.canvas import Signature
from kombu.exceptions import KombuError
from kombu.utils import json as kombu_json

from instrumentation import schema
from worker.chord_monitor.analysis import can_recover, lost_members
from worker.chord_monitor.broker import asked_at, monitor_app
from worker.chord_monitor.keys import (
    CHORD_DATA_SUFFIXES,
    CLAIM,
    CLAIM_DONE,
    JOINED,
    SIZE,
    ChordRef,
)
from worker.chord_monitor.model import RECOVERABLE, ChordState, Reason, TaskInfo
from worker.chord_monitor.monitor import Finding, Monitor, MonitorError, Orphan
from worker.chord_monitor.unacked import restore

#: How long Celery keeps its ``done`` marker at least; we keep ours and the marker as long.
DONE_EXPIRES_S = 300
RECOVERED_MARKER_TTL_S = 7 * 86400
_KOMBU_ERRORS = (KombuError, ConnectionError, TimeoutError)
CLAIM_TTL_S = 60


@dataclass
class Outcome:
    """The result of one action on one chord."""

    chord_id: str
    action: str
    done: bool
    dry_run: bool
    detail: str
    task_ids: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # unacked entries restored

    def to_dict(self) -> dict[str, Any]:
        return {schema.CHORD_ID: self.chord_id, schema.ACTION: self.action, "done": self.done,
                schema.DRY_RUN: self.dry_run, "detail": self.detail, "task_ids": self.task_ids,
                "keys": self.keys, "messages": self.messages}


def emit(event: str, message: str, finding: Finding, action: str, dry_run: bool,
         **extra: Any) -> None:
    """Log one chord-monitor event with the chord's fields (never raises)."""
    from instrumentation.events import log_event

    log_event(event, message, **{**finding.fields(), schema.ACTION: action, schema.DRY_RUN: dry_run,
                                 **extra})


def celery_app(monitor: Monitor, prefix: str) -> Celery:
    """A bare Celery app on the monitor's URLs whose backend uses the chord's key prefix."""
    app = monitor_app(monitor.broker_url, monitor.backend_url, monitor.settings,
                      monitor.timeout)
    if prefix:
        app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    return app


def report_stuck(findings: list[Finding]) -> None:
    """Log CHORD_STUCK for each stuck chord found by a check."""
    for f in findings:
        if f.verdict.stuck:
            emit(schema.Event.CHORD_STUCK, "Chord is stuck", f, "check", False,
                 **{schema.CHORD_SIZE: f.snapshot.size})


# --- revoke ---------------------------------------------------------------------------------

def revoke_targets(finding: Finding) -> list[str]:
    """Pending members and the callback (unless it has a result) of one chord."""
    snap = finding.snapshot
    ids = [m.task_id for m in snap.pending_members]
    if snap.callback is not None and snap.callback.state is None:
        ids.append(snap.callback.task_id)
    return ids


def revoke(monitor: Monitor, findings: list[Finding], *, dry_run: bool = False,
           terminate: bool = False) -> list[Outcome]:
    """Revoke the pending members and the callback of each (stuck) chord given."""
    outcomes = []
    for finding in findings:
        ids = revoke_targets(finding)
        if not finding.verdict.stuck:
            outcomes.append(Outcome(finding.chord_id, "revoke", False, dry_run,
                                    f"not stuck ({finding.verdict.state}): left alone"))
            continue
        if not ids:
            outcomes.append(Outcome(finding.chord_id, "revoke", False, dry_run,
                                    "nothing to revoke: no pending member, the callback is "
                                    "unknown or already has a result"))
            continue
        if dry_run:
            outcomes.append(Outcome(finding.chord_id, "revoke", False, True,
                                    f"would revoke {len(ids)} task(s)", ids))
            emit(schema.Event.CHORD_REVOKED, "Chord would be revoked", finding, "revoke", True)
            continue
        if monitor.broker_url is None:
            raise MonitorError("revoking needs the broker: pass --broker or set BROKER_URL")
        app = celery_app(monitor, finding.snapshot.ref.prefix)
        try:
            app.control.revoke(ids, terminate=terminate)
            reason = f"revoked by the chord monitor: {finding.verdict.reason.value}"
            snap = finding.snapshot
            # Store REVOKED where nothing else will: the callback, and members nobody holds
            # (a worker that later receives a revoked member stores REVOKED itself).
            for info in [*snap.pending_members, *([snap.callback] if snap.callback else [])]:
                if info.state is None and not info.holder and info.task_id in ids:
                    app.backend.mark_as_revoked(info.task_id, reason)
        finally:
            app.close()
        outcomes.append(Outcome(finding.chord_id, "revoke", True, False,
                                f"revoked {len(ids)} task(s)", ids))
        emit(schema.Event.CHORD_REVOKED, "Chord revoked", finding, "revoke", False)
    return outcomes


# --- recover --------------------------------------------------------------------------------

def ordered_results(finding: Finding) -> list[Any]:
    """The members' results in header order (as Celery's join passes them)."""
    members = sorted(finding.snapshot.members,
                     key=lambda m: (m.index is None, m.index or 0, m.task_id))
    return [m.result for m in members]


def recover(monitor: Monitor, chord_id: str, *, dry_run: bool = False) -> Outcome:
    """Run the callback of a chord whose members all succeeded but whose callback never ran;
    for a recoverable ``members_lost`` chord, re-publish its lost members (:func:`republish`);
    for orphans in ``unacked``, put them back in their queues.

    Idempotent: the second call (or a concurrent one) refuses or finds nothing to do. Raises
    MonitorError when the chord does not exist.
    """
    ref = monitor.find(chord_id)
    if ref is None:
        raise MonitorError(f"no chord {chord_id!r} in the result backend")
    # Fresh replies: a message is called orphaned only against what the workers hold now.
    monitor.workers(refresh=True)
    found = monitor.survey([ref])
    if not found:
        raise MonitorError(f"chord {chord_id!r} vanished from the result backend")
    finding = found[0]
    snap, verdict = finding.snapshot, finding.verdict
    if verdict.stuck and verdict.reason is Reason.MEMBERS_LOST and verdict.recoverable:
        return _recover_lost(monitor, finding, dry_run)
    if verdict.orphaned:
        return _restore_members(monitor, finding, dry_run)
    if snap.recovered_at:
        return Outcome(chord_id, "recover", False, dry_run,
                       f"already recovered {describe_marker(snap.recovered_at)}")
    if not verdict.stuck or verdict.reason not in RECOVERABLE:
        return Outcome(chord_id, "recover", False, dry_run,
                       f"not recoverable: {verdict.state.value} ({verdict.reason.value}): "
                       f"{verdict.detail}")
    ok, why = can_recover(snap)
    if not ok:
        return Outcome(chord_id, "recover", False, dry_run, f"not recoverable: {why}")
    callback_id = snap.callback.task_id if snap.callback else ""
    if dry_run:
        emit(schema.Event.CHORD_RECOVERED, "Chord would be recovered", finding, "recover", True)
        return Outcome(chord_id, "recover", False, True,
                       f"would run {snap.callback.name if snap.callback else '?'} "
                       f"with {snap.expected} results", [callback_id])
    return _recover(monitor, finding, ref, callback_id)


def _restore_members(monitor: Monitor, finding: Finding, dry_run: bool) -> Outcome:
    """Put a chord's orphaned members (or callback) back in their queues."""
    client = monitor.broker.client if monitor.broker is not None else None
    if client is None:  # pragma: no cover - orphans are only found on a Redis broker
        raise MonitorError("restoring messages needs the Redis broker: pass --broker")
    done = [restore(client, t.unacked.tag, dry_run=dry_run)
            for t in finding.orphans() if t.unacked is not None]
    restored = [r for r in done if r.done]
    emit(schema.Event.CHORD_RECOVERED,
         "Orphaned messages would be put back in their queues" if dry_run
         else "Orphaned messages put back in their queues", finding, "recover", dry_run)
    verb = "would put back" if dry_run else "put back"
    detail = (f"{verb} {len(done) if dry_run else len(restored)} of {len(done)} message(s) "
              f"orphaned in unacked: " + "; ".join(
                  f"{r.entry.task_name if r.entry else '?'} "
                  f"{r.entry.task_id if r.entry else r.tag}: {r.detail}" for r in done))
    return Outcome(finding.chord_id, "recover", bool(done) and len(restored) == len(done)
                   and not dry_run, dry_run, detail,
                   [r.entry.task_id for r in done if r.entry and r.entry.task_id],
                   messages=[r.to_dict() for r in done])


def _recover_lost(monitor: Monitor, finding: Finding, dry_run: bool) -> Outcome:
    """Re-publish a chord's lost members (and put back its orphans, if any)."""
    restored = _restore_members(monitor, finding, dry_run) if finding.verdict.orphaned else None
    outcome = republish(monitor, finding, lost_members(finding.snapshot), dry_run=dry_run)
    if restored is None:
        return outcome
    return Outcome(finding.chord_id, "recover", outcome.done and restored.done, dry_run,
                   f"{outcome.detail}; {restored.detail}", outcome.task_ids + restored.task_ids,
                   messages=outcome.messages + restored.messages)


def republish(monitor: Monitor, finding: Finding, members: list[TaskInfo], *,
              dry_run: bool = False, recheck: bool = True) -> Outcome:
    """Publish ``members`` of the chord again from the recorder's copies of their messages:
    same task id, headers (group, group index, lineage, tenant), args, kwargs, callback and
    queue.

    Under a lock (one recover at a time per chord) it first looks again, in an order that
    cannot miss a message on its way (queues and ``unacked``, then the workers, then the
    results), and leaves out a member found anywhere or done. ``recheck=False`` publishes
    ``members`` as given: a member that already ran then runs again, and the join does not
    count it twice."""
    ref, chord_id = finding.snapshot.ref, finding.chord_id
    if not members:
        return Outcome(chord_id, "recover", False, dry_run, "no member to re-publish")
    if dry_run:
        emit(schema.Event.CHORD_RECOVERED, "Lost chord members would be re-published", finding,
             "recover", True)
        return Outcome(chord_id, "recover", False, True,
                       f"would re-publish {len(members)} lost member(s): {_names(members)}",
                       [m.task_id for m in members])
    if monitor.broker is None or monitor.broker.client is None:
        raise MonitorError("re-publishing needs the Redis broker: pass --broker")
    client = monitor.client
    callback = finding.snapshot.callback
    marker = json.dumps({"at": datetime.now(UTC).isoformat(), "host": socket.gethostname(),
                         schema.CHORD_CALLBACK_ID: callback.task_id if callback else None})
    if not client.set(ref.republishing_key, marker, nx=True, ex=CLAIM_TTL_S):
        return Outcome(chord_id, "recover", False, False,
                       "another recover is re-publishing the lost members "
                       f"{describe_marker(client.get(ref.republishing_key))}: left alone")
    try:
        messages = _recorded_messages(monitor, ref, members)
        if recheck:
            # Their own queues are read even if no binding names them (a queue declared by
            # no consumer yet): a member waiting there must not be published twice.
            still = {m.task_id for m in _still_lost(
                monitor, finding, members, {msg["routing_key"] for msg in messages})}
            kept = [(m, msg) for m, msg in zip(members, messages, strict=True)
                    if m.task_id in still]
            if not kept:
                return Outcome(chord_id, "recover", False, False,
                               "nothing to re-publish: the lost members are queued, held by "
                               "a worker or done now")
            members, messages = [m for m, _ in kept], [msg for _, msg in kept]
        app = celery_app(monitor, ref.prefix)
        try:
            with app.producer_or_acquire() as producer:
                for message in messages:
                    _publish(producer, message, app.conf.task_publish_retry_policy)
        finally:
            app.close()
    except (redis.RedisError, OSError, *_KOMBU_ERRORS) as exc:
        raise MonitorError(f"re-publishing the lost members failed: {exc}") from exc
    finally:
        # Released once published: a recover after this one finds the copies in the queues.
        client.delete(ref.republishing_key)
    emit(schema.Event.CHORD_RECOVERED, "Lost chord members re-published", finding, "recover",
         False)
    return Outcome(chord_id, "recover", True, False,
                   f"re-published {len(members)} lost member(s): {_names(members)}",
                   [m.task_id for m in members],
                   messages=[{"done": True, "republished": True, schema.TASK_ID: m.task_id,
                              schema.TASK_NAME: m.name, schema.GROUP_INDEX: m.index,
                              "routing_key": msg["routing_key"],
                              schema.RETRIES: msg["headers"].get("retries")}
                             for m, msg in zip(members, messages, strict=True)])


def _names(members: list[TaskInfo]) -> str:
    return "; ".join(f"#{m.index} {m.name or '?'} {m.task_id}" for m in members)


def _still_lost(monitor: Monitor, finding: Finding, members: list[TaskInfo],
                queues: set[str]) -> list[TaskInfo]:
    """``members`` that are still nowhere. The queues (the bound ones and ``queues``) and
    ``unacked`` are read first, the workers asked next, the results last: a message taken
    from a queue after the read is held by a worker when asked, or done when its result is
    read."""
    if monitor.broker is None:  # pragma: no cover - republish checked it
        raise MonitorError("re-publishing needs the Redis broker: pass --broker")
    ids = {m.task_id for m in members}
    found = monitor.broker.holders(ids, queues=queues)
    workers = monitor.workers(refresh=True)
    if asked_at(workers) is None:
        raise MonitorError("the workers' replies were incomplete: cannot prove that no "
                           "worker holds the lost members; try again")
    held = found.keys() | {tid for w in (workers or {}).values() for tid, _ in w.held()}
    fresh = [TaskInfo(m.task_id, name=m.name, index=m.index, replay=m.replay)
             for m in members if m.task_id not in held]
    monitor.reader.read_metas(finding.snapshot.ref, fresh)
    return [m for m in fresh if not m.done]


def _recorded_messages(monitor: Monitor, ref: ChordRef, members: list[TaskInfo]
                       ) -> list[dict[str, Any]]:
    """The recorder's copy of each member's message, with the chord's callback put back."""
    raw_callback = monitor.client.hget(ref.record_key, "callback_message")
    copies = monitor.client.hmget(ref.payloads_key, [str(m.index) for m in members])
    if raw_callback is None:
        raise MonitorError("the chord record has no callback message (recorded by an older "
                           "version)")
    callback = kombu_json.loads(raw_callback)
    out = []
    for m, raw in zip(members, copies, strict=True):
        if raw is None:
            raise MonitorError(f"the copy of member {m.index} {m.task_id} is gone (expired?)")
        message = kombu_json.loads(raw)
        if message["headers"].get("id") != m.task_id:
            raise MonitorError(f"the copy of member {m.index} is task "
                               f"{message['headers'].get('id')}, not {m.task_id}")
        args, kwargs, embed = message["body"]
        message["body"] = [args, kwargs, {**embed, "chord": callback}]
        out.append(message)
    return out


def _publish(producer: Any, message: dict[str, Any], retry_policy: dict[str, Any]) -> None:
    """One member's message as Celery sent it (json serializer, correlation id = task id)."""
    headers = message["headers"]
    producer.publish(message["body"], exchange=message["exchange"],
                     routing_key=message["routing_key"], headers=headers, serializer="json",
                     correlation_id=headers["id"], retry=True, retry_policy=retry_policy,
                     **message.get("properties", {}))


def restore_orphans(monitor: Monitor, orphans: list[Orphan], *, dry_run: bool = False,
                    include_ran: bool = False) -> list[Outcome]:
    """Put orphaned messages (from :meth:`Monitor.orphans`) back in their queues; one
    outcome each (``chord_id`` is the message's group id, if any). A message whose task
    already finished is left alone unless ``include_ran``."""
    from instrumentation.events import log_event

    client = monitor.broker.client if monitor.broker is not None else None
    if client is None:
        raise MonitorError("restoring messages needs the Redis broker: pass --broker")
    outcomes = []
    for orphan in orphans:
        entry = orphan.entry
        gid = entry.group_id or ""
        ids = [entry.task_id] if entry.task_id else []
        if orphan.ran and not include_ran:
            outcomes.append(Outcome(
                gid, "restore", False, dry_run,
                f"left in unacked: {entry.task_name} {entry.task_id} already "
                f"{orphan.state} (its ack was lost; restoring would run it again)", ids,
                messages=[entry.to_dict()]))
            continue
        result = restore(client, entry.tag, dry_run=dry_run)
        if entry.group_id:  # a chord's member: the chord was recovered (no event otherwise)
            log_event(schema.Event.CHORD_RECOVERED,
                      "Orphaned message would be put back in its queue" if dry_run
                      else "Orphaned message put back in its queue",
                      **{schema.CHORD_ID: entry.group_id, schema.TASK_ID: entry.task_id,
                         schema.TASK_NAME: entry.task_name, schema.QUEUE: entry.routing_key,
                         schema.ACTION: "recover", schema.DRY_RUN: dry_run,
                         schema.REASON: Reason.ORPHANED_IN_UNACKED.value})
        outcomes.append(Outcome(gid, "restore", result.done, dry_run,
                                f"{entry.task_name} {entry.task_id}: {result.detail}", ids,
                                result.queues, [result.to_dict()]))
    return outcomes


def describe_marker(raw: bytes | str | None) -> str:
    """Our recover marker as words: ``at <when> by <host> (callback <id>)``, never bytes."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        marker = json.loads(text or "")
    except ValueError:
        marker = None
    if not isinstance(marker, dict):
        return "(marker unreadable)" if text else "(marker expired)"
    return (f"at {marker.get('at', '?')} by {marker.get('host', '?')} "
            f"(callback {marker.get(schema.CHORD_CALLBACK_ID) or '?'})")


def lineage(finding: Finding) -> dict[str, Any]:
    """``apply_async`` options that give the recovered callback the chord's tenant and
    lineage, as if a member had published it: the tenant headers (``instrumentation.tenant``;
    the monitor runs outside any task, so nothing else would add them), and the root and
    parent ids of the members (the task that started the chord is the parent)."""
    snap = finding.snapshot
    options: dict[str, Any] = {}
    signature_options = (snap.callback_signature or {}).get("options") or {}
    headers = {name: value for name, value in ((schema.ORGANIZATION_ID, snap.organization_id),
                                               (schema.USER_ID, snap.user_id)) if value}
    if headers:
        options["headers"] = headers
    root_id = signature_options.get("root_id") or snap.root_id
    parent_id = signature_options.get("parent_id") or snap.parent_id
    if root_id:
        options["root_id"] = root_id
    if parent_id:
        options["parent_id"] = parent_id
    return options


def _recover(monitor: Monitor, finding: Finding, ref: ChordRef, callback_id: str) -> Outcome:
    client = monitor.client
    marker = json.dumps({"at": datetime.now(UTC).isoformat(), "host": socket.gethostname(),
                         schema.CHORD_CALLBACK_ID: callback_id})
    if not client.set(ref.recovered_key, marker, nx=True, ex=RECOVERED_MARKER_TTL_S):
        return Outcome(ref.group_id, "recover", False, False,
                       f"already recovered {describe_marker(client.get(ref.recovered_key))}")
    token = f"rhesis-recover-{uuid.uuid4().hex}"
    claimed = finding.snapshot.claim is not None or client.set(
        ref.key(CLAIM), token, nx=True, ex=CLAIM_TTL_S)
    if not claimed:
        client.delete(ref.recovered_key)
        return Outcome(ref.group_id, "recover", False, False,
                       "a worker is dispatching the callback right now: left alone")
    app = celery_app(monitor, ref.prefix)
    try:
        signature = Signature.from_dict(finding.snapshot.callback_signature, app=app)
        signature.apply_async((ordered_results(finding),), **lineage(finding))
    except Exception as exc:
        # Nothing was published: release both guards so a later recover can try again.
        client.delete(ref.recovered_key)
        if finding.snapshot.claim is None:
            client.delete(ref.key(CLAIM))
        raise MonitorError(f"publishing the callback failed: {exc}") from exc
    finally:
        app.close()
    # Celery's own cleanup after a dispatch, so a late duplicate member cannot dispatch again.
    pipe = client.pipeline()
    pipe.delete(*(ref.key(sfx) for sfx in CHORD_DATA_SUFFIXES))
    pipe.set(ref.key(CLAIM), CLAIM_DONE, ex=DONE_EXPIRES_S)
    pipe.execute()
    emit(schema.Event.CHORD_RECOVERED, "Chord callback run by the monitor", finding, "recover",
         False)
    name = finding.snapshot.callback.name if finding.snapshot.callback else "?"
    return Outcome(ref.group_id, "recover", True, False,
                   f"published {name} with {len(finding.snapshot.members)} results",
                   [callback_id])


# --- clean ----------------------------------------------------------------------------------

def cleanable(finding: Finding) -> bool:
    """Only chords that can no longer complete on their own: stuck, revoked or failed."""
    return finding.verdict.state in (ChordState.STUCK, ChordState.REVOKED, ChordState.FAILED)


def clean(monitor: Monitor, findings: list[Finding], *, dry_run: bool = False) -> list[Outcome]:
    """Delete the chord keys (and our record) of each stuck chord; never a progressing one."""
    outcomes = []
    for finding in findings:
        ref = finding.snapshot.ref
        keys = [k for k in ref.all_keys() if monitor.client.exists(k)]
        if not cleanable(finding):
            outcomes.append(Outcome(ref.group_id, "clean", False, dry_run,
                                    f"{finding.verdict.state.value}: left alone"))
            continue
        if dry_run:
            outcomes.append(Outcome(ref.group_id, "clean", False, True,
                                    f"would delete {len(keys)} key(s)", keys=keys))
            emit(schema.Event.CHORD_CLEANED, "Chord keys would be cleaned", finding, "clean", True)
            continue
        moved = _delete_unless_moved(monitor, finding, keys)
        if moved:
            outcomes.append(Outcome(ref.group_id, "clean", False, False,
                                    f"left alone: {moved}"))
            continue
        outcomes.append(Outcome(ref.group_id, "clean", True, False,
                                f"deleted {len(keys)} key(s)", keys=keys))
        emit(schema.Event.CHORD_CLEANED, "Chord keys cleaned", finding, "clean", False)
    return outcomes


def _delete_unless_moved(monitor: Monitor, finding: Finding, keys: list[str]) -> str | None:
    """Delete ``keys`` atomically unless the chord changed since ``finding``; why not, or None."""
    ref = finding.snapshot.ref
    with monitor.client.pipeline() as pipe:
        try:
            pipe.watch(ref.key(JOINED), ref.key(SIZE), ref.key(CLAIM))
            now = monitor.reader.snapshot(ref)
            if (now.joined != finding.snapshot.joined or now.size != finding.snapshot.size
                    or now.claim != finding.snapshot.claim):
                return "the chord changed since it was checked"
            pipe.multi()
            if keys:
                pipe.delete(*keys)
            # A member finishing later must not recreate the chord's keys (Celery's marker).
            pipe.set(ref.key(CLAIM), CLAIM_DONE, ex=DONE_EXPIRES_S)
            pipe.execute()
        except redis.WatchError:
            return "the chord changed while cleaning"
    return None

"""Read one chord's state out of the result backend's Redis into a :class:`ChordSnapshot`.

    reader = ChordReader(redis.Redis.from_url(backend_url), prefix=None)
    for ref in reader.refs():
        snap = reader.snapshot(ref)

Large chords are read in pages (``ZRANGE``/``LRANGE``/``HSCAN``/``MGET`` of ``page`` items),
so a chord of 100 000 members costs round trips, not one giant reply. Values are decoded as
JSON (Celery's default ``result_serializer``); a value in another serializer is shown as
undecodable rather than failing the whole run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import redis

from instrumentation import schema
from worker.chord_monitor.keys import (
    CLAIM,
    DEDUP,
    JOINED,
    SIZE,
    TOTAL_DIFF,
    ChordRef,
    iter_chord_refs,
)
from worker.chord_monitor.model import UNDECODABLE, ChordSnapshot, TaskInfo


def _str(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def decode(value: bytes | str | None) -> Any:
    """JSON-decode a stored value; :data:`UNDECODABLE` when it is not JSON."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return UNDECODABLE


def parse_time(value: Any) -> datetime | None:
    """Celery's ``date_done`` (ISO, naive means UTC) -> aware datetime; None if unparsable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def error_text(result: Any) -> str | None:
    """``ExcType: message`` from Celery's serialized exception, else None."""
    if isinstance(result, dict) and "exc_type" in result:
        message = result.get("exc_message")
        if isinstance(message, list | tuple):
            message = " ".join(str(m) for m in message)
        return f"{result.get('exc_type')}: {message}"
    return None


def _int(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def apply_meta(info: TaskInfo, meta: Any) -> None:
    """Fill ``info`` from a ``celery-task-meta-<id>`` value (already decoded)."""
    if not isinstance(meta, dict):
        return
    info.state = meta.get("status")
    info.date_done = parse_time(meta.get("date_done"))
    info.worker = meta.get("worker") or info.worker
    info.name = info.name or meta.get("name")
    info.result = meta.get("result")
    info.error = error_text(info.result)
    if isinstance(meta.get("kwargs"), dict):
        info.kwargs = meta["kwargs"]


class ChordReader:
    """Reads chords from one Redis database (the result backend's)."""

    def __init__(self, client: redis.Redis, prefix: str | None = None, *, page: int = 500):
        self.client = client
        self.prefix = prefix
        self.page = page

    def refs(self) -> Iterator[ChordRef]:
        return iter_chord_refs(self.client, self.prefix, count=max(self.page, 1000))

    def snapshot(self, ref: ChordRef) -> ChordSnapshot:
        c = self.client
        pipe = c.pipeline(transaction=False)
        pipe.get(ref.key(SIZE))
        pipe.get(ref.key(TOTAL_DIFF))
        pipe.type(ref.key(JOINED))
        pipe.exists(ref.key(DEDUP))
        pipe.get(ref.key(CLAIM))
        pipe.hgetall(ref.record_key)
        pipe.hlen(ref.members_key)
        pipe.get(ref.recovered_key)
        pipe.ttl(ref.key(JOINED))
        pipe.ttl(ref.key(SIZE))
        size, diff, jtype, dedup, claim, record, recorded, recovered, jttl, sttl = pipe.execute()
        jtype = _str(jtype)
        snap = ChordSnapshot(
            ref=ref,
            size=_int(size),
            total_diff=_int(diff) or 0,
            claim=_str(claim),
            has_chord_data=bool(size is not None or diff is not None or jtype != "none"
                                or dedup),
            recorded_members=recorded or None,
            recovered_at=_str(recovered),
        )
        ttls = [t for t in (jttl, sttl) if t is not None and t >= 0]
        snap.ttl_s = max(ttls) if ttls else None
        members: dict[str, TaskInfo] = {}
        self._read_record(snap, {_str(k): _str(v) for k, v in record.items()}, members)
        self._read_joined(snap, ref, jtype, members)
        snap.members = sorted(members.values(),
                              key=lambda m: (m.index is None, m.index or 0, m.task_id))
        self.read_metas(ref, [*snap.members, *([snap.callback] if snap.callback else [])])
        self._find_tenant(snap)
        return snap

    def _read_record(self, snap: ChordSnapshot, record: dict[str, str | None],
                     members: dict[str, TaskInfo]) -> None:
        if not record:
            return
        snap.has_record = True
        snap.created = parse_time(record.get("created"))
        snap.organization_id = record.get(schema.ORGANIZATION_ID)
        snap.user_id = record.get(schema.USER_ID)
        snap.root_id = record.get(schema.ROOT_ID) or None
        snap.parent_id = record.get(schema.PARENT_ID) or None
        signature = decode(record.get("callback"))
        if isinstance(signature, dict):
            snap.callback_signature = signature
        cb_id = record.get("callback_id")
        if cb_id:
            snap.callback = TaskInfo(cb_id, name=record.get("callback_name") or None)
        for field, value in self.client.hscan_iter(snap.ref.members_key, count=self.page):
            entry = decode(value)
            if not (isinstance(entry, list) and len(entry) in (2, 3) and entry[0]):
                continue
            index = _int(field)
            members[entry[0]] = TaskInfo(entry[0], name=entry[1], index=index,
                                         replay=entry[2] if len(entry) == 3 else None)

    def _read_joined(self, snap: ChordSnapshot, ref: ChordRef, jtype: str | None,
                     members: dict[str, TaskInfo]) -> None:
        if jtype not in ("zset", "list"):
            return
        key = ref.key(JOINED)
        states: Counter[str] = Counter()
        start = 0
        while True:
            stop = start + self.page - 1
            if jtype == "zset":
                page = self.client.zrange(key, start, stop, withscores=True)
            else:
                page = [(v, None) for v in self.client.lrange(key, start, stop)]
            for raw, score in page:
                entry = decode(raw)
                if not (isinstance(entry, list) and len(entry) == 4):
                    states[UNDECODABLE] += 1
                    continue
                _, tid, state, result = entry
                states[state] += 1
                snap.joined_ids.add(tid)
                info = members.setdefault(tid, TaskInfo(tid))
                info.joined_state = state
                if info.index is None and score is not None and score != float("inf"):
                    info.index = int(score)
                if info.result is None:
                    info.result = result
                    info.error = error_text(result)
            if len(page) < self.page:
                break
            start += self.page
        snap.joined = sum(states.values())
        snap.joined_states = dict(states)

    def read_metas(self, ref: ChordRef, tasks: list[TaskInfo]) -> None:
        """Fill each task from its ``celery-task-meta-<id>`` (MGET in pages)."""
        for i in range(0, len(tasks), self.page):
            chunk = tasks[i:i + self.page]
            values = self.client.mget([ref.task_key(t.task_id) for t in chunk])
            for info, value in zip(chunk, values, strict=True):
                apply_meta(info, decode(value))

    @staticmethod
    def _find_tenant(snap: ChordSnapshot) -> None:
        """The record's headers first, then members' kwargs, then the callback's kwargs."""
        sources: list[dict[str, Any]] = [m.kwargs for m in snap.members if m.kwargs]
        if snap.callback_signature:
            sources.append(snap.callback_signature.get("kwargs") or {})
        for kwargs in sources:
            if snap.organization_id and snap.user_id:
                return
            if not isinstance(kwargs, dict):
                continue
            snap.organization_id = snap.organization_id or kwargs.get(schema.ORGANIZATION_ID)
            snap.user_id = snap.user_id or kwargs.get(schema.USER_ID)

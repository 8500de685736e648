"""kombu's ack emulation on Redis: read its ``unacked`` entries, put an orphaned one back.

kombu's Redis transport (kombu 5.7, ``kombu/transport/redis.py``) delivers a message in two
steps: ``BRPOP`` from the queue, then ``QoS.append`` writes ``ZADD unacked_index {tag: now}``
and ``HSET unacked tag [message, exchange, routing_key]`` and hands the message to the
consumer. An ack is ``ZREM``/``HDEL`` of the tag. Only ``QoS.restore_visible`` (after
``visibility_timeout``, an hour by default) gives back an entry whose consumer is gone::

    entries = read_entries(client)                     # every entry, with its delivery time
    done = restore(client, entries[0].tag)              # back in its queue, as kombu would
    plan = restore(client, entries[0].tag, dry_run=True)  # says where, changes nothing

:func:`restore` does what ``QoS.restore_by_tag`` does (``leftmost=False``, the call
``restore_visible`` and a closing channel make), in one ``WATCH unacked``/``MULTI``
transaction: ``ZREM unacked_index``, ``HDEL unacked``, and ``RPUSH`` of the message (its
``redelivered`` flags set, ``Channel._do_restore_message``) to each queue bound to its
exchange and routing key (``_lookup``; anonymous exchange: the routing key is the queue), on
the priority sub-queue ``<queue>\\x06\\x16<step>`` kombu's ``_q_for_pri`` picks. ``RPUSH``
puts it at the end ``BRPOP`` reads first, where a message a worker gives back goes. One
difference, on purpose: where no queue matches, kombu drops the message (its dead-letter
queue is unset); here it is left in ``unacked`` and the reason is returned.

Assumed kombu defaults: the key names ``unacked``/``unacked_index``, ``priority_steps``
``[0, 3, 6, 9]``, no ``global_keyprefix`` on the broker, direct or topic exchanges (an
exchange's type is not stored in Redis: a binding with a pattern is matched as topic).
"""

from __future__ import annotations

import re
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from kombu.utils.json import dumps, loads

from worker.chord_monitor.model import UnackedEntry

UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"
BINDINGS = "_kombu.binding.{}"
SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 9, 0
#: WATCH aborts whenever any delivery or ack touches ``unacked``; try again this often.
MAX_ATTEMPTS = 50


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def parse_entry(tag: bytes | str, raw: bytes | str, delivered_at: float | None
                ) -> UnackedEntry | None:
    """One ``unacked`` value (``[message, exchange, routing_key]``) as an entry; None when it
    is not kombu's JSON."""
    try:
        message, exchange, routing_key = loads(_text(raw))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict):
        return None
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    retries = headers.get("retries")
    return UnackedEntry(
        tag=_text(tag), task_id=headers.get("id"), task_name=headers.get("task"),
        exchange=exchange or "", routing_key=routing_key or "", delivered_at=delivered_at,
        group_id=headers.get("group"), root_id=headers.get("root_id"),
        retries=retries if isinstance(retries, int) else None)


def read_entries(client: redis.Redis, page: int = 500) -> Iterator[UnackedEntry]:
    """Every entry of ``unacked`` with its delivery time from ``unacked_index``."""
    for tag, raw, score in read_raw(client, page):
        entry = parse_entry(tag, raw, score)
        if entry is not None:
            yield entry


def read_raw(client: redis.Redis, page: int = 500
             ) -> Iterator[tuple[bytes, bytes, float | None]]:
    """``(tag, raw value, unacked_index score)`` of every entry, by HSCAN and ZMSCORE in
    pages, so memory stays one page whatever the size of ``unacked``."""
    batch: list[tuple[bytes, bytes]] = []
    for item in client.hscan_iter(UNACKED, count=page):
        batch.append(item)
        if len(batch) >= page:
            yield from _with_scores(client, batch)
            batch = []
    if batch:
        yield from _with_scores(client, batch)


def _with_scores(client: redis.Redis, batch: list[tuple[bytes, bytes]]
                 ) -> Iterator[tuple[bytes, bytes, float | None]]:
    scores = client.zmscore(UNACKED_INDEX, [tag for tag, _ in batch])
    for (tag, raw), score in zip(batch, scores, strict=True):
        yield tag, raw, score


def priority_queue(queue: str, message: dict[str, Any]) -> str:
    """The list kombu pushes ``message`` to: ``_get_message_priority`` then ``_q_for_pri``."""
    try:
        priority = max(min(int(message["properties"]["priority"]), MAX_PRIORITY),
                       MIN_PRIORITY)
    except (TypeError, ValueError, KeyError):
        priority = DEFAULT_PRIORITY
    step = PRIORITY_STEPS[bisect(PRIORITY_STEPS, priority) - 1]
    return f"{queue}{SEP}{step}" if step else queue


def lookup_queues(client: redis.Redis, exchange: str, routing_key: str) -> list[str]:
    """The queues ``exchange`` routes ``routing_key`` to, from kombu's binding set
    (members ``routing_key SEP pattern SEP queue``), as ``Channel._lookup`` finds them."""
    if not exchange:
        return [routing_key] if routing_key else []
    found = set()
    for member in client.smembers(BINDINGS.format(exchange)):
        rkey, pattern, queue = [*_text(member).split(SEP), "", "", ""][:3]
        if not queue:
            continue
        if pattern:  # topic binding: kombu stores the compiled pattern
            if re.match(pattern, routing_key):
                found.add(queue)
        elif rkey == routing_key:
            found.add(queue)
    return sorted(found)


def redelivered(message: dict[str, Any]) -> dict[str, Any]:
    """The message with kombu's ``redelivered`` flags, set in ``_do_restore_message``'s
    order (a message without headers keeps its properties as they were)."""
    try:
        message["headers"]["redelivered"] = True
        message["properties"]["delivery_info"]["redelivered"] = True
    except KeyError:
        pass
    return message


@dataclass
class Restore:
    """What :func:`restore` did (or, in a dry run, would do) with one tag."""

    tag: str
    done: bool
    detail: str
    entry: UnackedEntry | None = None
    queues: list[str] = field(default_factory=list)  # the lists pushed to

    def to_dict(self) -> dict[str, Any]:
        entry = self.entry
        return {"tag": self.tag, "done": self.done, "detail": self.detail,
                "queues": self.queues, **(entry.to_dict() if entry else {})}


def restore(client: redis.Redis, tag: str, *, dry_run: bool = False,
            leftmost: bool = False) -> Restore:
    """Put the ``unacked`` entry ``tag`` back in its queue(s) like ``QoS.restore_by_tag``.

    Idempotent: an entry that is gone (acked, or restored by kombu or another monitor
    meanwhile) is left alone and says so. Raises ``redis.RedisError`` when Redis fails.
    """
    for _ in range(MAX_ATTEMPTS):
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(UNACKED)
                raw = pipe.hget(UNACKED, tag)
                score = pipe.zscore(UNACKED_INDEX, tag)
                if raw is None:
                    return Restore(tag, False, "no longer in unacked (acked or restored "
                                   "meanwhile): left alone")
                entry = parse_entry(tag, raw, score)
                if entry is None:
                    return Restore(tag, False, "not a kombu message (not JSON): left in "
                                   "unacked")
                message, exchange, routing_key = loads(_text(raw))
                queues = lookup_queues(pipe, exchange or "", routing_key or "")
                if not queues:
                    return Restore(tag, False, f"no queue is bound to exchange {exchange!r} "
                                   f"with routing key {routing_key!r}: left in unacked", entry)
                keys = [priority_queue(q, message) for q in queues]
                if dry_run:
                    return Restore(tag, False, f"would put it back in {', '.join(queues)}",
                                   entry, keys)
                payload = dumps(redelivered(message))
                pipe.multi()
                pipe.zrem(UNACKED_INDEX, tag)
                pipe.hdel(UNACKED, tag)
                for key in keys:
                    (pipe.lpush if leftmost else pipe.rpush)(key, payload)
                pipe.execute()
                return Restore(tag, True, f"put back in {', '.join(queues)}", entry, keys)
            except redis.WatchError:
                continue
    return Restore(tag, False, f"unacked kept changing: gave up after {MAX_ATTEMPTS} tries")

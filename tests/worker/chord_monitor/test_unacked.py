"""worker.chord_monitor.unacked against a real Redis, with entries kombu itself wrote: a
restore leaves Redis exactly as kombu's own ``QoS.restore_by_tag`` does, priority queues
included; it is idempotent, a dry run changes nothing, and an unroutable message stays."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue

from worker.chord_monitor.unacked import (
    UNACKED,
    UNACKED_INDEX,
    lookup_queues,
    priority_queue,
    read_entries,
    restore,
)

SEP = "\x06\x16"


def dump(client: redis.Redis) -> dict[bytes, Any]:
    """Every key with its type and value."""
    out: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"list":
            out[key] = ("list", client.lrange(key, 0, -1))
        elif kind == b"hash":
            out[key] = ("hash", client.hgetall(key))
        elif kind == b"zset":
            out[key] = ("zset", client.zrange(key, 0, -1, withscores=True))
        elif kind == b"set":
            out[key] = ("set", client.smembers(key))
        else:
            out[key] = (kind, client.get(key))
    return out


@contextmanager
def delivered(url: str, priorities: list[int | None]) -> Iterator[tuple[Any, list[str]]]:
    """Publish one message per priority to queue ``pq`` and take each with kombu's own
    ``basic_get`` (which writes ``unacked`` like a worker's delivery). Yields the channel and
    the delivery tags; the channel's own memory of them is dropped, so closing it restores
    nothing (as a worker that never learnt of them)."""
    queue = Queue("pq", Exchange("pq", "direct"), "pq", max_priority=9)
    with Connection(url) as conn:
        channel = conn.channel()
        producer = conn.Producer(channel)
        for n, priority in enumerate(priorities):
            options = {} if priority is None else {"priority": priority}
            producer.publish({"n": n}, exchange=queue.exchange, routing_key="pq",
                             declare=[queue], headers={"id": f"task-{n}", "task": "app.t"},
                             **options)
        tags = []
        for _ in priorities:
            message = channel.basic_get("pq")
            assert message is not None
            tags.append(message.delivery_tag)
        channel.qos._delivered.clear()
        try:
            yield channel, tags
        finally:
            channel.close()


def copy_db(source: redis.Redis, target: redis.Redis) -> None:
    target.flushdb()
    for key in source.scan_iter(count=1000):
        target.restore(key, 0, source.dump(key))


class TestRestoreLikeKombu:
    def test_same_redis_state_as_kombus_restore_by_tag(self, broker_url: str,
                                                       backend_url: str):
        """Priorities 0, 5, 9 and none: kombu restores in one database, we in a copy of it;
        the two databases end byte for byte the same."""
        ours = redis.Redis.from_url(backend_url)
        theirs = redis.Redis.from_url(broker_url)
        with delivered(broker_url, [0, 5, 9, None]) as (channel, tags):
            assert theirs.hlen(UNACKED) == 4 and theirs.zcard(UNACKED_INDEX) == 4
            assert not any(theirs.llen(k) for k in theirs.scan_iter(match="pq*"))
            copy_db(theirs, ours)
            for tag in tags:
                channel.qos.restore_by_tag(tag)
                done = restore(ours, tag)
                assert done.done, done.detail
            assert dump(ours) == dump(theirs)
        # Where they went: kombu's priority sub-queues (0 -> pq, 5 -> step 3, 9 -> step 9).
        assert ours.llen("pq") == 2 and ours.llen(f"pq{SEP}3") == 1
        assert ours.llen(f"pq{SEP}9") == 1
        assert ours.hlen(UNACKED) == 0 and ours.zcard(UNACKED_INDEX) == 0

    def test_entries_read_with_delivery_time(self, broker_url: str):
        client = redis.Redis.from_url(broker_url)
        with delivered(broker_url, [None, 4]) as (_, tags):
            entries = {e.tag: e for e in read_entries(client, page=1)}
        assert set(entries) == set(tags)
        first = entries[tags[0]]
        assert (first.task_id, first.task_name, first.exchange, first.routing_key) == (
            "task-0", "app.t", "pq", "pq")
        assert first.delivered_at == client.zscore(UNACKED_INDEX, tags[0])

    def test_dry_run_then_idempotent(self, broker_url: str):
        """A dry run names the queue and changes nothing; the second restore does nothing."""
        client = redis.Redis.from_url(broker_url)
        with delivered(broker_url, [None]) as (_, (tag,)):
            before = dump(client)
            plan = restore(client, tag, dry_run=True)
            assert (plan.done, plan.queues) == (False, ["pq"])
            assert "would put it back in pq" in plan.detail
            assert dump(client) == before
            assert restore(client, tag).done
            again = restore(client, tag)
            assert not again.done and "no longer in unacked" in again.detail
            assert client.llen("pq") == 1  # once, not twice
            message = client.lrange("pq", 0, -1)[0]
            assert b'"redelivered": true' in message

    def test_unroutable_message_stays_in_unacked(self, broker_url: str):
        """No queue bound any more: kombu would drop it; we leave it and say why."""
        client = redis.Redis.from_url(broker_url)
        with delivered(broker_url, [None]) as (_, (tag,)):
            client.delete("_kombu.binding.pq")
            refused = restore(client, tag)
            assert not refused.done and "no queue is bound" in refused.detail
            assert client.hexists(UNACKED, tag) and client.zscore(UNACKED_INDEX, tag)


class TestRouting:
    def test_lookup_direct_topic_and_anonymous(self, broker_url: str):
        client = redis.Redis.from_url(broker_url)
        client.sadd("_kombu.binding.ex", f"rk{SEP}{SEP}q1", f"other{SEP}{SEP}q2",
                    f"a.*{SEP}^a\\.[^\\.]+${SEP}q3")
        assert lookup_queues(client, "ex", "rk") == ["q1"]
        assert lookup_queues(client, "ex", "a.b") == ["q3"]
        assert lookup_queues(client, "", "direct-q") == ["direct-q"]
        assert lookup_queues(client, "nowhere", "rk") == []

    @pytest.mark.parametrize(("priority", "key"), [
        (None, "q"), (0, "q"), (2, "q"), (3, f"q{SEP}3"), (8, f"q{SEP}6"), (9, f"q{SEP}9"),
        (42, f"q{SEP}9"), ("x", "q")])
    def test_priority_queue_like_kombu(self, priority: Any, key: str):
        message = {"properties": {} if priority is None else {"priority": priority}}
        assert priority_queue("q", message) == key

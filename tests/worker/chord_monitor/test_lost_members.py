"""Lost chord members re-published by ``recover``, against a real Redis and a real worker.

A member is *lost* when kombu's ``BRPOP`` handed its message to a worker that died before
``QoS.append`` wrote it to ``unacked``. Here the test takes the message off the queue itself
(``LREM``), which leaves Redis in exactly that state, deterministically.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis

from instrumentation import schema
from tests.support import wait_for
from tests.worker.chord_monitor.conftest import ChordLab
from worker.chord_monitor import Monitor, actions
from worker.chord_monitor.keys import ChordRef

pytestmark = pytest.mark.slow

QUEUE = "celery"


def pop_member(lab: ChordLab, gid: str, index: int) -> dict[str, Any]:
    """Take chord ``gid``'s member ``index`` off its queue; its kombu message, decoded."""
    broker = redis.Redis.from_url(lab.broker_url)
    for raw in broker.lrange(QUEUE, 0, -1):
        message = json.loads(raw)
        headers = message["headers"]
        if headers.get("group") == gid and headers.get("group_index") == index:
            assert broker.lrem(QUEUE, 1, raw) == 1
            return message
    raise AssertionError(f"member {index} of {gid} is not in {QUEUE}")


def body_of(message: dict[str, Any]) -> Any:
    raw = message["body"]
    if message["properties"].get("body_encoding") == "base64":
        raw = base64.b64decode(raw)
    return json.loads(raw)


def meta(lab: ChordLab, task_id: str) -> dict[str, Any] | None:
    raw = lab.redis.get(f"celery-task-meta-{task_id}")
    return json.loads(raw) if raw else None


def successes(lab: ChordLab, task_id: str) -> int:
    """How often the worker logged the task as succeeded (Celery keeps the first SUCCESS
    result, so the result meta cannot tell a second run)."""
    assert lab.worker is not None
    return lab.worker.stderr().count(f"chordapp.member[{task_id}] succeeded")


def barrier(lab: ChordLab) -> None:
    """One more task through the solo worker: everything queued before it has finished
    (join included), since the worker takes its queue in order, one task at a time."""
    assert lab.app.signature("chordapp.member", args=(7,)).apply_async().get(timeout=30) == 49


def chord_with_a_lost_member(lab: ChordLab, tag: str, n: int = 3, lost: int = 1):
    """A chord whose member ``lost`` was taken off the queue before any worker ran; the
    others done. Returns (callback AsyncResult, the lost message)."""
    result = lab.chord(n, tag=tag)
    gid = result.parent.id
    message = pop_member(lab, gid, lost)
    lab.start_worker()
    others = [r.id for i, r in enumerate(result.parent.results) if i != lost]
    wait_for(lambda: all(lab.meta_state(t) == "SUCCESS" for t in others), timeout=30,
             message="the other members to succeed")
    return result, message


class TestLostMemberRecovered:
    def test_check_recover_dry_run_recover_twice(self, lab: ChordLab):
        """members_lost and recoverable; a dry run publishes nothing; recover re-publishes
        the member under its original id and the callback runs once; a second recover finds
        nothing to do."""
        result, message = chord_with_a_lost_member(lab, "lost1")
        gid, lost_id = result.parent.id, message["headers"]["id"]
        assert lost_id == result.parent.results[1].id

        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 1, check.stderr
        (found,) = check.json()["stuck"]
        assert (found[schema.CHORD_ID], found[schema.REASON], found["recoverable"]) == (
            gid, "members_lost", True)
        assert "1 lost" in found["detail"] and "recover re-publishes them" in found["detail"]

        before = lab.dump_backend()
        dry = lab.cli("recover", gid, "--dry-run")
        assert dry.code == 1, dry.stderr
        assert f"would re-publish 1 lost member(s): #1 chordapp.member {lost_id}" in dry.stdout
        assert redis.Redis.from_url(lab.broker_url).llen(QUEUE) == 0
        assert lab.dump_backend() == before

        done = lab.cli("recover", gid, "--json")
        assert done.code == 0, done.stdout + done.stderr
        (outcome,) = done.json()["outcomes"]
        assert outcome["done"] and outcome["task_ids"] == [lost_id]
        assert outcome["messages"][0]["republished"] is True
        (event,) = done.events(schema.Event.CHORD_RECOVERED)
        assert (event[schema.CHORD_ID], event[schema.REASON]) == (gid, "members_lost")

        assert result.get(timeout=30) == 0 + 1 + 4
        assert lab.runs("lost1") == [[0, 1, 4]]
        assert meta(lab, lost_id)["status"] == "SUCCESS"

        again = lab.cli("recover", gid)
        assert again.code == 1
        assert "not recoverable: completed" in again.stdout, again.stdout
        barrier(lab)
        assert lab.runs("lost1") == [[0, 1, 4]]

    def test_republished_message_is_the_lost_one(self, lab: ChordLab):
        """The copy recover publishes carries the lost message's headers (task id, group,
        group index, lineage), body (args, kwargs, the callback) and properties: a worker
        that consumes it joins the same chord."""
        result = lab.chord(3, tag="exact")
        gid = result.parent.id
        lost = pop_member(lab, gid, 2)
        broker = redis.Redis.from_url(lab.broker_url)
        # A worker that answers the monitor but does not consume the queue yet, and a queue
        # no binding names (no consumer declared it): the monitor, which finds queues by
        # their bindings, cannot see members 0 and 1 waiting there and calls them lost too.
        worker = lab.start_worker(queues="idle")
        broker.delete(f"_kombu.binding.{QUEUE}")
        check = lab.cli("check", "--max-hours", "0", "--json")
        (found,) = check.json()["stuck"]
        assert (found[schema.REASON], found["recoverable"]) == ("members_lost", True), found
        assert "3 lost" in found["detail"]

        # recover looks again in the members' own queue (from their copies): it finds
        # members 0 and 1 there and re-publishes member 2 alone.
        done = lab.cli("recover", gid)
        assert done.code == 0, done.stdout + done.stderr
        assert f"re-published 1 lost member(s): #2 chordapp.member {lost['headers']['id']}" \
            in done.stdout, done.stdout
        queued = [json.loads(m)["headers"] for m in broker.lrange(QUEUE, 0, -1)]
        assert sorted(h["group_index"] for h in queued if h.get("group") == gid) == [0, 1, 2], \
            queued
        copy = next(m for m in map(json.loads, broker.lrange(QUEUE, 0, -1))
                    if m["headers"]["id"] == lost["headers"]["id"])
        assert copy["headers"] == lost["headers"]
        assert body_of(copy) == body_of(lost)
        assert body_of(copy)[2]["chord"]["options"]["task_id"] == result.id
        for name in ("correlation_id", "reply_to", "priority", "delivery_info"):
            assert copy["properties"].get(name) == lost["properties"].get(name), name
        assert copy["content-type"] == lost["content-type"] == "application/json"

        # Nothing to do while the copy waits in its queue: nothing published twice.
        waiting = lab.cli("recover", gid)
        assert waiting.code == 1 and "nothing to re-publish" in waiting.stdout, waiting.stdout
        assert broker.llen(QUEUE) == len(queued)
        lab.app.control.add_consumer(QUEUE, destination=[worker.hostname], reply=True,
                                     timeout=5)
        assert result.get(timeout=30) == 0 + 1 + 4
        assert lab.runs("exact") == [[0, 1, 4]]


class TestRepublishedMemberThatAlreadyRan:
    def test_counts_once_never_completes_early_or_twice(self, lab: ChordLab):
        """A member that already ran, published again (recover's own re-check would leave it
        out; here it is forced): it runs again, but the join counts its task id and index
        once, so the chord neither completes without the lost member nor twice after."""
        result, _lost = chord_with_a_lost_member(lab, "twice")
        gid = result.parent.id
        ran = result.parent.results[0].id
        monitor = Monitor(lab.backend_url, broker_url=lab.broker_url, timeout=0.5)
        try:
            finding = monitor.inspect(gid)
            member0 = next(m for m in finding.snapshot.members if m.index == 0)
            out = actions.republish(monitor, finding, [member0], recheck=False)
            assert out.done and out.task_ids == [ran]
            barrier(lab)
            assert successes(lab, ran) == 2  # it ran again
            assert lab.runs("twice") == [] and meta(lab, result.id) is None
            snap = monitor.reader.snapshot(ChordRef("", gid))
            assert snap.joined == 2 and snap.size == 3  # member 0 counted once
            assert lab.redis.scard(lab.key(gid, ".d")) == 2

            # recover's own re-check leaves a member that ran out.
            finding = monitor.inspect(gid)
            assert finding.verdict.reason.value == "members_lost"
            member0 = next(m for m in finding.snapshot.members if m.index == 0)
            skipped = actions.republish(monitor, finding, [member0])
            assert not skipped.done and "nothing to re-publish" in skipped.detail

            recovered = lab.cli("recover", gid)
            assert recovered.code == 0, recovered.stdout + recovered.stderr
            assert result.get(timeout=30) == 0 + 1 + 4
            assert lab.runs("twice") == [[0, 1, 4]]

            # Once more after the chord completed: Celery's done marker ends the join.
            finding = monitor.inspect(gid)
            member0 = next(m for m in finding.snapshot.members if m.index == 0)
            assert actions.republish(monitor, finding, [member0], recheck=False).done
            barrier(lab)
            assert successes(lab, ran) == 3
            assert lab.runs("twice") == [[0, 1, 4]]
            assert meta(lab, result.id)["status"] == "SUCCESS"
        finally:
            monitor.close()


class TestNotRecorded:
    def test_too_large_member_is_lost_but_not_recoverable(self, lab: ChordLab):
        """A member over the recorder's cap: members_lost, not recoverable, and recover says
        which member and why, in one line."""
        from worker.chord_monitor import record

        record.install(lab.app, max_message_bytes=600)
        result = lab.chord(2, tag="big", pad="x" * 2000)
        gid = result.parent.id
        pop_member(lab, gid, 1)
        lab.start_worker()
        wait_for(lambda: lab.meta_state(result.parent.results[0].id) == "SUCCESS",
                 timeout=30, message="member 0 to succeed")
        check = lab.cli("check", "--max-hours", "0", "--json")
        (found,) = check.json()["stuck"]
        assert (found[schema.REASON], found["recoverable"]) == ("members_lost", False)
        refused = lab.cli("recover", gid)
        assert refused.code == 1
        lost_id = result.parent.results[1].id
        assert f"member 1 {lost_id} not recorded: too large (" in refused.stdout
        assert refused.stdout.count("\n") == 1, refused.stdout
        assert redis.Redis.from_url(lab.broker_url).llen(QUEUE) == 0

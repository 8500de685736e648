"""Messages orphaned in kombu's ``unacked`` hash, with a real worker: the monitor names the
one no worker received (written there as kombu's delivery does, with a delivery time in the
past), ``recover`` puts it back and the chord completes with its callback run once; messages a
live worker really holds (running with acks_late, prefetched) are never called orphaned, nor is
anything when no worker answers."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from celery import chord
from kombu.utils.json import dumps, loads

from instrumentation import schema
from tests.support import wait_for
from tests.worker.chord_monitor.conftest import ChordLab
from worker.chord_monitor.unacked import UNACKED, UNACKED_INDEX

pytestmark = pytest.mark.slow


def orphan(broker: redis.Redis, task_id: str, age_s: float, queue: str = "celery") -> str:
    """Take ``task_id``'s message out of ``queue`` and write it to ``unacked`` exactly as
    kombu's two delivery steps do (``BRPOP``, then ``QoS.append``: ``ZADD unacked_index`` and
    ``HSET unacked tag [message, exchange, routing_key]``), delivered ``age_s`` ago. Nothing
    tells any worker: the state Redis is left in when it dies before replying to the HSET.
    Returns the delivery tag."""
    for raw in broker.lrange(queue, 0, -1):
        message = loads(raw)
        if message["headers"].get("id") != task_id:
            continue
        assert broker.lrem(queue, 1, raw) == 1
        info = message["properties"]["delivery_info"]
        tag = message["properties"]["delivery_tag"]
        broker.zadd(UNACKED_INDEX, {tag: time.time() - age_s})
        broker.hset(UNACKED, tag, dumps([message, info["exchange"], info["routing_key"]]))
        return tag
    raise AssertionError(f"no message of {task_id} in {queue}")


def unacked(broker: redis.Redis) -> dict[bytes, bytes]:
    return broker.hgetall(UNACKED)


class TestOrphanedMember:
    def test_named_restored_and_the_callback_runs_once(self, lab: ChordLab):
        broker = redis.Redis.from_url(lab.broker_url)
        result = lab.chord(3, tag="orph")  # no worker yet: all three wait in the queue
        gid = result.parent.id
        victim = result.parent.results[1].id
        wait_for(lambda: broker.llen("celery") == 3, timeout=30, message="3 members queued")
        tag = orphan(broker, victim, age_s=300)
        lab.start_worker()
        others = [r.id for i, r in enumerate(result.parent.results) if i != 1]
        wait_for(lambda: all(lab.meta_state(t) == "SUCCESS" for t in others), timeout=30,
                 message="the two other members to succeed")

        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 1, check.stdout + check.stderr
        (found,) = check.json()["stuck"]
        assert (found[schema.CHORD_ID], found[schema.REASON]) == (gid, "orphaned_in_unacked")
        assert found["recoverable"] is True
        assert [(o[schema.TASK_ID], o["tag"], o["routing_key"]) for o in found["orphaned"]] == [
            (victim, tag, "celery")]
        assert "orphaned" in found["detail"] and victim in found["detail"]
        status = lab.cli("status", "--max-hours", "0")
        assert status.code == 1 and "orphaned_in_unacked" in status.stdout, status.stdout
        assert "1 orphaned" in status.stdout
        inspected = lab.cli("inspect", gid, "--json").json()
        assert [m["holder"] for m in inspected["members"]] == [None, "unacked", None]
        # fix-chords reports it, says what to do, and exits 1: a stuck chord remains (it is
        # too young to revoke).
        fix = lab.fix_chords("--report-after", "0")
        assert fix.code == 1 and "orphaned_in_unacked" in fix.stdout, fix.stdout + fix.stderr
        assert "chords recover <id>` puts the orphaned messages back" in fix.stdout
        # Younger than the grace: in progress, not touched.
        patient = lab.cli("--orphan-grace", "600", "check", "--max-hours", "0", "--json")
        assert patient.code == 0 and patient.json()["stuck"] == [], patient.stdout

        before = unacked(broker)
        dry = lab.cli("recover", gid, "--dry-run", "--json")
        assert dry.code == 1, dry.stdout + dry.stderr
        (plan,) = dry.json()["outcomes"]
        assert "would put back 1 of 1" in plan["detail"] and plan["task_ids"] == [victim]
        assert unacked(broker) == before and broker.llen("celery") == 0

        done = lab.cli("recover", gid, "--json")
        assert done.code == 0, done.stdout + done.stderr
        (outcome,) = done.json()["outcomes"]
        assert outcome["done"] is True and outcome["messages"][0]["queues"] == ["celery"]
        (event,) = done.events(schema.Event.CHORD_RECOVERED)
        assert (event[schema.CHORD_ID], event[schema.REASON]) == (gid, "orphaned_in_unacked")
        assert result.get(timeout=30) == 0 + 1 + 4
        assert lab.runs("orph") == [[0, 1, 4]]  # the callback ran exactly once
        wait_for(lambda: not unacked(broker), timeout=30, message="the worker to ack it")
        again = lab.cli("recover", gid, "--json")
        assert again.code == 1 and "not recoverable" in again.json()["outcomes"][0]["detail"]
        assert lab.runs("orph") == [[0, 1, 4]]
        assert lab.cli("check", "--max-hours", "0").code == 0
        quiet = lab.fix_chords("--report-after", "0", "--quiet")
        assert (quiet.code, quiet.stdout) == (0, "")


class TestHeldMessages:
    def test_running_and_prefetched_messages_are_not_orphaned(self, lab: ChordLab):
        """A late-ack member running and an early-ack member prefetched both sit in unacked,
        held by the worker; even made to look old they are not orphans. A worker that cannot
        answer (stopped) makes the monitor say nothing, not call them orphaned."""
        broker = redis.Redis.from_url(lab.broker_url)
        worker = lab.start_worker(pool="prefork", concurrency=2)
        header = [lab.app.signature("chordapp.member_late", args=(0,), kwargs={"gate": "g"}),
                  lab.app.signature("chordapp.member", args=(1,), kwargs={"gate": "g"}),
                  lab.app.signature("chordapp.member", args=(2,), kwargs={"gate": "g"})]
        result = chord(header, app=lab.app)(
            lab.app.signature("chordapp.collect", kwargs={"tag": "held"}))
        gid = result.parent.id
        lab.wait_started("g", count=2)
        # Member 0 runs (acked late: in unacked); member 1 runs (acked); member 2 waits,
        # prefetched, in unacked.
        wait_for(lambda: len(unacked(broker)) == 2, timeout=30,
                 message=lambda: f"two held messages in unacked: {unacked(broker)}")
        # Ten minutes old: past any grace, short of the worker's own visibility timeout
        # (an hour), after which kombu itself would give them back.
        for tag in unacked(broker):
            broker.zadd(UNACKED_INDEX, {tag: time.time() - 600}, xx=True)
        before = unacked(broker)
        held = {loads(raw)[0]["headers"]["id"] for raw in before.values()}
        assert held == {result.parent.results[0].id, result.parent.results[2].id}

        listed = lab.cli("orphans", "--json")
        assert listed.code == 0, listed.stdout + listed.stderr
        doc = listed.json()
        assert (doc["workers"], doc["unacked"], doc["workers_complete"], doc["orphans"]) == (
            1, 2, True, [])
        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 0 and check.json()["stuck"] == [], check.stdout
        refused = lab.cli("recover", gid, "--json")
        assert refused.code == 1 and "not recoverable" in refused.stdout
        assert unacked(broker) == before

        os.kill(worker.process.pid, signal.SIGSTOP)  # alive, holding them, not answering
        try:
            silent = lab.cli("orphans", "--json")
            assert silent.code == 0, silent.stdout + silent.stderr
            assert (silent.json()["workers"], silent.json()["orphans"]) == (0, [])
            # (The member running with an early ack is in no queue and on no answering
            # worker: that is members_lost, as for a dead worker; but nothing is orphaned.)
            blind = lab.cli("check", "--max-hours", "0", "--json").json()["stuck"]
            assert [(c["reason"], c["orphaned"]) for c in blind] in (
                [], [("members_lost", [])]), blind
            assert lab.cli("recover", gid).code == 1
            assert unacked(broker) == before
        finally:
            os.kill(worker.process.pid, signal.SIGCONT)
        lab.open_gate("g")
        assert result.get(timeout=30) == 0 + 1 + 4
        assert lab.runs("held") == [[0, 1, 4]]


class TestOrphansCommand:
    def test_any_orphan_restored_but_not_one_that_already_ran(self, lab: ChordLab):
        """A plain task never received is put back and runs; a message left in unacked by
        a task that already succeeded (a lost ack) is listed and left alone."""
        broker = redis.Redis.from_url(lab.broker_url)
        lost = lab.app.send_task("chordapp.member", args=(7,))
        wait_for(lambda: broker.llen("celery") == 1, timeout=30, message="the task queued")
        tag = orphan(broker, lost.id, age_s=300)
        saved = unacked(broker)[tag.encode()]
        lab.start_worker()
        done_before = lab.app.send_task("chordapp.member", args=(3,))
        assert done_before.get(timeout=30) == 9
        # Its ack "lost": the same message back in unacked after it ran.
        message, exchange, key = loads(saved)
        message["headers"]["id"] = done_before.id
        broker.zadd(UNACKED_INDEX, {"ran-tag": time.time() - 300})
        broker.hset(UNACKED, "ran-tag", dumps([message, exchange, key]))

        listed = lab.cli("orphans", "--json")
        assert listed.code == 1, listed.stdout + listed.stderr
        found = {o[schema.TASK_ID]: o for o in listed.json()["orphans"]}
        assert set(found) == {lost.id, done_before.id}
        assert (found[lost.id][schema.STATE], found[lost.id]["ran"]) == ("PENDING", False)
        assert (found[done_before.id][schema.STATE], found[done_before.id]["ran"]) == (
            "SUCCESS", True)
        assert found[lost.id]["unacked_age_s"] >= 300
        text = lab.cli("orphans")
        assert "already ran" in text.stdout and lost.id in text.stdout

        before = unacked(broker)
        dry = lab.cli("orphans", "--restore", "--dry-run", "--json")
        assert dry.code == 1 and unacked(broker) == before and broker.llen("celery") == 0
        restored = lab.cli("orphans", "--restore", "--json")
        assert restored.code == 1, restored.stdout  # one was left alone
        outcomes = {o["task_ids"][0]: o for o in restored.json()["outcomes"]}
        assert outcomes[lost.id]["done"] is True
        assert outcomes[done_before.id]["done"] is False
        assert "already SUCCESS" in outcomes[done_before.id]["detail"]
        assert lost.get(timeout=30) == 49
        assert set(unacked(broker)) == {b"ran-tag"}

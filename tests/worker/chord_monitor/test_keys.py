"""Chord key names and discovery on a real Redis: prefixes, SCAN (never KEYS), bounded memory,
and the snapshot reader on keys laid out the way Celery 5.7 writes them."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from tests.support import RedisServer
from worker.chord_monitor.collect import ChordReader
from worker.chord_monitor.keys import (
    ChordRef,
    glob_escape,
    iter_chord_refs,
    normalize_prefix,
    parse_chord_key,
)


class TestNames:
    @pytest.mark.parametrize(("given", "used"), [
        (None, ""), ("", ""), ("app", "app_"), ("app:", "app:"), ("a.b.", "a.b."),
        ("x-", "x-"), ("x_", "x_")])
    def test_normalize_prefix_like_celery(self, given, used):
        """`global_keyprefix` gets `_` appended unless it ends in one of `:_-.` (as Celery)."""
        assert normalize_prefix(given) == used

    @pytest.mark.parametrize(("key", "ref"), [
        ("celery-taskset-meta-g1.s", ChordRef("", "g1")),
        (b"app_celery-taskset-meta-g1.j", ChordRef("app_", "g1")),
        ("p:celery-taskset-meta-g-2.c", ChordRef("p:", "g-2")),
        ("rhesis-chord-g3", ChordRef("", "g3")),
        ("t_rhesis-chord-g3.m", ChordRef("t_", "g3")),
        ("t_rhesis-chord-g3.p", ChordRef("t_", "g3")),  # the member copies
        ("rhesis-chord-recovered-g1.republishing", None),  # recover's lock
        ("celery-taskset-meta-g1", None),  # a saved GroupResult, not chord state
        ("celery-taskset-meta-g1.x", None),
        ("celery-task-meta-t1", None),
        ("rhesis-chord-recovered-g1", None),
    ])
    def test_parse_chord_key(self, key, ref):
        assert parse_chord_key(key) == ref

    def test_glob_escape(self):
        assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"


@pytest.fixture
def client(redis_server: RedisServer, redis_dbs):
    c = redis_server.client(redis_dbs[1])
    yield c
    c.close()


def _chord(c, prefix: str, gid: str) -> None:
    c.set(f"{prefix}celery-taskset-meta-{gid}.s", 2)
    c.zadd(f"{prefix}celery-taskset-meta-{gid}.j",
           {json.dumps([1, f"{gid}-m0", "SUCCESS", 7]): 0})


class TestDiscovery:
    def test_prefixes_and_scan_only(self, client):
        """Chords under any prefix are found once each; a given prefix limits them; no KEYS."""
        _chord(client, "", "plain")
        _chord(client, "app_", "prefixed")
        _chord(client, "we*ird[_", "odd")
        client.hset("rhesis-chord-recorded-only", "created", "2026-01-01T00:00:00+00:00")
        client.set("celery-taskset-meta-saved-group", "{}")  # not a chord
        client.config_resetstat()
        found = sorted(iter_chord_refs(client, None, count=10))
        assert found == sorted([ChordRef("", "plain"), ChordRef("app_", "prefixed"),
                                ChordRef("we*ird[_", "odd"), ChordRef("", "recorded-only")])
        assert list(iter_chord_refs(client, "app")) == [ChordRef("app_", "prefixed")]
        assert list(iter_chord_refs(client, "we*ird[")) == [ChordRef("we*ird[_", "odd")]
        stats = client.info("commandstats")
        assert "cmdstat_keys" not in stats
        assert stats["cmdstat_scan"]["calls"] > 0

    def test_memory_does_not_grow_with_unrelated_keys(self, client):
        """100 000 task results and 3 chords: discovery keeps only the chords in memory."""
        client.eval("for i = 1, 100000 do redis.call('SET', "
                    "'celery-task-meta-' .. string.format('%036d', i), 'x') end", 0)
        assert client.dbsize() == 100_000
        for gid in ("a", "b", "c"):
            _chord(client, "", gid)
        tracemalloc.start()
        try:
            refs = list(iter_chord_refs(client, None))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert sorted(r.group_id for r in refs) == ["a", "b", "c"]
        # Loading the 100 000 key names alone would take ~9 MB.
        assert peak < 2_000_000, peak


class TestReader:
    def test_snapshot_of_celery_keys(self, client):
        """The reader decodes .s .t .j .c, member metas and our record, in pages."""
        ref = ChordRef("app_", "g")
        client.set(ref.key(".s"), 5)
        client.set(ref.key(".t"), 1)
        for i in range(5):  # page size 2 below: three pages
            state = "FAILURE" if i == 3 else "SUCCESS"
            result = ({"exc_type": "ValueError", "exc_message": ["bad"], "exc_module": "builtins"}
                      if state == "FAILURE" else i)
            client.zadd(ref.key(".j"), {json.dumps([1, f"m{i}", state, result]): i})
            client.set(ref.task_key(f"m{i}"), json.dumps({
                "status": state, "result": result, "date_done": f"2026-01-01T00:0{i}:00",
                "worker": "w1@h", "kwargs": {"organization_id": "org-k"}, "task_id": f"m{i}"}))
        client.hset(ref.record_key, mapping={
            "created": "2026-01-01T00:00:00+00:00", "callback_id": "cb",
            "callback_name": "app.collect",
            "callback": json.dumps({"task": "app.collect", "options": {"task_id": "cb"}})})
        client.hset(ref.members_key, mapping={
            str(i): json.dumps([f"m{i}", "app.member"]) for i in range(6)})
        snap = ChordReader(client, "app", page=2).snapshot(ref)
        assert (snap.size, snap.total_diff, snap.expected, snap.joined) == (5, 1, 6, 5)
        assert snap.joined_states == {"SUCCESS": 4, "FAILURE": 1}
        assert [m.task_id for m in snap.pending_members] == ["m5"]
        assert [m.error for m in snap.failed_members] == ["ValueError: bad"]
        assert snap.members[2].worker == "w1@h" and snap.members[2].result == 2
        assert snap.callback.name == "app.collect" and snap.callback.state is None
        assert snap.organization_id == "org-k"  # from the members' kwargs (no header)
        assert snap.created.isoformat() == "2026-01-01T00:00:00+00:00"

    def test_list_joined_and_undecodable_values(self, client):
        """result_chord_ordered=False stores .j as a list; a pickled value is not fatal."""
        ref = ChordRef("", "l")
        client.rpush(ref.key(".j"), json.dumps([1, "m0", "SUCCESS", 1]), b"\x80\x04pickle")
        snap = ChordReader(client).snapshot(ref)
        assert snap.joined == 2 and snap.joined_states == {"SUCCESS": 1, "<undecodable>": 1}
        assert snap.size is None

    def test_vanished_chord_is_not_reported(self, client):
        """A chord whose keys are gone by the time it is read is dropped, not called stuck."""
        from worker.chord_monitor.monitor import Monitor

        kw = client.connection_pool.connection_kwargs
        url = f"redis://{kw['host']}:{kw['port']}/{kw['db']}"
        _chord(client, "", "alive")
        with Monitor(url) as monitor:
            found = monitor.survey([ChordRef("", "alive"), ChordRef("", "gone")])
        assert [f.chord_id for f in found] == ["alive"]

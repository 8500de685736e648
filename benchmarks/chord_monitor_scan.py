"""How the chord monitor scales with the size of the result backend.

    python benchmarks/chord_monitor_scan.py [keys=1000000] [chords=50] [members=20]

Starts a private redis-server, fills it with ``keys`` task results plus ``chords`` chords
(each with ``members`` finished members, a record, and one of three states: healthy, size
key lost, callback lost), then prints, against a baseline measured in the same run (one bare
``SCAN`` pass over every key, COUNT 1000, nothing kept):

* chord discovery (two ``SCAN MATCH`` passes) and a full survey without a broker, as ratios of
  that baseline;
* the peak Python memory of discovery versus loading every key name (what ``KEYS *`` would
  cost the client).
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import best_of
from tests.support import start_redis_server
from worker.chord_monitor.keys import ChordRef, iter_chord_refs
from worker.chord_monitor.monitor import Monitor

FILL = """
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  redis.call('SET', 'celery-task-meta-' .. string.format('%036d', i), '{"status":"SUCCESS"}')
end
"""


def fill(client, keys: int, chords: int, members: int) -> None:
    for start in range(0, keys, 100_000):
        client.eval(FILL, 0, start, min(start + 100_000, keys) - 1)
    now = datetime.now(UTC).isoformat()
    pipe = client.pipeline(transaction=False)
    for c in range(chords):
        ref = ChordRef("", f"chord-{c:04d}")
        for m in range(members):
            tid = f"{ref.group_id}-m{m}"
            pipe.zadd(ref.key(".j"), {json.dumps([1, tid, "SUCCESS", m]): m})
            pipe.hset(ref.members_key, m, json.dumps([tid, "bench.member"]))
        if c % 3 == 0:
            pipe.set(ref.key(".s"), members + 1)  # healthy: one member still to come
        elif c % 3 == 2:
            pipe.set(ref.key(".c"), "done")
        pipe.hset(ref.record_key, mapping={
            "created": now, "callback_id": f"{ref.group_id}-cb", "callback_name": "bench.cb",
            "callback": json.dumps({"task": "bench.cb", "options": {"task_id": "x"}})})
    pipe.execute()



def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(keys: int = 1_000_000, chords: int = 50, members: int = 20) -> None:
    server = start_redis_server()
    try:
        client = server.client()
        t0 = time.perf_counter()
        fill(client, keys, chords, members)
        print(f"filled {client.dbsize():,} keys in {time.perf_counter() - t0:.1f}s")

        def bare_scan() -> None:
            for _ in client.scan_iter(count=1000):
                pass

        monitor = Monitor(server.url())
        base = best_of(bare_scan)
        discover = best_of(lambda: sum(1 for _ in iter_chord_refs(client)))
        survey = best_of(lambda: monitor.survey(), repeat=1)
        found = monitor.survey()
        print(f"baseline: bare SCAN of every key      {base:8.3f}s  (1.00x)")
        print(f"chord discovery (2 SCAN MATCH passes) {discover:8.3f}s  "
              f"({discover / base:.2f}x baseline)")
        print(f"full survey of {len(found)} chords, no broker  {survey:8.3f}s  "
              f"({survey / base:.2f}x baseline)")
        all_names = peak_bytes(lambda: list(client.scan_iter(count=1000)))
        discovery = peak_bytes(lambda: list(iter_chord_refs(client)))
        print(f"peak memory: discovery {discovery / 1e6:.2f} MB vs all key names "
              f"{all_names / 1e6:.1f} MB ({discovery / all_names:.3f}x)")
        states: dict[str, int] = {}
        for f in found:
            states[f.verdict.reason.value] = states.get(f.verdict.reason.value, 0) + 1
        print(f"verdicts: {states}")
        monitor.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))

"""The chord gauges' feeder: counts what the monitor concludes, on a real Redis and worker."""

from __future__ import annotations

from tests.support import wait_for
from tests.worker.chord_monitor.conftest import ChordLab
from worker.chord_monitor.gauges import ChordGaugeFeeder


def test_feeder_counts_in_flight_then_stuck(lab: ChordLab) -> None:
    """A chord waiting at a gate is in flight; with its size key gone it becomes stuck."""
    lab.start_worker()
    result = lab.chord(3, tag="gauges", gate="g")
    gid = result.parent.id
    lab.wait_started("g")
    feeder = ChordGaugeFeeder(lab.backend_url, interval=3600, stuck_after_s=0)
    counts = feeder.refresh()
    assert counts.in_flight == {"chordapp.collect": 1} and counts.stuck == {}

    assert lab.redis.delete(lab.key(gid, ".s")) == 1  # the silent failure
    lab.open_gate("g")
    wait_for(lambda: all(lab.meta_state(r.id) == "SUCCESS" for r in result.parent.results),
             timeout=30, message="members to finish")
    counts = feeder.refresh()
    assert counts.stuck == {"chordapp.collect": 1} and counts.in_flight == {}
    assert feeder.counts() is counts


def test_feeder_keeps_last_counts_when_redis_is_gone(lab: ChordLab) -> None:
    """A failed survey keeps the previous counts instead of reporting zero chords."""
    feeder = ChordGaugeFeeder("redis://127.0.0.1:1/0", interval=3600)
    before = feeder.counts()
    assert feeder.refresh() is before

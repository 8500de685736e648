"""Simulated test outcomes: reproducible with a seed, rates respected, bad settings named."""

from __future__ import annotations

import pytest

from worker.simulation import Simulation


def test_a_seed_makes_every_attempt_reproducible() -> None:
    sim = Simulation(latency_ms=(10, 20), failure_rate=0.5, retry_rate=0.5, seed=3)
    rolls = [sim.roll("run", i, a) for i in range(20) for a in range(3)]
    assert rolls == [sim.roll("run", i, a) for i in range(20) for a in range(3)]
    assert all(0.010 <= r.latency_s <= 0.020 for r in rolls)
    # Attempts of the same test differ, so a retry can succeed where the first attempt failed.
    assert len({(r.transient, r.failed) for r in rolls}) > 1


@pytest.mark.parametrize(("failure", "retry", "failed", "transient"), [
    (0.0, 0.0, False, False), (1.0, 0.0, True, False), (0.0, 1.0, False, True),
    (1.0, 1.0, False, True),  # a transient error comes first: the test never got to fail
])
def test_extreme_rates(failure: float, retry: float, failed: bool, transient: bool) -> None:
    outcome = Simulation((0, 0), failure, retry).roll("r", 0, 0)
    assert (outcome.failed, outcome.transient, outcome.latency_s) == (failed, transient, 0.0)


def test_rates_are_roughly_respected() -> None:
    sim = Simulation((0, 0), failure_rate=0.0, retry_rate=0.25, seed=1)
    transient = sum(sim.roll("r", i, 0).transient for i in range(2000))
    assert 400 < transient < 600


def test_round_trip_through_task_kwargs() -> None:
    sim = Simulation((5, 50), 0.1, 0.2, seed="s")
    assert Simulation.from_dict(sim.to_dict()) == sim
    assert Simulation.from_dict({"latency_ms": 7}).latency_ms == (7.0, 7.0)
    assert Simulation.from_dict(None) == Simulation()


@pytest.mark.parametrize(("data", "message"), [
    ({"latency_ms": [50, 10]}, "min <= max"),
    ({"failure_rate": 1.5}, "failure_rate must be between 0 and 1"),
    ({"retry_rate": -0.1}, "retry_rate"),
    ({"latency": [1, 2]}, "unknown simulation settings: latency"),
    ({"latency_ms": "fast"}, "latency_ms must be"),
])
def test_bad_settings_are_named(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Simulation.from_dict(data)

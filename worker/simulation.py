"""Simulated test execution: how long a test takes, whether it fails, whether it hits a
transient error — deterministic for a given seed, so demos and tests are reproducible.

    sim = Simulation(latency_ms=(20, 200), failure_rate=0.1, retry_rate=0.2, seed=7)
    outcome = sim.roll("run-1", test_index=3, attempt=0)
    outcome.latency_s, outcome.failed, outcome.transient

It is a plain value (``to_dict``/``from_dict``) so it travels in task kwargs as JSON.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What one attempt of one simulated test does."""

    latency_s: float
    failed: bool  # the test ran and its assertions failed (a normal result)
    transient: bool  # the attempt hit a transient error (worth a retry)


@dataclass(frozen=True)
class Simulation:
    """Rates and latencies of simulated tests (rates are probabilities in [0, 1])."""

    latency_ms: tuple[float, float] = (20.0, 200.0)
    failure_rate: float = 0.1
    retry_rate: float = 0.1
    seed: int | str | None = None

    def __post_init__(self) -> None:
        lo, hi = self.latency_ms
        if lo < 0 or hi < lo:
            raise ValueError(f"latency_ms must be 0 <= min <= max, got {self.latency_ms}")
        for name in ("failure_rate", "retry_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")

    def roll(self, run_id: str, test_index: int, attempt: int) -> Outcome:
        """The outcome of ``attempt`` (0-based) of test ``test_index`` of ``run_id``."""
        # Without a seed every roll is fresh; with one, the same attempt rolls the same way.
        rng = random.Random(None if self.seed is None
                            else f"{self.seed}:{run_id}:{test_index}:{attempt}")
        lo, hi = self.latency_ms
        latency = rng.uniform(lo, hi) / 1000.0
        transient = rng.random() < self.retry_rate
        failed = not transient and rng.random() < self.failure_rate
        return Outcome(latency, failed, transient)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = list(self.latency_ms)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Simulation:
        """Build from task kwargs; a bad value raises ``ValueError`` naming it."""
        data = dict(data or {})
        unknown = set(data) - {"latency_ms", "failure_rate", "retry_rate", "seed"}
        if unknown:
            raise ValueError(f"unknown simulation settings: {', '.join(sorted(unknown))}")
        latency = data.pop("latency_ms", cls.latency_ms)
        if isinstance(latency, int | float):
            latency = (latency, latency)
        try:
            lo, hi = (float(v) for v in latency)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"latency_ms must be [min, max] or a number: {latency!r}") from exc
        return cls(latency_ms=(lo, hi), **{k: (float(v) if k != "seed" else v)
                                           for k, v in data.items()})

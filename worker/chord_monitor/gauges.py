"""Feed the chord gauges of ``instrumentation.metrics`` from the chord monitor.

The worker's ``/metrics`` exposes ``celery_chords_in_flight`` / ``celery_chords_stuck`` (see
``docs/dashboards.md``); this module computes them. A survey reads every chord of the result
backend (SCAN, paged), which is too slow to run on each scrape of a big Redis, so a daemon
thread in the worker's main process refreshes the counts every ``interval`` seconds and the
scrape only reads the last counts::

    feeder = ChordGaugeFeeder(backend_url, interval=60, stuck_after_s=1800)
    enable_metrics(app, chord_source=feeder.counts)
    feeder.start()          # after the pool has forked (worker_ready)

No broker is given to the monitor here: asking every worker over the broker from every
worker would multiply control traffic; the "members lost" reason needs it and is left to
``rhesis-worker chords check``. A survey that fails keeps the previous counts and logs once.
"""

from __future__ import annotations

import threading
from collections import Counter

from instrumentation import get_logger, schema
from instrumentation.metrics import ChordCounts
from worker.chord_monitor.analysis import is_reportable
from worker.chord_monitor.model import ChordState
from worker.chord_monitor.monitor import Finding, Monitor, MonitorError
from worker.config import Settings

_log = get_logger(__name__)

UNKNOWN_CALLBACK = "unknown"


def count_chords(findings: list[Finding], stuck_after_s: float) -> ChordCounts:
    """In-flight and stuck chords by callback name (pure: findings in, counts out)."""
    in_flight: Counter[str] = Counter()
    stuck: Counter[str] = Counter()
    for finding in findings:
        callback = finding.snapshot.callback
        name = callback.name if callback and callback.name else UNKNOWN_CALLBACK
        if is_reportable(finding.verdict, stuck_after_s):
            stuck[name] += 1
        elif finding.verdict.state in (ChordState.IN_PROGRESS, ChordState.STUCK):
            in_flight[name] += 1
    return ChordCounts(in_flight=dict(in_flight), stuck=dict(stuck))


class ChordGaugeFeeder:
    """Refresh chord counts in the background; ``counts()`` is what the scrape calls."""

    def __init__(self, backend_url: str, *, interval: float = 60.0,
                 stuck_after_s: float = 1800.0, settings: Settings | None = None) -> None:
        self.backend_url = backend_url
        self.settings = settings  # TLS options and timeouts (default: REDIS_SSL_* of the env)
        self.interval = interval
        self.stuck_after_s = stuck_after_s
        self._counts = ChordCounts()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def counts(self) -> ChordCounts:
        return self._counts

    def refresh(self) -> ChordCounts:
        """One survey now; on failure keep the last counts."""
        try:
            with Monitor(self.backend_url, settings=self.settings) as monitor:
                findings = monitor.survey()
        except (MonitorError, OSError) as exc:
            if not self._failing:
                _log.warning("chord survey for metrics failed", **{schema.REASON: str(exc)})
            self._failing = True
            return self._counts
        self._failing = False
        self._counts = count_chords(findings, self.stuck_after_s)
        return self._counts

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="rhesis-chord-gauges",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.interval)

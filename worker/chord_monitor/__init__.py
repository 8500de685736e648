"""Find, explain and recover stuck chords on Celery's Redis result backend.

A chord stuck on Redis is silent: when its size key expires or is evicted the last member
finishes, nothing is logged and the callback never runs. This package reads the backend's
real chord keys (see :mod:`worker.chord_monitor.keys`), judges each chord with pure functions
(:mod:`~worker.chord_monitor.analysis`) and acts on the stuck ones
(:mod:`~worker.chord_monitor.actions`)::

    from worker.chord_monitor import Monitor, actions

    monitor = Monitor("redis://localhost:6379/1", broker_url="redis://localhost:6379/0")
    stuck = [f for f in monitor.survey() if f.verdict.stuck]
    actions.recover(monitor, stuck[0].chord_id)

From a shell: ``python -m worker.chord_monitor --help`` (also ``rhesis-worker chords``), and
``rhesis-worker fix-chords`` for cron. Install :func:`record.install` in the apps that publish
chords so the monitor knows each chord's callback (needed to name and to recover it).
"""

from worker.chord_monitor.analysis import analyze
from worker.chord_monitor.model import ChordSnapshot, ChordState, Reason, Verdict
from worker.chord_monitor.monitor import Finding, Monitor, MonitorError

__all__ = ["ChordSnapshot", "ChordState", "Finding", "Monitor", "MonitorError", "Reason",
           "Verdict", "analyze"]

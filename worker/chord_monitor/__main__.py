"""``python -m worker.chord_monitor ...``: the same commands as ``rhesis-worker chords``."""

from worker.chord_monitor.cli import chords

if __name__ == "__main__":
    chords(prog_name="python -m worker.chord_monitor")

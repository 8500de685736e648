"""Redis key names the chord test app (in the worker) and the tests (in pytest) share.

Kept apart from the app (``tests.support.apps.chords``) so the tests can name the keys
without importing the app module, whose import installs the chord recorder on an app of its
own.
"""

from __future__ import annotations

#: How long a gated member waits before it fails loudly.
GATE_TIMEOUT_S = 60


def gate_key(name: str) -> str:
    """A list: opening the gate pushes one token; each waiting member takes it and puts it
    back, so every member passes (BLPOP blocks until then, no polling)."""
    return f"chordapp:gate:{name}"


def started_key(name: str) -> str:
    return f"chordapp:started:{name}"


def runs_key(tag: str) -> str:
    return f"chordapp:callback-runs:{tag}"

"""The chord test worker: a tiny Celery app the chord monitor tests run real workers of (not
the reference worker: the monitor must work against any app's Redis backend).

Configured from the environment: ``CHORDAPP_BROKER``, ``CHORDAPP_BACKEND``, optional
``CHORDAPP_KEYPREFIX`` (the backend's ``global_keyprefix``) and ``CHORDAPP_RECORD=0`` to run
without the chord recorder. Members can be held at a *gate* (they poll a Redis key until the
test opens it) so a test controls when they finish without sleeping; the callback appends each
run to a Redis list, so a test can count how often it ran.
"""

from __future__ import annotations

import json
import os

import redis
from celery import Celery

from tests.support.chord_gates import GATE_TIMEOUT_S, gate_key, runs_key, started_key
from worker.chord_monitor import record

BROKER = os.environ["CHORDAPP_BROKER"]
BACKEND = os.environ["CHORDAPP_BACKEND"]
KEYPREFIX = os.environ.get("CHORDAPP_KEYPREFIX", "")

app = Celery("chordapp", broker=BROKER, backend=BACKEND)
app.conf.update(
    result_extended=True,
    task_acks_late=False,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
if KEYPREFIX:
    app.conf.result_backend_transport_options = {"global_keyprefix": KEYPREFIX}
if os.environ.get("CHORDAPP_RECORD", "1") != "0":
    record.install(app)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(BACKEND)


@app.task(name="chordapp.member")
def member(i: int, gate: str | None = None, fail: bool = False, **kwargs) -> int:
    """Return ``i * i``; wait for the gate key first when one is named; raise when ``fail``."""
    if gate:
        # BLPOP blocks up to GATE_TIMEOUT_S: the socket must wait at least that long.
        client = redis.Redis.from_url(BACKEND, socket_timeout=GATE_TIMEOUT_S + 10)
        client.rpush(started_key(gate), i)
        # Block until the test opens the gate; pass the token on for the other members.
        token = client.blpop([gate_key(gate)], timeout=GATE_TIMEOUT_S)
        if token is None:
            raise TimeoutError(f"gate {gate!r} was not opened within {GATE_TIMEOUT_S}s")
        client.rpush(gate_key(gate), token[1])
    if fail:
        raise ValueError(f"member {i} failed on purpose")
    return i * i


@app.task(name="chordapp.member_late", acks_late=True)
def member_late(i: int, gate: str | None = None, fail: bool = False, **kwargs) -> int:
    """:func:`member` acked after it ran: its message stays in ``unacked`` while it runs."""
    return member(i, gate=gate, fail=fail, **kwargs)


@app.task(name="chordapp.collect")
def collect(results: list, tag: str = "default", fail: bool = False, **kwargs) -> int:
    """Record this run (its results) in a Redis list, then return the sum (or raise)."""
    _redis().rpush(runs_key(tag), json.dumps(results))
    if fail:
        raise RuntimeError(f"callback {tag} failed on purpose")
    return sum(results)

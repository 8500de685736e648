"""Names and discovery of the chord keys Celery's Redis result backend writes (Celery 5.7).

What Celery 5.7 keeps for a chord whose header group id is ``<gid>`` (``P`` is the backend's
``result_backend_transport_options["global_keyprefix"]``, with ``_`` appended unless it
already ends in one of ``:_-.``, exactly as ``BaseKeyValueStoreBackend`` does)::

    P celery-taskset-meta-<gid>.s   size: number of header members, set right before the last
                                    member is published (``set_chord_size``); without it the
                                    join script never claims the chord: the callback never runs
    P celery-taskset-meta-<gid>.t   total diff: ``add_to_chord`` increments it
    P celery-taskset-meta-<gid>.j   finished members: a sorted set scored by group index
                                    (``result_chord_ordered``, the default) or a list; each
                                    entry is the encoded ``[1, task_id, state, result]``
    P celery-taskset-meta-<gid>.d   set of ``<task_id>:<group_index>`` already counted
                                    (a redelivered member counts once)
    P celery-taskset-meta-<gid>.c   dispatch claim: a token while a worker publishes the
                                    callback, then ``done`` for >= 300 s after cleanup
    P celery-taskset-meta-<gid>     the saved GroupResult (only for complex headers)
    P celery-task-meta-<task_id>    each member's (and the callback's) own result meta

When the callback has been published Celery deletes ``.j .t .s .d`` and sets ``.c`` to
``done``. When a member failed (or was revoked) Celery marks the callback FAILURE with a
``ChordError`` and deletes only ``.s``. Nothing here names the callback: it travels in each
member's message (the ``chord`` field), so :mod:`worker.chord_monitor.record` keeps a copy::

    P rhesis-chord-<gid>            hash: callback signature, created, tenant
    P rhesis-chord-<gid>.m          hash: group index -> [task_id, task_name, replay] of
                                    each member (replay: ``recorded`` or why it is not)
    P rhesis-chord-<gid>.p          hash: group index -> the member's message as published
                                    (headers, body without the callback, exchange, routing
                                    key), for ``recover`` to re-publish a lost member

Discovery uses ``SCAN ... MATCH`` (never ``KEYS``) and yields each chord once; memory grows
with the number of chords found, not with the number of keys in the database::

    for ref in iter_chord_refs(redis.Redis.from_url(url), prefix=None):  # any prefix
        print(ref.group_id, ref.key(SIZE))
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import redis

GROUP_META = "celery-taskset-meta-"
TASK_META = "celery-task-meta-"
RECORD = "rhesis-chord-"
#: Our own idempotence marker for ``recover`` (SET NX), so the callback runs once.
RECOVERED = "rhesis-chord-recovered-"

SIZE = ".s"
TOTAL_DIFF = ".t"
JOINED = ".j"
DEDUP = ".d"
CLAIM = ".c"
MEMBERS = ".m"  # suffix of our member record
PAYLOADS = ".p"  # suffix of our copy of each member's message
#: Our lock while ``recover`` re-publishes a chord's lost members (SET NX EX).
REPUBLISHING = ".republishing"
#: The keys Celery itself deletes when it publishes a callback.
CHORD_DATA_SUFFIXES = (JOINED, TOTAL_DIFF, SIZE, DEDUP)
CLAIM_DONE = "done"

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def normalize_prefix(prefix: str | None) -> str:
    """The prefix Celery really uses for ``global_keyprefix`` (``app`` becomes ``app_``)."""
    if not prefix:
        return ""
    return prefix if prefix[-1] in ":_-." else prefix + "_"


def glob_escape(text: str) -> str:
    """Escape ``text`` for a Redis MATCH pattern (a prefix may contain ``*`` or ``[``)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True, order=True)
class ChordRef:
    """One chord: the key prefix it lives under and its header group id."""

    prefix: str
    group_id: str

    def key(self, suffix: str = "") -> str:
        return f"{self.prefix}{GROUP_META}{self.group_id}{suffix}"

    def task_key(self, task_id: str) -> str:
        return f"{self.prefix}{TASK_META}{task_id}"

    @property
    def record_key(self) -> str:
        return f"{self.prefix}{RECORD}{self.group_id}"

    @property
    def members_key(self) -> str:
        return f"{self.prefix}{RECORD}{self.group_id}{MEMBERS}"

    @property
    def payloads_key(self) -> str:
        return f"{self.prefix}{RECORD}{self.group_id}{PAYLOADS}"

    @property
    def republishing_key(self) -> str:
        return f"{self.prefix}{RECOVERED}{self.group_id}{REPUBLISHING}"

    @property
    def recovered_key(self) -> str:
        return f"{self.prefix}{RECOVERED}{self.group_id}"

    def all_keys(self) -> list[str]:
        """Every key ``clean`` may remove (the saved GroupResult is left to its TTL)."""
        return [*(self.key(s) for s in (*CHORD_DATA_SUFFIXES, CLAIM)),
                self.record_key, self.members_key, self.payloads_key]


def _text(key: bytes | str) -> str:
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else key


def parse_chord_key(key: bytes | str) -> ChordRef | None:
    """``P celery-taskset-meta-<gid>.x`` or ``P rhesis-chord-<gid>[.m|.p]`` -> ChordRef;
    else None."""
    text = _text(key)
    if RECOVERED in text:
        return None
    head, sep, tail = text.rpartition(GROUP_META)
    if sep:
        if len(tail) > 2 and tail[-2] == "." and tail[-1] in "sjtdc":
            return ChordRef(head, tail[:-2])
        return None
    head, sep, tail = text.rpartition(RECORD)
    if sep and tail:
        for suffix in (MEMBERS, PAYLOADS):
            if tail.endswith(suffix) and len(tail) > len(suffix):
                return ChordRef(head, tail[: -len(suffix)])
        return ChordRef(head, tail)
    return None


def iter_chord_refs(
    client: redis.Redis, prefix: str | None = None, *, count: int = 1000
) -> Iterator[ChordRef]:
    """Yield every chord with keys under ``prefix`` (``None``: under any prefix), once each.

    Two SCANs walk the keyspace: Celery's chord companions (``.s .j .t .d .c``) and our
    records. Duplicates (SCAN may return a key twice, and a chord has several keys) are
    dropped with a set of ids of the chords seen so far.
    """
    head = "*" if prefix is None else glob_escape(normalize_prefix(prefix))
    seen: set[ChordRef] = set()
    for pattern in (f"{head}{GROUP_META}*.[sjtdc]", f"{head}{RECORD}*"):
        for key in client.scan_iter(match=pattern, count=count):
            ref = parse_chord_key(key)
            if ref is None or ref in seen:
                continue
            if prefix is not None and ref.prefix != normalize_prefix(prefix):
                continue  # "*" inside a group id could make a longer prefix match
            seen.add(ref)
            yield ref

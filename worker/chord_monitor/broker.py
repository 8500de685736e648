"""Where a task is right now: on a worker (Celery's control API) or in the Redis broker.

    view = BrokerView("redis://host:6379/0", timeout=1.0)
    workers = view.workers()                  # {hostname: WorkerTasks}
    holders = view.holders({"task-id", ...}, workers)   # {task_id: "queue:celery", ...}

Workers answer ``inspect active/reserved/scheduled`` over the broker; each call waits the
whole ``timeout`` (Celery cannot know how many workers will answer).
Queues are found from kombu's ``_kombu.binding.*`` sets and read in pages with ``LRANGE``,
priority sub-queues included; ``unacked`` (messages a worker took but has not acked) is read
with ``HSCAN`` and each entry's delivery time with ``ZMSCORE`` of ``unacked_index`` (see
:mod:`worker.chord_monitor.unacked`). Only the ids asked for are kept, so memory stays small
on a long queue.

:func:`asked_at` tells whether the workers' replies can prove a negative ("no live worker
holds this message"): only when at least one worker answered and every worker that answered
one of the three calls answered all three.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from instrumentation import schema
from worker.chord_monitor.model import UNACKED_HOLDER, UnackedEntry
from worker.chord_monitor.unacked import PRIORITY_STEPS, SEP, parse_entry, read_raw
from worker.config import Settings
from worker.redis_client import make_client, tls_settings

INSPECT_KINDS = ("active", "reserved", "scheduled")


@dataclass
class WorkerTasks:
    """The task ids one worker holds, by kind (active, reserved, scheduled)."""

    hostname: str
    active: list[dict[str, Any]] = field(default_factory=list)
    reserved: list[dict[str, Any]] = field(default_factory=list)
    scheduled: list[dict[str, Any]] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)  # which of INSPECT_KINDS it answered
    asked_at: float | None = None  # wall clock when the first call was sent

    def held(self) -> Iterator[tuple[str, str]]:
        for kind in INSPECT_KINDS:
            for req in getattr(self, kind):
                req = req.get("request", req)  # scheduled entries wrap the request
                if req.get("id"):
                    yield req["id"], kind


def message_headers(raw: bytes | str) -> dict[str, Any] | None:
    """Headers of one kombu Redis message (JSON with a ``headers`` object), else None."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(message, list) and message:  # unacked entries: [message, exchange, key]
        message = message[0]
    headers = message.get("headers") if isinstance(message, dict) else None
    return headers if isinstance(headers, dict) else None


def message_embed(raw: bytes | str) -> dict[str, Any] | None:
    """The protocol-2 ``embed`` (callbacks, chord, ...) of a JSON-serialized message."""
    try:
        message = json.loads(raw)
        if isinstance(message, list):
            message = message[0]
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        decoded = json.loads(body)
        return decoded[2] if isinstance(decoded, list) and len(decoded) == 3 else None
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        return None


@dataclass
class QueuedMember:
    """A chord member's message found in a queue (or ``unacked``)."""

    task_id: str
    name: str | None
    index: int | None
    where: str
    callback: dict[str, Any] | None  # the message's ``chord`` field: the callback signature
    tenant: dict[str, str]


@dataclass
class BrokerScan:
    holders: dict[str, str] = field(default_factory=dict)
    group_messages: dict[str, list[QueuedMember]] = field(default_factory=dict)
    #: The ``unacked`` entry of each wanted id whose holder is ``unacked``.
    unacked: dict[str, UnackedEntry] = field(default_factory=dict)


def asked_at(workers: dict[str, WorkerTasks] | None) -> float | None:
    """When the workers were asked, if their replies are complete enough to say a message
    is held by none of them: at least one worker answered, and each worker that answered
    answered ``active``, ``reserved`` and ``scheduled``. None otherwise (no broker, no reply,
    a reply missing): then nothing may be called orphaned."""
    if not workers:
        return None
    if any(w.answered != set(INSPECT_KINDS) or w.asked_at is None for w in workers.values()):
        return None
    return min(w.asked_at for w in workers.values() if w.asked_at is not None)


def monitor_app(broker_url: str | None, backend_url: str | None, settings: Settings,
                timeout: float) -> Celery:
    """A bare Celery app for the monitor's control calls and publishes: the worker's TLS
    options, socket timeouts and no endless connection retries, so that a broker that
    stops answering makes a command fail, not hang."""
    app = Celery("rhesis-chord-monitor", broker=broker_url or "memory://", backend=backend_url,
                 set_as_current=False)
    bound = max(timeout, 2.0)
    conf: dict[str, Any] = {
        "broker_connection_retry_on_startup": False,
        "broker_connection_retry": False,
        "broker_connection_max_retries": 1,
        "broker_connection_timeout": bound,
        "broker_transport_options": {"socket_timeout": bound, "socket_connect_timeout": bound,
                                     "max_retries": 1},
        "redis_socket_timeout": bound,
        "redis_socket_connect_timeout": bound,
        "redis_backend_health_check_interval": 25,
        "result_backend_always_retry": False,
        "task_publish_retry_policy": {"max_retries": 1, "interval_start": 0,
                                      "interval_step": 0.2, "interval_max": 0.5},
    }
    if broker_url and (tls := settings.ssl_options(broker_url)):
        conf["broker_use_ssl"] = tls
    if backend_url and (tls := settings.ssl_options(backend_url)):
        conf["redis_backend_use_ssl"] = tls
    app.conf.update(conf)
    return app


class BrokerView:
    """Read-only view of a Redis broker and the workers consuming from it."""

    def __init__(self, broker_url: str, *, timeout: float = 1.0, page: int = 500,
                 max_messages: int = 200_000, settings: Settings | None = None):
        self.broker_url = broker_url
        self.timeout = timeout
        self.page = page
        self.max_messages = max_messages  # per queue: reading past this is not worth it
        self.settings = settings or tls_settings()
        is_redis = broker_url.startswith(("redis://", "rediss://", "unix://"))
        self.client = make_client(broker_url, self.settings, timeout=max(timeout, 2.0),
                                  retries=1, what="broker URL") if is_redis else None
        self.app = monitor_app(broker_url, None, self.settings, timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.app.close()
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()

    def workers(self, rounds: int = 3) -> dict[str, WorkerTasks]:
        """Every worker answering, with the tasks it holds.

        One round asks ``scheduled``, ``reserved`` then ``active``: the order a task moves
        in, so a task that moves on between two calls is seen by the later one. A worker
        whose round missed a reply (Celery drops one now and then) is asked a whole round
        again, up to ``rounds`` rounds; its tasks come from one complete round only.
        """
        # No `limit=`: with it, a reply was sometimes missed (None) in Celery 5.7, and it
        # did not save the wait.
        out: dict[str, WorkerTasks] = {}
        destination: list[str] | None = None
        for _ in range(max(rounds, 1)):
            got = self._round(destination)
            for host, worker in got.items():
                if host not in out or worker.answered == set(INSPECT_KINDS):
                    out[host] = worker
            destination = sorted(h for h, w in out.items()
                                 if w.answered != set(INSPECT_KINDS))
            if not destination:
                break
        return out

    def _round(self, destination: list[str] | None) -> dict[str, WorkerTasks]:
        inspect = self.app.control.inspect(timeout=self.timeout, destination=destination)
        out: dict[str, WorkerTasks] = {}
        started = time.time()
        for kind in reversed(INSPECT_KINDS):
            for host, tasks in (getattr(inspect, kind)() or {}).items():
                worker = out.setdefault(host, WorkerTasks(host, asked_at=started))
                # A worker answers an error as {"error": ...}: not a list of its tasks.
                if isinstance(tasks, list):
                    setattr(worker, kind, list(tasks))
                    worker.answered.add(kind)
        return out

    def queues(self) -> list[str]:
        """Queue names known to kombu's Redis transport (from its binding sets)."""
        if self.client is None:
            return []
        names: set[str] = set()
        for key in self.client.scan_iter(match="_kombu.binding.*", count=1000):
            for member in self.client.smembers(key):
                parts = member.decode("utf-8", "replace").split(SEP)
                if parts and parts[-1]:
                    names.add(parts[-1])
        return sorted(names)

    def _queue_keys(self, queue: str) -> list[str]:
        return [queue] + [f"{queue}{SEP}{p}" for p in PRIORITY_STEPS if p]

    def iter_messages(self, extra_queues: Iterable[str] = ()
                      ) -> Iterator[tuple[str, bytes, UnackedEntry | None]]:
        """(where, raw message, its ``unacked`` entry or None) for every message in the
        queues (those bound, and ``extra_queues`` even without a binding) and in
        ``unacked``."""
        if self.client is None:
            return
        for queue in sorted(set(self.queues()) | set(extra_queues)):
            for key in self._queue_keys(queue):
                start = 0
                while start < self.max_messages:
                    page = self.client.lrange(key, start, start + self.page - 1)
                    for raw in page:
                        yield f"queue:{queue}", raw, None
                    if len(page) < self.page:
                        break
                    start += self.page
        for tag, raw, score in read_raw(self.client, self.page):
            yield UNACKED_HOLDER, raw, parse_entry(tag, raw, score)

    def holders(self, wanted: set[str], workers: dict[str, WorkerTasks] | None = None,
                queues: Iterable[str] = ()) -> dict[str, str]:
        """``{task_id: where}`` for the ``wanted`` ids a worker or a queue holds (``queues``
        are read even when no binding names them)."""
        return self.scan(wanted, set(), workers, queues).holders

    def scan(self, wanted: set[str], groups: set[str],
             workers: dict[str, WorkerTasks] | None = None,
             queues: Iterable[str] = ()) -> BrokerScan:
        """Locate the ``wanted`` task ids, and find every queued message of the ``groups``
        (chords the monitor has no record of: their messages name members and callback)."""
        out = BrokerScan()
        for host, tasks in (workers or {}).items():
            for tid, kind in tasks.held():
                if tid in wanted:
                    out.holders[tid] = f"worker:{host}:{kind}"
        if not (wanted - out.holders.keys()) and not groups:
            return out
        for where, raw, entry in self.iter_messages(queues):
            headers = message_headers(raw)
            if not headers:
                continue
            tid = headers.get("id")
            if tid in wanted and tid not in out.holders:
                out.holders[tid] = where
                if entry is not None:
                    out.unacked[tid] = entry
            gid = headers.get("group")
            if gid in groups and tid:
                embed = message_embed(raw) or {}
                out.group_messages.setdefault(gid, []).append(QueuedMember(
                    tid, headers.get("task"), headers.get("group_index"), where,
                    embed.get("chord") if isinstance(embed.get("chord"), dict) else None,
                    {k: headers.get(k) for k in (schema.ORGANIZATION_ID, schema.USER_ID)
                     if headers.get(k)}))
        return out

    def purge(self, queue: str) -> int:
        """Delete every message of ``queue`` (and its priority sub-queues); the count."""
        if self.client is None:
            raise RuntimeError("purging queues needs a Redis broker URL")
        keys = self._queue_keys(queue)
        pipe = self.client.pipeline()
        for key in keys:
            pipe.llen(key)
        counts = pipe.execute()
        self.client.delete(*keys)
        return int(sum(counts))

"""Keep a copy of each chord's callback next to Celery's chord keys, at publish time.

Celery's Redis backend does not store which callback a chord will call: the signature travels
only inside the members' messages, which are gone once the members ran. So a chord whose size
key vanished cannot be recovered from Redis alone. Install this hook in every process that
publishes chords (the API and the workers, since tasks start chords too)::

    from worker.chord_monitor import record
    record.install(app)

It listens to ``after_task_publish`` (not ``before``) so that the tenant headers other
``before_task_publish`` handlers add (``instrumentation.instrument``) are already there.
For every header member published it writes (one pipeline, no extra round trip per key)::

    P rhesis-chord-<gid>     hash: callback (the signature as JSON), callback_id,
                             callback_name, callback_message (the callback exactly as the
                             members' messages carry it, kombu JSON), created (first publish,
                             ISO UTC), organization_id / user_id (from the message headers
                             or kwargs), root_id / parent_id (the members' lineage)
    P rhesis-chord-<gid>.m   hash: group_index -> JSON [task_id, task_name, replay]
    P rhesis-chord-<gid>.p   hash: group_index -> the member's message: its headers (group,
                             group_index, root/parent ids, tenant, ...), body ``[args, kwargs,
                             embed]`` without the callback (kept once, above), exchange,
                             routing key and the priority / reply_to properties

``replay`` is ``recorded`` when ``.p`` holds the member, else why not (``not recorded: too
large (N bytes > cap)``, not JSON, another ``task_serializer``): ``rhesis-worker chords
recover`` re-publishes a lost member, with its original task id, only from that copy. A member
copy is capped at ``max_message_bytes`` (:data:`DEFAULT_MAX_MESSAGE_BYTES`, per app, see
:func:`install`); the last publish of a member (a retry) replaces the earlier copy.

All keys expire with the chord keys (``result_chord_expires``, else ``result_expires``; 7 days
if neither expires). The monitor works without this hook, but then cannot name the callback of a
chord with no pending member, nor recover it. A failure here never fails the publish.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from celery.signals import after_task_publish, before_task_publish
from kombu.utils import json as kombu_json

from instrumentation import schema
from worker.chord_monitor.keys import MEMBERS, PAYLOADS, RECORD, normalize_prefix
from worker.chord_monitor.model import REPLAY_RECORDED

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 7 * 86400
#: The largest member copy kept (its JSON, bytes); a larger member is listed as not recorded.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
#: The message properties kept besides the headers (``correlation_id`` is the task id).
KEPT_PROPERTIES = ("priority", "reply_to")
# app -> (when it was installed, its cap). after_task_publish does not say which app
# published, so with several apps in one process the one to write to is a guess: an app
# that has the task registered, else the most recently installed one (a set's arbitrary
# order made this guess flip between runs, writing records into another app's backend).
_apps: weakref.WeakKeyDictionary[Celery, tuple[int, int]] = weakref.WeakKeyDictionary()
_installs = itertools.count()
_DISPATCH_UID = "rhesis-chord-monitor-record"
_BEFORE_UID = "rhesis-chord-monitor-record-properties"
# after_task_publish does not pass the message properties (priority): before_task_publish,
# which runs in the same thread right before it, leaves them here for the same task id.
_properties = threading.local()


def install(app: Celery, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
    """Record the chords ``app`` publishes, with a copy of each member's message up to
    ``max_message_bytes`` (of JSON). Idempotent."""
    _apps[app] = (next(_installs), max_message_bytes)
    before_task_publish.connect(_before_publish, weak=False, dispatch_uid=_BEFORE_UID)
    after_task_publish.connect(_on_publish, weak=False, dispatch_uid=_DISPATCH_UID)


def uninstall(app: Celery | None = None) -> None:
    """Stop recording for ``app`` (all apps when None)."""
    if app is None:
        _apps.clear()
    else:
        _apps.pop(app, None)
    if not _apps:
        after_task_publish.disconnect(dispatch_uid=_DISPATCH_UID)
        before_task_publish.disconnect(dispatch_uid=_BEFORE_UID)


def _app_for(task_name: str | None) -> Celery | None:
    newest_first = sorted(_apps.items(), key=lambda item: item[1][0], reverse=True)
    apps = [app for app, _ in newest_first]
    for app in apps:
        if task_name and task_name in app.tasks:
            return app
    return apps[0] if apps else None


def _tenant(headers: dict[str, Any], kwargs: Any) -> dict[str, str]:
    out = {}
    for name in (schema.ORGANIZATION_ID, schema.USER_ID):
        value = headers.get(name)
        if not value and isinstance(kwargs, dict):
            value = kwargs.get(name)
        if value:
            out[name] = str(value)
    return out


@dataclass(frozen=True)
class Recorded:
    """What one published chord member adds to the record."""

    fields: dict[str, str]  # the record hash's fields
    index: str  # the member's field in .m and .p (its group index)
    member: str  # JSON [task_id, task_name, replay]
    payload: str | None  # the member's message (kombu JSON), None when not recorded


def member_message(headers: dict[str, Any], body: Any, exchange: str | None,
                   routing_key: str | None, properties: dict[str, Any] | None = None, *,
                   max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                   serializer: str = "json") -> tuple[str, str | None]:
    """(replay, copy): the member's message as kombu JSON without its callback, or why not.

    kombu's JSON (not the standard library's) keeps datetimes, UUIDs and bytes in the args
    exactly as the json serializer sent them."""
    if serializer != "json":
        return f"not recorded: task_serializer {serializer} (only json messages are kept)", None
    args, kwargs, embed = body
    embed = {k: v for k, v in (embed or {}).items() if k != "chord"}
    message = {"headers": headers, "body": [args, kwargs, embed],
               "exchange": exchange or "", "routing_key": routing_key or "",
               "properties": {k: v for k, v in (properties or {}).items()
                              if k in KEPT_PROPERTIES and v is not None}}
    try:
        text = kombu_json.dumps(message, separators=(",", ":"))
    except (TypeError, ValueError):
        return "not recorded: not JSON-serializable", None
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return f"not recorded: too large ({size} bytes > {max_bytes})", None
    return REPLAY_RECORDED, text


def record_fields(headers: dict[str, Any], body: Any, exchange: str | None = None,
                  routing_key: str | None = None, properties: dict[str, Any] | None = None,
                  *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                  serializer: str = "json") -> Recorded | None:
    """What one published message adds to the record, or None when it is not a chord header
    member (protocol 2 body ``(args, kwargs, embed)`` with a ``chord``)."""
    if not headers.get("group") or not isinstance(body, list | tuple) or len(body) != 3:
        return None
    _args, kwargs, embed = body
    callback = (embed or {}).get("chord") if isinstance(embed, dict) else None
    if not callback:
        return None
    options = dict(callback.get("options") or {})
    fields = {
        "callback": json.dumps(callback, default=repr),
        "callback_id": str(options.get("task_id") or ""),
        "callback_name": str(callback.get("task") or ""),
        **_tenant(headers, kwargs),
    }
    if not fields.keys() & {schema.ORGANIZATION_ID, schema.USER_ID}:
        fields.update(_tenant({}, callback.get("kwargs")))
    for name in (schema.ROOT_ID, schema.PARENT_ID):
        if headers.get(name):
            fields[name] = str(headers[name])
    replay, payload = member_message(headers, body, exchange, routing_key, properties,
                                     max_bytes=max_bytes, serializer=serializer)
    try:
        fields["callback_message"] = kombu_json.dumps(callback)
    except (TypeError, ValueError):
        replay, payload = "not recorded: the callback is not JSON-serializable", None
    index = headers.get("group_index")
    member = json.dumps([headers.get("id"), headers.get("task"), replay])
    return Recorded(fields, str(index if index is not None else headers.get("id")), member,
                    payload)


def _before_publish(sender: Any = None, headers: dict | None = None,
                    properties: dict | None = None, **_: Any) -> None:
    if headers and headers.get("group"):
        _properties.last = (headers.get("id"), dict(properties or {}))


def _on_publish(sender: Any = None, body: Any = None, headers: dict | None = None,
                exchange: str | None = None, routing_key: str | None = None,
                **_: Any) -> None:
    try:
        headers = headers or {}
        if not headers.get("group"):
            return
        last = getattr(_properties, "last", None)
        _properties.last = None
        properties = last[1] if last and last[0] == headers.get("id") else None
        app = _app_for(headers.get("task"))
        if app is None:
            return
        found = record_fields(headers, body, exchange, routing_key, properties,
                              max_bytes=_apps.get(app, (0, DEFAULT_MAX_MESSAGE_BYTES))[1],
                              serializer=str(app.conf.task_serializer or "json"))
        if found is None:
            return
        backend = app.backend
        client = getattr(backend, "client", None)
        if client is None:  # not a Redis backend
            return
        options = app.conf.get("result_backend_transport_options") or {}
        prefix = normalize_prefix(options.get("global_keyprefix"))
        gid = str(headers["group"])
        key = f"{prefix}{RECORD}{gid}"
        ttl = int(getattr(backend, "chord_expires", 0) or 0) or DEFAULT_TTL_S
        now = datetime.now(UTC).isoformat()
        pipe = client.pipeline(transaction=False)
        pipe.hsetnx(key, "created", now)
        pipe.hset(key, mapping=found.fields)
        pipe.hset(key + MEMBERS, found.index, found.member)
        if found.payload is not None:
            pipe.hset(key + PAYLOADS, found.index, found.payload)
        else:  # a retry too large to keep must not leave the first copy to be replayed
            pipe.hdel(key + PAYLOADS, found.index)
        for name in (key, key + MEMBERS, key + PAYLOADS):
            pipe.expire(name, ttl)
        pipe.execute()
    except Exception:  # recording is best effort: the publish must go on
        log.debug("chord record failed", exc_info=True)

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
                             callback_name, created (first publish, ISO UTC),
                             organization_id / user_id (from the message headers or kwargs),
                             root_id / parent_id (the members' lineage, from the headers)
    P rhesis-chord-<gid>.m   hash: group_index -> JSON [task_id, task_name]

Both expire with the chord keys (``result_chord_expires``, else ``result_expires``; 7 days if
neither expires). The monitor works without this hook, but then cannot name the callback of a
chord with no pending member, nor recover it. A failure here never fails the publish.
"""

from __future__ import annotations

import itertools
import json
import logging
import weakref
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from celery.signals import after_task_publish

from instrumentation import schema as s
from worker.chord_monitor.keys import MEMBERS, RECORD, normalize_prefix

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 7 * 86400
# app -> when it was installed. after_task_publish does not say which app published, so with
# several apps in one process the one to write to is a guess: an app that has the task
# registered, else the most recently installed one (a set's arbitrary order made this guess
# flip between runs, writing records into another app's backend).
_apps: weakref.WeakKeyDictionary[Celery, int] = weakref.WeakKeyDictionary()
_installs = itertools.count()
_DISPATCH_UID = "rhesis-chord-monitor-record"


def install(app: Celery) -> None:
    """Record the chords ``app`` publishes. Idempotent."""
    _apps[app] = next(_installs)
    after_task_publish.connect(_on_publish, weak=False, dispatch_uid=_DISPATCH_UID)


def uninstall(app: Celery | None = None) -> None:
    """Stop recording for ``app`` (all apps when None)."""
    if app is None:
        _apps.clear()
    else:
        _apps.pop(app, None)
    if not _apps:
        after_task_publish.disconnect(dispatch_uid=_DISPATCH_UID)


def _app_for(task_name: str | None) -> Celery | None:
    newest_first = sorted(_apps.items(), key=lambda item: item[1], reverse=True)
    apps = [app for app, _ in newest_first]
    for app in apps:
        if task_name and task_name in app.tasks:
            return app
    return apps[0] if apps else None


def _tenant(headers: dict[str, Any], kwargs: Any) -> dict[str, str]:
    out = {}
    for name in (s.ORGANIZATION_ID, s.USER_ID):
        value = headers.get(name)
        if not value and isinstance(kwargs, dict):
            value = kwargs.get(name)
        if value:
            out[name] = str(value)
    return out


def record_fields(headers: dict[str, Any], body: Any) -> tuple[dict[str, str], str, str] | None:
    """From one published message: (record hash fields, member index, member JSON), or None
    when the message is not a chord header member (protocol 2 body ``(args, kwargs, embed)``)."""
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
    if not fields.keys() & {s.ORGANIZATION_ID, s.USER_ID}:
        fields.update(_tenant({}, callback.get("kwargs")))
    for name in (s.ROOT_ID, s.PARENT_ID):
        if headers.get(name):
            fields[name] = str(headers[name])
    index = headers.get("group_index")
    member = json.dumps([headers.get("id"), headers.get("task")])
    return fields, str(index if index is not None else headers.get("id")), member


def _on_publish(sender: Any = None, body: Any = None, headers: dict | None = None,
                **_: Any) -> None:
    try:
        found = record_fields(headers or {}, body)
        if found is None:
            return
        fields, index, member = found
        app = _app_for((headers or {}).get("task"))
        if app is None:
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
        pipe.hset(key, mapping=fields)
        pipe.hset(key + MEMBERS, index, member)
        pipe.expire(key, ttl)
        pipe.expire(key + MEMBERS, ttl)
        pipe.execute()
    except Exception:  # recording is best effort: the publish must go on
        log.debug("chord record failed", exc_info=True)

"""Worker log lines as Cloud Logging entries and as Log Analytics rows: the same logs, twice.

``entry(i, line, pod=..., read_time=...)`` is one line as the LogEntry GKE's agent writes.

``kubectl_entries(path)`` reads ``kubectl logs --prefix --timestamps`` output (the examples'
``kubectl.log``) and lays every line out as the LogEntry GKE's agent would write: the JSON
line's promoted fields (``time``, ``severity``, trace, labels) moved onto the entry,
``resource.labels`` from the pod/container prefix. ``analytics_row(entry)`` is that entry as
a row of a Log Analytics view (``_AllLogs``). Entries come sorted by (timestamp, insertId),
the order Cloud Logging returns them in, so the local analyzer reads them in the order the
Log Analytics report takes as "first".
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from instrumentation import schema as s

PROJECT, CLUSTER, NAMESPACE = "proj-1", "prod", "workers"
#: The start of a record in Celery's default text format: ``[2026-11-28 12:46:11,879: ``.
CELERY_HEADER = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): ")
_PREFIX = re.compile(r"^\[pod/([^/\]]+)/([^\]]+)\] (\S+) (.*)$")


def kubectl_line(pod: str, stamp: str, line: str, container: str = "worker") -> str:
    """One line as ``kubectl logs --prefix --timestamps`` prints it (``stamp``: the kubelet's
    RFC 3339 time of the line, nanoseconds); ``kubectl_entries`` reads it back."""
    return f"[pod/{pod}/{container}] {stamp} {line}"
#: Promoted out of jsonPayload by the logging agent (docs/schema.md).
PROMOTED = {s.TIME: "timestamp", s.SEVERITY: "severity", s.TRACE: "trace",
            s.SPAN_ID: "spanId", s.TRACE_SAMPLED: "traceSampled", s.LABELS: "labels"}


def entry(i: int, body: str, *, pod: str, container: str = "worker", read_time: str,
          cluster: str = CLUSTER, namespace: str = NAMESPACE) -> dict[str, Any]:
    """One log line as a LogEntry (a line that is not JSON becomes a textPayload entry)."""
    out: dict[str, Any] = {
        "insertId": f"{i:08d}",
        "logName": f"projects/{PROJECT}/logs/stdout",
        "resource": {"type": "k8s_container", "labels": {
            "project_id": PROJECT, "cluster_name": cluster, "namespace_name": namespace,
            "pod_name": pod, "container_name": container, "location": "europe-west1"}},
        "timestamp": read_time,
    }
    try:
        payload = json.loads(body)
    except ValueError:
        return {**out, "textPayload": body}
    if not isinstance(payload, dict):
        return {**out, "textPayload": body}
    for field, key in PROMOTED.items():
        if field in payload:
            out[key] = payload.pop(field)
    return {**out, "jsonPayload": payload}


def kubectl_entries(path: Path, **labels: str) -> list[dict[str, Any]]:
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        m = _PREFIX.match(line)
        if not m:
            continue
        pod, container, read_time, body = m.groups()
        out.append(entry(i, body, pod=pod, container=container, read_time=read_time, **labels))
    return sort_entries(out)


def sort_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from analyzers.report import parse_instant

    return sorted(entries, key=lambda e: (parse_instant(e["timestamp"]), e["insertId"]))


# The recorded fixtures (tests/fixtures/entries.ndjson, gcloud_read.json) keep the layout they
# were committed with: stdout and stderr logs of project "rhesis-test", one entry per line.

_RECORDED_PROMOTED = {s.TIME, s.SEVERITY, s.TRACE, s.SPAN_ID, s.TRACE_SAMPLED, s.LABELS}


def entries_from_json(lines: list[str], pod: str) -> list[dict]:
    out = []
    last = None
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:  # a plain line among the JSON (Celery's "Warm shutdown")
            out.append(_text_entry(line, pod, n, last))
            continue
        last = rec.get(s.TIME)
        entry = {
            "insertId": f"j{n}",
            "logName": "projects/rhesis-test/logs/stdout",
            "timestamp": rec.get(s.TIME),
            "severity": rec.get(s.SEVERITY, "DEFAULT"),
            "resource": _resource(pod),
            "jsonPayload": {k: v for k, v in rec.items() if k not in _RECORDED_PROMOTED},
        }
        if rec.get(s.TRACE):
            entry["trace"] = rec[s.TRACE]
        if rec.get(s.SPAN_ID):
            entry["spanId"] = rec[s.SPAN_ID]
        if rec.get(s.LABELS):
            entry["labels"] = rec[s.LABELS]
        out.append(entry)
    return out


def _resource(pod: str) -> dict:
    return {"type": "k8s_container", "labels": {
        "project_id": "rhesis-test", "cluster_name": "prod", "location": "europe-west1",
        "namespace_name": "rhesis", "pod_name": pod, "container_name": "worker"}}


def _text_entry(line: str, pod: str, n: int, t: str | None) -> dict:
    # GKE's agent: every stderr line is its own entry with severity ERROR, whatever it says.
    return {"insertId": f"t{n}", "logName": "projects/rhesis-test/logs/stderr",
            "timestamp": t, "severity": "ERROR", "resource": _resource(pod),
            "textPayload": line + "\n"}


def entries_from_text(text: str, pod: str) -> list[dict]:
    out = []
    last = None
    for n, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        m = CELERY_HEADER.match(line)
        if m:
            last = datetime.strptime(f"{m.group(1)}.{m.group(2)}", "%Y-%m-%d %H:%M:%S.%f")
        t = (last or datetime(2026, 1, 1)) + timedelta(microseconds=n % 1000)
        out.append(_text_entry(line, pod, n, t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    return out


def analytics_row(e: dict[str, Any]) -> dict[str, Any]:
    """A LogEntry as a row of a Log Analytics log view."""
    return {
        "timestamp": e["timestamp"], "receive_timestamp": e["timestamp"],
        "log_name": e["logName"], "log_id": e["logName"].rsplit("/", 1)[-1],
        "insert_id": e["insertId"], "severity": e.get("severity"),
        "trace": e.get("trace"), "span_id": e.get("spanId"),
        "resource": e["resource"], "labels": e.get("labels"),
        "json_payload": e.get("jsonPayload"), "text_payload": e.get("textPayload"),
    }


def synthetic_entries(seed: int, tasks: int = 120, *, text: bool = False) -> list[dict[str, Any]]:
    """A deterministic, messy workload exercising every report section: retries and retry
    storms, duplicates (one after an hour's visibility timeout), lost workers and time
    limits (one named only in Celery's text), failures logged twice, chords completed,
    failed, stuck and acted on by the monitor, tenants beyond five, ties in time. ``text``
    adds plain-text entries and one without a payload."""
    import random
    import uuid
    from datetime import UTC, datetime, timedelta

    rnd = random.Random(seed)
    t0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    lines: list[tuple[datetime, dict[str, Any], str]] = []
    clock = [t0]

    def uid() -> str:
        return str(uuid.UUID(int=rnd.getrandbits(128)))

    def tick() -> datetime:
        clock[0] += timedelta(milliseconds=rnd.choice([0, 0, 1, 40, 250, 2000, 70_000]))
        return clock[0]

    def emit(at: datetime, event: str, pod: str | None = None, **fields: Any) -> None:
        payload = {s.EVENT: event, s.SEVERITY: s.EVENT_SEVERITY.get(event, "INFO"),
                   s.MESSAGE: f"{event} {fields.get(s.TASK_NAME, '')}".strip(), **fields}
        payload[s.TIME] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines.append((at, payload, pod or f"worker-{rnd.randint(0, 3)}"))

    names = ["tasks.a", "tasks.b", "tasks.eval.x", "tasks.eval.y", None]
    orgs = [f"org-{i}" for i in range(8)] + [None]
    errors = [("ValueError", lambda: f"bad value {rnd.randint(1, 9999)} for item"),
              ("builtins.TimeoutError",
               lambda: f"timeout after {rnd.random() * 30:.1f}s on {uid()}"),
              ("KeyError", lambda: "'x'"),
              ("billiard.exceptions.WorkerLostError", lambda: "Worker exited prematurely"),
              ("celery.exceptions.TimeLimitExceeded", lambda: "TimeLimitExceeded(1,)")]
    storm_id = uid()
    for k in range(tasks):
        name = rnd.choice(names)
        org = rnd.choice(orgs)
        tid = storm_id if k == 7 else uid()
        base = {s.TASK_ID: tid, s.TASK_NAME: name, s.ORGANIZATION_ID: org,
                s.USER_ID: f"user-{rnd.randint(0, 3)}" if org else None,
                s.WORKER: f"celery@w{rnd.randint(0, 2)}"}
        if rnd.random() < 0.1:
            del base[s.WORKER]
        at = tick()
        emit(at, s.Event.TASK_PUBLISHED, **base, **{s.RETRIES: 0})
        retries = 6 if k == 7 else (rnd.choice([0, 0, 0, 1, 2]))
        for r in range(retries + 1):
            at = tick()
            emit(at, s.Event.TASK_RECEIVED, **base, **{s.RETRIES: r})
            if rnd.random() < 0.05:  # delivered again: after a visibility timeout, or soon
                again = at + timedelta(seconds=rnd.choice([3600, 5]))
                emit(again, s.Event.TASK_RECEIVED, **base, **{s.RETRIES: r, s.REDELIVERED: True})
                emit(again + timedelta(milliseconds=3), s.Event.TASK_STARTED, **base,
                     **{s.RETRIES: r})
            wait = {} if rnd.random() < 0.3 else {s.QUEUE_WAIT_MS: round(rnd.random() * 90, 3)}
            at = tick()
            emit(at, s.Event.TASK_STARTED, **base, **{s.RETRIES: r}, **wait)
            at = tick()
            duration = {s.DURATION_MS: round(rnd.random() * 500, 3)}
            if r < retries:
                etype, msg = rnd.choice(errors[:3])
                emit(at, s.Event.TASK_RETRIED, **base, **{s.RETRIES: r}, **duration,
                     **{s.EXCEPTION_TYPE: etype, s.EXCEPTION_MESSAGE: msg()})
                continue
            roll = rnd.random()
            if roll < 0.65:
                emit(at, s.Event.TASK_SUCCEEDED, **base, **{s.RETRIES: r}, **duration)
                if rnd.random() < 0.03:  # acked late: a second success
                    emit(tick(), s.Event.TASK_SUCCEEDED, **base, **{s.RETRIES: r}, **duration)
            else:
                etype, msg = rnd.choice(errors)
                fields = {**base, s.RETRIES: r, **duration, s.EXCEPTION_TYPE: etype,
                          s.EXCEPTION_MESSAGE: msg()}
                emit(at, s.Event.TASK_FAILED, **fields)
                if "TimeLimit" in etype:  # the pool's line and the worker's line
                    emit(at, s.Event.TASK_FAILED, **fields)
                if "WorkerLost" in etype and rnd.random() < 0.5:
                    emit(at, s.Event.WORKER_LOST, **{s.WORKER: base.get(s.WORKER),
                                                     s.TASK_ID: tid, s.REASON: "signal 9"})
    # A time limit named only in Celery's text, and the broker going away.
    victim = uid()
    emit(tick(), s.Event.TIME_LIMIT_EXCEEDED, **{
        s.MESSAGE: f"Hard time limit (1s) exceeded for tasks.b[{victim}]"})
    emit(tick(), s.Event.BROKER_CONNECTION_LOST, **{s.REASON: "Connection refused"})
    # Chords: completed, one failed member, one stuck (callback never runs), one the
    # monitor recovered, one the monitor called stuck before a member moved again, one that
    # Celery reported as raised.
    for j, kind in enumerate(("completed", "failed", "stuck", "recovered", "moved", "error")):
        gid, cb = uid(), uid()
        org = orgs[j % 3]
        chord = {s.GROUP_ID: gid, s.CHORD_CALLBACK_ID: cb, s.CHORD_CALLBACK_NAME: "tasks.join",
                 s.ORGANIZATION_ID: org}
        if j % 2:
            chord[s.CHORD_SIZE] = 3
        members = [uid() for _ in range(3)]
        for m, mid in enumerate(members):
            fields = {**chord, s.TASK_ID: mid, s.TASK_NAME: "tasks.member", s.RETRIES: 0}
            emit(tick(), s.Event.TASK_RECEIVED, **fields)
            if kind == "stuck" and m == 2:
                continue
            done = (s.Event.TASK_FAILED if kind == "failed" and m == 1
                    else s.Event.TASK_SUCCEEDED)
            emit(tick(), done, **fields, **{s.DURATION_MS: 12.5})
        if kind == "completed":
            cbf = {**chord, s.TASK_ID: cb, s.TASK_NAME: "tasks.join", s.RETRIES: 0}
            emit(tick(), s.Event.TASK_RECEIVED, **cbf)
            emit(tick(), s.Event.TASK_SUCCEEDED, **cbf, **{s.DURATION_MS: 3.0})
        if kind in ("recovered", "moved"):
            emit(tick(), s.Event.CHORD_STUCK, **{s.CHORD_ID: gid, s.MEMBERS_EXPECTED: 3,
                                                 s.CHORD_CALLBACK_ID: cb})
        if kind == "recovered":
            emit(tick(), s.Event.CHORD_RECOVERED, **{s.CHORD_ID: gid})
        if kind == "moved":
            emit(tick(), s.Event.TASK_STARTED, **{**chord, s.TASK_ID: members[0],
                                                  s.TASK_NAME: "tasks.member"})
        if kind == "error":
            emit(tick(), s.Event.CHORD_ERROR, **{
                s.MESSAGE: f"Chord '{gid}' raised: ChordError('Dependency failed')"})
    out = []
    for i, (at, payload, pod) in enumerate(lines):
        read_time = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.append(entry(i, json.dumps(payload), pod=pod, read_time=read_time))
    if text:
        n = len(out)
        out.append(entry(n, "Celery booting, nothing to see", pod="worker-0",
                         read_time=clock[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
        out.append(entry(n + 1, "[2026-11-28 10:00:00,000: INFO/MainProcess] Task tasks.a["
                         f"{uid()}] received", pod="worker-0",
                         read_time=clock[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    return sort_entries(out)

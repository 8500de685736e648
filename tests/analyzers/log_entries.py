"""Worker log lines as Cloud Logging entries and as Log Analytics rows: the same logs, twice.

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
from pathlib import Path
from typing import Any

from instrumentation import schema as s

PROJECT, CLUSTER, NAMESPACE = "proj-1", "prod", "workers"
_PREFIX = re.compile(r"^\[pod/([^/\]]+)/([^\]]+)\] (\S+) (.*)$")
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

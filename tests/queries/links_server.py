"""A local HTTP server speaking the Cloud Logging v2 REST API for log buckets and their links.

Enough for ``queries.log_analytics.ensure_linked_dataset`` through
``queries.logging_api.LoggingApi(endpoint=server.url)``:

* ``GET /v2/projects/P/locations/L/buckets/B``: the LogBucket (``analyticsEnabled``);
* ``GET .../buckets/B/links`` (``links``, ``nextPageToken``) and ``GET .../links/ID``;
* ``POST .../buckets/B/links?linkId=ID``: a long-running Operation, ``done`` after
  ``polls_to_finish`` reads of ``GET /v2/<operation name>``; the Link is ``CREATING`` until
  then, ``ACTIVE`` after, with ``bigqueryDataset.datasetId``
  ``bigquery.googleapis.com/projects/P/datasets/ID``. A second link on a bucket is refused
  (409 ALREADY_EXISTS), as the real API allows one.

Errors come in Google's JSON shape. ``deny`` makes a method answer 403 PERMISSION_DENIED;
``fail_operation`` makes the next creation end with an operation error.

    with LinksServer({"projects/p/locations/global/buckets/_Default": True}) as server:
        api = LoggingApi("p", endpoint=server.url, access_token="t")
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.local_server import LocalServer


@dataclass
class _State:
    buckets: dict[str, bool]  # bucket name -> analyticsEnabled
    links: dict[str, dict[str, Any]] = field(default_factory=dict)  # link name -> Link
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any], str | None]] = field(default_factory=list)
    deny: set[str] = field(default_factory=set)  # "GET bucket", "POST links", ...
    polls_to_finish: int = 2
    fail_operation: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class LinksServer(LocalServer):
    def __init__(self, buckets: dict[str, bool]) -> None:
        self.state = _State(buckets=dict(buckets))
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _route(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                path = url.path.removeprefix("/v2/")
                with state.lock:
                    state.requests.append((method, path, body, self.headers.get("Authorization")))
                    code, payload = _answer(state, method, path, query)
                self._send(code, payload)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.serve(Handler)

    @property
    def requests(self) -> list[tuple[str, str, dict[str, Any], str | None]]:
        return list(self.state.requests)



_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ALREADY_EXISTS"}


def _err(code: int, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": _STATUS[code]}}


_BUCKET = re.compile(r"^(projects/([^/]+)/locations/([^/]+))/buckets/([^/]+)$")


def _answer(state: _State, method: str, path: str, query: dict[str, str]
            ) -> tuple[int, dict[str, Any]]:
    if path.startswith("projects/") and "/operations/" in path:
        if "GET operation" in state.deny:
            return _err(403, "Permission denied")
        op = state.operations.get(path)
        if op is None:
            return _err(404, f"operation {path} not found")
        op["polls"] += 1
        if op["polls"] >= state.polls_to_finish and not op["done"]:
            op["done"] = True
            link = state.links[op["link"]]
            if op.get("error"):
                op["payload"]["error"] = {"code": 13, "message": op["error"]}
                del state.links[op["link"]]
            else:
                link["lifecycleState"] = "ACTIVE"
                op["payload"]["response"] = {"@type": "type.googleapis.com/google.logging.v2.Link",
                                             **link}
            op["payload"]["done"] = True
        return 200, op["payload"]
    parts = path.split("/links")
    bucket = parts[0]
    m = _BUCKET.match(bucket)
    if not m:
        return _err(404, f"no method at {path}")
    project = m.group(2)
    if len(parts) == 1:  # the bucket itself
        if "GET bucket" in state.deny:
            return _err(403, "Permission 'logging.buckets.get' denied")
        if bucket not in state.buckets:
            return _err(404, f"Bucket {bucket} does not exist")
        return 200, {"name": bucket, "lifecycleState": "ACTIVE",
                     "analyticsEnabled": state.buckets[bucket], "retentionDays": 30}
    if bucket not in state.buckets:
        return _err(404, f"Bucket {bucket} does not exist")
    ours = {n: link for n, link in state.links.items() if n.startswith(bucket + "/links/")}
    rest = parts[1]
    if method == "GET" and rest == "":
        if "GET links" in state.deny:
            return _err(403, "Permission 'logging.links.list' denied")
        return 200, {"links": list(ours.values())} if ours else {}
    if method == "GET" and rest.startswith("/"):
        link = ours.get(bucket + "/links" + rest)
        return (200, link) if link else _err(404, f"link {rest[1:]} not found")
    if method == "POST" and rest == "":
        if "POST links" in state.deny:
            return _err(403, "Permission 'logging.links.create' denied")
        if not state.buckets[bucket]:
            return _err(400, "Bucket is not upgraded to Log Analytics")
        link_id = query.get("linkId", "")
        if ours:
            return _err(409, "A link already exists for this bucket")
        name = f"{bucket}/links/{link_id}"
        state.links[name] = {
            "name": name, "description": "", "createTime": "2026-12-02T08:00:00Z",
            "lifecycleState": "CREATING",
            "bigqueryDataset": {
                "datasetId": f"bigquery.googleapis.com/projects/{project}/datasets/{link_id}"},
        }
        op_name = f"{m.group(1)}/operations/op-{len(state.operations) + 1}"
        state.operations[op_name] = {
            "polls": 0, "done": False, "link": name, "error": state.fail_operation,
            "payload": {"name": op_name, "done": False, "metadata": {
                "@type": "type.googleapis.com/google.logging.v2.LinkMetadata",
                "state": "OPERATION_STATE_RUNNING"}}}
        state.fail_operation = None
        return 200, dict(state.operations[op_name]["payload"])
    return _err(404, f"no method at {path}")

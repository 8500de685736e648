"""A local server speaking the parts of the Cloud Logging v2 REST API that
``rhesis-logs queries install`` uses, with the real API's validation and error shapes.

Endpoints (``{"error": {"code", "message", "status"}}`` bodies on failure, as Google APIs do):

* ``POST /v2/projects/P/metrics``, ``PUT /v2/projects/P/metrics/NAME``,
  ``GET /v2/projects/P/metrics`` (LogMetric);
* ``POST /v2/projects/P/locations/L/savedQueries?savedQueryId=ID``,
  ``PATCH /v2/projects/P/locations/L/savedQueries/ID?updateMask=...``,
  ``GET /v2/projects/P/locations/L/savedQueries`` (SavedQuery).

Every request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_METRICS = re.compile(r"^/v2/projects/([^/]+)/metrics(?:/([^/]+))?$")
_SAVED = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/savedQueries(?:/([^/]+))?$")
_QUERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_./%-]{1,100}$")
_EXTRACTOR = re.compile(r"^(EXTRACT|REGEXP_EXTRACT)\((jsonPayload|labels|resource|textPayload)"
                        r"[\w.]*(,\s*\"[^\"]*\")?\)$")


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


def _validate_metric(body: dict[str, Any]) -> None:
    name = body.get("name")
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise ApiError(400, "INVALID_ARGUMENT", f"invalid metric name: {name!r}")
    if not str(body.get("filter", "")).strip():
        raise ApiError(400, "INVALID_ARGUMENT", "filter must not be empty")
    descriptor = body.get("metricDescriptor") or {}
    declared = {label["key"] for label in descriptor.get("labels", [])}
    for key, extractor in (body.get("labelExtractors") or {}).items():
        if key not in declared:
            raise ApiError(400, "INVALID_ARGUMENT",
                           f"label extractor {key!r} has no label in metricDescriptor.labels")
        if not _EXTRACTOR.match(extractor):
            raise ApiError(400, "INVALID_ARGUMENT", f"bad extractor {extractor!r}")
    if descriptor.get("valueType") == "DISTRIBUTION" and not (
            body.get("valueExtractor") and body.get("bucketOptions")):
        raise ApiError(400, "INVALID_ARGUMENT",
                           "a DISTRIBUTION metric needs valueExtractor and bucketOptions")


def _validate_saved(body: dict[str, Any]) -> None:
    if not body.get("displayName"):
        raise ApiError(400, "INVALID_ARGUMENT", "displayName is required")
    if body.get("visibility") not in ("PRIVATE", "SHARED"):
        raise ApiError(400, "INVALID_ARGUMENT", "visibility must be PRIVATE or SHARED")
    kinds = [k for k in ("loggingQuery", "opsAnalyticsQuery") if k in body]
    if len(kinds) != 1:
        raise ApiError(400, "INVALID_ARGUMENT",
                       "exactly one of loggingQuery and opsAnalyticsQuery is required")
    if kinds[0] == "loggingQuery" and not body["loggingQuery"].get("filter", "").strip():
        raise ApiError(400, "INVALID_ARGUMENT", "loggingQuery.filter must not be empty")
    if kinds[0] == "opsAnalyticsQuery" and not body["opsAnalyticsQuery"].get("sqlQueryText"):
        raise ApiError(400, "INVALID_ARGUMENT", "opsAnalyticsQuery.sqlQueryText is required")


class LoggingState:
    def __init__(self, token: str) -> None:
        self.token = token
        self.metrics: dict[tuple[str, str], dict[str, Any]] = {}
        self.saved: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    state: LoggingState

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", "request body is not JSON") from None

    def _handle(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        st = self.state
        with st.lock:
            st.requests.append((method, self.path))
        try:
            if self.headers.get("Authorization") != f"Bearer {st.token}":
                raise ApiError(401, "UNAUTHENTICATED",
                               "Request had invalid authentication credentials.")
            if m := _METRICS.match(url.path):
                self._reply(200, self._metrics(method, m.group(1), m.group(2)))
            elif m := _SAVED.match(url.path):
                self._reply(200, self._saved(method, m.group(1), m.group(2), m.group(3), query))
            else:
                raise ApiError(404, "NOT_FOUND", f"no such endpoint: {url.path}")
        except ApiError as exc:
            self._reply(exc.code, {"error": {"code": exc.code, "message": exc.message,
                                             "status": exc.status}})

    def _metrics(self, method: str, project: str, name: str | None) -> dict[str, Any]:
        st = self.state
        with st.lock:
            if method == "GET" and name is None:
                return {"metrics": [v for (p, _), v in sorted(st.metrics.items()) if p == project]}
            if method == "POST" and name is None:
                body = self._body()
                _validate_metric(body)
                if (project, body["name"]) in st.metrics:
                    raise ApiError(409, "ALREADY_EXISTS", f"metric {body['name']} already exists")
                st.metrics[project, body["name"]] = body
                return body
            if method == "PUT" and name is not None:
                name = urllib.parse.unquote(name)
                body = self._body()
                _validate_metric(body)
                if body["name"] != name:
                    raise ApiError(400, "INVALID_ARGUMENT", "metric name does not match the URL")
                if (project, name) not in st.metrics:
                    raise ApiError(404, "NOT_FOUND", f"metric {name} does not exist")
                st.metrics[project, name] = body
                return body
        raise ApiError(405, "UNIMPLEMENTED", f"{method} not supported here")

    def _saved(self, method: str, project: str, location: str, qid: str | None,
               query: dict[str, str]) -> dict[str, Any]:
        st = self.state
        with st.lock:
            if method == "GET" and qid is None:
                return {"savedQueries": [v for k, v in sorted(st.saved.items())
                                         if k[:2] == (project, location)]}
            if method == "POST" and qid is None:
                qid = query.get("savedQueryId", "")
                if not _QUERY_ID.match(qid):
                    raise ApiError(400, "INVALID_ARGUMENT", f"invalid savedQueryId {qid!r}")
                body = self._body()
                _validate_saved(body)
                if (project, location, qid) in st.saved:
                    raise ApiError(409, "ALREADY_EXISTS", f"saved query {qid} already exists")
                stored = {**body,
                          "name": f"projects/{project}/locations/{location}/savedQueries/{qid}"}
                st.saved[project, location, qid] = stored
                return stored
            if method == "PATCH" and qid is not None:
                mask = [f.strip() for f in query.get("updateMask", "").split(",") if f.strip()]
                if not mask:
                    raise ApiError(400, "INVALID_ARGUMENT", "updateMask is required")
                if (project, location, qid) not in st.saved:
                    raise ApiError(404, "NOT_FOUND", f"saved query {qid} does not exist")
                body = self._body()
                stored = dict(st.saved[project, location, qid])
                for field in mask:
                    if field in body:
                        stored[field] = body[field]
                _validate_saved(stored)
                st.saved[project, location, qid] = stored
                return stored
        raise ApiError(405, "UNIMPLEMENTED", f"{method} not supported here")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class LocalLoggingServer:
    """``with LocalLoggingServer(token) as server: server.url, server.state``."""

    def __init__(self, token: str) -> None:
        self.state = LoggingState(token)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> LocalLoggingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

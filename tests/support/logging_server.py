"""A local server speaking the parts of the Cloud Logging v2 REST API the project uses.

The one fake of the Logging API in the tests, for both of its users (the ``cloud-logging``
source and ``rhesis-logs queries install``), with the real API's validation and error shapes
(``{"error": {"code", "message", "status"}}``):

* ``POST /v2/entries:list`` (``resourceNames``, ``filter``, ``orderBy``, ``pageSize``,
  ``pageToken``): the entries it was given, in ``orderBy`` order, ``pageSize`` at a time
  (capped at 1000 like the real API), with ``nextPageToken``. The filter is recorded, not
  evaluated: tests assert on what the client *asked for*;
* ``POST /v2/projects/P/metrics``, ``PUT .../metrics/NAME``, ``GET .../metrics`` (LogMetric);
* ``POST /v2/projects/P/locations/L/savedQueries?savedQueryId=ID``,
  ``PATCH .../savedQueries/ID?updateMask=...``, ``GET .../savedQueries`` (SavedQuery).

Every request is recorded (method, path, body, headers, monotonic time, status) so tests can
check the filter and the pacing. ``fail_next(n)`` answers the next ``n`` requests with 429
RESOURCE_EXHAUSTED (as the real API does once the 60-requests-a-minute read quota is used
up) or another status. With ``token``, every request needs ``Authorization: Bearer token``
(else 401 UNAUTHENTICATED); without, none is checked (an emulator, anonymous credentials).

    with LoggingServer(entries) as server:               # reading
        source = CloudLoggingSource(..., api_endpoint=server.url,
                                    credentials=AnonymousCredentials())
    with LoggingServer(token="t") as server:             # installing
        ... server.metrics, server.saved
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_server import LocalServer

MAX_PAGE = 1000
_ENTRIES_LIST = "/v2/entries:list"
_METRICS = re.compile(r"^/v2/projects/([^/]+)/metrics(?:/([^/]+))?$")
_SAVED = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/savedQueries(?:/([^/]+))?$")
_QUERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_./%-]{1,100}$")
_EXTRACTOR = re.compile(r"^(EXTRACT|REGEXP_EXTRACT)\((jsonPayload|labels|resource|textPayload)"
                        r"[\w.]*(,\s*\"[^\"]*\")?\)$")


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str,
                 retry_after: str | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.retry_after = retry_after


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


@dataclass
class Recorded:
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic()
    status: int = 200


class LoggingServer(LocalServer):
    """The Logging API over HTTP on 127.0.0.1, on a free port, in a background thread."""

    def __init__(self, entries: list[dict[str, Any]] | None = None,
                 token: str | None = None) -> None:
        self.entries = list(entries or [])
        self.token = token
        self.metrics: dict[tuple[str, str], dict[str, Any]] = {}
        self.saved: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._requests: list[Recorded] = []
        self._fail_remaining = 0
        self._fail_status = 429
        self._retry_after: str | None = None
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.serve(handler, poll_interval=0.05)

    @property
    def requests(self) -> list[Recorded]:
        with self.lock:
            return list(self._requests)

    def fail_next(self, n: int, status: int = 429, retry_after: str | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (429 RESOURCE_EXHAUSTED by default)."""
        with self.lock:
            self._fail_remaining = n
            self._fail_status = status
            self._retry_after = retry_after



_STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class _Handler(BaseHTTPRequestHandler):
    server_state: LoggingServer

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _reply(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None,
               ) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        st = self.server_state
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        rec = Recorded(method, self.path, {}, dict(self.headers.items()), time.monotonic())
        with st.lock:
            st._requests.append(rec)
            failing = st._fail_remaining > 0
            if failing:
                st._fail_remaining -= 1
        try:
            try:
                rec.body = json.loads(raw or b"{}")
            except ValueError:
                raise ApiError(400, "INVALID_ARGUMENT", "request body is not JSON") from None
            if st.token is not None and self.headers.get("Authorization") != f"Bearer {st.token}":
                raise ApiError(401, "UNAUTHENTICATED",
                               "Request had invalid authentication credentials.")
            if failing:
                if st._fail_status == 429:
                    message = ("Quota exceeded for quota metric 'Read requests' and limit "
                               "'Read requests per minute' of service 'logging.googleapis.com'")
                else:
                    message = f"failing as the test asked ({st._fail_status})"
                raise ApiError(st._fail_status, _STATUS_NAMES.get(st._fail_status, "UNKNOWN"),
                               message, retry_after=st._retry_after)
            if method == "POST" and url.path == _ENTRIES_LIST:
                out = self._page(rec.body)
            elif m := _METRICS.match(url.path):
                out = self._metrics(method, m.group(1), m.group(2), rec.body)
            elif m := _SAVED.match(url.path):
                out = self._saved(method, m.group(1), m.group(2), m.group(3), query, rec.body)
            else:
                raise ApiError(404, "NOT_FOUND", f"no such method {self.path}")
        except ApiError as exc:
            rec.status = exc.code
            extra = {"Retry-After": exc.retry_after} if exc.retry_after else {}
            self._reply(exc.code, {"error": {"code": exc.code, "message": exc.message,
                                             "status": exc.status}}, extra)
            return
        self._reply(200, out)

    def _page(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            size = min(int(body.get("pageSize") or 50), MAX_PAGE)
            start = int(body.get("pageToken") or 0)
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", "bad pageSize or pageToken") from None
        entries = sorted(self.server_state.entries, key=lambda e: e.get("timestamp", ""),
                         reverse="desc" in str(body.get("orderBy", "")).lower())
        page = entries[start : start + size]
        out: dict[str, Any] = {"entries": page} if page else {}
        if start + size < len(entries):
            out["nextPageToken"] = str(start + size)
        return out

    def _metrics(self, method: str, project: str, name: str | None, body: dict[str, Any]
                 ) -> dict[str, Any]:
        st = self.server_state
        with st.lock:
            if method == "GET" and name is None:
                return {"metrics": [v for (p, _), v in sorted(st.metrics.items()) if p == project]}
            if method == "POST" and name is None:
                _validate_metric(body)
                if (project, body["name"]) in st.metrics:
                    raise ApiError(409, "ALREADY_EXISTS", f"metric {body['name']} already exists")
                st.metrics[project, body["name"]] = body
                return body
            if method == "PUT" and name is not None:
                name = urllib.parse.unquote(name)
                _validate_metric(body)
                if body["name"] != name:
                    raise ApiError(400, "INVALID_ARGUMENT", "metric name does not match the URL")
                if (project, name) not in st.metrics:
                    raise ApiError(404, "NOT_FOUND", f"metric {name} does not exist")
                st.metrics[project, name] = body
                return body
        raise ApiError(405, "UNIMPLEMENTED", f"{method} not supported here")

    def _saved(self, method: str, project: str, location: str, qid: str | None,
               query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        st = self.server_state
        with st.lock:
            if method == "GET" and qid is None:
                return {"savedQueries": [v for k, v in sorted(st.saved.items())
                                         if k[:2] == (project, location)]}
            if method == "POST" and qid is None:
                qid = query.get("savedQueryId", "")
                if not _QUERY_ID.match(qid):
                    raise ApiError(400, "INVALID_ARGUMENT", f"invalid savedQueryId {qid!r}")
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

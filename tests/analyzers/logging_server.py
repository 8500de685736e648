"""A local HTTP server speaking the Cloud Logging v2 REST API's ``entries.list``.

Real enough for ``google.cloud.logging.Client(_use_grpc=False, client_options={"api_endpoint":
server.url})``: ``POST /v2/entries:list`` with a JSON body (``resourceNames``, ``filter``,
``orderBy``, ``pageSize``, ``pageToken``) answers ``{"entries": [...], "nextPageToken": ...}``,
and errors come back in Google's JSON error shape. It serves the entries it was given, in
``orderBy`` order, ``pageSize`` at a time (capped at 1000 like the real API), and records
every request (body, headers, monotonic time) so tests can check the filter and the pacing.
``fail_next(n)`` makes the next ``n`` requests fail with 429 RESOURCE_EXHAUSTED, as the real
API does when the 60-requests-a-minute quota is used up.

The filter is recorded, not evaluated: the tests assert on what the client *asked for*.

    with LoggingServer(entries) as server:
        source = CloudLoggingSource(..., api_endpoint=server.url,
                                    credentials=AnonymousCredentials())
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_PAGE = 1000


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic()
    status: int = 200


@dataclass
class _State:
    entries: list[dict[str, Any]]
    requests: list[Recorded] = field(default_factory=list)
    fail_remaining: int = 0
    fail_status: int = 429
    retry_after: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class LoggingServer:
    """``entries.list`` over HTTP on 127.0.0.1, on a free port, in a background thread."""

    def __init__(self, entries: list[dict[str, Any]] | None = None) -> None:
        self.state = _State(entries=list(entries or []))
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._error(400, "INVALID_ARGUMENT", "request body is not JSON")
                    return
                rec = Recorded(self.path, body, dict(self.headers.items()), time.monotonic())
                with state.lock:
                    state.requests.append(rec)
                    failing = state.fail_remaining > 0
                    if failing:
                        state.fail_remaining -= 1
                if self.path.split("?")[0] != "/v2/entries:list":
                    rec.status = 404
                    self._error(404, "NOT_FOUND", f"no such method {self.path}")
                    return
                if failing:
                    rec.status = state.fail_status
                    self._error(state.fail_status, "RESOURCE_EXHAUSTED",
                                "Quota exceeded for quota metric 'Read requests' and limit "
                                "'Read requests per minute' of service 'logging.googleapis.com'",
                                retry_after=state.retry_after)
                    return
                self._page(body)

            def _page(self, body: dict[str, Any]) -> None:
                try:
                    size = min(int(body.get("pageSize") or 50), MAX_PAGE)
                    start = int(body.get("pageToken") or 0)
                except ValueError:
                    self._error(400, "INVALID_ARGUMENT", "bad pageSize or pageToken")
                    return
                entries = sorted(state.entries, key=lambda e: e.get("timestamp", ""),
                                 reverse="desc" in str(body.get("orderBy", "")).lower())
                page = entries[start : start + size]
                out: dict[str, Any] = {"entries": page} if page else {}
                if start + size < len(entries):
                    out["nextPageToken"] = str(start + size)
                self._send(200, out)

            def _error(self, code: int, status: str, message: str,
                       retry_after: str | None = None) -> None:
                extra = {"Retry-After": retry_after} if retry_after else {}
                self._send(code, {"error": {"code": code, "message": message,
                                            "status": status}}, extra)

            def _send(self, code: int, payload: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.requests)

    def fail_next(self, n: int, status: int = 429, retry_after: str | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (429 RESOURCE_EXHAUSTED by default)."""
        with self.state.lock:
            self.state.fail_remaining = n
            self.state.fail_status = status
            self.state.retry_after = retry_after

    def __enter__(self) -> LoggingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

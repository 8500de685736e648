"""The health server: probes on the pod address, debug endpoints only where allowed, and an
HTTP loop that slow or numerous clients cannot hold.

    from worker.health import DebugAccess, HealthContext, HealthServer

    server = HealthServer(HealthContext(settings, app), debug=DebugAccess.from_env()).start()
    ...
    server.stop()

Two listeners:

- the **probe listener** on ``HEALTH_HOST:HEALTH_PORT`` (``0.0.0.0:8080``): ``/ping``,
  ``/health``, ``/health/basic``, ``/metrics``. ``/debug/*`` answers 404 there, unless
  ``HEALTH_DEBUG_TOKEN`` is set: then a request carrying ``Authorization: Bearer <token>``
  gets them (compared with ``hmac.compare_digest``), any other 401.
- the **debug listener**, only with ``HEALTH_DEBUG=1``: ``127.0.0.1:HEALTH_DEBUG_PORT``
  (8081), every endpoint, no token: reachable from inside the pod or through
  ``kubectl port-forward pod/<name> 8081``, never from the network.

Why asyncio and not a thread per connection: a client that sends one byte every few seconds
held a thread of ``ThreadingHTTPServer`` for as long as it liked. Here a connection costs a
socket and a small buffer while its request is read, and is cut when the whole request
(headers and body) has not arrived within ``request_deadline``; at most
``max_connections`` are open at once, the next ones get an immediate 503 and are closed; the
kernel queues up to ``backlog`` connections not yet accepted. Endpoint code runs on
``workers`` threads (``/ping`` and ``/health/basic`` on the loop itself, so they never wait
behind a slow check), and concurrent ``/health`` probes share one Redis check.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import socket
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from instrumentation import get_logger
from instrumentation.redaction import redact_mapping, redact_text
from worker.health.endpoints import (
    COALESCED,
    DEBUG_ROUTES,
    INLINE,
    PROBE_ROUTES,
    Endpoint,
    HealthContext,
    Raw,
    Response,
)

_log = get_logger("worker.health")

#: Shortest debug token accepted: a guessable token is no protection.
MIN_TOKEN_LENGTH = 16


class DebugConfigError(ValueError):
    """HEALTH_DEBUG* variables that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class DebugAccess:
    """Where ``/debug/*`` is served: ``enabled`` opens the loopback listener on ``port``;
    ``token`` (if set) also serves them on the probe listener to its bearer."""

    enabled: bool = False
    port: int = 8081
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DebugAccess:
        """``HEALTH_DEBUG`` (0/1), ``HEALTH_DEBUG_PORT`` (8081), ``HEALTH_DEBUG_TOKEN``."""
        env = os.environ if env is None else env
        raw = env.get("HEALTH_DEBUG", "0").strip().lower()
        if raw not in ("0", "1", "true", "false", "yes", "no", "on", "off", ""):
            raise DebugConfigError(f"HEALTH_DEBUG={raw!r} is not a boolean (1/0)")
        enabled = raw in ("1", "true", "yes", "on")
        port_raw = env.get("HEALTH_DEBUG_PORT") or "8081"
        if not port_raw.isdigit() or int(port_raw) > 65535:
            raise DebugConfigError(f"HEALTH_DEBUG_PORT={port_raw!r} is not a port number")
        token = env.get("HEALTH_DEBUG_TOKEN") or None
        if token is not None and len(token.strip()) < MIN_TOKEN_LENGTH:
            raise DebugConfigError(f"HEALTH_DEBUG_TOKEN is shorter than {MIN_TOKEN_LENGTH} "
                                   "characters; /debug stays off the pod address")
        return cls(enabled, int(port_raw), token.strip() if token else None)


@dataclass(frozen=True)
class ServerLimits:
    """What one client, or many, may cost the server."""

    request_deadline: float = 5.0  # seconds for the whole request, headers and body
    max_connections: int = 256  # open at once; the next are refused with 503
    backlog: int = 128  # connections the kernel queues before accept
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 64 * 1024
    workers: int = 4  # threads running endpoint code


@dataclass
class _Listener:
    sock: socket.socket
    routes: dict[str, Endpoint]
    debug_token: bytes | None = None  # /debug/* with this bearer token
    name: str = "probe"


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


_servers: weakref.WeakSet[HealthServer] = weakref.WeakSet()


def _close_listeners_in_child() -> None:
    # A prefork child forked while the server runs inherits its listening sockets; it never
    # accepts, but would keep the port bound (and queue connections) after the parent died.
    for server in list(_servers):
        server.close_sockets()


os.register_at_fork(after_in_child=_close_listeners_in_child)


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HealthServer:
    """The HTTP server on a background thread: ``start()``, ``port``, ``debug_port``,
    ``stop()``; ``run()`` serves in the foreground until Ctrl-C.

    The sockets are bound in the constructor, so a port in use raises ``OSError`` there.
    """

    def __init__(self, context: HealthContext, host: str | None = None,
                 port: int | None = None, *, debug: DebugAccess | None = None,
                 limits: ServerLimits | None = None) -> None:
        self.context = context
        self.limits = limits or ServerLimits()
        self.debug = debug if debug is not None else DebugAccess.from_env()
        settings = context.settings
        token = self.debug.token.encode() if self.debug.token else None
        self._listeners = [_Listener(
            _bind(host or settings.health_host,
                  settings.health_port if port is None else port, self.limits.backlog),
            dict(PROBE_ROUTES), debug_token=token, name="probe")]
        if self.debug.enabled:
            try:
                self._listeners.append(_Listener(
                    _bind("127.0.0.1", self.debug.port, self.limits.backlog),
                    {**PROBE_ROUTES, **DEBUG_ROUTES}, name="debug"))
            except OSError:
                self.close_sockets()
                raise
        self._executor = ThreadPoolExecutor(self.limits.workers,
                                            thread_name_prefix="health-endpoint")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._connections = 0
        self._inflight: dict[str, asyncio.Future[Response]] = {}
        self.refused = 0  # connections answered 503 because max_connections were open
        self.timed_out = 0  # requests that did not arrive within request_deadline
        _servers.add(self)

    # --- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._listeners[0].sock.getsockname()[1])

    @property
    def debug_port(self) -> int | None:
        return (int(self._listeners[1].sock.getsockname()[1])
                if len(self._listeners) > 1 else None)

    @property
    def connections(self) -> int:
        """Connections open right now."""
        return self._connections

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> HealthServer:
        self._thread = threading.Thread(target=self.serve_forever, name="health-server",
                                        daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def serve_forever(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # this thread's loop
        self._loop = loop
        try:
            servers = [loop.run_until_complete(asyncio.start_server(
                lambda r, w, listener=listener: self._handle(listener, r, w),
                sock=listener.sock, backlog=self.limits.backlog,
                limit=self.limits.max_header_bytes)) for listener in self._listeners]
            self._started.set()
            loop.run_forever()
            for server in servers:
                server.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self._started.set()
            loop.close()

    def run(self) -> None:
        """Serve in the foreground until Ctrl-C, then close the sockets."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self.close_sockets()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def close_sockets(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.sock.close()

    # --- one connection ----------------------------------------------------------------------

    async def _handle(self, listener: _Listener, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        if self._connections >= self.limits.max_connections:
            # Refused before reading anything: the cheapest answer there is.
            self.refused += 1
            self._write(writer, HTTPStatus.SERVICE_UNAVAILABLE,
                        {"status": "error", "reason": "too many connections"}, head_only=False)
            writer.close()
            return
        self._connections += 1
        try:
            try:
                method, target, headers = await asyncio.wait_for(
                    self._read_request(reader), self.limits.request_deadline)
            except TimeoutError:
                self.timed_out += 1
                writer.transport.abort()  # a slow client gets nothing more, not even a 408
                return
            except _BadRequest as bad:
                self._write(writer, bad.status, {"status": "error", "reason": str(bad)})
                return
            except (ConnectionError, asyncio.IncompleteReadError):
                return
            status, body = await self._respond(listener, method, target, headers)
            self._write(writer, status, body, head_only=method == "HEAD")
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(writer.drain(), self.limits.request_deadline)
        finally:
            self._connections -= 1
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader
                            ) -> tuple[str, str, dict[str, str]]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                              "request headers too large") from exc
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "malformed request line")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise _BadRequest(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted")
        length = headers.get("content-length", "0") or "0"
        if not length.isdigit():
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        if int(length) > self.limits.max_body_bytes:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        if int(length):
            await reader.readexactly(int(length))  # read and ignored: no endpoint takes one
        return parts[0], parts[1], headers

    async def _respond(self, listener: _Listener, method: str, target: str,
                       headers: dict[str, str]) -> Response:
        if method not in ("GET", "HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, {"status": "error", "reason": "GET only"}
        path = target.split("?", 1)[0].rstrip("/") or "/"
        endpoint = listener.routes.get(path)
        if endpoint is None and path in DEBUG_ROUTES and listener.debug_token is not None:
            if not _bearer_matches(headers.get("authorization", ""), listener.debug_token):
                return HTTPStatus.UNAUTHORIZED, {
                    "status": "error",
                    "reason": "debug endpoints need Authorization: Bearer <HEALTH_DEBUG_TOKEN>"}
            endpoint = DEBUG_ROUTES[path]
        if endpoint is None:
            return HTTPStatus.NOT_FOUND, {"status": "error", "reason": "not found",
                                          "path": redact_text(path)[:200],
                                          "endpoints": sorted(listener.routes)}
        try:
            if path in INLINE:
                return endpoint(self.context, headers)
            if path in COALESCED:
                return await self._coalesced(path, endpoint, headers)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, endpoint, self.context, headers)
        except Exception as exc:  # an endpoint bug must answer 500, not kill the server
            return HTTPStatus.INTERNAL_SERVER_ERROR, {
                "status": "error", "reason": redact_text(f"{type(exc).__name__}: {exc}")}

    async def _coalesced(self, path: str, endpoint: Endpoint,
                         headers: dict[str, str]) -> Response:
        future = self._inflight.get(path)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor, endpoint, self.context, headers)
            self._inflight[path] = future
            future.add_done_callback(lambda _f: self._inflight.pop(path, None))
        return await asyncio.shield(future)

    def _write(self, writer: asyncio.StreamWriter, status: int, body: Any,
               head_only: bool = False) -> None:
        if isinstance(body, Raw):
            data, ctype = body.data, body.content_type
        elif isinstance(body, str):
            data, ctype = (body + "\n").encode(), "text/plain; charset=utf-8"
        else:
            # The last line of defence: nothing leaves this server unredacted.
            data = json.dumps(redact_mapping(body), default=str, indent=2).encode() + b"\n"
            ctype = "application/json"
        phrase = HTTPStatus(status).phrase
        head = (f"HTTP/1.1 {int(status)} {phrase}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(data)}\r\nCache-Control: no-store\r\n"
                "Connection: close\r\n")
        if status == HTTPStatus.UNAUTHORIZED:
            head += 'WWW-Authenticate: Bearer realm="rhesis-worker debug"\r\n'
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.write(head.encode() + b"\r\n" + (b"" if head_only else data))


def _bearer_matches(header: str, token: bytes) -> bool:
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Constant time: how much of a guess matched must not show in the response time.
    return hmac.compare_digest(credential.strip().encode(), token)


def log_listening(server: HealthServer) -> None:
    """One log line saying where the server listens (and whether /debug is reachable)."""
    fields: dict[str, Any] = {}
    if server.debug_port is not None:
        fields["debug_port"] = server.debug_port
    if server.debug.token:
        fields["debug_with_token"] = True
    _log.info(f"health server listening on port {server.port}", **fields)


"""The plumbing every fake HTTP service of the tests shares: a ``ThreadingHTTPServer`` on a
free 127.0.0.1 port, served on a daemon thread for as long as the ``with`` block lasts.

    class FakeApi(LocalServer):
        def __init__(self):
            self.serve(Handler)             # a BaseHTTPRequestHandler subclass

    with FakeApi() as api:
        requests.get(api.url + "/v1/...")
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LocalServer:
    """Subclasses call :meth:`serve` in their ``__init__``; the rest is here."""

    def serve(self, handler: type[BaseHTTPRequestHandler], poll_interval: float = 0.5) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(poll_interval,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

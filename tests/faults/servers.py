"""Misbehaving endpoints on 127.0.0.1: failing for a while, hanging, resetting connections.

Each records the `webhook-id` of every request it answered with a 2xx, which is what counts as delivered.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class _Served:
    server: socketserver.TCPServer

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _Served:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()


class FlakyServer(_Served):
    """Answers 500 until `fail_for_s` after its first request, then 204."""

    def __init__(self, *, fail_for_s: float) -> None:
        super().__init__()
        self.fail_for_s = fail_for_s
        self._first_s: float | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    def _status(self, webhook_id: str) -> int:
        with self._lock:
            now = time.monotonic()
            self._first_s = self._first_s if self._first_s is not None else now
            if now - self._first_s < self.fail_for_s:
                self.refused += 1
                return 500
            self.delivered.append(webhook_id)
            return 204

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        served = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(served._status(self.headers.get("webhook-id", "")))
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _handle

        return Handler


class _Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class HangServer(_Served):
    """Reads the request and never answers (until the client gives up and closes)."""

    def __init__(self) -> None:
        super().__init__()
        served = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(60)
                try:
                    while self.request.recv(65536):
                        with served._lock:
                            served.refused += 1
                except OSError:
                    pass

        self.server = _Threaded(("127.0.0.1", 0), Handler)


class ResetServer(_Served):
    """Accepts, reads the request, and resets the connection (RST: SO_LINGER with a zero timeout)."""

    def __init__(self) -> None:
        super().__init__()
        served = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(5)
                with contextlib.suppress(OSError):
                    self.request.recv(65536)
                with served._lock:
                    served.refused += 1
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.request.close()

        self.server = _Threaded(("127.0.0.1", 0), Handler)

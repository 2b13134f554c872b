"""Small real servers for the delivery tests, beside tests/receiver.py.

RawReceiver records the request target byte for byte (a GET signature covers the raw query string).
ResettingServer accepts connections and resets the first `resets` of them before answering 204.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def raw_query(self) -> str:
        return urlsplit(self.target).query


class RawReceiver:
    def __init__(self) -> None:
        self.requests: list[RawRequest] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._cond:
                    receiver.requests.append(RawRequest(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    receiver._cond.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[RawRequest]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.requests) >= count, timeout_s)
            return list(self.requests)

    def __enter__(self) -> RawReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


class ResettingServer:
    """Resets (RST) the first `resets` connections as soon as the request arrives, then answers 204."""

    def __init__(self, *, resets: int) -> None:
        self.resets_left = resets
        self.connections = 0
        self.answered: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            with self._lock:
                self.connections += 1
                reset = self.resets_left > 0
                self.resets_left -= reset
            if reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").lower()
            msg_id = next((line.split(":", 1)[1].strip() for line in head.split("\r\n")
                           if line.startswith("webhook-id:")), "")
            with self._lock:
                self.answered.append(msg_id)
            conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def __enter__(self) -> ResettingServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._sock.close()

"""ResettingServer: a small real server for the delivery tests, beside tests/receiver.py. It accepts
connections and resets the first `resets` of them before answering 204."""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType


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
            except OSError:  # closed by __exit__ between the check and accept()
                return
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

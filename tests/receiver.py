"""A real HTTP receiver for tests: records every request, answers with scripted statuses and delays."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float
    raw_query: str = ""
    """The query string exactly as on the request line (a GET signature covers it byte for byte)."""

    @property
    def params(self) -> dict[str, str]:
        """The notification parameters, from the query string (GET) or the form body (POST)."""
        return self.form if self.method == "POST" else self.query


@dataclass
class Script:
    statuses: deque[int] = field(default_factory=deque)
    default_status: int = 204
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """`with Receiver() as r:` serves on `r.url`; `r.script("/path", statuses=[500, 500], then=200)`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, Script] = defaultdict(Script)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(
        self, path: str, *, statuses: list[int] = (), then: int = 204, delay_s: float = 0.0,  # type: ignore[assignment]
        headers: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            self._scripts[path] = Script(deque(statuses), then, delay_s, headers or {})

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, *, path: str | None = None, timeout_s: float = 30.0) -> list[Received]:
        """Wait until at least `count` requests (to `path`) arrived; return them all."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [r for r in self.requests if path is None or r.path == path]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                self._cond.wait(remaining)

    def _record(self, received: Received) -> Script:
        with self._cond:
            self.requests.append(received)
            self._cond.notify_all()
            return self._scripts[received.path]

    def _next_status(self, script: Script) -> int:
        with self._lock:
            return script.statuses.popleft() if script.statuses else script.default_status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if self.command == "POST" else {}
                script = receiver._record(Received(
                    self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)), form,
                    {k.lower(): v for k, v in self.headers.items()}, body, time.time(), parts.query,
                ))
                if script.delay_s:
                    time.sleep(script.delay_s)
                status = receiver._next_status(script)
                self.send_response(status)
                for name, value in script.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _handle

        return Handler

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

"""The HTTP/1.1 protocol the API is served with: uvicorn's (httptools), with a bounded request head, answering a
request it refuses or cannot parse in the API's error shape.

httptools reads a request head of any size whole into memory (a 1 MB header, thousands of headers), so each
connection could be made to hold megabytes before any route runs. Like nginx, Node and h11 (8-16 KiB), this
protocol reads at most `max_head_bytes` (CALLAPI_MAX_REQUEST_HEAD_BYTES) of request line and headers, counted as
they arrive, and at most MAX_HEADER_FIELDS headers: past either it answers 431 `request_header_fields_too_large`
at once (414 `uri_too_long` when the URL alone is over), without reading the rest of the head. Trailer fields
(after a chunked body's last chunk), held whole the same way, are bounded by the same cap.

Uvicorn's keep-alive timer stops at a connection's first byte, and nothing bounds the time a head then takes: a
client sending a byte every few seconds would hold a connection forever (slowloris); one sending nothing would too,
as the timer starts only after an answer (here: from the connection's start). A head must arrive whole
within `head_timeout_s` (CALLAPI_REQUEST_HEAD_TIMEOUT_S) of its first byte, or it answers 408 `request_timeout` and
the connection closes. A body is not timed: an upload may be slow, and the app reading it decides. A head begun in
the read that ended the request before it is counted and timed from there (schemas/http_refusals.py's
after_request finds where that request ended), and not closed as idle by the keep-alive timer that answer arms.

Uvicorn refuses a request it cannot parse itself, before any ASGI app runs, with a plain-text 400 ("Invalid HTTP
request received."). Here a URL over 65,535 bytes, the longest httptools parses, answers 414 `uri_too_long`, any
other 400 `request_invalid`. These answers, and MAX_HEADER_FIELDS, are the ingest's too (schemas/http_refusals.py).
Serve the API with `http=limited_to(settings.max_request_head_bytes, settings.request_head_timeout_s)`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from schemas import http_refusals
from schemas.http_refusals import MAX_HEADER_FIELDS, Refusal

MAX_URL_BYTES = 65_535  # httptools.parse_url refuses a longer one
DEFAULT_MAX_HEAD_BYTES = 65_536
# A client sends a head of a few KiB in one write; 10 s leaves room for three TCP retransmissions on a lossy link
# (1 + 2 + 4 s) and holds a connection far less than nginx's 60 s client_header_timeout, made for slow dial-ups
DEFAULT_HEAD_TIMEOUT_S = 10.0
# Bytes of a head besides its method, URL and headers: " " and " HTTP/1.1\r\n" around the URL, the final "\r\n"
REQUEST_LINE_AND_END_BYTES = 14
# How long a refused request's unread rest is read and dropped before the connection closes. Closing at once
# with unread bytes sends a TCP reset, which can destroy the answer before the client reads it (nginx's
# lingering close does the same).
LINGER_S = 5.0


class HeadRefused(Exception):
    """Raised from a parser callback to stop httptools in the middle of a read; data_received answers."""


class ApiHttpProtocol(HttpToolsProtocol):
    max_head_bytes = DEFAULT_MAX_HEAD_BYTES
    head_timeout_s = DEFAULT_HEAD_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # reading a request line and headers (per request: reset when a request completes)
        self._head_received = 0  # bytes received since it began: while it is unfinished, at least its size
        self._head_parsed = 0  # its size as parsed so far (URL, headers and their separators)
        self._refusal: Refusal | None = None  # set before raising HeadRefused, or kept until an earlier answer ends
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None  # runs from a head's first byte until it is complete
        self._reads = 0  # data_received calls
        self._chunk_header_read: int | None = None  # the read a chunk header ended in, until that chunk's data came
        self._trailer_received = 0  # bytes of the reads after a last chunk's header: at least its trailers' size
        self._head_read = 0  # the read the last head ended in
        self._body_in_read: int | None = 0  # bytes of its Content-Length body in the current read (None: chunked)
        self._ended: tuple[int, bool] | None = None  # a request ended in this read: its body's bytes in it, and
        # whether its head ended in it too

    # Parser callbacks: a length add and a comparison per call on the normal path
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_parsed = REQUEST_LINE_AND_END_BYTES
        self._body_in_read = 0
        self._time_head()  # a head begun in the read that ended the previous request

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_parsed += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_parsed += len(name) + len(value) + 4  # ": " and "\r\n"
        if self._head_parsed > self.max_head_bytes:
            self._stop(self._head_too_large())
        if len(self.headers) > MAX_HEADER_FIELDS:
            self._stop(http_refusals.TOO_MANY_FIELDS)

    def on_headers_complete(self) -> None:
        self._untime_head()
        if self._head_parsed + len(self.parser.get_method()) > self.max_head_bytes:
            self._stop(self._head_too_large())
        super().on_headers_complete()
        self._in_head = False  # this request has its cycle (self.cycle); a refusal from now on is of its body
        self._head_read = self._reads

    def on_chunk_header(self) -> None:
        self._chunk_header_read, self._trailer_received = self._reads, 0
        self._body_in_read = None  # a chunked body ends with an empty line, as a head does

    def on_chunk_complete(self) -> None:
        self._chunk_header_read = None

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._chunk_header_read = None
        if self._body_in_read is not None:
            self._body_in_read += len(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._chunk_header_read = None
        self._in_head, self._head_received = True, 0
        self._ended = self._body_in_read or 0, self._head_read == self._reads

    def data_received(self, data: bytes) -> None:  # uvicorn's, answering refusals in the API's shape
        if self._refused:
            return  # the rest of a refused request, dropped
        self._reads += 1
        self._ended = None
        if self._body_in_read:
            self._body_in_read = 0
        if self._in_head:
            self._head_received += len(data)
            self._time_head()  # from the first byte, even one the parser skips (empty lines before a request)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._answer(self._refusal or self._unparsable())
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._ended is not None and self._in_head:  # a head begun in the read that ended the request before it
            self._head_received = http_refusals.after_request(data, self._ended[0], head_in_read=self._ended[1])
        # the header being received is buffered inside httptools, unseen by on_header: count what came
        if self._in_head and self._head_received > self.max_head_bytes:
            self._answer(self._head_too_large())
        # a whole read past a chunk header, with none of its data: trailers, buffered inside httptools as a header is
        elif self._chunk_header_read is not None and self._chunk_header_read < self._reads:
            self._trailer_received += len(data)
            if self._trailer_received > self.max_head_bytes:
                self._answer(self._head_too_large())

    def send_400_response(self, msg: str) -> None:  # uvicorn's only answer to an unparsable request
        self._answer(self._unparsable())

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms its keep-alive timeout only after an answer: a new connection that sends nothing would stay
        # open forever. Until its first byte, it is idle as between requests.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._untime_head()
        super().connection_lost(exc)

    def _time_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _untime_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.flow.read_paused:  # this server stopped reading (pipelined requests queued): not the client's delay
            self._time_head()
            return
        self._answer(http_refusals.head_timed_out(self.head_timeout_s))

    def _stop(self, refusal: Refusal) -> None:
        self._refusal = refusal
        raise HeadRefused(refusal[1])

    def _url_over(self, limit: int) -> Refusal | None:
        """414 when the URL read so far is over `limit` bytes."""
        if len(getattr(self, "url", b"")) <= limit:  # `url` is set once a request line begins
            return None
        return http_refusals.uri_too_long(limit)

    def _head_too_large(self) -> Refusal:
        return self._url_over(min(self.max_head_bytes, MAX_URL_BYTES)) or http_refusals.head_too_large(
            self.max_head_bytes)

    def _unparsable(self) -> Refusal:
        return self._url_over(MAX_URL_BYTES) or http_refusals.INVALID

    def _answer(self, refusal: Refusal) -> None:
        """Answers `refusal` and ends the connection, reading no more of the request into memory."""
        self._refused = True
        self._untime_head()
        self.logger.warning("%s:%s - %d %s", *(self.client or ("-", "-")), refusal[0].value, refusal[1])
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._write(refusal)
        elif self._in_head:
            self._refusal = refusal  # an earlier request is still answered (a pipelined one, or its last write)
        else:  # this request's body or trailers: its app reads no more of it
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
            else:
                self._write(refusal)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._head_timer is not None:  # a head begun before this answer ended: timed as a head, not as idle
            self._unset_keepalive_if_required()
        if self._refused and self._refusal is not None and self.cycle.response_complete:
            self._write(self._refusal)

    def _write(self, refusal: Refusal) -> None:
        self._refusal = None
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        status, code, message = refusal
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n", b"\r\n"]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer ends here; the client's own end (eof_received) closes at once
        self.loop.call_later(LINGER_S, self.transport.close)


def limited_to(max_head_bytes: int, head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S) -> type[ApiHttpProtocol]:
    """ApiHttpProtocol reading request heads of at most `max_head_bytes` (CALLAPI_MAX_REQUEST_HEAD_BYTES) arriving
    within `head_timeout_s` of their first byte (CALLAPI_REQUEST_HEAD_TIMEOUT_S)."""

    class Limited(ApiHttpProtocol):
        pass

    Limited.max_head_bytes, Limited.head_timeout_s = max_head_bytes, head_timeout_s
    return Limited

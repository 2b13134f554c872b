"""The HTTP/1.1 protocol the ingest is served with: aiohttp's, answering a request its parser refuses in the
ingest's error shape.

aiohttp refuses a request it cannot parse (a raw non-ASCII byte in the URL, a malformed request line or header)
before any handler or middleware runs, with a plain-text 400 that echoes the first ~100 bytes sent. Here such a
request answers `{"error": {"code", "message"}}` without the client's bytes, as the Control API does
(schemas/http_refusals.py): 414 `uri_too_long` for a request line over MAX_LINE_BYTES, 431
`request_header_fields_too_large` for headers too large or too many, 400 `request_invalid` otherwise.

aiohttp bounds each header line (8,190 bytes) and the count of headers (128), not their sum: ~1 MiB per request,
held in memory before any route runs. Here a head is bounded as a whole, by `max_head_bytes`
(CALLAPI_MAX_REQUEST_HEAD_BYTES, as the Control API), counted as its bytes arrive: past it, 431 at once. One header
may take all of it, and there may be at most MAX_HEADER_FIELDS, as for the Control API.

Nothing in aiohttp bounds the time a head takes: a client sending a byte every few seconds would hold a connection
forever (slowloris). A head must arrive whole within `head_timeout_s` (CALLAPI_REQUEST_HEAD_TIMEOUT_S) of its first
byte, or it answers 408 `request_timeout` and the connection closes; a body is not timed. A head begun in the read
that ended the request before it is counted and timed from there (aiohttp's parser does not say where a request
ends: schemas/http_refusals.py's after_request finds it). A refusal is answered after the requests before it, with
an HTTP/1.1 status line and `Connection: close`, as the Control API's are; aiohttp's parser drops the requests it
parsed in the read it fails on, which are parsed again (HeadReader._parsed_before_error). aiohttp's keep-alive timer
(keepalive_timeout) runs from a connection's start: one that sends nothing is closed as one idle between requests.

Serve the app with IngestRunner(app, max_head_bytes=..., head_timeout_s=...) instead of web.AppRunner.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError, InvalidURLError, LineTooLong
from aiohttp.http_parser import HttpRequestParser, RawRequestMessage
from aiohttp.web_protocol import ERROR, RequestPayloadError

from producers.ingest import metrics
from schemas import http_refusals
from schemas.http_refusals import HEAD_END, MAX_HEADER_FIELDS, Refusal
from schemas.occasional_log import Occasionally

log = logging.getLogger(__name__)
_REFUSALS_LOG = Occasionally(interval_s=60.0)

TOO_MANY_HEADERS = "Too many headers received"  # aiohttp's BadHttpMessage past max_headers
MAX_LINE_BYTES = 8190  # of a request line: aiohttp's max_line_size, which bounds the URL alone
DEFAULT_MAX_HEAD_BYTES = 65_536
DEFAULT_HEAD_TIMEOUT_S = 10.0  # CALLAPI_REQUEST_HEAD_TIMEOUT_S's default
LINGER_S = 5.0  # how long a refused request's rest is read and dropped before the connection closes
NOTHING_PARSED = ((), False, b"")  # what the parser's feed_data answers for bytes that complete nothing
# The most parser calls a read the parser failed on is parsed again in (HeadReader._parsed_before_error): a read of
# empty lines would cost one each (~0.4 µs); aiohttp parses at most 32 pipelined requests ahead.
REPARSED_PIECES = 128
# The request a refusal answers. aiohttp's (ERROR) is of HTTP/1.0, answered with an HTTP/1.0 status line and no
# `Connection: close`: as one of HTTP/1.1, a refusal is answered as the Control API's are.
REFUSED_REQUEST = ERROR._replace(version=HttpVersion11)


class Refused(HttpProcessingError):
    """A request head refused with `status`, `code` and a message that quotes nothing the client sent."""

    def __init__(self, refusal: Refusal) -> None:
        status, self.error_code, message = refusal
        super().__init__(code=status.value, message=message)
        self.status = status


def refusal(error: HttpProcessingError) -> Refused:
    """What answers a parser error (HeadReader refuses a request line too long itself: a LineTooLong is a header's,
    over max_field_size, which is the whole head's bound)."""
    if isinstance(error, Refused):
        return error
    if isinstance(error, LineTooLong):
        return Refused(http_refusals.head_too_large(error.args[1]))
    if error.message == TOO_MANY_HEADERS:
        return Refused(http_refusals.TOO_MANY_FIELDS)
    return Refused(http_refusals.URL_INVALID if isinstance(error, InvalidURLError) else http_refusals.INVALID)


class HeadReader:
    """aiohttp's request parser, behind bounds on each request head: a request line over MAX_LINE_BYTES is refused
    414 here (aiohttp's own LineTooLong does not tell a URL from a header), a head over `max_head_bytes` 431,
    counted as it arrives, and one unfinished `head_timeout_s` after its first byte 408. A head is counted and timed
    from its first byte, in the read that ended the request before it too. Once a request is refused, the rest of
    the connection's bytes are dropped unparsed; the requests before it are answered first. `new_parser` makes a
    parser as `parser` was made, which parses a read again when `parser` fails on it."""

    def __init__(self, parser: Any, max_head_bytes: int, head_timeout_s: float, loop: asyncio.AbstractEventLoop,
                 new_parser: Callable[[], Any]) -> None:
        self._parser = parser
        self._new_parser = new_parser
        self.max_head_bytes = max_head_bytes
        self.max_line_bytes = min(MAX_LINE_BYTES, max_head_bytes)
        self.head_timeout_s = head_timeout_s
        self._loop = loop
        self._head_bytes = 0  # received since the current head began (with the body bytes of its last read)
        self._line_bytes: int | None = 0  # of the request line received so far; None once it is whole
        self._begun = bytearray()  # the head's bytes of earlier reads, when it began in one (to parse a read again)
        self._body: Any = None  # the payload of the last request whose head was parsed, until it is received
        self._body_size: int | None = None  # its Content-Length (None: chunked)
        self._held = b""  # a read the parser holds requests of, unparsed, while pipelined requests are queued
        self._held_last: tuple[bytes, RawRequestMessage] | None = None  # that read, and its last request parsed
        self._refused = False
        # Armed by a read that leaves a head unfinished (most heads come whole in one read, and cost no timer); once
        # a request is refused, the call that answers it
        self._timer: asyncio.Handle | None = None
        self._refusal: Refused | None = None  # raised by the next feed_data, as aiohttp expects a parser error

    def feed_data(self, data: bytes) -> Any:
        if self._refused:
            return self._after_refusal()
        read = data or self._held  # b"": the parser reads on what it held
        self._held = b""
        body = self._body  # begun in an earlier read
        received = 0 if body is None else body.total_raw_bytes  # its bytes received before this read, as sent
        if body is None:
            self._count(data)
        try:
            result = self._parser.feed_data(data)
        except HttpProcessingError as error:
            if parsed := self._parsed_before_error(data, body, received, error):
                return self._refuse_after(parsed, refusal(error))
            self._stop()
            raise
        messages, upgraded, tail = result
        after = None if upgraded else self._after(read, messages, received)
        if after:  # unless the parser paused after that request (pipelined requests queued), holding the rest
            try:
                held = self._parser.feed_data(b"")[0]
            except HttpProcessingError as error:
                return self._refuse_after(messages, refusal(error))
            if held:  # requests: a head after them is counted once they are parsed (as the queue drains)
                messages = [*messages, *held]
                after = 0 if held[-1][1].is_eof() else None
                self._held, self._held_last = read, (read, held[-1][0])
        # a read holding more than a head's bound (rare: only then is each head measured)
        if messages and self._head_bytes + len(read) > self.max_head_bytes and (
                (index := self._first_too_large(messages)) is not None):
            return self._refuse_after(messages[:index], Refused(http_refusals.head_too_large(self.max_head_bytes)))
        if after is not None:  # a request ended in this read: the next head begins after it
            if (answer := self._next_head(read, messages, after)) is not None:
                return answer
        elif messages:  # the last one's body continues in the next read
            message, self._body = messages[-1]
            self._body_size = None if message.chunked else content_length(message)
            self.untime()
        elif body is None:
            self._unfinished_head(data)
        return messages, upgraded, tail

    def _next_head(self, read: bytes, messages: Any, after: int) -> Any | None:
        """A request ended `after` bytes before the end of `read`, where the next head begins: counted and timed
        from there. The answer to a refusal, or None."""
        self._body, self._head_bytes, self._line_bytes = None, 0, 0
        self.untime()
        try:
            self._count(read, len(read) - after)
        except Refused as refused:
            return self._refuse_after(messages, refused)
        if self._head_bytes > self.max_head_bytes:
            return self._refuse_after(messages, Refused(http_refusals.head_too_large(self.max_head_bytes)))
        if after:
            self._timer = self._loop.call_later(self.head_timeout_s, self._time_out)
            self._begun[:] = read[len(read) - after:]
        return None

    def _unfinished_head(self, data: bytes) -> None:
        """A read that ends inside a head: bounded, timed from the head's first byte, kept to parse again."""
        if self._head_bytes > self.max_head_bytes:
            self._refuse(http_refusals.head_too_large(self.max_head_bytes))
        if self._timer is None and data:
            self._timer = self._loop.call_later(self.head_timeout_s, self._time_out)
        if self._head_bytes == len(data):  # it began in this read
            self._begun[:] = data
        else:
            self._begun += data

    def _parsed_before_error(self, data: bytes, body: Any, received: int, error: HttpProcessingError) -> list[Any]:
        """The requests whole in `data` before the one the parser failed on, which aiohttp's parser drops with its
        error. `data`, after the bytes of a head begun in earlier reads, is parsed again by a new parser, fed up to
        each empty line after the last Content-Length body (where a head ends), so that no call holds a whole head
        and the failure both. Not from a read that ends a chunked or compressed body (the failed parser's alone know
        its end), and only if the new parser fails as that one did, which a wrong start would hardly: else none, and
        the failing request is refused alone, as aiohttp does."""
        if body is None:
            if self._head_bytes != len(data):  # a head begun in an earlier read
                if len(self._begun) + len(data) != self._head_bytes:
                    return []
                data = bytes(self._begun) + data
            start = 0
        elif self._body_size is None or body.total_compressed_bytes is not None or not body.is_eof():
            return []  # a compressed body's end may be held in the parser, its decompression paused
        else:
            start = self._body_size - received
        parser, parsed, body_bytes = self._new_parser(), [], 0
        try:
            for _ in range(REPARSED_PIECES):
                if start == len(data):
                    break
                found = data.find(HEAD_END, start + body_bytes)
                end = len(data) if found < 0 else found + len(HEAD_END)
                messages = parser.feed_data(data[start:end])[0]
                parsed += messages
                body_bytes = 0 if not messages or (message := messages[-1][0]).chunked else content_length(message)
                start = end
        except HttpProcessingError as again:
            if failure(again) == failure(error):
                return list(itertools.takewhile(lambda parsed_message: parsed_message[1].is_eof(), parsed))
        return []

    def _after_refusal(self) -> Any:
        """Once a request is refused: the refusal raised once (as aiohttp expects a parser error), then nothing."""
        if (refused := self._refusal) is not None:
            self._refusal = None
            raise refused
        return NOTHING_PARSED

    def _first_too_large(self, messages: Any) -> int | None:
        return next((index for index, (message, _) in enumerate(messages)
                     if head_bytes(message) > self.max_head_bytes), None)

    def _after(self, data: bytes, messages: Any, received: int) -> int | None:
        """The bytes of `data` after the last request that ended in it, or None if none did."""
        if messages:
            message, payload = messages[-1]
            if not payload.is_eof():
                return None
            return http_refusals.after_request(data, 0 if message.chunked else content_length(message))
        if self._body is None:
            return self._after_held(data)
        if not self._body.is_eof():
            return None
        if self._body_size is None:
            return http_refusals.after_request(data)
        return http_refusals.after_request(data, self._body_size - received, head_in_read=False)

    def _after_held(self, data: bytes) -> int | None:
        """For a read the parser held requests of (pipelined requests queued), parsed on without another request:
        the bytes after the last one, a head's. None for any other read."""
        held, self._held_last = self._held_last, None
        if held is None or held[0] is not data:
            return None
        message = held[1]
        return http_refusals.after_request(data, 0 if message.chunked else content_length(message))

    def _count(self, data: bytes, start: int = 0) -> None:
        """Counts data[start:], bytes of the head being received, against the head's and its request line's bounds."""
        self._head_bytes += len(data) - start
        if self._line_bytes is not None:
            end = data.find(b"\n", start)
            self._line_bytes += (len(data) if end < 0 else end) - start
            if self._line_bytes > self.max_line_bytes:
                self._refuse(http_refusals.uri_too_long(self.max_line_bytes, measured="request line",
                                                        or_else="or POST the parameters as a form"))
            if end >= 0:
                self._line_bytes = None

    def _time_out(self) -> None:
        protocol = self._parser.protocol  # the connection's RequestHandler
        if protocol._buffer_paused:  # this server stopped reading (pipelined requests queued): not the client's delay
            self._timer = self._loop.call_later(self.head_timeout_s, self._time_out)
            return
        self._timer = None
        self._stop()
        self._refusal = Refused(http_refusals.head_timed_out(self.head_timeout_s))
        protocol.data_received(b"")  # answered as a parser error is, after any request before it

    def untime(self) -> None:
        if self._timer is not None:  # as a head begun in an earlier read is timed: once it ended, its bytes go too
            self._timer.cancel()
            self._timer = None
            self._begun = bytearray()

    def _stop(self) -> None:
        self._refused = True
        self.untime()

    def _refuse(self, refusal: Refusal) -> NoReturn:
        self._stop()
        raise Refused(refusal)

    def _refuse_after(self, messages: Any, refused: Refused) -> Any:
        """The requests before a refused one, answered before the refusal (the next feed_data raises it)."""
        if not messages:
            self._stop()
            raise refused
        self._stop()
        self._refusal = refused
        self._timer = self._loop.call_soon(self._parser.protocol.data_received, b"")
        return messages, False, b""

    def __getattr__(self, name: str) -> Any:  # the parser's other methods, as they are
        return getattr(self._parser, name)


def failure(error: HttpProcessingError) -> tuple[type, str]:
    """What a parser error says went wrong, without the failing line it quotes (from where that parser call's
    bytes begin)."""
    return type(error), str(error).split(":\n\n", 1)[0]


def content_length(message: RawRequestMessage) -> int:
    return int(message.headers.get(hdrs.CONTENT_LENGTH) or 0)


def head_bytes(message: RawRequestMessage) -> int:
    """The bytes of a parsed request head: method, URL, version and headers, with their separators."""
    return (len(message.method) + len(message.path) + len(" HTTP/1.1\r\n\r\n") + 1
            + sum(len(name) + len(value) + len(": \r\n") for name, value in message.raw_headers))


class IngestRequestHandler(web.RequestHandler):
    """aiohttp's protocol, answering the requests its parser refuses in the ingest's error shape."""

    def __init__(self, manager: web.Server, *, max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
                 head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S, **kwargs: Any) -> None:
        # one header may take the whole head's bound, as for the Control API (aiohttp's: 8,190 bytes, 128 headers)
        super().__init__(manager, max_field_size=max_head_bytes, max_headers=MAX_HEADER_FIELDS, **kwargs)

        def new_parser() -> Any:  # as aiohttp's RequestHandler makes its own
            return HttpRequestParser(
                self, self._loop, self._read_bufsize, max_line_size=kwargs.get("max_line_size", MAX_LINE_BYTES),
                max_field_size=max_head_bytes, max_headers=MAX_HEADER_FIELDS, payload_exception=RequestPayloadError,
                auto_decompress=kwargs.get("auto_decompress", True))

        self._head_reader = HeadReader(self._parser, max_head_bytes, head_timeout_s, self._loop, new_parser)
        self._parser = self._head_reader  # type: ignore[assignment]  # aiohttp's, bounded
        self._refusal: web.StreamResponse | None = None
        factory = self._request_factory
        assert factory is not None

        def request(message: Any, *args: Any) -> web.BaseRequest:
            return factory(REFUSED_REQUEST if message is ERROR else message, *args)

        self._request_factory = request

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_reader.untime()
        super().connection_lost(exc)

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):  # a handler's failure: the error middleware answers those
            return super().handle_error(request, status, exc, message)
        refused = refusal(exc)
        if (held := _REFUSALS_LOG.due(time.monotonic())) is not None:  # a scan of the port would flood the log
            log.warning("ingest refused a request from %s: %d %s%s", request.remote, refused.status.value,
                        refused.error_code, f" ({held} more refused since the last such line)" if held else "")
        metrics.REQUESTS.labels("other", str(refused.status.value)).inc()
        body = {"error": {"code": refused.error_code, "message": refused.message}}
        response = self._refusal = web.json_response(body, status=refused.status.value)
        response.force_close()
        return response

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        finished = await super().finish_response(request, resp, start_time)
        if resp is self._refusal and (transport := self.transport) is not None:
            # aiohttp would close the connection now; with the refused request's rest unread, that sends a TCP
            # reset, which can destroy the answer before the client reads it. Instead the answer ends the writing
            # side, the rest is read and dropped (HeadReader), and the connection closes when the client's does
            # or after LINGER_S (nginx's lingering close).
            self.transport = None  # not closed by aiohttp, which closes the transport it holds
            if transport.can_write_eof():
                transport.write_eof()
            self._loop.call_later(LINGER_S, transport.close)
        return finished


class IngestServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return IngestRequestHandler(self, loop=self._loop, **self._kwargs)


class IngestRunner(web.AppRunner):
    """web.AppRunner serving the app with IngestRequestHandler; pass max_head_bytes=CALLAPI_MAX_REQUEST_HEAD_BYTES
    and head_timeout_s=CALLAPI_REQUEST_HEAD_TIMEOUT_S (they reach the handler as aiohttp passes a runner's other
    keywords)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # the app started and frozen, and aiohttp's Server made for it
        server.__class__ = IngestServer  # the same server, making the ingest's protocol for each connection
        return server

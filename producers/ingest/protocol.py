"""The HTTP/1.1 protocol the ingest is served with: aiohttp's, answering a request its parser refuses in the
ingest's error shape.

aiohttp refuses a request it cannot parse (a raw non-ASCII byte in the URL, a line over 8,190 bytes, more than 128
headers, a malformed request line) before any handler or middleware runs, with a plain-text 400 that echoes the
first ~100 bytes sent. Here such a request answers `{"error": {"code", "message"}}` without the client's bytes:
414 `uri_too_long` for a request line over the bound, 431 `request_header_fields_too_large` for a header or headers
too large or too many, 400 `request_invalid` otherwise (the Control API's codes, control/api/http_protocol.py).
Serve the app with IngestRunner instead of web.AppRunner.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, InvalidURLError, LineTooLong

from producers.ingest import metrics

log = logging.getLogger(__name__)

TOO_MANY_HEADERS = "Too many headers received"  # aiohttp's BadHttpMessage past max_headers
MAX_LINE_BYTES = 8190  # of a request line: aiohttp's max_line_size, which bounds the URL alone


class Refused(HttpProcessingError):
    """A request head refused with `status`, `code` and a message that quotes nothing the client sent."""

    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(code=status.value, message=message)
        self.status, self.error_code = status, code


def refusal(error: HttpProcessingError) -> Refused:
    """What answers a parser error (HeadReader refuses a request line too long itself: a LineTooLong is a header's)."""
    if isinstance(error, Refused):
        return error
    if isinstance(error, LineTooLong):
        return Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request_header_fields_too_large",
                       f"a header field is over {error.args[1]} bytes, the longest this endpoint reads; send it "
                       "shorter")
    if error.message == TOO_MANY_HEADERS:
        return Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request_header_fields_too_large",
                       "the request has more header fields than this endpoint reads; send fewer")
    if isinstance(error, InvalidURLError):
        return Refused(HTTPStatus.BAD_REQUEST, "request_invalid",
                       "the URL is not valid HTTP/1.1: percent-encode each byte of a parameter that is not printable "
                       "ASCII (a space, an accented letter: %20, %FC)")
    return Refused(HTTPStatus.BAD_REQUEST, "request_invalid",
                   "the request is not valid HTTP/1.1 (request line or headers); check what the client sends")


class HeadReader:
    """aiohttp's request parser, behind a watch on each request head: a request line over MAX_LINE_BYTES is refused
    414 here (aiohttp's own LineTooLong does not tell a URL from a header)."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser
        self._line_bytes: int | None = 0  # of the request line received so far; None once it is whole
        self._body: Any = None  # the payload of the last request whose head was parsed, until it is received

    def feed_data(self, data: bytes) -> Any:
        if self._body is not None:
            if not self._body.is_eof():
                return self._parser.feed_data(data)  # a body: nothing to watch
            self._body, self._line_bytes = None, 0  # a new head begins
        if self._line_bytes is not None:
            end = data.find(b"\n")
            self._line_bytes += len(data) if end < 0 else end
            if self._line_bytes > MAX_LINE_BYTES:
                raise Refused(HTTPStatus.REQUEST_URI_TOO_LONG, "uri_too_long",
                              f"the request line is over {MAX_LINE_BYTES} bytes, the longest this endpoint reads: no "
                              "path or query of the ingest needs that many; shorten it (or POST the parameters as a "
                              "form)")
            if end >= 0:
                self._line_bytes = None
        result = self._parser.feed_data(data)
        if messages := result[0]:
            self._body = messages[-1][1]
        return result

    def __getattr__(self, name: str) -> Any:  # the parser's other methods, as they are
        return getattr(self._parser, name)


class IngestRequestHandler(web.RequestHandler):
    """aiohttp's protocol, answering the requests its parser refuses in the ingest's error shape."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parser = HeadReader(self._parser)  # type: ignore[assignment]  # aiohttp's parser, behind a watch

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):  # a handler's failure: the error middleware answers those
            return super().handle_error(request, status, exc, message)
        refused = refusal(exc)
        log.warning("ingest refused a request from %s: %d %s", request.remote, refused.status.value,
                    refused.error_code)
        metrics.REQUESTS.labels("other", str(refused.status.value)).inc()
        body = {"error": {"code": refused.error_code, "message": refused.message}}
        response = web.json_response(body, status=refused.status.value)
        response.force_close()
        return response


class IngestServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return IngestRequestHandler(self, loop=self._loop, **self._kwargs)


class IngestRunner(web.AppRunner):
    """web.AppRunner serving the app with IngestRequestHandler."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # the app started and frozen, and aiohttp's Server made for it
        server.__class__ = IngestServer  # the same server, making the ingest's protocol for each connection
        return server

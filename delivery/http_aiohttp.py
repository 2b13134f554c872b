"""The aiohttp implementation of the workers' HTTP client (CALLAPI_HTTP_CLIENT=aiohttp).

Pure asyncio, mature, several times plain httpx's rate on the same form POST (bench/http_clients.py). Its
resolver is replaceable, which is where the URL guard checks the addresses that will really be connected to
(DNS rebinding). Redirects are never followed; connections are kept alive.

A reply head is read as hyper reads it for the pyreqwest client, so that a reply has one outcome with either
client (README, "The HTTP client"): the whole head is bounded (MAX_HEAD_BYTES, MAX_HEADER_FIELDS) rather than
each line; a body whose framing breaks leaves its head's status; a Content-Length given twice alike, or beside
Transfer-Encoding, is read as hyper reads it; and what hyper refuses and aiohttp's lenient parser lets through (an
HTTP version other than 1.x, a status under 100, a control character, whitespace before the first header field)
is refused. It looks at the head only: ~2-3 µs per request (timeit, beside ~50 µs for the request). It subclasses
aiohttp's connection protocol (ResponseHandler, through TCPConnector._factory), internals of the pinned aiohttp
that tests/delivery/test_http.py exercises.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from functools import lru_cache, partial
from itertools import islice
from typing import Any, cast

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.helpers import set_exception
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.resolver import DefaultResolver
from yarl import URL

from delivery.errors import ConnectionFailed, DestinationRefused, InvalidReply, RequestTimeout, TransportError
from delivery.http import (
    HEAD_CUT_OFF,
    HEAD_INVALID,
    HEAD_TIMED_OUT,
    HEAD_TOO_LARGE,
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEADER_FIELDS,
    READ_CHUNK_BYTES,
    HttpResponse,
)
from delivery.pinning import Check, Resolve
from delivery.request import OutgoingRequest
from schemas.urlguard import UnsafeUrl, check_addresses

log = logging.getLogger(__name__)


class GuardedResolver(AbstractResolver):
    """Resolves like the system does, then refuses forbidden addresses before any connection is made."""

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None,
                 check: Check = check_addresses) -> None:
        self._allow_private = allow_private
        self._inner = inner or DefaultResolver()
        self._check = check

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            self._check(host, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        await self._inner.close()


class FunctionResolver(AbstractResolver):
    """Resolves with a `Resolve` function (delivery.pinning), as the pinned pyreqwest clients do."""

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, proto=0, flags=socket.AI_NUMERICHOST,
                          family=socket.AF_INET6 if ":" in address else socket.AF_INET)
            for address in await self._resolve(host)
        ]

    async def close(self) -> None:
        return None


@lru_cache(maxsize=4096)
def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_literal_host(url: URL, *, allow_private: bool) -> None:
    """Addresses written in the URL skip the resolver, so they are checked here."""
    host = url.host or ""
    if not allow_private and _is_ip_literal(host):
        check_addresses(host, [host])


_CONTROLS = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])  # hyper refuses them in a head
_HTTP_1, _HTTP_0_9 = (aiohttp.HttpVersion11, aiohttp.HttpVersion10), aiohttp.HttpVersion(0, 9)
_TOO_MANY_FIELDS = "Too many headers received"  # aiohttp's words past max_headers
_FRAMING = re.compile(rb"^(?:(content-length)|transfer-encoding)[ \t]*:([^\r\n]*)\r?\n", re.IGNORECASE | re.MULTILINE)


def _head_end(data: bytes) -> int:
    """Where the head in `data` ends, after its blank line (CRLF or a bare LF, as both parsers take it), or -1."""
    crlf, lf = data.find(b"\n\r\n"), data.find(b"\n\n")
    if lf < 0:
        return crlf + 3 if crlf >= 0 else -1
    return lf + 2 if crlf < 0 or lf < crlf else crlf + 3


def _refused_by_hyper(head: bytes, *, starts: bool) -> str | None:
    """What in (a part of) a head hyper's parser refuses and llhttp's lenient one takes; `starts`: the head's
    first bytes, whose first line ends in this part."""
    if len(head.translate(None, _CONTROLS)) != len(head):
        return "a control character in the head"
    line_end = head.find(b"\n") if starts else -1
    if line_end >= 0 and head[line_end + 1:line_end + 2] in (b" ", b"\t"):
        return "whitespace before the first header field"  # llhttp takes it for a folded line (RFC 9112 2.2)
    return None


def _one_length(head: bytes) -> bytes:
    """The head with the Content-Length hyper reads in it where llhttp would refuse the head: the same value twice
    or as a list is that value (RFC 9110 8.6), and Transfer-Encoding overrides it (RFC 9112 6.3)."""
    lowered = head.lower()
    first = lowered.find(b"\ncontent-length")
    if first < 0 or (lowered.find(b"\ncontent-length", first + 1) < 0 and b"\ntransfer-encoding" not in lowered
                     and b"," not in lowered[first:lowered.find(b"\n", first + 1)]):
        return head  # the usual head: at most one Content-Length, alone
    fields = list(_FRAMING.finditer(head))
    lengths = [field for field in fields if field[1] is not None]
    if len(lengths) < len(fields):
        kept = b""
    else:
        values = {value.strip() for field in lengths for value in field[2].split(b",")}
        if len(values) != 1:
            return head  # different lengths: refused, by both
        kept = b"Content-Length: " + values.pop() + b"\r\n"
    at = lengths[0].start()
    return head[:at] + kept + _FRAMING.sub(lambda field: b"" if field[1] else field[0], head[at:])


class _ReplyHandler(ResponseHandler):
    """aiohttp's connection protocol, reading a reply head as hyper does. aiohttp bounds each line, not the head:
    here MAX_HEAD_BYTES without the head's end fail it. The head is parsed apart from the bytes after it, so a body
    whose framing breaks leaves the status (aiohttp's parser drops a head that comes in the same read as such a
    body); the body's reader gets the error at once, and the connection is closed. A head is checked for what
    hyper refuses, part by part as it comes; one that comes whole in a read (nearly all) has its Content-Length
    read as hyper reads it, too."""

    _head_bytes: int | None = None
    """Bytes of the awaited reply head read so far; None when no head is awaited (it came, or no request)."""
    _head_tail = b""
    """Its last two bytes: its blank line may straddle two reads."""

    def set_response_params(self, **params: Any) -> None:
        self._head_bytes, self._head_tail = 0, b""
        super().set_response_params(**params)

    def data_received(self, data: bytes) -> None:
        while (read := self._head_bytes) is not None and data:
            end = _head_end(self._head_tail + data) - len(self._head_tail) if self._head_tail else _head_end(data)
            head, data = (data[:end], data[end:]) if end > 0 else (data, b"")
            if end < 0 and read + len(head) >= MAX_HEAD_BYTES:  # hyper's check, on a partial head
                self._refuse(HEAD_TOO_LARGE)
                return
            if refusal := _refused_by_hyper(head, starts=read == 0):
                self._refuse(refusal)
                return
            queued = len(self._buffer)
            super().data_received(_one_length(head) if read == 0 and end > 0 else head)
            if self.exception() is not None:  # the parser refused the head
                return
            if end < 0:
                self._head_bytes, self._head_tail = read + len(head), (self._head_tail + head)[-2:]
            elif any(not 100 <= message.code < 200 or message.code == 101
                     for (message, _), _ in islice(self._buffer, queued, None)):
                self._head_bytes = None  # the final head came (not a 1xx one): what follows is its body
            else:
                self._head_bytes, self._head_tail = 0, b""  # an interim head: the next one is counted anew
        if data:
            super().data_received(data)
            if self.exception() is not None and self._payload is not None:  # the body broke: its reader says so
                set_exception(self._payload, aiohttp.ClientPayloadError("the reply body is not valid HTTP"))

    def _refuse(self, reason: str) -> None:
        self._head_bytes = None
        if self.transport is not None:
            self.transport.close()
        self.set_exception(HttpProcessingError(message=reason))


class _Connector(aiohttp.TCPConnector):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factory = cast("partial[ResponseHandler]", partial(_ReplyHandler, loop=self._loop))


class AiohttpClient:
    """One per worker: a pooled aiohttp session with the URL guard in its resolver."""

    def __init__(
        self, *, connect_timeout_s: float, request_timeout_s: float, allow_private_urls: bool, max_connections: int,
        resolver: AbstractResolver | None = None, check: Check = check_addresses,
    ) -> None:
        self._allow_private = allow_private_urls
        self._resolver = resolver  # None: the system's
        self._check = check
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s, sock_connect=connect_timeout_s)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = _Connector(
            limit=self._max_connections, limit_per_host=0, ttl_dns_cache=10,
            resolver=GuardedResolver(allow_private=self._allow_private, inner=self._resolver, check=self._check),
        )
        return aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar(),
            # A line may take the whole head; the head's own bound (_ReplyHandler) is checked first, and a head
            # ending in the read that passes it stands, as with hyper: a line is at most that plus one read.
            max_line_size=2 * MAX_HEAD_BYTES, max_field_size=2 * MAX_HEAD_BYTES, max_headers=MAX_HEADER_FIELDS,
        )

    async def send(self, request: OutgoingRequest) -> HttpResponse:
        if self._session is None:
            self._session = self._open()
        url = URL(request.url, encoded=True)  # already encoded: the signed query must go out byte for byte
        try:
            check_literal_host(url, allow_private=self._allow_private)
            async with self._session.request(
                request.method, url, data=request.body or None, headers=request.headers, allow_redirects=False,
            ) as response:
                version = response.version or _HTTP_0_9  # never None once the head came
                if version not in _HTTP_1 or response.status < 100:  # hyper's parser refuses either
                    response.close()
                    raise InvalidReply(f"{HEAD_INVALID}: HTTP/{version.major}.{version.minor} {response.status}")
                await _drain(response)
                return HttpResponse(response.status, _retry_after(response))
        except UnsafeUrl as error:
            raise DestinationRefused(str(error)) from None
        except TransportError:  # a resolver's own (delivery.pinning.system_addresses: dns_error)
            raise
        except Exception as error:
            raise transport_error(error) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read the body so the connection can be reused; past MAX_BODY_BYTES drop the connection. Drop it too when
    the body breaks off (closed early, or stalled past the request timeout): the status came, and decides."""
    read = 0
    try:
        while chunk := await response.content.read(READ_CHUNK_BYTES):
            read += len(chunk)
            if read > MAX_BODY_BYTES:
                response.close()
                return
    except (TimeoutError, aiohttp.ClientError) as error:
        log.debug("the body of a %d reply broke off (%s); the connection is dropped", response.status,
                  str(error) or type(error).__name__)
        response.close()


def _retry_after(response: aiohttp.ClientResponse) -> str | None:
    """Retry-After, or None when it is not ASCII (pyreqwest's get_header refuses such a value)."""
    value = response.headers.get("Retry-After")
    return value if value is None or value.isascii() else None


def transport_error(error: BaseException) -> TransportError:
    """Map a client exception to the error class recorded in the delivery log."""
    detail = str(error) or type(error).__name__
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return RequestTimeout(detail, error_class="connect_timeout")
    if isinstance(error, asyncio.TimeoutError):  # a body's timeout is _drain's: this one is the head's
        return RequestTimeout(HEAD_TIMED_OUT if detail == type(error).__name__ else f"{HEAD_TIMED_OUT} ({detail})")
    if isinstance(error, aiohttp.ServerDisconnectedError):  # its message may be the half-parsed head's repr
        return ConnectionFailed(HEAD_CUT_OFF, error_class="connection_error")
    if isinstance(error, aiohttp.ClientResponseError):  # the head's parser failed; its "400" is no reply's status
        message = _one_line(error.message)
        return InvalidReply(f"{HEAD_INVALID}: {HEAD_TOO_LARGE if message == _TOO_MANY_FIELDS else message}")
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return ConnectionFailed(detail, error_class="dns_error")
    if isinstance(error, aiohttp.ClientConnectorError):
        return ConnectionFailed(detail)
    if isinstance(error, aiohttp.InvalidURL):
        return DestinationRefused(detail, error_class="invalid_url")
    if isinstance(error, aiohttp.ClientError | OSError):
        return ConnectionFailed(detail, error_class="connection_error")
    if isinstance(error, Exception):
        return TransportError(detail, error_class=type(error).__name__)
    raise error


def _one_line(message: str) -> str:
    """aiohttp's parser errors span lines (the offending bytes, a caret under them): one line for the log."""
    return " ".join(part for line in message.splitlines() if (part := line.strip()) and part != "^")

"""The aiohttp implementation of the workers' HTTP client (CALLAPI_HTTP_CLIENT=aiohttp).

Pure asyncio, mature, several times plain httpx's rate on the same form POST (bench/http_clients.py). Its
resolver is replaceable, which is where the URL guard checks the addresses that will really be connected to
(DNS rebinding). Redirects are never followed; connections are kept alive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from functools import lru_cache

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from delivery.errors import ConnectionFailed, DestinationRefused, InvalidReply, RequestTimeout, TransportError
from delivery.http import HEAD_CUT_OFF, HEAD_INVALID, HEAD_TIMED_OUT, MAX_BODY_BYTES, READ_CHUNK_BYTES, HttpResponse
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
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, ttl_dns_cache=10,
            resolver=GuardedResolver(allow_private=self._allow_private, inner=self._resolver, check=self._check),
        )
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar())

    async def send(self, request: OutgoingRequest) -> HttpResponse:
        if self._session is None:
            self._session = self._open()
        url = URL(request.url, encoded=True)  # already encoded: the signed query must go out byte for byte
        try:
            check_literal_host(url, allow_private=self._allow_private)
            async with self._session.request(
                request.method, url, data=request.body or None, headers=request.headers, allow_redirects=False,
            ) as response:
                await _drain(response)
                return HttpResponse(response.status, response.headers.get("Retry-After"))
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
        return InvalidReply(f"{HEAD_INVALID}: {_one_line(error.message)}")
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

"""The pyreqwest implementation of the workers' HTTP client: the default (CALLAPI_HTTP_CLIENT=pyreqwest).

Why: a worker is bound by its event loop's one core, and pyreqwest (Rust reqwest/hyper) does its I/O on a tokio
thread. bench/http_clients.py (form POST, 64 in flight, uvloop, nginx answering 204, 2 cores;
bench/results/http_clients.json): this client costs the event loop's thread 13.9 µs of CPU per request against
50.8 µs for the aiohttp one (33.4 against 50.8 µs for the whole process), and runs at 35,700 requests/s against
19,900.

Caveats:
- reqwest has no resolver hook, so the URL guard works through delivery/pinning.py: the worker resolves each
  host itself, checks every address, and builds a client pinned to the first one (`ClientBuilder.resolve`),
  renewed after 10 s (a lookup is bounded by the connect timeout, as reqwest's own). Only that one address is
  tried per request (a connect failure moves the next request to the next address). Building a client costs
  about 3.6 ms of CPU (it loads the system's root certificates), done on an executor thread, and about 115 kB;
  at most CALLAPI_MAX_DESTINATIONS (1024) are kept. A new host
  takes the slot of a client idle for a minute; while none is, its requests go through the aiohttp client
  (delivery/http_aiohttp.py, the guard in its resolver), which costs nothing to set up per host.
- reqwest parses the URL (WHATWG): `.` and `..` path segments (also as `%2e`) are resolved before sending,
  where aiohttp sends them as written. The query, which the GET signature covers, goes out byte for byte
  (delivery/request.py escapes `'`, the one character WHATWG would escape in a query).
- pyreqwest reports a total timeout as ConnectTimeoutError, and a reset of an established connection as
  ConnectError; the causes it attaches tell them apart from real connect failures.
- With private URLs allowed, one shared client resolves names itself (per new connection, no cache).
- hyper's reply head parser is fixed but for line folding (allowed here): at most 408 KiB (MAX_HEAD_BYTES) and
  100 header fields, strict on versions and control characters. The aiohttp client reads heads as it does.
- The reply body is streamed from its first byte (`streamed_read_buffer_limit(0)`), so that a body breaking off
  after the head still leaves the status; that costs the event loop 2-3 µs more per request than letting
  pyreqwest read the first 64 KiB before handing over the head (same benchmark, measured side by side).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from pyreqwest import exceptions
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.http import Url
from pyreqwest.response import Response

from delivery.errors import ConnectionFailed, DestinationRefused, InvalidReply, RequestTimeout, TransportError
from delivery.http import (
    HEAD_CUT_OFF,
    HEAD_INVALID,
    HEAD_TIMED_OUT,
    HEAD_TOO_LARGE,
    MAX_BODY_BYTES,
    READ_CHUNK_BYTES,
    HttpResponse,
)
from delivery.http_aiohttp import AiohttpClient, FunctionResolver
from delivery.pinning import Check, PinnedClients, Resolve, system_addresses
from delivery.request import OutgoingRequest
from schemas.urlguard import UnsafeUrl, check_addresses

log = logging.getLogger(__name__)
_ORIGIN = re.compile(r"[^:/?#]*://[^/?#]*")
_CONNECTING = frozenset({"client error (Connect)", "tcp connect error"})
_CONNECT_FAILURES = frozenset({"connect_error", "connect_timeout"})
_CLOSED_MID_HEAD = "connection closed before message completed"  # hyper's, with or without part of a head
_TOO_LARGE = "message head is too large"  # hyper's, past its read buffer or 100 header fields


@dataclass(frozen=True)
class Destination:
    host: str
    """As reqwest connects to it: the IDNA-encoded, lower-case name, or the address (IPv6 without brackets)."""
    literal: bool


@lru_cache(maxsize=4096)
def _destination_of_origin(origin: str) -> Destination:
    url = Url(origin)  # the same parser reqwest uses: `http://2130706433/` is 127.0.0.1 here too
    if url.domain is not None:
        return Destination(url.domain, literal=False)
    if not url.host_str:
        raise ValueError("the URL has no host")
    return Destination(url.host_str.strip("[]"), literal=True)


def destination(url: str) -> Destination:
    match = _ORIGIN.match(url)
    return _destination_of_origin(match.group() if match else url)


class PyreqwestClient:
    """One per worker: pooled reqwest clients, pinned to checked addresses unless private URLs are allowed."""

    def __init__(
        self, *, connect_timeout_s: float, request_timeout_s: float, allow_private_urls: bool, max_connections: int,
        max_destinations: int = 1024, dns_ttl_s: float = 10.0, resolve: Resolve = system_addresses,
        check: Check = check_addresses,
    ) -> None:
        self._connect_timeout = timedelta(seconds=connect_timeout_s)
        self._request_timeout = timedelta(seconds=request_timeout_s)
        self._max_connections = max_connections
        self.max_destinations = max_destinations
        self._allow_private = allow_private_urls
        self._check = check
        self._shared: Client | None = None  # all hosts when private URLs are allowed; else IP literals only
        self._pinned = PinnedClients[Client](
            build=self._build_pinned, ttl_s=dns_ttl_s, max_clients=max_destinations, resolve=resolve, check=check,
            resolve_timeout_s=connect_timeout_s,
        )
        self._overflow = AiohttpClient(  # hosts past max_destinations while every pinned client is busy
            connect_timeout_s=connect_timeout_s, request_timeout_s=request_timeout_s, allow_private_urls=False,
            max_connections=max_connections, resolver=FunctionResolver(resolve), check=check,
        )

    def _builder(self) -> ClientBuilder:
        return (
            ClientBuilder().connect_timeout(self._connect_timeout).timeout(self._request_timeout)
            .max_connections(self._max_connections).follow_redirects(False).referer(False).no_proxy()
            .gzip(False).brotli(False).zstd(False).deflate(False)
            .http1_allow_obsolete_multiline_headers_in_responses(True)  # as aiohttp: a folded line is still a head
        )

    def _build_pinned(self, host: str, address: str) -> Client:
        return self._builder().resolve(host, address, 0).build()  # the port comes from the URL

    async def _client_for(self, target: Destination) -> Client | None:
        """The reqwest client to send with; None: send through the overflow client."""
        if not self._allow_private and not target.literal:
            return await self._pinned.get(target.host)
        if not self._allow_private:
            self._check(target.host, [target.host])
        if self._shared is None:
            self._shared = self._builder().build()
        return self._shared

    async def send(self, request: OutgoingRequest) -> HttpResponse:
        client: Client | None = None
        try:
            target = destination(request.url)
            client = await self._client_for(target)
            if client is None:
                return await self._overflow.send(request)
            return await _exchange(client, request)
        except UnsafeUrl as error:
            raise DestinationRefused(str(error)) from None
        except TransportError:
            raise
        except Exception as error:
            failure = transport_error(error)
            if client is not None and client is not self._shared and failure.error_class in _CONNECT_FAILURES:
                self._pinned.connect_failed(target.host, client)
            raise failure from None

    async def close(self) -> None:
        clients = self._pinned.clients() + ([self._shared] if self._shared is not None else [])
        self._pinned.clear()
        self._shared = None
        for client in clients:
            await client.close()
        await self._overflow.close()


async def _exchange(client: Client, request: OutgoingRequest) -> HttpResponse:
    # Nothing of the body is read before the head is handed over (by default up to 64 KiB are): a body that
    # breaks off then fails a read of ours, after the status came, not the request itself.
    builder = client.request(request.method, request.url).headers(request.headers).streamed_read_buffer_limit(0)
    if request.body:
        builder = builder.body_bytes(request.body)
    async with builder.build_streamed() as response:
        reply = HttpResponse(response.status, _retry_after(response))
        await _drain(response)
        return reply


def _retry_after(response: Response) -> str | None:
    """The Retry-After header, or None when it is not text (a reply that came back is never an error)."""
    try:
        return response.get_header("Retry-After")
    except ValueError:
        return None


async def _drain(response: Response) -> None:
    """Read the body so the connection can be reused; past MAX_BODY_BYTES leave it unread: it is dropped. So is
    a body that breaks off (closed early, or stalled past the request timeout): the status came, and decides."""
    read = 0
    reader = response.body_reader
    try:
        while (chunk := await reader.read(READ_CHUNK_BYTES)) is not None:
            read += len(chunk)
            if read > MAX_BODY_BYTES:
                return
    except exceptions.RequestError as error:
        log.debug("the body of a %d reply broke off (%s); the connection is dropped", response.status, error)


def _causes(error: Exception) -> list[str]:
    details = getattr(error, "details", None) or {}
    return [cause["message"] for cause in details.get("causes") or []]


def transport_error(error: Exception) -> TransportError:
    """Map a pyreqwest exception to the error class recorded in the delivery log (as delivery/http_aiohttp.py)."""
    causes = _causes(error)
    detail = causes[-1] if causes else getattr(error, "message", None) or str(error) or type(error).__name__
    if isinstance(error, exceptions.RequestTimeoutError):  # the total timeout too is a ConnectTimeoutError
        if _CONNECTING.intersection(causes):
            return RequestTimeout(f"no connection within the connect timeout ({detail})", error_class="connect_timeout")
        return RequestTimeout(f"{HEAD_TIMED_OUT} ({detail})")  # a body's timeout is _drain's: this is the head's
    if isinstance(error, exceptions.ConnectError):  # also a reset after connecting: only its causes tell
        if "dns error" in causes:
            return ConnectionFailed(detail, error_class="dns_error")
        if _CLOSED_MID_HEAD in causes:
            return ConnectionFailed(HEAD_CUT_OFF, error_class="connection_error")
        return ConnectionFailed(detail, error_class=None if _CONNECTING.intersection(causes) else "connection_error")
    if isinstance(error, exceptions.DecodeError):  # before the head came (a body's is _drain's): hyper's parser
        return InvalidReply(f"{HEAD_INVALID}: {HEAD_TOO_LARGE if detail == _TOO_LARGE else detail}")
    if isinstance(error, ValueError):  # BuilderError, and the URL parser's own errors
        return DestinationRefused(detail, error_class="invalid_url")
    if isinstance(error, exceptions.PyreqwestError | OSError):
        return ConnectionFailed(detail, error_class="connection_error")
    return TransportError(detail, error_class=type(error).__name__)

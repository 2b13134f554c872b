"""The one HTTP client interface of the workers, and the factory that picks its implementation.

Two implementations, selected by the `http_client` setting (CALLAPI_HTTP_CLIENT):

- `pyreqwest` (default, delivery/http_reqwest.py): Rust reqwest/hyper; its I/O runs on its own thread, so the
  worker's event loop spends about a quarter of the CPU per request that aiohttp costs it.
- `aiohttp` (delivery/http_aiohttp.py): pure asyncio, a replaceable resolver.

Both behave the same towards the delivery log: a reply is an `HttpResponse` whatever its status (redirects are
never followed) once its head came, even if its body then breaks off (the connection closes early, or stalls past
the request timeout: the status decides, and the connection is dropped); no reply head is one of the
delivery/errors.py transport errors with the same `error_class`:
`connect_timeout`, `timeout`, `connect_error`, `dns_error`, `connection_error`, `invalid_reply`, `unsafe_url`,
`invalid_url`. A reply head that has begun counts by how it ends: stalled past the request timeout `timeout`,
cut off by the receiver closing the connection `connection_error`, not parseable as HTTP or past
MAX_HEAD_BYTES or MAX_HEADER_FIELDS `invalid_reply` (the details below say which, the same words from both
clients). Where their parsers differ, the aiohttp client reads a head as hyper does (delivery/http_aiohttp.py).
Both check the address actually connected to against the URL guard (DNS rebinding), keep connections alive,
read a reply body up to MAX_BODY_BYTES and drop the connection past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from delivery.request import OutgoingRequest
from schemas.settings import Settings

MAX_BODY_BYTES = 65_536
"""Reply bodies are read (to keep the connection reusable) up to this size, then the connection is dropped."""
READ_CHUNK_BYTES = 16_384

HEAD_TIMED_OUT = "no complete reply head within the request timeout"
HEAD_CUT_OFF = "the connection closed before the reply head was complete"
HEAD_INVALID = "the reply head is not valid HTTP"
HEAD_TOO_LARGE = "over 408 KiB or 100 header fields"  # hyper's "message head is too large" means either

MAX_HEAD_BYTES = 417_792
"""A reply head (status line and header fields) is refused once this much of it has come without its end: the
read buffer of hyper (8 KiB + 100 x 4 KiB), which pyreqwest does not let us set, kept by the aiohttp client too.
A head whose end comes in the same read as the bytes that pass the bound stands, with either client."""
MAX_HEADER_FIELDS = 100
"""hyper's, fixed too: a reply head with more header fields is refused."""


@dataclass(slots=True)  # not frozen: that sets each field through object.__setattr__, per job
class HttpResponse:
    status_code: int
    retry_after: str | None = None


class HttpClient(Protocol):
    async def send(self, request: OutgoingRequest) -> HttpResponse:
        """Send once; raise TransportError when no status came back."""
        ...

    async def close(self) -> None: ...


def new_client(settings: Settings) -> HttpClient:
    """The worker's client, as `settings.http_client` says; one per process, closed on the way out."""
    if settings.http_client == "aiohttp":
        from delivery.http_aiohttp import AiohttpClient

        return AiohttpClient(
            connect_timeout_s=settings.connect_timeout_s, request_timeout_s=settings.request_timeout_s,
            allow_private_urls=settings.allow_private_urls, max_connections=settings.max_in_flight,
        )
    from delivery.http_reqwest import PyreqwestClient

    return PyreqwestClient(
        connect_timeout_s=settings.connect_timeout_s, request_timeout_s=settings.request_timeout_s,
        allow_private_urls=settings.allow_private_urls, max_connections=settings.max_in_flight,
        max_destinations=settings.max_destinations,
    )

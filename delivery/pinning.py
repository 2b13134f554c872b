"""One client per host name, pinned to an address that passed the URL guard (DNS rebinding, at connect time).

For a client library without a resolver hook: the host is resolved here, every address is checked, and the
client is built to connect to the first one only, so what it connects to is what was checked. The pin lasts
`ttl_s`; then the name is resolved again. The client (and its kept-alive connections) stays while its address is
still among the answers; otherwise a new client replaces it. A replaced or evicted client is not closed: it is
dropped, and requests already running on it finish (the library keeps its pool alive until they do).

At most `max_clients` are kept. A new host takes the slot of the least recently used client once that one has
been idle for `idle_s`; while every client is busier than that, `get` answers None and the caller sends through
a client that needs no pinning (the worker: aiohttp, with the guard in its resolver). Evicting warm clients
instead would rebuild clients all along (each ~4 ms of CPU, and a new connection). Overflows are logged, at most
once a minute, so that the bound can be raised.

One address only: the other A/AAAA records are no failover within a request. A connect failure marks the pin,
and the next request re-resolves and moves on to the next address, so retries do reach another address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from delivery.errors import ConnectionFailed, RequestTimeout
from schemas.occasional_log import Occasionally
from schemas.urlguard import check_addresses

log = logging.getLogger(__name__)
C = TypeVar("C")
OVERFLOW_WARNING_S = 60.0
Resolve = Callable[[str], Awaitable[list[str]]]
Check = Callable[[str, Iterable[str]], None]
"""Raise (schemas.urlguard.UnsafeUrl) when a host's addresses must not be reached."""


async def system_addresses(host: str) -> list[str]:
    """The host's addresses as the system resolves them, in its order, without repeats."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ConnectionFailed(f"cannot resolve {host!r}: {error.strerror}", error_class="dns_error") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def choose_address(addresses: list[str], *, pinned: str | None, failed: bool) -> str:
    """Keep the pinned address while it is still an answer and connects; after a connect failure, the next one."""
    if pinned in addresses:
        at = addresses.index(pinned)
        return addresses[(at + 1) % len(addresses)] if failed else pinned
    return addresses[0]


@dataclass
class Pin(Generic[C]):
    client: C
    address: str
    expires_s: float
    used_s: float
    failed: bool = False


class PinnedClients(Generic[C]):
    """Clients by host name (LRU, at most `max_clients`), each connecting only to its checked address."""

    def __init__(
        self, *, build: Callable[[str, str], C], ttl_s: float = 10.0, max_clients: int = 1024, idle_s: float = 60.0,
        resolve: Resolve = system_addresses, check: Check = check_addresses,
        monotonic_s: Callable[[], float] = time.monotonic, resolve_timeout_s: float | None = None,
    ) -> None:
        self._build = build
        self._resolve_timeout_s = resolve_timeout_s  # the connect timeout: a lookup is part of connecting
        self._ttl_s = ttl_s
        self._max_clients = max_clients
        self._idle_s = idle_s
        self._resolve = resolve
        self._check = check
        self._monotonic_s = monotonic_s
        self._pins: OrderedDict[str, Pin[C]] = OrderedDict()
        self._renewing: dict[str, asyncio.Future[Pin[C]]] = {}
        self._overflow_log = Occasionally(OVERFLOW_WARNING_S)

    def __len__(self) -> int:
        return len(self._pins)

    async def get(self, host: str) -> C | None:
        """The client for `host`, or None while no slot is free for a new host; raises UnsafeUrl or
        ConnectionFailed (`dns_error`)."""
        now_s = self._monotonic_s()
        pin = self._pins.get(host)
        if pin is not None:
            pin.used_s = now_s
            self._pins.move_to_end(host)
            if not pin.failed and pin.expires_s > now_s:
                return pin.client
        elif host not in self._renewing and not self._room(now_s):
            self._overflow(now_s)
            return None
        renewing = self._renewing.get(host)
        if renewing is None:  # one resolution per host at a time; the others wait for it
            renewing = self._renewing[host] = asyncio.ensure_future(self._renew(host, pin))
            renewing.add_done_callback(lambda done: self._renewed(host, done))
        return (await asyncio.shield(renewing)).client

    def connect_failed(self, host: str, client: C) -> None:
        """`client` could not connect to its address: resolve again before the next request."""
        pin = self._pins.get(host)
        if pin is not None and pin.client is client:
            pin.failed = True

    def _room(self, now_s: float) -> bool:
        """A slot is free, or the least recently used client has been idle long enough to give its slot up."""
        arriving = sum(1 for host in self._renewing if host not in self._pins)  # few renew at once: iterate those
        if len(self._pins) + arriving < self._max_clients:
            return True
        oldest = next(iter(self._pins.values()), None)
        return oldest is not None and now_s - oldest.used_s >= self._idle_s

    def _overflow(self, now_s: float) -> None:
        if (held := self._overflow_log.due(now_s)) is not None:
            log.warning(
                "%d request(s) to destination hosts without a pinned client since the last warning went through "
                "aiohttp: more hosts are in use than CALLAPI_MAX_DESTINATIONS (%d); raise it (~150 kB per host) "
                "to send them through pyreqwest", held + 1, self._max_clients,
            )

    def clients(self) -> list[C]:
        return [pin.client for pin in self._pins.values()]

    def clear(self) -> None:
        self._pins.clear()

    async def _renew(self, host: str, pin: Pin[C] | None) -> Pin[C]:
        try:
            addresses = await self._lookup(host)
            self._check(host, addresses)
        except Exception:
            self._pins.pop(host, None)
            raise
        expires_s = self._monotonic_s() + self._ttl_s
        address = choose_address(addresses, pinned=pin.address if pin is not None else None,
                                 failed=pin is not None and pin.failed)
        if pin is not None and pin.address == address:
            pin.expires_s, pin.failed = expires_s, False  # same address: keep the client and its connections
            return pin
        client = await asyncio.get_running_loop().run_in_executor(None, self._build, host, address)
        renewed = self._pins[host] = Pin(client, address, expires_s, used_s=self._monotonic_s())
        self._pins.move_to_end(host)
        while len(self._pins) > self._max_clients:
            self._pins.popitem(last=False)  # the idle one whose slot this host took
        return renewed

    async def _lookup(self, host: str) -> list[str]:
        try:
            async with asyncio.timeout(self._resolve_timeout_s):
                return await self._resolve(host)
        except TimeoutError:
            raise RequestTimeout(f"no DNS answer for {host!r} within the connect timeout",
                                 error_class="connect_timeout") from None

    def _renewed(self, host: str, done: asyncio.Future[Pin[C]]) -> None:
        del self._renewing[host]
        if not done.cancelled():
            done.exception()  # seen by every waiter; read here so a renewal nobody awaits any more is not reported

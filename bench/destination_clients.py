"""The workers' two HTTP clients as bench/destinations.py builds them: every `*.bench.test` name resolves to
127.0.0.1 (no DNS needed) and passes the URL guard; any other name fails as an unknown one would.

PyreqwestClient takes `resolve=` and `check=`, AiohttpClient `resolver=` and `check=`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable

from aiohttp.abc import ResolveResult
from pyreqwest.client import Client

from delivery.errors import ConnectionFailed
from delivery.http_aiohttp import AiohttpClient, FunctionResolver
from delivery.http_reqwest import PyreqwestClient
from schemas.settings import Settings
from schemas.urlguard import check_addresses

DOMAIN = ".bench.test"
ADDRESS = "127.0.0.1"


def host_name(index: int) -> str:
    return f"d{index}{DOMAIN}"


async def resolve(host: str) -> list[str]:
    if not host.endswith(DOMAIN):
        raise ConnectionFailed(f"cannot resolve {host!r}: not a benchmark name", error_class="dns_error")
    return [ADDRESS]


def check(host: str, addresses: Iterable[str]) -> None:
    """The URL guard, except that a benchmark name may reach the local nginx."""
    addresses = list(addresses)
    if not (host.endswith(DOMAIN) and addresses == [ADDRESS]):
        check_addresses(host, addresses)


class BenchResolver(FunctionResolver):
    def __init__(self) -> None:
        super().__init__(resolve)
        self.resolved = 0

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.resolved += 1
        return await super().resolve(host, port, family)


class BenchAiohttpClient(AiohttpClient):
    def __init__(self, settings: Settings) -> None:
        self._names = BenchResolver()
        super().__init__(connect_timeout_s=settings.connect_timeout_s, request_timeout_s=settings.request_timeout_s,
                         allow_private_urls=False, max_connections=settings.max_in_flight, resolver=self._names,
                         check=check)

    @property
    def setups(self) -> int:
        """Names resolved: a host's first connection, and again after the 10 s DNS cache."""
        return self._names.resolved


class CountingPyreqwestClient(PyreqwestClient):
    _built = 0
    _counting = threading.Lock()  # builds run on executor threads

    @property
    def setups(self) -> int:
        """reqwest clients built: one per host the LRU did not hold (or whose pinned address changed)."""
        return self._built

    def _build_pinned(self, host: str, address: str) -> Client:
        with self._counting:
            self._built += 1
        return super()._build_pinned(host, address)


def bench_client(settings: Settings, name: str, *,
                 max_destinations: int) -> BenchAiohttpClient | CountingPyreqwestClient:
    """The client `name` as delivery.http.new_client builds it, with the benchmark's resolver and guard."""
    if name == "aiohttp":
        return BenchAiohttpClient(settings)
    return CountingPyreqwestClient(
        connect_timeout_s=settings.connect_timeout_s, request_timeout_s=settings.request_timeout_s,
        allow_private_urls=False, max_connections=settings.max_in_flight, max_destinations=max_destinations,
        resolve=resolve, check=check,
    )

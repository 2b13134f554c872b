"""Per-destination concurrency: at most `max_per_host` requests at once, and a queue behind them that a
stalled destination cannot grow without bound.

A destination is stalled when it completed nothing for `stall_s`. A job for a stalled destination is not
kept waiting (it would hold one of the worker's in-flight slots for a host that is not keeping up): when
the queue is already long, or when the job waited `stall_s` without the destination finishing anything,
the caller sends it to the retry path instead. A busy destination that keeps answering is never stalled.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from delivery.errors import HostStalled


@lru_cache(maxsize=4096)
def destination_key(url: str) -> str:
    """scheme://host:port: what one circuit and one concurrency cap stand for."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass
class _Host:
    progress_s: float
    """When a request to it last completed (or when it was first seen)."""
    active: int = 0
    users: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)


class HostLimiter:
    """Slots are handed over first come, first served, so one partition's jobs go out in offset order."""

    def __init__(self, *, max_per_host: int, max_waiting_per_host: int, stall_s: float,
                 monotonic_s: Callable[[], float]) -> None:
        self._max_per_host = max_per_host
        self._max_waiting = max_waiting_per_host
        self._stall_s = stall_s
        self._now_s = monotonic_s
        self._hosts: dict[str, _Host] = {}

    def saturated(self, key: str) -> bool:
        """The queue is full and the destination is not making progress: do not queue another job."""
        host = self._hosts.get(key)
        return (host is not None and host.users >= self._max_per_host + self._max_waiting
                and self._now_s() - host.progress_s >= self._stall_s)

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of the destination's slots; raises HostStalled instead of waiting on a stalled one."""
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(self._now_s())
        host.users += 1
        try:
            await self._acquire(host)
            try:
                yield
            finally:
                host.progress_s = self._now_s()
                self._release(host)
        finally:
            host.users -= 1
            if not host.users:
                del self._hosts[key]

    async def _acquire(self, host: _Host) -> None:
        if host.active < self._max_per_host and not host.waiters:
            host.active += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        host.waiters.append(turn)
        try:
            while True:
                waited_from_s = self._now_s()
                done, _ = await asyncio.wait({turn}, timeout=self._stall_s)  # keeps its place in the queue
                if done:
                    return
                if host.progress_s <= waited_from_s:
                    raise HostStalled(f"no request completed in {self._stall_s:g} s")
        except BaseException:
            if turn.done():
                self._release(host)  # the slot was handed over as we left: pass it on
            else:
                turn.cancel()
                host.waiters.remove(turn)
            raise

    def _release(self, host: _Host) -> None:
        """Hand the slot to the first waiter still waiting, or free it."""
        while host.waiters:
            turn = host.waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        host.active -= 1

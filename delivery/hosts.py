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


@dataclass(slots=True)
class _Turn:
    future: asyncio.Future[None]
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Host:
    progress_s: float
    """When a request to it last completed (or when it was first seen)."""
    active: int = 0
    users: int = 0
    waiters: deque[_Turn] = field(default_factory=deque)


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

    async def acquire(self, key: str) -> None:
        """Take one of the destination's slots (give it back with `release`); raises HostStalled instead of
        waiting on a stalled one. A free slot is taken without suspending: this is the hot path."""
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(self._now_s())
        host.users += 1
        if host.active < self._max_per_host and not host.waiters:
            host.active += 1
            return
        try:
            await self._wait_for_turn(host)
        except BaseException:
            self._leave(key, host)
            raise

    def release(self, key: str) -> None:
        """Give back a slot taken by `acquire` (the request completed, whatever its outcome)."""
        host = self._hosts[key]
        host.progress_s = self._now_s()
        self._release(host)
        self._leave(key, host)

    def _leave(self, key: str, host: _Host) -> None:
        host.users -= 1
        if not host.users:
            del self._hosts[key]

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """`acquire` … `release` as a context manager."""
        await self.acquire(key)
        try:
            yield
        finally:
            self.release(key)

    async def _wait_for_turn(self, host: _Host) -> None:
        loop = asyncio.get_running_loop()
        turn = _Turn(loop.create_future())
        host.waiters.append(turn)  # keeps its place in the queue while the stall check re-arms
        turn.timer = loop.call_later(self._stall_s, self._check_stalled, host, turn, self._now_s())
        try:
            await turn.future
        except BaseException:
            future = turn.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self._release(host)  # the slot was handed over as we left: pass it on
            elif turn in host.waiters:
                host.waiters.remove(turn)
            raise
        finally:
            if turn.timer is not None:
                turn.timer.cancel()

    def _check_stalled(self, host: _Host, turn: _Turn, waited_from_s: float) -> None:
        """A waiter's `stall_s` passed: refuse it if nothing completed meanwhile, else wait another round."""
        if turn.future.done():
            return
        if host.progress_s <= waited_from_s:
            turn.future.set_exception(HostStalled(f"no request completed in {self._stall_s:g} s"))
            return
        loop = asyncio.get_running_loop()
        turn.timer = loop.call_later(self._stall_s, self._check_stalled, host, turn, self._now_s())

    def _release(self, host: _Host) -> None:
        """Hand the slot to the first waiter still waiting, or free it."""
        while host.waiters:
            turn = host.waiters.popleft()
            if not turn.future.done():
                turn.future.set_result(None)
                return
        host.active -= 1

"""The per-destination limiter with real asyncio tasks and a clock the test moves by hand."""

from __future__ import annotations

import asyncio

import pytest

from delivery.errors import HostStalled
from delivery.hosts import HostLimiter


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


async def test_cap_holds_and_a_busy_host_that_progresses_keeps_its_queue() -> None:
    clock = Clock()
    hosts = HostLimiter(max_per_host=2, max_waiting_per_host=1, stall_s=0.05, monotonic_s=clock)
    running, peak = 0, 0

    async def job() -> None:
        nonlocal running, peak
        async with hosts.slot("h"):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            clock.now_s += 0.01
            running -= 1

    await asyncio.gather(*(job() for _ in range(10)))
    assert peak == 2


async def test_a_stalled_host_refuses_queued_jobs_and_new_ones() -> None:
    clock = Clock()
    hosts = HostLimiter(max_per_host=1, max_waiting_per_host=1, stall_s=0.05, monotonic_s=clock)
    release = asyncio.Event()

    async def hung() -> None:
        async with hosts.slot("h"):
            await release.wait()

    holder = asyncio.create_task(hung())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_enter(hosts, "h"))
    await asyncio.sleep(0)
    clock.now_s = 1.0  # nothing completed since
    assert hosts.saturated("h")
    assert not hosts.saturated("other")
    with pytest.raises(HostStalled):
        await waiter
    release.set()
    await holder
    assert not hosts.saturated("h")


async def _enter(hosts: HostLimiter, key: str) -> None:
    async with hosts.slot(key):
        pass

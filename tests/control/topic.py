"""Reading `event-requests` in tests: the published lists of one extension, in topic order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from control.relay import run_relay
from schemas.requests import EventRequest, ExtensionRequests
from schemas.settings import Settings
from tests.kafka import read_topic


async def published_lists(settings: Settings, extension: str, *, until: Callable[[list[EventRequest]], bool],
                          timeout_s: float = 30.0) -> list[list[EventRequest]]:
    """Every list published for `extension`, read until one satisfies `until` (or the timeout)."""
    lists: list[list[EventRequest]] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        records = await read_topic(settings, settings.topics.event_requests, idle_s=0.5, timeout_s=10)
        lists = [ExtensionRequests.validate_json(r.value or b"[]")  # in time order: partitions are read one by one
                 for r in sorted(records, key=lambda r: r.timestamp) if r.key == extension.encode()]
        if lists and until(lists[-1]):
            return lists
        await asyncio.sleep(0.2)
    return lists


@contextlib.asynccontextmanager
async def relay_running(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_relay(settings, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

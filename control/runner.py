"""Run a long-lived async component until SIGTERM/SIGINT, with /healthz, /readyz and /metrics beside it."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

from schemas.ops import serve_ops

Component = Callable[[asyncio.Event, Callable[[], None]], Awaitable[None]]
READY_WINDOW_S = 30.0


async def run_with_ops(component: Component, *, host: str, port: int) -> None:
    """`component(stop, on_round)` runs until `stop`; it is ready while it completed a round recently."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    last_round = [float("-inf")]

    def on_round() -> None:
        last_round[0] = time.monotonic()

    async def ready() -> bool:
        return time.monotonic() - last_round[0] < READY_WINDOW_S

    runner = await serve_ops(host, port, ready=ready)
    try:
        await component(stop, on_round)
    finally:
        await runner.cleanup()

"""SIGTERM stops a one-shot command as Ctrl-C does, for the commands that say what they did when stopped."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def sigterm_as_ctrl_c(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` (the main coroutine of asyncio.run), cancelled by SIGTERM (`timeout`, a stopped Kubernetes Job)
    as asyncio.run cancels it on Ctrl-C, so its cleanup runs and the command can say what it did; asyncio.run then
    raises CancelledError instead of KeyboardInterrupt. Python's default would end the process mid-work, silently."""
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    return await work

"""Waiting in tests for something that happens in another process or thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], *, timeout_s: float = 30.0, every_s: float = 0.1) -> T:
    """Call `probe` until it returns something truthy (returned), or its last falsy value at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)

"""Long topic commands shown as they go: one transient progress line that names the step and fills with its work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import Progress

T = TypeVar("T")
Step = Callable[[str], None]
"""step(what is being done now)"""
Done = Callable[[int, int], None]
"""done(items done, items in all)"""


def run_in_steps(notices: Console, work: Callable[[Step, Done], Coroutine[Any, Any, T]]) -> T:
    """Run `work(step, done)` with a progress line on `notices`, gone once it ends."""
    with Progress(console=notices, transient=True) as progress:
        task = progress.add_task("reading the topics", total=None)
        return asyncio.run(work(
            lambda text: progress.update(task, description=text, completed=0, total=None),
            lambda done, total: progress.update(task, completed=done, total=total),
        ))

"""The demo's worker processes: `python -m callapi_events …` with the demo's settings, logs to files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import defaultdict
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from producers.errors import DemoFailed
from schemas.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """An environment in which a child process reads exactly these settings."""
    return settings.environment(os.environ)



class Child:
    """One component; its own session, so Ctrl-C reaches the demo only, which then stops it in order."""

    def __init__(self, name: str, *args: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "callapi_events", *self.args, env=self.env, stdout=log,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
            )

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    async def run_to_end(self, timeout_s: float) -> int:
        await self.start()
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout_s)

    async def stop(self, timeout_s: float = 20.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def wait_ready(client: httpx.AsyncClient, child: Child, url: str, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if child.exited:
            raise DemoFailed(f"{child.name} exited early; see {child.log_path}")
        with contextlib.suppress(httpx.TransportError):
            if (await client.get(f"{url}/readyz", timeout=2)).status_code == 200:
                return
        await asyncio.sleep(0.25)
    raise DemoFailed(f"{child.name} was not ready after {timeout_s:.0f} s; see {child.log_path}")


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, dict[str, float]]:
    """{metric sample name: {label value or "": value}} from a /metrics endpoint; empty when unreachable."""
    try:
        text = (await client.get(f"{url}/metrics", timeout=2)).text
    except httpx.TransportError:
        return {}
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = ",".join(str(v) for v in sample.labels.values())
            values[sample.name][label] = sample.value
    return values

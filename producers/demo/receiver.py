"""The demo's receiver: a small real HTTP server that counts notifications and measures their latency.

Latency is the time from the event's occurrence (known from the seeded generator) to its notification's
arrival. A small, deterministic share of first attempts is answered 503, so the demo shows retries.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web


@dataclass(frozen=True)
class Sample:
    at_s: float
    """seconds since the traffic started"""
    latency_s: float


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fails_first_attempt(webhook_id: str, one_in: int) -> bool:
    """Deterministic: the same notification always fails (or not) on its first attempt."""
    if one_in <= 0 or not webhook_id:
        return False
    return int.from_bytes(hashlib.sha256(webhook_id.encode()).digest()[:4], "big") % one_in == 0


@dataclass
class DemoReceiver:
    occurred_at: dict[tuple[str, str], datetime]
    """(path, CallID) → when the event happened"""
    fail_one_in: int = 20
    received: int = 0
    accepted: int = 0
    refused: int = 0
    samples: list[Sample] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _started: float = field(default_factory=time.monotonic)
    _runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        return f"http://{host}:{self._runner.addresses[0][1]}"

    def restart_clock(self) -> None:
        """Sample times count from now (the start of the traffic)."""
        self._started = time.monotonic()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.received += 1
        if request.method == "GET":
            params = dict(request.query)
        else:
            params = {name: str(value) for name, value in (await request.post()).items()}
        webhook_id = request.headers.get("webhook-id", "")
        first = webhook_id not in self._seen
        self._seen.add(webhook_id)
        if first and fails_first_attempt(webhook_id, self.fail_one_in):
            self.refused += 1
            return web.Response(status=503)
        self.accepted += 1
        occurred = self.occurred_at.get((request.path, params.get("CallID", "")))
        if occurred is not None:
            latency_s = time.time() - occurred.timestamp()
            self.samples.append(Sample(time.monotonic() - self._started, latency_s))
        return web.Response(status=204)

    def latency_percentile(self, q: float) -> float | None:
        return percentile([s.latency_s for s in self.samples], q)

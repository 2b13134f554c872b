"""The ingest endpoint served for real in the test's process (its own pool and producer), and what its tests send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from producers.ingest.app import IngestContext, create_app
from producers.ingest.auth import GrantCache, TenantAuth
from producers.ingest.gate import KafkaGate
from producers.ingest.protocol import IngestRunner
from producers.sdk import CallEventProducer
from schemas.settings import Settings

NINE = {"CallID": "1795773600.42", "CallerIDNum": "+61299990000", "CallerIDName": "ACME Pty",
        "CalledDID": "+61280001234", "CalledExtension": "", "CallStatus": "CALLING", "CallFlow": "IN",
        "CallerExtension": "", "CalledNumber": "+61280001234"}


@contextlib.asynccontextmanager
async def serving(settings: Settings, *, cache_s: float = 30.0, **options: Any) -> AsyncIterator[str]:
    """The ingest app on 127.0.0.1:<free port>, with its own pool and producer; yields its base URL. `options`: more
    keywords of its IngestRunner (aiohttp's keepalive_timeout...)."""
    pool = AsyncConnectionPool(settings.database_url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True})
    await pool.open()
    gate = KafkaGate(producer=CallEventProducer(settings=settings), retry_s=0.5,
                     ready_cache_s=settings.ingest_ready_cache_s, ready_timeout_s=settings.ingest_ready_timeout_s)
    gate.open()
    ctx = IngestContext(settings=settings, gate=gate, auth=TenantAuth(pool=pool, cache=GrantCache(cache_s)))
    runner = IngestRunner(create_app(ctx), access_log=None, max_head_bytes=settings.max_request_head_bytes,
                          head_timeout_s=settings.request_head_timeout_s, **options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await gate.close()
        await pool.close()


async def until_ready(client: httpx.AsyncClient, url: str) -> None:
    """Waits for /readyz to say 200 (the producer connects in the background); fails after 10 s."""
    for _ in range(100):
        if (await client.get(f"{url}/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url}/readyz did not answer 200 within 10 s")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

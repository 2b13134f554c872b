"""Run the ingest endpoint: open PostgreSQL and Kafka, serve HTTP, stop cleanly on SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from psycopg_pool import AsyncConnectionPool

from producers.ingest.app import IngestContext, create_app
from producers.ingest.auth import GrantCache, TenantAuth
from producers.ingest.gate import KafkaGate
from producers.ingest.protocol import IngestRunner
from producers.sdk import CallEventProducer
from schemas.ops import start_sites
from schemas.settings import Settings

log = logging.getLogger(__name__)

# nginx's keepalive_timeout: a PBX's pooled connection outlives a pause between calls, while an idle or silent one
# is not held for aiohttp's default of an hour
KEEPALIVE_S = 75.0


def drain_s(settings: Settings) -> float:
    """How long SIGTERM lets in-flight requests end: each waits at most ingest_send_timeout_s for Kafka."""
    return settings.ingest_send_timeout_s + 5


class CannotListen(Exception):
    """The address to serve on cannot be bound (a port another process holds, an address not of this host)."""


async def serve(settings: Settings, *, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; in-flight requests finish before Kafka is flushed and closed.

    Raises CannotListen, before connecting to PostgreSQL or Kafka, when host:port cannot be bound."""
    pool = AsyncConnectionPool(
        settings.database_url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}, name="ingest-auth",
    )
    gate = KafkaGate(
        producer=CallEventProducer(settings=settings, client_id="callapi-ingest"),
        ready_cache_s=settings.ingest_ready_cache_s, ready_timeout_s=settings.ingest_ready_timeout_s,
    )
    ctx = IngestContext(
        settings=settings, gate=gate, auth=TenantAuth(pool=pool, cache=GrantCache(settings.ingest_auth_cache_s))
    )
    runner = IngestRunner(create_app(ctx), access_log=None, shutdown_timeout=drain_s(settings),
                          max_head_bytes=settings.max_request_head_bytes,
                          head_timeout_s=settings.request_head_timeout_s, keepalive_timeout=KEEPALIVE_S)
    await pool.open(wait=False)
    await runner.setup()
    try:
        await start_sites(runner, host, port)
    except OSError as error:  # bound before Kafka is connected: no producer is left half-started
        await runner.cleanup()
        await pool.close()
        reason = os.strerror(error.errno) if error.errno else str(error)  # not the loop's "error while attempting…"
        raise CannotListen(f"cannot listen on {host}:{port} ({reason})") from None
    gate.open()
    try:
        bound = runner.addresses[0]
        log.info("ingest listening on http://%s:%d (topic %s)", bound[0], bound[1], settings.topics.call_events)
        await _until_signalled()
        log.info("stopping: finishing in-flight requests, then flushing Kafka")
    finally:
        await runner.cleanup()
        await gate.close()
        await pool.close()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

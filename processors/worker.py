"""`callapi-events processor`: the Faust worker with its operations endpoint, until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
import mode
import uvloop
from aiohttp import web

from processors.app import SinkService, build
from processors.topology import co_partitioned_count, seed_group_offsets
from schemas.consoles import kafka_connection_errors_dropped
from schemas.ops import ReadyCheck, bound_port, serve_ops
from schemas.settings import Settings

log = logging.getLogger(__name__)


class OpsService(mode.Service):
    """/healthz, /readyz and /metrics, started before the app and stopped after it."""

    def __init__(self, *, host: str, port: int, ready: ReadyCheck, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._host = host
        self._port = port
        self._ready = ready
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        self._runner = await serve_ops(self._host, self._port, ready=self._ready)
        log.info("operations endpoint on http://%s:%d (/healthz /readyz /metrics)",
                 self._host, bound_port(self._runner))

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def readiness(app: faust.App) -> ReadyCheck:
    """Ready when the worker holds a settled assignment whose table partitions are recovered."""

    async def ready() -> bool:
        if not app.started or app.rebalancing or app.in_recovery:
            return False
        return bool(cast(Any, app.tables).recovery.completed.is_set())

    return ready


def run(settings: Settings, *, host: str, port: int) -> None:
    """Check the topics, then run the worker until SIGTERM/SIGINT (graceful: finish, commit, leave)."""
    # uvloop, also for the loop of Faust's Kafka consumer thread (taken from the policy): the processor is
    # CPU-bound, and on uvloop it drained ~19 % more events/s at ~14 % less CPU per event (20 alternating runs;
    # the README's processor section has the trade-off measured on a shared 2-core machine).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with kafka_connection_errors_dropped():  # `processor` says it, naming CALLAPI_KAFKA_BOOTSTRAP
        partitions = loop.run_until_complete(co_partitioned_count(settings))
    loop.run_until_complete(seed_group_offsets(settings, partitions))
    sinks = SinkService(bootstrap=settings.kafka_bootstrap, linger_ms=settings.producer_linger_ms)
    app, _ = build(settings, partitions=partitions, sinks=sinks)
    ops = OpsService(host=host, port=port, ready=readiness(app))
    log.info("processor %s: %d partitions, consuming %s and %s",
             app.conf.id, partitions, settings.topics.call_events, settings.topics.event_requests)
    worker = faust.Worker(app, sinks, ops, loop=loop, override_logging=False, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()

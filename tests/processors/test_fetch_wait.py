"""The consumers of both stages let the broker hold a fetch only for `fetch_max_wait_ms` (schemas.settings says
why); Faust's own consumer would hold it for 1,500 ms. What the wait does to latency is measured in bench/."""

from __future__ import annotations

from typing import Any, cast

from delivery.worker import new_consumer
from processors.app import SinkService, build
from schemas.settings import Settings


async def test_the_processor_consumer_is_built_with_the_configured_fetch_wait() -> None:
    settings = Settings(fetch_max_wait_ms=37)
    app, _ = build(settings, partitions=3, sinks=SinkService(bootstrap=settings.kafka_bootstrap, linger_ms=0))
    thread = cast(Any, app.consumer)._thread
    consumer = thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == 37


async def test_the_delivery_consumer_is_built_with_the_configured_fetch_wait() -> None:
    assert new_consumer(Settings(fetch_max_wait_ms=37))._fetch_max_wait_ms == 37

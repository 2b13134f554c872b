"""Consumer lag of the pipeline's consumer groups, exported as `callapi_consumer_lag{group,topic}`.

One small exporter watches every consumer group whose id starts with the topic prefix (the processor, the
delivery workers, the delivery-log sink), from the committed offsets on the brokers: the number still
counts when a component is down, which is when a lag alert matters most. KEDA scales on the same number.

    callapi-events lag-exporter --host :: --port 9105     (or: python -m deploy.lag_cli)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Counter, Gauge

from schemas.consoles import kafka_connection_errors_dropped
from schemas.ops import serve_ops
from schemas.settings import Settings

log = logging.getLogger(__name__)

LAG = Gauge("callapi_consumer_lag", "Records not yet consumed (end offset - committed offset), per group and topic",
            ["group", "topic"])
ERRORS = Counter("callapi_consumer_lag_errors_total", "Lag collections that failed and will be retried")
Offsets = Mapping[TopicPartition, int]


def lag_by_topic(*, end: Offsets, committed: Offsets, beginning: Offsets) -> dict[str, int]:
    """Lag per topic over the partitions in `end`; a partition without a commit counts from its beginning.

    A committed offset past the end (a truncated or recreated topic) counts as no lag, not negative lag.
    """
    totals: dict[str, int] = {}
    for partition, end_offset in end.items():
        start = committed.get(partition, beginning.get(partition, 0))
        totals[partition.topic] = totals.get(partition.topic, 0) + max(0, end_offset - start)
    return totals


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    lag: int


class LagCollector:
    """Reads committed and end offsets; `start()` before, `close()` after."""

    def __init__(self, *, bootstrap: str, group_prefix: str) -> None:
        self.group_prefix = group_prefix
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        try:
            await self._admin.start()
            await self._offsets.start()
        except BaseException:
            await self.close()  # the clients hold connections even when the broker could not be reached
            raise

    async def close(self) -> None:
        await self._offsets.stop()
        await self._admin.close()

    async def groups(self) -> list[str]:
        listed = await self._admin.list_consumer_groups()
        return sorted(str(group[0]) for group in listed if str(group[0]).startswith(self.group_prefix))

    async def collect(self) -> list[GroupLag]:
        result = []
        for group in await self.groups():
            committed = {tp: meta.offset for tp, meta in (await self._admin.list_consumer_group_offsets(group)).items()
                         if meta.offset >= 0}
            partitions = await self._partitions({tp.topic for tp in committed})
            end = await self._offsets.end_offsets(partitions)
            beginning = await self._offsets.beginning_offsets(partitions)
            lags = lag_by_topic(end=end, committed=committed, beginning=beginning)
            result += [GroupLag(group, topic, lag) for topic, lag in sorted(lags.items())]
        return result

    async def _partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        names = sorted(topics)
        if not names:
            return []
        described = await self._admin.describe_topics(names)
        return [TopicPartition(item["topic"], p["partition"]) for item in described if not item.get("error_code")
                for p in item["partitions"]]


def publish(lags: list[GroupLag]) -> None:
    """Replace the exported series: groups and topics that disappeared stop being reported."""
    LAG.clear()
    for item in lags:
        LAG.labels(group=item.group, topic=item.topic).set(item.lag)


async def run_exporter(settings: Settings, *, host: str, port: int, interval_s: float) -> None:
    """Collect every `interval_s` and serve /metrics until SIGTERM or SIGINT."""
    collector = LagCollector(bootstrap=settings.kafka_bootstrap, group_prefix=settings.topic_prefix)
    collected = asyncio.Event()

    async def ready() -> bool:
        return collected.is_set()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with kafka_connection_errors_dropped():  # `lag-exporter` says it, naming CALLAPI_KAFKA_BOOTSTRAP
        await collector.start()
    runner = await serve_ops(host, port, ready=ready)
    log.info("lag exporter on %s:%d, groups starting with %r", host, port, settings.topic_prefix)
    try:
        while not stop.is_set():
            try:
                publish(await collector.collect())
                collected.set()
            except Exception as error:  # any broker error: report it and try again next round
                ERRORS.inc()
                log.warning("lag collection failed (%r); retrying in %.0f s", error, interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    finally:
        await runner.cleanup()
        await collector.close()

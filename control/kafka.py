"""The relay's Kafka producer: idempotent, acks from every in-sync replica, records sent in order."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaProducer

from schemas.requests import EventRequest, ExtensionRequests
from schemas.settings import Settings


def make_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                            linger_ms=0, request_timeout_ms=10_000)


async def publish_lists(producer: AIOKafkaProducer, topic: str,
                        lists: Mapping[str, Sequence[EventRequest]]) -> None:
    """Send each extension's full list (key: the canonical extension) and wait until every one is acked."""
    acks = [
        await producer.send(topic, key=extension.encode(), value=ExtensionRequests.dump_json(list(items)))
        for extension, items in lists.items()
    ]
    await asyncio.gather(*acks)

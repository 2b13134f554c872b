"""The records a job owes, sent through the worker's batching publisher until Kafka acknowledged every one: only
then is the job finished and its offset committable."""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from aiokafka.errors import OutOfOrderSequenceNumber

from delivery.errors import ProducerBroken
from schemas.publisher import Headers, RecordPublisher

log = logging.getLogger(__name__)
PUBLISH_BACKOFF_S = 1.0


class Outgoing(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None


async def publish_acknowledged(publisher: RecordPublisher, records: list[Outgoing], *,
                               backoff_s: float = PUBLISH_BACKOFF_S) -> None:
    """Send and wait for every acknowledgement; send again those Kafka refused, until it takes them (the job is
    not done before). Records already acknowledged are not sent again: no second attempt in the delivery log, no
    second copy of a retry or a dead letter."""
    pending = records
    while True:
        futures = [publisher.publish(*record) for record in pending]
        refused: list[Outgoing] = []
        for record, future in zip(pending, futures, strict=True):
            try:
                await future
            except OutOfOrderSequenceNumber as error:
                raise ProducerBroken(
                    f"the Kafka producer can no longer write to {record.topic} ({error}): restart the worker; "
                    "its unfinished jobs are done again"
                ) from error
            except Exception as error:  # KafkaError and its kin: nothing is lost, the job stays unfinished
                log.warning("publishing a job's record to %s failed (%s); trying again", record.topic, error)
                refused.append(record)
        if not refused:
            return
        pending = refused
        await asyncio.sleep(backoff_s)

"""Producing to Kafka and waiting for the broker's acknowledgement: the only way jobs leave the processor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.publisher import RecordPublisher

log = logging.getLogger(__name__)

Ack = asyncio.Future[None]


class OutRecord(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


class Unacknowledged(Exception):
    """Kafka did not acknowledge a batch within the caller's bound: some of its records may be on the broker."""


class KafkaSink:
    """An idempotent, acks=all producer: `send` starts sends, `send_all` returns once Kafka acknowledged all.

    Records are handed to the producer in batches (schemas.publisher): records sent within `linger_ms` go as
    one batch per partition, which costs a fraction of aiokafka's per-record `send`.

    The idempotent producer keeps the records of one partition in the order they were sent: it has one
    request in flight per broker, puts a batch that failed with a retriable error back at the head of its
    partition's queue, and does not expire batches that were sent. A send fails only on an error that
    cannot be retried, or when a partition has had no leader for `request_timeout_ms`. Then everything from
    the first failed record on is sent again, in order, with backoff until it succeeds: the caller must not
    move on (and its offset must not be committed) while a record it owes is not on the broker.
    """

    def __init__(
        self, *, bootstrap: str, linger_ms: int = 0, retry_backoff_s: float = 0.5, max_backoff_s: float = 10.0,
        request_timeout_ms: int = 40_000,
    ) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=request_timeout_ms,
            max_batch_size=262_144,
        )
        self._publisher = RecordPublisher(self._producer, linger_s=linger_ms / 1000)
        self._retry_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s

    async def start(self) -> None:
        try:
            await self._producer.start()
        except BaseException:
            await self._producer.stop()  # it holds a client even when it could not connect
            raise

    async def stop(self) -> None:
        await self._producer.stop()

    async def stop_now(self) -> None:
        """Close without waiting for records Kafka has not acknowledged, for a caller that counted what was and gives
        up on the rest: with the broker gone, `stop` would wait for it to come back. The client's sender is cancelled
        first, as the close waits for it or for every batch (aiokafka has no public way to drop them)."""
        sender = self._producer._sender
        if sender is not None and sender.sender_task is not None:
            sender.sender_task.cancel()
        await self._producer.stop()

    def send(self, records: Sequence[OutRecord]) -> list[Ack]:
        """Hand the records to the producer, in order; one future per record, resolved by Kafka's ack."""
        return [self._publisher.publish(r.topic, r.key, r.value, r.headers) for r in records]

    async def send_all(self, records: Sequence[OutRecord], *, within_s: float | None = None) -> None:
        """Send and wait until Kafka acknowledged every record: for as long as it takes (the processor, which must
        never drop a job), or `within_s` at most, then Unacknowledged (a replay, which says what went and stops).
        With the broker gone the acknowledgements never come, nor an error: only a bound ends the wait."""
        if within_s is None:
            await self._send_until_acknowledged(records)
            return
        try:
            async with asyncio.timeout(within_s):
                await self._send_until_acknowledged(records)
        except TimeoutError:
            raise Unacknowledged(f"Kafka did not acknowledge {len(records)} record(s) within {within_s:g} s") from None

    async def _send_until_acknowledged(self, records: Sequence[OutRecord]) -> None:
        pending = list(records)
        backoff_s = self._retry_backoff_s
        while pending:
            first_failed = await settle(pending, self.send(pending))
            pending = pending[first_failed:] if first_failed is not None else []
            if pending:
                log.warning("%d record(s) to send again in %.1fs", len(pending), backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)


async def settle(records: Sequence[OutRecord], futures: Sequence[Ack]) -> int | None:
    """Wait for every future; the index of the first record Kafka did not acknowledge, or None.

    An error that is not Kafka's is a bug: it is raised.
    """
    first_failed: int | None = None
    for index, (record, future) in enumerate(zip(records, futures, strict=True)):
        try:
            await future
        except KafkaError as error:
            log.warning("Kafka refused a record for %s: %r", record.topic, error)
            first_failed = index if first_failed is None else first_failed
    return first_failed

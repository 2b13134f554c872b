"""Producing to Kafka and waiting for the broker's acknowledgement: the only way jobs leave the processor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


class OutRecord(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


class KafkaSink:
    """An idempotent, acks=all producer whose `send_all` returns only once Kafka acknowledged every record.

    A failed send is retried with backoff until it succeeds: the caller must not move on (and its offset
    must not be committed) while a record it owes is not on the broker.
    """

    def __init__(self, *, bootstrap: str, retry_backoff_s: float = 0.5, max_backoff_s: float = 10.0) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0,
        )
        self._retry_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, records: Sequence[OutRecord]) -> None:
        pending = list(records)
        backoff_s = self._retry_backoff_s
        while pending:
            pending = await self._send_once(pending)
            if pending:
                log.warning("%d record(s) not acknowledged by Kafka; retrying in %.1fs", len(pending), backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)

    async def _send_once(self, records: list[OutRecord]) -> list[OutRecord]:
        """Send all, wait for all; return the records that failed."""
        futures: list[asyncio.Future[object]] = []
        failed: list[OutRecord] = []
        for record in records:
            try:
                futures.append(await self._producer.send(
                    record.topic, value=record.value, key=record.key, headers=record.headers,
                ))
            except KafkaError as error:
                log.warning("cannot send to %s: %r", record.topic, error)
                failed.append(record)
                futures.append(_done_with(error))
        results = await asyncio.gather(*futures, return_exceptions=True)
        for record, result in zip(records, results, strict=True):
            if isinstance(result, KafkaError) and record not in failed:
                log.warning("Kafka refused a record for %s: %r", record.topic, result)
                failed.append(record)
            elif isinstance(result, BaseException) and not isinstance(result, KafkaError):
                raise result
        return failed


def _done_with(error: BaseException) -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future

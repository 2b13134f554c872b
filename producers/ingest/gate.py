"""The ingest's connection to Kafka: started in the background and retried, so the endpoint can answer
503 (instead of not starting) while Kafka is unreachable, and recovers on its own when Kafka returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from producers.errors import ProducerUnavailable
from producers.sdk import CallEventProducer

log = logging.getLogger(__name__)


class KafkaGate:
    def __init__(self, *, producer: CallEventProducer, retry_s: float = 2.0) -> None:
        self._producer = producer
        self.retry_s = retry_s
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._producer.started

    def producer(self) -> CallEventProducer:
        """The started producer, or ProducerUnavailable."""
        if not self._producer.started:
            raise ProducerUnavailable(f"not connected to Kafka at {self._producer.bootstrap} yet")
        return self._producer

    def open(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="ingest-kafka-connect")

    async def _connect(self) -> None:
        while True:
            try:
                await self._producer.start()
            except ProducerUnavailable as error:
                log.warning("%s; retrying in %.0f s", error, self.retry_s)
                await asyncio.sleep(self.retry_s)
            else:
                log.info("connected to Kafka at %s", self._producer.bootstrap)
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._producer.stop()

"""The ingest's Kafka connection retried against an unreachable broker (a real closed port): it says what to set,
once in a while, not at every attempt, and aiokafka's own connection errors stay out of the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from producers.ingest.gate import KafkaGate
from producers.sdk import CallEventProducer
from schemas.ops import free_port


class CountedProducer(CallEventProducer):
    """A real producer that counts its connection attempts."""

    attempts = 0

    async def start(self) -> None:
        self.attempts += 1
        await super().start()


async def test_connection_retries_warn_once_in_a_while_saying_what_to_set(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bootstrap = f"127.0.0.1:{free_port()}"
    producer = CountedProducer(bootstrap=bootstrap, topic="nowhere.call-events")
    gate = KafkaGate(producer=producer, retry_s=0.05)
    gate.open()
    try:
        for _ in range(600):
            if producer.attempts >= 5:
                break
            await asyncio.sleep(0.05)
    finally:
        await gate.close()
    assert producer.attempts >= 5
    warnings = [record.getMessage() for record in caplog.records
                if record.name == "producers.ingest.gate" and record.levelno >= logging.WARNING]
    assert len(warnings) < producer.attempts - 1, warnings  # not one per attempt
    assert f"cannot reach Kafka at {bootstrap}" in warnings[0] and "CALLAPI_KAFKA_BOOTSTRAP" in warnings[0], warnings
    assert not [r for r in caplog.records if r.getMessage().startswith("Unable connect")], caplog.text

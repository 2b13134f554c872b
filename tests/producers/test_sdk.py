"""The producer SDK against the real broker: validated, keyed by extension, idempotent, per-event outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner

from producers.errors import DeliveryFailed, InvalidEvent, ProducerUnavailable
from producers.sdk import CallEventProducer, Delivered, Failed
from schemas.events import CallEvent
from schemas.ops import free_port
from schemas.sequence import partitions_header
from schemas.settings import Settings
from tests.kafka import read_topic

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def event(event_id: str, extension: str = "0003*210", **params: str) -> dict[str, object]:
    return {"event_id": event_id, "type": "dial-in", "occurred_at": NOW.isoformat(), "extension": extension,
            "CallID": "1795773600.1", "CallFlow": "IN", "CallStatus": "CALLING", **params}


async def test_send_returns_a_delivery_and_the_record_is_keyed_by_the_canonical_extension(settings: Settings) -> None:
    async with CallEventProducer(settings=settings, linger_ms=20) as producer:
        assert producer.linger_ms == 20
        delivery = await producer.send(event("sdk-1", "0003210", CallerIDName="ACME Pty"))
        result = await delivery
        model = CallEvent.model_validate(event("sdk-2", "0003*211"))
        second = await producer.send_and_wait(model)
    assert isinstance(result, Delivered) and result.extension == "0003*210" and result.offset >= 0
    records = {r.value and json.loads(r.value)["event_id"]: r for r in
               await read_topic(settings, settings.topics.call_events, count=2)}
    assert records["sdk-1"].key == b"0003*210" and records["sdk-1"].partition == result.partition
    assert records["sdk-2"].key == b"0003*211" and records["sdk-2"].offset == second.offset
    sent = CallEvent.model_validate_json(records["sdk-1"].value or b"")
    assert (sent.tenant, sent.CallerIDName, sent.type.slug) == ("0003", "ACME Pty", "dial-in")


@pytest.fixture
def fresh_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Topics of its own (make_settings creates them with asyncio.run, so not from inside a test's loop)."""
    return make_settings()


async def test_send_many_reports_each_event_and_sends_the_valid_ones_in_order(fresh_settings: Settings) -> None:
    settings = fresh_settings
    batch = [event(f"many-{i}", "0003*220") for i in range(50)]
    batch.insert(10, event("bad-type") | {"type": "ringing"})
    batch.insert(20, {"event_id": "bad-extension", "type": 0, "occurred_at": NOW.isoformat(), "extension": "x"})
    async with CallEventProducer(settings=settings) as producer:
        outcomes = await producer.send_many(batch)
    assert len(outcomes) == 52
    failed = [o for o in outcomes if isinstance(o, Failed)]
    expected = [("bad-type", InvalidEvent), ("bad-extension", InvalidEvent)]
    assert [(f.event_id, type(f.error)) for f in failed] == expected
    assert all(isinstance(o, Delivered) for i, o in enumerate(outcomes) if i not in (10, 20))
    records = await read_topic(settings, settings.topics.call_events, count=50)
    ids = [json.loads(r.value or b"")["event_id"] for r in sorted(records, key=lambda r: r.offset)]
    assert ids == [f"many-{i}" for i in range(50)]  # one extension: one partition, in order
    assert len({r.partition for r in records}) == 1


async def test_each_extension_lands_on_the_partition_of_aiokafkas_default_partitioner(
    fresh_settings: Settings,
) -> None:
    settings = fresh_settings
    extensions = [f"{tenant:04d}*{number}" for tenant in range(1, 9) for number in range(201, 221)]
    async with CallEventProducer(settings=settings) as producer:
        outcomes = await producer.send_many([event(f"spread-{ext}", ext) for ext in extensions] * 2)
    every = list(range(settings.partitions))
    expected = {ext: DefaultPartitioner()(ext.encode(), every, every) for ext in extensions}
    assert [(o.extension, o.partition) for o in outcomes if isinstance(o, Delivered)] == [
        (ext, expected[ext]) for ext in extensions] * 2
    records = await read_topic(settings, settings.topics.call_events, count=2 * len(extensions))
    assert {(r.key, r.partition) for r in records} == {(ext.encode(), expected[ext]) for ext in extensions}
    assert set(expected.values()) == set(every)


async def test_an_invalid_event_is_refused_before_anything_is_sent(settings: Settings) -> None:
    async with CallEventProducer(settings=settings) as producer:
        with pytest.raises(InvalidEvent) as caught:
            await producer.send(event("x", extension="0003210") | {"tenant": "0004"})
    assert "does not belong to tenant" in caught.value.detail


async def test_unreachable_kafka_is_reported_and_a_missing_topic_fails_the_delivery(settings: Settings) -> None:
    nowhere = CallEventProducer(bootstrap=f"127.0.0.1:{free_port()}", topic="none")
    with pytest.raises(ProducerUnavailable):
        await nowhere.start()
    with pytest.raises(ProducerUnavailable):
        await nowhere.send(event("not-started"))
    producer = CallEventProducer(bootstrap=settings.kafka_bootstrap, topic=settings.topic_prefix + "no-such-topic",
                                 request_timeout_ms=1500)
    async with producer:
        outcomes = await producer.send_many([event("lost-1")])
    assert isinstance(outcomes[0], Failed) and isinstance(outcomes[0].error, DeliveryFailed)
    assert outcomes[0].error.event_id == "lost-1"


async def test_starting_a_started_producer_keeps_its_client_so_what_it_holds_is_still_sent(settings: Settings) -> None:
    producer = CallEventProducer(settings=settings, linger_ms=60_000)  # the record waits in the client's batch
    await producer.start()
    delivery = await producer.send(event("sdk-started-twice"))
    async with producer:  # started again, as `async with` does
        pass
    assert delivery.done() and isinstance(delivery.result(), Delivered)  # stop() flushed it, none was left behind
    with pytest.raises(ProducerUnavailable):
        await producer.send(event("sdk-after-stop"))


async def test_a_new_producers_first_events_carry_the_partitions_header_too(fresh_settings: Settings) -> None:
    settings = fresh_settings
    async with CallEventProducer(settings=settings) as producer:  # its metadata does not list the topic yet
        outcomes = await producer.send_many([event("sdk-first"), event("sdk-second", "0003*211")])
    assert all(isinstance(outcome, Delivered) for outcome in outcomes), outcomes
    records = await read_topic(settings, settings.topics.call_events, count=2)
    assert [(r.headers, r.key) for r in sorted(records, key=lambda r: r.key or b"")] == [
        (tuple(partitions_header(settings.partitions)), b"0003*210"),
        (tuple(partitions_header(settings.partitions)), b"0003*211"),
    ]


def test_the_producer_needs_settings_or_a_bootstrap_and_topic() -> None:
    with pytest.raises(TypeError):
        CallEventProducer(bootstrap="127.0.0.1:9092")


@pytest.mark.parametrize("timeout_ms", [0, -1])
def test_a_request_timeout_that_is_not_positive_is_refused_not_replaced_by_the_default(timeout_ms: int) -> None:
    with pytest.raises(ValueError, match=rf"request_timeout_ms must be a positive number of ms, not {timeout_ms}"):
        CallEventProducer(bootstrap="127.0.0.1:9092", topic="t", request_timeout_ms=timeout_ms)

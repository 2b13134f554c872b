"""The in-order acknowledger against the real broker: acks follow the submission order and Kafka's acks."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processors.handler import Outcome
from processors.pipeline import InOrderAcker
from processors.sink import KafkaSink, OutRecord
from schemas.settings import Settings
from tests.kafka import read_topic_sync


def _outcome(topic: str, key: str, *values: str) -> Outcome:
    return Outcome([OutRecord(topic, key.encode(), v.encode()) for v in values], "joined")


async def _acked_in_order(settings: Settings, outcomes: list[Outcome], max_in_flight: int) -> tuple[list[int], int]:
    """Submit every outcome; returns the acked event numbers and the largest queue length seen."""
    sink = KafkaSink(bootstrap=settings.kafka_bootstrap)
    await sink.start()
    acked: list[int] = []

    async def ack(event: int) -> None:
        acked.append(event)

    acker: InOrderAcker[int] = InOrderAcker(sink=sink, ack=ack, max_in_flight=max_in_flight)
    running = asyncio.create_task(acker.run())
    longest = 0
    try:
        for number, outcome in enumerate(outcomes):
            await acker.submit(number, outcome)
            longest = max(longest, len(acker))
        while len(acked) < len(outcomes) and not running.done():
            await asyncio.sleep(0.05)
        return acked, longest
    finally:
        running.cancel()
        await sink.stop()


def test_events_are_acked_in_order_once_their_records_are_on_the_broker(settings: Settings) -> None:
    topic = settings.topics.deliveries
    outcomes = [
        Outcome([], "no_match") if n % 7 == 0
        else _outcome(topic, f"0303*{100 + n % 5}", *[f"{n}.{i}" for i in range(n % 3 + 1)])
        for n in range(300)
    ]
    acked, longest = asyncio.run(_acked_in_order(settings, outcomes, max_in_flight=20))

    assert acked == list(range(300))
    assert longest <= 20
    records = read_topic_sync(settings, topic, count=sum(len(o.records) for o in outcomes))
    sent = [(r.key, r.value) for o in outcomes for r in o.records]
    assert sorted((r.key, r.value) for r in records) == sorted(sent)
    for key in {k for k, _ in sent}:  # one key, one partition: in the order they were submitted
        assert [r.value for r in records if r.key == key] == [v for k, v in sent if k == key]


async def _through_a_failure(settings: Settings, late_topic: str) -> tuple[list[str], list[str]]:
    """An event whose record cannot be sent (its topic does not exist yet) between two that can."""
    sink = KafkaSink(bootstrap=settings.kafka_bootstrap, retry_backoff_s=0.2, max_backoff_s=0.5,
                     request_timeout_ms=1000)
    await sink.start()
    acked: list[str] = []

    async def ack(event: str) -> None:
        acked.append(event)

    acker: InOrderAcker[str] = InOrderAcker(sink=sink, ack=ack)
    running = asyncio.create_task(acker.run())
    try:
        deliveries = settings.topics.deliveries
        await acker.submit("first", _outcome(deliveries, "0303*900", "first"))
        await acker.submit("late", _outcome(late_topic, "0303*900", "late"))
        await acker.submit("third", _outcome(deliveries, "0303*900", "third"))
        await asyncio.sleep(3)  # several failed attempts of "late"; "third" is on the broker meanwhile
        acked_while_missing = list(acked)
        await _create(settings, late_topic)
        while len(acked) < 3 and not running.done():
            await asyncio.sleep(0.05)
        return acked_while_missing, acked
    finally:
        running.cancel()
        await sink.stop()


def test_an_event_whose_record_fails_is_acked_only_after_it_was_sent_again_and_so_are_later_ones(
    settings: Settings,
) -> None:
    late_topic = settings.topic_prefix + "late"
    try:
        acked_while_missing, acked = asyncio.run(_through_a_failure(settings, late_topic))
    finally:
        asyncio.run(_delete(settings, late_topic))

    assert acked_while_missing == ["first"]
    assert acked == ["first", "late", "third"]
    values = [r.value for r in read_topic_sync(settings, settings.topics.deliveries, idle_s=2.0)
              if r.key == b"0303*900"]
    # "third" reached the broker before "late" could be sent, and was sent again after it
    assert values[0] == b"first" and set(values) == {b"first", b"third"} and values.count(b"third") >= 2


async def _create(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()


async def _delete(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            await admin.delete_topics([topic])
    finally:
        await admin.close()

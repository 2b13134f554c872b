"""Start-up check: the topics exist and the config table can be co-partitioned with the events."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from processors.errors import PartitionMismatch, TopicsMissing
from schemas.settings import Settings

if TYPE_CHECKING:  # the replay imports this module, and needs no Faust
    import faust

log = logging.getLogger(__name__)

TABLE_NAME = "requests"
EXIT_PARTITIONS_ADDED = 75  # EX_TEMPFAIL: started again, the worker checks the new counts


def app_id(settings: Settings) -> str:
    """The Faust app id, which is also the consumer group: one per deployment (topic prefix)."""
    return settings.topic_prefix + "processor"


async def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Partition count of each existing topic among `topics`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        present = set(await admin.list_topics())
        wanted = [topic for topic in topics if topic in present]
        if not wanted:
            return {}
        described = await admin.describe_topics(wanted)
        for item in described:
            if item.get("error_code"):
                log.info("describing topic %s: error code %s", item.get("topic"), item.get("error_code"))
        return {item["topic"]: len(item["partitions"]) for item in described if not item.get("error_code")}
    finally:
        await admin.close()


def check_counts(settings: Settings, counts: dict[str, int]) -> int:
    """The common partition count, or an error saying what to fix."""
    names = settings.topics
    needed = [names.call_events, names.event_requests, names.deliveries, names.call_events_dlq]
    missing = [topic for topic in needed if topic not in counts]
    if missing:
        raise TopicsMissing(
            f"topic(s) {', '.join(missing)} do not exist on {settings.kafka_bootstrap}: "
            "run `callapi-events topics create` (with the same CALLAPI_TOPIC_PREFIX)"
        )
    events = counts[names.call_events]
    requests = counts[names.event_requests]
    if requests != events:
        raise PartitionMismatch(
            f"{names.call_events} has {events} partitions but {names.event_requests} has {requests}: the "
            "config table must be co-partitioned with the events (same key, same partition count). To add "
            "partitions run `callapi-events topics grow --partitions N` (it grows them in the safe order; run it "
            "again if it was interrupted), then start the processor again"
        )
    return events


async def co_partitioned_count(settings: Settings, *, attempts: int = 5, pause_s: float = 1.0) -> int:
    """Check the topics; metadata of just-created topics may lag, so a missing topic is asked again."""
    names = settings.topics
    topics = [names.call_events, names.event_requests, names.deliveries, names.call_events_dlq]
    for attempt in range(1, attempts + 1):
        try:
            return check_counts(settings, await partition_counts(settings.kafka_bootstrap, topics))
        except TopicsMissing as error:
            if attempt == attempts:
                raise
            log.info("%s; asking again in %.0fs", error, pause_s)
            await asyncio.sleep(pause_s)
    raise AssertionError("unreachable")


async def committed_offsets(
    settings: Settings, group: str, tps: list[TopicPartition], *, attempts: int = 30, pause_s: float = 1.0
) -> dict[TopicPartition, Any]:
    """The group's committed offsets; a broker that just started has no group coordinator yet, so ask again."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        for attempt in range(1, attempts + 1):
            try:
                return dict(await admin.list_consumer_group_offsets(group, partitions=tps))
            except KafkaError as error:
                if not error.retriable or attempt == attempts:
                    raise
                log.info("group coordinator not ready (%r); asking again in %.0fs", error, pause_s)
                await asyncio.sleep(pause_s)
    finally:
        await admin.close()
    raise AssertionError("unreachable")


async def seed_group_offsets(settings: Settings, partitions: int) -> None:
    """Commit the earliest offset for every `call-events` partition the group has no offset for yet.

    Faust loses records when a partition without a committed offset is fetched during the seek that ends
    a recovery (its read position survives the seek, and resuming the flow clears the buffered records),
    so a new group would skip its first records. With an offset committed, the seek resets the read
    position and those records are fetched again.
    """
    group = app_id(settings)
    tps = [TopicPartition(settings.topics.call_events, p) for p in range(partitions)]
    committed = await committed_offsets(settings, group, tps)
    missing = [tp for tp in tps if tp not in committed or committed[tp].offset < 0]
    if not missing:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(missing)
        earliest = await consumer.beginning_offsets(missing)
        await consumer.commit({tp: earliest[tp] for tp in missing})
        log.info("group %s starts %d partition(s) of %s at their earliest offsets",
                 group, len(missing), settings.topics.call_events)
    except KafkaError as error:  # another replica's group is already active: it commits soon enough
        log.warning("cannot commit start offsets for group %s: %r", group, error)
    finally:
        await consumer.stop()


def exit_when_partitions_added(app: faust.App, settings: Settings, partitions: int) -> None:
    """Exit at the first rebalance that shows partitions added since the start-up check (`topics grow`).

    A running worker would take the new partitions without a committed offset, whose first records Faust can skip
    (see `seed_group_offsets`; in a test the events on a new partition made no job in the 100 s watched after the
    worker took it), and would go on with its table's old partition count.
    Exiting before any record of them is fetched leaves nothing behind: started again (by Kubernetes, or the
    operator as `topics grow` says), the worker checks the counts and starts the new partitions at their first
    record. Uncommitted events are processed again, as after any crash."""
    watched = (settings.topics.call_events, settings.topics.event_requests)

    def on_assigned(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        counts = {topic: app.consumer.topic_partitions(topic) for topic in watched}
        grown = {topic: count for topic, count in counts.items() if count is not None and count != partitions}
        if grown:
            listed = ", ".join(f"{topic} has {count}" for topic, count in grown.items())
            log.critical("partitions were added since this worker started with %d (%s): exiting so that a start "
                         "checks the counts and starts the new partitions at their first record", partitions, listed)
            logging.shutdown()
            os._exit(EXIT_PARTITIONS_ADDED)

    app.on_partitions_assigned.connect(on_assigned)

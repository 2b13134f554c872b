"""`callapi-events topics grow`: add partitions to a live pipeline without losing a notification.

Adding partitions moves keys (murmur2 of the extension over the partition count). An event of a moved extension
is joined on its new partition with that partition's config table, so the config must be there first:

1. grow `event-requests` alone;
2. republish every extension's list (the relay's resync), which lands on each key's new partition;
3. grow every other topic: `call-events` and the delivery topics, which keep one count so that the
   processor's start-up check passes and an extension's jobs stay in order on one partition.

The copy of a moved key left on its old `event-requests` partition is kept on purpose: events written before
`call-events` grew (or by a producer whose metadata is still the old one, for up to its metadata age) are
joined there: the processor keeps it beside its table (`processors.handler.LeftBehind`), used only while it
holds no list from the key's own partition. Readers that see every partition ignore it (`replay` checks each
record's partition). `topics forget-old-copies` (deploy/old_copies.py) tombstones these copies once no event
can need them any more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.errors import KafkaError

from control.relay import resync_extensions
from deploy.topics import partition_counts
from schemas.publisher import partition_for
from schemas.settings import Settings

Progress = Callable[[int, int], None]
METADATA_POLLS = 150  # every 0.2 s: 30 s


class GrowRefused(Exception):
    """What makes the growth impossible, said for the operator."""


@dataclass(frozen=True)
class GrowReport:
    before: dict[str, int]
    target: int
    republished: int = 0
    moved: int = 0
    """Extensions whose partition changed with this growth."""

    @property
    def grown(self) -> list[str]:
        return [topic for topic, count in self.before.items() if count < self.target]


def check_growth(settings: Settings, before: dict[str, int], target: int) -> None:
    """Refuse a missing topic or a count below the current one (Kafka cannot remove partitions)."""
    missing = [spec.name for spec in settings.topic_specs() if spec.name not in before]
    if missing:
        raise GrowRefused(f"topic(s) {', '.join(missing)} do not exist on {settings.kafka_bootstrap}: run "
                          "`callapi-events topics create` first (with the same CALLAPI_TOPIC_PREFIX)")
    larger = {topic: count for topic, count in before.items() if count > target}
    if larger:
        raise GrowRefused(f"{len(larger)} topic(s) have more than {target} partitions (up to {max(larger.values())}), "
                          "and Kafka cannot remove partitions")


def moved_count(extensions: list[str], before: int, after: int) -> int:
    return sum(partition_for(e.encode(), before) != partition_for(e.encode(), after) for e in extensions)


async def grow_to(admin: AIOKafkaAdminClient, topics: list[str], target: int) -> None:
    """Add partitions and wait until the metadata shows them, so the next writer's partitioner counts them."""
    if not topics:
        return
    await admin.create_partitions({topic: NewPartitions(total_count=target) for topic in topics})
    for _ in range(METADATA_POLLS):
        if all(count == target for count in (await partition_counts(admin, topics)).values()):
            return
        await asyncio.sleep(0.2)
    raise KafkaError(f"the metadata does not show {target} partitions of {', '.join(topics)} yet")


async def grow(
    settings: Settings, target: int, *, step: Callable[[str], None] = lambda text: None,
    progress: Progress = lambda done, total: None,
) -> GrowReport:
    """Grow every topic of the contract to `target` partitions in the safe order (module docstring).

    Run again after an interruption: each step is skipped when already done, and the resync is repeated."""
    names = settings.topics
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        present = set(await admin.list_topics())  # a missing topic is not described: that could create it
        counts = await partition_counts(admin, [spec.name for spec in settings.topic_specs() if spec.name in present])
        before = {spec.name: counts[spec.name] for spec in settings.topic_specs() if spec.name in counts}
        check_growth(settings, before, target)
        report = GrowReport(before, target)
        if not report.grown:
            return report
        step(f"growing {names.event_requests} to {target} partitions")
        await grow_to(admin, [names.event_requests] if before[names.event_requests] < target else [], target)
        step(f"republishing every extension's list to {names.event_requests}")
        extensions = await resync_extensions(settings, progress=progress)
        rest = [topic for topic in report.grown if topic != names.event_requests]
        step(f"growing {len(rest)} other topic(s) to {target} partitions")
        await grow_to(admin, rest, target)
        moved = moved_count(extensions, before[names.call_events], target)
        return GrowReport(before, target, len(extensions), moved)
    finally:
        await admin.close()

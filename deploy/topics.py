"""`callapi-events topics create`: make every topic of the contract exist, as declared in schemas.topics."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import TopicSpec


@dataclass(frozen=True)
class TopicReport:
    created: list[str]
    existing: list[str]
    mismatched: list[str]
    """Existing topics whose partition count differs from the spec (never changed automatically)."""


async def create_topics(bootstrap: str, specs: list[TopicSpec]) -> TopicReport:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        present = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in present]
        if missing:
            await admin.create_topics(
                [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in missing]
            )
        existing = [spec for spec in specs if spec.name in present]
        counts = await partition_counts(admin, [spec.name for spec in existing])
        mismatched = [
            f"{spec.name}: {counts.get(spec.name)} partitions, spec says {spec.partitions}"
            for spec in existing
            if counts.get(spec.name) != spec.partitions
        ]
        return TopicReport([s.name for s in missing], [s.name for s in existing], mismatched)
    finally:
        await admin.close()


async def partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    if not topics:
        return {}
    described = await admin.describe_topics(topics)
    return {item["topic"]: len(item["partitions"]) for item in described if not item.get("error_code")}


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        present = set(await admin.list_topics())
        doomed = [name for name in names if name in present]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()

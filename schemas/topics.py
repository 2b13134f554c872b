"""The topics of the pipeline, declared once: names, partitions, retention and compaction.

Every topic is keyed by extension, so one extension's events stay in order end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.durations import format_duration

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)

    @property
    def compacted(self) -> bool:
        return self.config.get("cleanup.policy") == "compact"


@dataclass(frozen=True)
class TopicNames:
    """Full topic names (prefix included) for one deployment."""

    prefix: str
    retry_schedule: tuple[float, ...]

    @property
    def call_events(self) -> str:
        return self.prefix + "call-events"

    @property
    def call_events_dlq(self) -> str:
        return self.prefix + "call-events.dlq"

    @property
    def event_requests(self) -> str:
        return self.prefix + "event-requests"

    @property
    def deliveries(self) -> str:
        return self.prefix + "deliveries"

    @property
    def deliveries_dlq(self) -> str:
        return self.prefix + "deliveries.dlq"

    @property
    def delivery_attempts(self) -> str:
        return self.prefix + "delivery-attempts"

    def retry(self, delay_s: float) -> str:
        return f"{self.prefix}deliveries.retry.{format_duration(delay_s)}"

    @property
    def retries(self) -> list[str]:
        return [self.retry(delay) for delay in dict.fromkeys(self.retry_schedule)]


def topic_specs(
    names: TopicNames,
    *,
    partitions: int,
    replication_factor: int,
    call_events_retention_h: int = 168,
    dlq_retention_h: int = 720,
) -> list[TopicSpec]:
    """Every topic of CONTRACT.md. All share one partition count so they stay co-partitioned."""

    def spec(name: str, **config: str) -> TopicSpec:
        # acks=all then means two copies whenever there are at least three replicas.
        min_insync = str(min(2, replication_factor))
        return TopicSpec(name, partitions, replication_factor, {"min.insync.replicas": min_insync, **config})

    def retention(hours: int) -> str:
        return str(hours * HOUR_MS)

    longest_retry_h = int(max(names.retry_schedule) // 3600) + 24
    return [
        spec(names.call_events, **{"retention.ms": retention(call_events_retention_h)}),
        spec(names.call_events_dlq, **{"retention.ms": retention(dlq_retention_h)}),
        spec(names.event_requests, **{"cleanup.policy": "compact", "min.compaction.lag.ms": "0",
                                      "segment.ms": retention(1)}),
        spec(names.deliveries, **{"retention.ms": retention(call_events_retention_h)}),
        *(spec(topic, **{"retention.ms": retention(longest_retry_h)}) for topic in names.retries),
        spec(names.deliveries_dlq, **{"retention.ms": retention(dlq_retention_h)}),
        spec(names.delivery_attempts, **{"retention.ms": retention(call_events_retention_h)}),
    ]

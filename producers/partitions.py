"""Each key's partition on one topic, picked as aiokafka's default partitioner picks it, remembered per key.

For every record, AIOKafkaProducer.send builds the topic's partition set twice, the available set once and
two lists, then hashes the key (murmur2 in pure Python): about 6 µs of a simulator event's send. A key's
partition only changes when the topic's partitions do, so it is computed once per key over the same list
aiokafka would pass its partitioner, and forgotten on the metadata update that changes that list.
"""

from __future__ import annotations

from aiokafka.cluster import ClusterMetadata
from aiokafka.partitioner import DefaultPartitioner

MAX_KEYS = 100_000
"""Keys remembered at most (one per extension in use); past it the memory starts over."""

_partitioner = DefaultPartitioner()


class KeyPartitions:
    """The partition of each key on `topic`, as the producer's DefaultPartitioner would pick it: murmur2 of the
    key over all the topic's partitions (available or not), so one key always lands on the same partition."""

    def __init__(self, cluster: ClusterMetadata, topic: str, *, max_keys: int = MAX_KEYS) -> None:
        self._cluster = cluster
        self._topic = topic
        self._max_keys = max_keys
        self._partitions: list[int] | None = None
        self._by_key: dict[bytes, int] = {}
        self._metadata_updated(cluster)
        cluster.add_listener(self._metadata_updated)  # called on every metadata update, before any later send

    def close(self) -> None:
        self._cluster.remove_listener(self._metadata_updated)

    @property
    def count(self) -> int:
        """The topic's partitions that `partition` places keys among (0 while the metadata does not list it)."""
        return len(self._partitions or ())

    def partition(self, key: bytes) -> int | None:
        """The key's partition; None while the metadata does not list the topic (aiokafka's send then waits
        for it and fails as it always has)."""
        known = self._by_key.get(key)
        if known is not None:
            return known
        if not self._partitions:
            return None
        if len(self._by_key) >= self._max_keys:
            self._by_key = {}
        picked: int = _partitioner(key, self._partitions, self._partitions)
        self._by_key[key] = picked
        return picked

    def _metadata_updated(self, cluster: ClusterMetadata) -> None:
        known = cluster.partitions_for_topic(self._topic)
        partitions = None if known is None else list(known)  # the very list AIOKafkaProducer._partition builds
        if partitions != self._partitions:
            self._partitions = partitions
            self._by_key = {}

"""KeyPartitions picks what aiokafka's DefaultPartitioner picks, and follows the topic's partitions as they change.

Pure: a real ClusterMetadata fed real (decoded-form) metadata responses; the SDK's records on a real topic are
checked in test_sdk.py.
"""

from __future__ import annotations

import random

from aiokafka.cluster import ClusterMetadata
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.protocol.metadata import MetadataResponse_v0
from hypothesis import given
from hypothesis import strategies as st

from producers.partitions import KeyPartitions

TOPIC = "callapi.call-events"


def metadata(partitions: int, *, unavailable: frozenset[int] = frozenset(), topic: str = TOPIC) -> MetadataResponse_v0:
    """A broker's answer listing `topic` with `partitions` partitions; those in `unavailable` have no leader."""
    rows = [(0, p, -1 if p in unavailable else 1, [1], [1]) for p in range(partitions)]
    return MetadataResponse_v0([(1, "127.0.0.1", 9092)], [(0, topic, rows)] if partitions else [])


def cluster_with(response: MetadataResponse_v0) -> ClusterMetadata:
    cluster = ClusterMetadata()
    cluster.update_metadata(response)
    return cluster


def aiokafka_pick(cluster: ClusterMetadata, key: bytes) -> int:
    """What AIOKafkaProducer._partition hands its default partitioner, and its answer."""
    every = list(cluster.partitions_for_topic(TOPIC) or ())
    available = list(cluster.available_partitions_for_topic(TOPIC) or ())
    picked: int = DefaultPartitioner()(key, every, available)
    return picked


def extension_keys(count: int) -> list[bytes]:
    rng = random.Random(7)
    short = [f"{t:04d}*{e}".encode() for t in range(1, 41) for e in range(201, 226)]
    extended = [f"{rng.randrange(10**7, 10**8)}".encode() for _ in range(count - len(short))]
    return short + extended


def test_every_key_goes_where_the_default_partitioner_sends_it() -> None:
    cluster = cluster_with(metadata(12))
    partitions = KeyPartitions(cluster, TOPIC)
    keys = extension_keys(5_000)
    assert [partitions.partition(key) for key in keys] == [aiokafka_pick(cluster, key) for key in keys]
    assert [partitions.partition(key) for key in keys] == [aiokafka_pick(cluster, key) for key in keys]  # remembered
    assert len({partitions.partition(key) for key in keys}) == 12


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=50), st.integers(1, 64),
       st.frozensets(st.integers(0, 63)))
def test_any_key_any_partition_count_matches_also_with_partitions_without_a_leader(
    keys: list[bytes], count: int, unavailable: frozenset[int],
) -> None:
    cluster = cluster_with(metadata(count, unavailable=unavailable))
    partitions = KeyPartitions(cluster, TOPIC, max_keys=7)  # small: the memory also starts over on the way
    assert [partitions.partition(key) for key in keys] == [aiokafka_pick(cluster, key) for key in keys]


def test_a_metadata_update_that_adds_partitions_moves_keys_where_the_default_partitioner_now_sends_them() -> None:
    cluster = cluster_with(metadata(4))
    partitions = KeyPartitions(cluster, TOPIC)
    keys = extension_keys(2_000)
    before = [partitions.partition(key) for key in keys]
    cluster.update_metadata(metadata(24))
    after = [partitions.partition(key) for key in keys]
    assert after == [aiokafka_pick(cluster, key) for key in keys]
    assert after != before and max(after) > 3


def test_none_while_the_metadata_does_not_list_the_topic_so_aiokafka_waits_for_it() -> None:
    cluster = cluster_with(metadata(3, topic="callapi.other"))
    partitions = KeyPartitions(cluster, TOPIC)
    assert partitions.partition(b"0003*210") is None
    cluster.update_metadata(metadata(6))
    assert partitions.partition(b"0003*210") == aiokafka_pick(cluster, b"0003*210")
    cluster.update_metadata(metadata(0))  # the topic deleted
    assert partitions.partition(b"0003*210") is None


def test_closed_it_stops_following_the_metadata() -> None:
    cluster = cluster_with(metadata(4))
    partitions = KeyPartitions(cluster, TOPIC)
    partitions.close()
    cluster.update_metadata(metadata(0))
    assert partitions.partition(b"0003*210") == aiokafka_pick(cluster_with(metadata(4)), b"0003*210")

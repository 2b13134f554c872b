"""`replay --extension` reads only the partitions that can hold that extension's records, on the real broker.

Every partition gets a record from before the window first (the topic had its partition count then); the
records of the other extensions in the window are then never fetched, which the report's offsets show.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from processors.handler import lookup_packed
from processors.replay import load_config
from processors.window import ReplayFilter
from schemas.codec import encode, encode_list
from schemas.events import CallEvent
from schemas.jobs import DeliveryJob
from schemas.join import join, unpack_requests
from schemas.publisher import partition_for
from schemas.requests import ExtensionRequests
from schemas.settings import Settings
from tests.processes import settings_env
from tests.processors.support import call_event, produce_at, produce_config, request

BEFORE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
AT = BEFORE + timedelta(hours=1)
SINCE, UNTIL = AT - timedelta(minutes=5), AT + timedelta(minutes=5)
X = "0707*100"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _on_another_partition(extension: str, partitions: int, tenant: str) -> str:
    """An extension of `tenant` whose records land on another partition than `extension`'s."""
    mine = partition_for(extension.encode(), partitions)
    return next(e for n in range(100, 200) if partition_for((e := f"{tenant}*{n}").encode(), partitions) != mine)


async def _put(settings: Settings, topic: str, records: list[tuple[str, bytes, int]], *, at: datetime) -> None:
    """(key, value, partition) records with the timestamp `at`, each on the partition given."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, partition in records:
            await producer.send(topic, value=value, key=key.encode(), partition=partition, timestamp_ms=_ms(at))
        await producer.flush()
    finally:
        await producer.stop()


def _before_the_window(settings: Settings, topic: str, partitions: range) -> None:
    asyncio.run(_put(settings, topic, [("0999*1", b"{}", p) for p in partitions], at=BEFORE))


def _recorded(events: list[CallEvent], config: dict[str, list[Any]]) -> list[DeliveryJob]:
    return [job for e in events for job in join(e, config[e.extension], sequence=0, processed_at=AT)]


def _replay(settings: Settings, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
         "--dry-run", "--json", *args],
        env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def layout(settings: Settings) -> dict[str, Any]:
    """X's and Y's (another tenant, another partition) config, events and recorded jobs in the window."""
    n = settings.partitions
    y = _on_another_partition(X, n, "0808")
    config = {X: [request(X, "rX1"), request(X, "rX2")], y: [request(y, "rY1")]}
    produce_config(settings, config)
    for topic in (settings.topics.call_events, settings.topics.deliveries):
        _before_the_window(settings, topic, range(n))
    events = [call_event(X) for _ in range(3)] + [call_event(y) for _ in range(4)]
    asyncio.run(produce_at(settings, settings.topics.call_events, [(e.extension, encode(e), _ms(AT)) for e in events]))
    jobs = _recorded(events, config)
    asyncio.run(produce_at(settings, settings.topics.deliveries, [(j.extension, encode(j), _ms(AT)) for j in jobs]))
    return {"partition": partition_for(X.encode(), n), "partitions": n}


@pytest.mark.parametrize("source", [(), ("--deliveries",)])
def test_an_extension_filter_reads_only_its_partition_and_finds_the_same_jobs(
    settings: Settings, layout: dict[str, Any], source: tuple[str, ...],
) -> None:
    by_extension = _replay(settings, *source, "--extension", X)
    by_tenant = _replay(settings, *source, "--tenant", "0707")  # X alone; recorded jobs: read from every partition

    # X's 3 events (6 jobs) are all the window holds on its partition: Y's records were never fetched
    assert (by_extension["window_records"], by_extension["records_scanned"]) == ((3, 3) if not source else (6, 6))
    assert by_extension["partitions_read"] == [layout["partition"]]
    if source:
        assert by_tenant["window_records"] == 10
        assert by_tenant["partitions_read"] == list(range(layout["partitions"]))
    assert (by_extension["selected"], by_extension["jobs"]) == (by_tenant["selected"], by_tenant["jobs"])
    assert by_extension["jobs"] == 6


@pytest.mark.parametrize("by", [("--tenant", "0707"), ("--request-id", "rX2")])
def test_joining_again_reads_only_the_partitions_of_the_extensions_whose_config_can_make_a_job(
    settings: Settings, layout: dict[str, Any], by: tuple[str, str],
) -> None:
    """The config names the extensions with a selected request (X alone): no other extension's event can make a
    job, so Y's partition is never read."""
    report = _replay(settings, *by)

    assert report["partitions_read"] == [layout["partition"]]
    assert (report["window_records"], report["records_scanned"], report["selected"]) == (3, 3, 3)
    assert report["jobs"] == (6 if by[0] == "--tenant" else 3)


def test_the_filter_check_reads_only_the_extensions_partition_of_event_requests(
    settings: Settings, layout: dict[str, Any],
) -> None:
    """A config record put on another partition than its key's (no writer does that) is never fetched, so the
    extension counts as without requests. Its own partition is where the relay writes it and the processor
    reads it."""
    stray = _on_another_partition(X, layout["partitions"], "0505")  # PostgreSQL does not know it either
    value = encode_list(ExtensionRequests, [request(stray, "rS1")])
    asyncio.run(_put(settings, settings.topics.event_requests, [(stray, value, layout["partition"])], at=AT))

    result = subprocess.run(
        [sys.executable, "-m", "callapi_events", "replay", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
         "--dry-run", "--deliveries", "--extension", stray],
        env=settings_env(settings), capture_output=True, text=True, timeout=120, check=False,
    )
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert f"--extension {stray} has no requests" in result.stderr


def test_every_partition_is_read_when_one_may_have_been_added_since_the_window(
    make_settings: Callable[..., Settings],
) -> None:
    """Partitions 2 and 3 hold nothing from before the window, as when the topic went from 2 to 4 partitions:
    an extension's events of the window may sit where 2 partitions put them, so every partition is read."""
    settings = make_settings(partitions=4)
    v = next(e for n in range(100, 200)
             if partition_for((e := f"0606*{n}").encode(), 2) != partition_for(e.encode(), 4))
    produce_config(settings, {v: [request(v, "rV1")]})  # relayed again after the change: on its new partition
    _before_the_window(settings, settings.topics.call_events, range(2))
    old = partition_for(v.encode(), 2)
    asyncio.run(_put(settings, settings.topics.call_events,
                     [(v, encode(call_event(v)), old) for _ in range(3)], at=AT))

    report = _replay(settings, "--extension", v)
    assert (report["selected"], report["jobs"]) == (3, 3)
    assert report["partitions_read"] == [0, 1, 2, 3]


def test_a_list_left_on_a_keys_old_partition_never_wins_over_its_own_partitions(
    make_settings: Callable[..., Settings],
) -> None:
    """After 3 → 4 partitions and the resync, the list a moved key had on its old partition is still there
    (compacted, never replaced there): read after the current one, it must not become the config replayed."""
    settings = make_settings(partitions=4)
    w = next(e for n in range(100, 400)
             if partition_for((e := f"0606*{n}").encode(), 3) == 2 and partition_for(e.encode(), 4) == 1)
    now = encode_list(ExtensionRequests, [request(w, "rWnow")])
    before = encode_list(ExtensionRequests, [request(w, "rWbefore"), request(w, "rWgone")])
    asyncio.run(_put(settings, settings.topics.event_requests, [(w, before, 2)], at=BEFORE))
    asyncio.run(_put(settings, settings.topics.event_requests, [(w, now, 1)], at=AT))
    _before_the_window(settings, settings.topics.call_events, range(4))
    asyncio.run(_put(settings, settings.topics.call_events, [(w, encode(call_event(w)), 1)], at=AT))

    assert _replay(settings)["jobs"] == 1
    config = asyncio.run(load_config(settings, ReplayFilter()))
    assert [r.id for r in unpack_requests(lookup_packed(config, w.encode()))] == ["rWnow"]

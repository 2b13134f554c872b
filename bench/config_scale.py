"""Config scale: one processor with 10k, 100k and 1M configured extensions (bench/processor.py's config and
events): its start-up (table recovery) time, RSS, join latency, and how soon a config change is visible.

- join latency: an event's Kafka timestamp (its producer) → the timestamp of its job on `deliveries`
  (the processor's producer), for probe events paced 20 ms apart;
- config change → visible: a new request is added to an extension's list on `event-requests`; probe events
  for that extension follow every 10 ms; the figure is the change's timestamp → the first job carrying the
  new request (what a user waits for after saving a request, minus the outbox relay, which
  bench/relay_latency.py measures).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.load import percentiles_ms
from bench.pipeline import Proc, bench_settings, fresh_topics, wait_for
from bench.processor import _config_value, _event, _extension, _produce, _rss_mb
from schemas.codec import decode, encode_list
from schemas.events import CallEvent, EventType
from schemas.jobs import DeliveryJob
from schemas.requests import EventRequest, ExtensionRequests, HttpMethod
from schemas.settings import Settings


class Probe:
    """A producer of probe records and a reader of `deliveries` (from its end), on one event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=0)
        self.consumer = AIOKafkaConsumer(settings.topics.deliveries, bootstrap_servers=settings.kafka_bootstrap,
                                         auto_offset_reset="latest", enable_auto_commit=False)
        self.jobs: list[tuple[int, DeliveryJob]] = []
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Probe:
        await self.producer.start()
        await self.consumer.start()
        while not self.consumer.assignment():  # noqa: ASYNC110 (assignment has no awaitable)
            await asyncio.sleep(0.05)
        await self.consumer.seek_to_end()
        for tp in self.consumer.assignment():
            await self.consumer.position(tp)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            for records in (await self.consumer.getmany(timeout_ms=100)).values():
                self.jobs.extend((r.timestamp, decode(DeliveryJob, r.value or b"")) for r in records)

    async def send(self, topic: str, key: str, value: bytes) -> int:
        """Send and wait for the ack; the record's timestamp (ms)."""
        metadata = await self.producer.send_and_wait(topic, value=value, key=key.encode())
        return int(metadata.timestamp)

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.consumer.stop()
        await self.producer.stop()


async def join_latency(settings: Settings, extensions: list[str], probes: int) -> dict[str, Any]:
    rng = random.Random(11)
    async with Probe(settings) as probe:
        sent: dict[str, int] = {}
        for _ in range(probes):
            extension = rng.choice(extensions)
            value = _event(extension)
            sent[decode(CallEvent, value).event_id] = await probe.send(settings.topics.call_events, extension, value)
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 60
        while len({j.event_id for _, j in probe.jobs} & sent.keys()) < len(sent):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        latencies = [(stamp - sent[job.event_id]) / 1000 for stamp, job in probe.jobs if job.event_id in sent]
    return percentiles_ms(latencies)


async def change_visibility(settings: Settings, extensions: list[str], changes: int) -> dict[str, Any]:
    rng = random.Random(13)
    visible: list[float] = []
    async with Probe(settings) as probe:
        for number in range(changes):
            index = rng.randrange(len(extensions))
            extension = extensions[index]
            new_id = f"change{number}"
            requests = [*ExtensionRequests.validate_json(_config_value(extension, index)), EventRequest(
                id=new_id, extension=extension, type=EventType.DIAL_IN, method=HttpMethod.GET,
                url=f"https://hooks.example.com/changed/{number}", modified=datetime.now(UTC))]
            changed_ms = await probe.send(settings.topics.event_requests, extension,
                                          encode_list(ExtensionRequests, requests))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                seen = [stamp for stamp, job in probe.jobs if job.request_id == new_id]
                if seen:
                    visible.append((min(seen) - changed_ms) / 1000)
                    break
                await probe.send(settings.topics.call_events, extension, _event(extension))
                await asyncio.sleep(0.01)
    return {"changes": changes, "seen": len(visible), **percentiles_ms(visible)}


def one_size(base: Settings, extensions: int, *, probes: int, changes: int) -> dict[str, Any]:
    settings = bench_settings(base)
    names = [_extension(i) for i in range(extensions)]
    with fresh_topics(settings), tempfile.TemporaryDirectory(prefix="callapi-bench-") as scratch:
        began = time.perf_counter()
        asyncio.run(_produce(settings, settings.topics.event_requests,
                             ((name, _config_value(name, i)) for i, name in enumerate(names))))
        written_s = time.perf_counter() - began
        proc = Proc(settings, "processor", workdir=Path(scratch)).start()
        try:
            began = time.perf_counter()
            wait_for(proc.ready, timeout_s=1200, what="processor ready", every_s=0.5)
            wait_for(lambda: proc.metric("callapi_processor_table_extensions") >= extensions, timeout_s=1200,
                     what="the whole table", every_s=0.5)
            ready_s = time.perf_counter() - began
            assert proc.process is not None
            rss_mb = _rss_mb(proc.process.pid)
            latency = asyncio.run(join_latency(settings, names, probes))
            visibility = asyncio.run(change_visibility(settings, names, changes))
            rss_after_mb = _rss_mb(proc.process.pid)
        finally:
            proc.stop()
    return {"extensions": extensions, "config_write_s": round(written_s, 1), "ready_s": round(ready_s, 1),
            "rss_mb": round(rss_mb), "rss_after_probes_mb": round(rss_after_mb), "join_latency": latency,
            "config_change_visible": visibility}


def run(base: Settings, *, sizes: tuple[int, ...], probes: int, changes: int) -> dict[str, Any]:
    return {"partitions": base.partitions, "target_rss_mb_at_1m": 500,
            "sizes": [one_size(base, size, probes=probes, changes=changes) for size in sizes]}

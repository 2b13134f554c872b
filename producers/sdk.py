"""The CallEvent producer SDK: validate, key by extension, batch with linger, idempotent, per-event outcomes.

    async with CallEventProducer(settings=settings) as producer:
        delivery = await producer.send({...})   # raises InvalidEvent at once if the event is bad
        result = await delivery                  # Delivered, or raises DeliveryFailed
        outcomes = await producer.send_many(events)   # [Delivered | Failed, ...], in input order

The Kafka producer is idempotent (acks=all, enable_idempotence): a broker retry never duplicates or
reorders a record within a partition, and records are keyed by the canonical extension, so one
extension's events stay in order end to end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from prometheus_client import Counter
from pydantic import ValidationError

from producers.errors import DeliveryFailed, InvalidEvent, ProducerUnavailable
from producers.partitions import KeyPartitions
from schemas.codec import encode
from schemas.events import CallEvent
from schemas.hints import topic_missing
from schemas.sequence import partitions_header
from schemas.settings import Settings
from schemas.topic_snapshot import TopicMissing

log = logging.getLogger(__name__)

RECORDS = Counter("callapi_producer_records_total", "CallEvents handed to the SDK, by outcome", ["outcome"])
ACKED = RECORDS.labels("acked")  # looked up once: labels() takes a lock and costs ~1 µs per event
DEFAULT_MAX_EVENT_BYTES = 65_536


@dataclass(frozen=True)
class Delivered:
    """Kafka acknowledged the event (acks=all): it is durable on `call-events`."""

    event_id: str
    extension: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Failed:
    """The event was not written: invalid (InvalidEvent) or not acknowledged (DeliveryFailed)."""

    event_id: str | None
    error: InvalidEvent | DeliveryFailed | ProducerUnavailable


Outcome = Delivered | Failed


def validation_detail(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "event"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {first['msg']}{more}"


def to_event(event: CallEvent | Mapping[str, Any]) -> CallEvent:
    """A validated CallEvent from a CallEvent or a dict, or InvalidEvent saying what is wrong."""
    if isinstance(event, CallEvent):
        return event
    if not isinstance(event, Mapping):
        raise InvalidEvent("schema_invalid", f"a CallEvent must be an object, not {type(event).__name__}")
    try:
        return CallEvent.model_validate(dict(event))
    except ValidationError as error:
        raise InvalidEvent("schema_invalid", validation_detail(error)) from None


def to_record(event: CallEvent, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> tuple[bytes, bytes]:
    """(key, value) of the record on `call-events`: the canonical extension and the event's JSON."""
    value = encode(event)
    if len(value) > max_bytes:
        raise InvalidEvent("too_large", f"event {event.event_id} is {len(value)} bytes, over {max_bytes}")
    return event.extension.encode(), value


class CallEventProducer:
    """Writes CallEvents to `call-events`. Give `settings`, or `bootstrap` and `topic` (they override)."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        bootstrap: str | None = None,
        topic: str | None = None,
        linger_ms: int | None = None,
        request_timeout_ms: int | None = None,
        client_id: str = "callapi-events-producer",
    ) -> None:
        if settings is None and (bootstrap is None or topic is None):
            raise TypeError("CallEventProducer needs settings=, or both bootstrap= and topic=")
        self.bootstrap = bootstrap or settings.kafka_bootstrap  # type: ignore[union-attr]
        self.topic = topic or settings.topics.call_events  # type: ignore[union-attr]
        self.linger_ms = linger_ms if linger_ms is not None else (settings.producer_linger_ms if settings else 5)
        if request_timeout_ms is not None and request_timeout_ms <= 0:  # 0 would fail every send at once
            raise ValueError(f"request_timeout_ms must be a positive number of ms, not {request_timeout_ms}")
        self.request_timeout_ms = request_timeout_ms if request_timeout_ms is not None else (
            settings.producer_request_timeout_ms if settings else 15_000
        )
        self.max_event_bytes = settings.max_event_bytes if settings else DEFAULT_MAX_EVENT_BYTES
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._partitions: KeyPartitions | None = None

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connect to Kafka; ProducerUnavailable when it cannot be reached. A started producer stays as it is
        (`start()` then `async with`): a new client would leave the old one's batched records unsent and open."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all", enable_idempotence=True,
            linger_ms=self.linger_ms, request_timeout_ms=self.request_timeout_ms, max_batch_size=65_536,
        )
        try:
            await producer.start()
        except (KafkaConnectionError, KafkaError, OSError) as error:
            await producer.stop()
            raise ProducerUnavailable(f"cannot reach Kafka at {self.bootstrap}: {error}") from error
        self._producer = producer
        self._partitions = KeyPartitions(producer.client.cluster, self.topic)

    async def stop(self) -> None:
        """Flush what is buffered (each pending delivery settles) and disconnect."""
        producer, self._producer = self._producer, None
        partitions, self._partitions = self._partitions, None
        if partitions is not None:
            partitions.close()
        if producer is not None:
            await producer.stop()

    def topic_known(self) -> bool:
        """Whether the latest metadata answer (e.g. of `reachable`) lists the topic; False when not started."""
        return self._producer is not None and self._producer.client.cluster.partitions_for_topic(self.topic) is not None

    def on_metadata_update(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each metadata update of the started producer, e.g. to act at once when one no
        longer lists the topic (`topic_known()`); ProducerUnavailable when not started."""
        if self._producer is None:
            raise ProducerUnavailable("the producer is not started (use `async with` or await start())")
        self._producer.client.cluster.add_listener(lambda _cluster: callback())

    async def reachable(self, *, timeout_s: float) -> bool:
        """Whether a broker answers a metadata request within `timeout_s`; False when not started.

        It is aiokafka's own metadata refresh: joined with one already under way, shielded (a timeout stops
        the wait, not the request), and it refreshes what the producer knows of the cluster as well.
        """
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await self._producer.client.force_metadata_update())
        except TimeoutError:
            return False

    async def require_topic(self, *, timeout_s: float = 10) -> None:
        """TopicMissing, naming the topic and CALLAPI_TOPIC_PREFIX, when a broker answers without listing it: else
        each send would wait out the request timeout (15 s) and fail as if Kafka were down. Kafka not answering
        in time is left to the sends."""
        if await self.reachable(timeout_s=timeout_s) and not self.topic_known():
            raise TopicMissing(topic_missing(self.topic, self.bootstrap))

    async def flush(self) -> None:
        if self._producer is not None:
            await self._producer.flush()

    async def send(self, event: CallEvent | Mapping[str, Any]) -> asyncio.Future[Delivered]:
        """Validate and enqueue `event`; await the returned future for its Delivered (or DeliveryFailed).

        Raises InvalidEvent at once for a bad event and ProducerUnavailable when not started.
        """
        try:
            valid = to_event(event)
            key, value = to_record(valid, max_bytes=self.max_event_bytes)
        except InvalidEvent:
            RECORDS.labels("invalid").inc()
            raise
        producer, partitions = self._producer, self._partitions  # the same ones across the awaits below
        if producer is None or partitions is None:
            raise ProducerUnavailable("the producer is not started (use `async with` or await start())")
        # the partition aiokafka's default partitioner would pick, without its per-record work (partitions.py)
        partition = partitions.partition(key)
        result: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()
        try:
            if partition is None:  # metadata without the topic (a new producer): wait for it as aiokafka's send would
                await producer.partitions_for(self.topic)
                partition = partitions.partition(key)
            # the count it was placed by orders the extension's sequence across added partitions (schemas/sequence.py)
            headers = None if partition is None else partitions_header(partitions.count)
            acked = await producer.send(self.topic, value=value, key=key, partition=partition, headers=headers)
        except (KafkaError, OSError) as error:
            _settle_failed(result, DeliveryFailed(valid.event_id, error))
            return result
        acked.add_done_callback(lambda done: _settle(result, valid, done))
        return result

    async def send_and_wait(self, event: CallEvent | Mapping[str, Any]) -> Delivered:
        return await (await self.send(event))

    async def send_many(self, events: Iterable[CallEvent | Mapping[str, Any]]) -> list[Outcome]:
        """Send every event (batched by linger); one outcome per event, in input order. Never raises."""
        pending: list[asyncio.Future[Delivered] | Failed] = []
        for event in events:
            try:
                pending.append(await self.send(event))
            except (InvalidEvent, ProducerUnavailable) as error:
                pending.append(Failed(_event_id_of(event), error))
        return [await _outcome(item) for item in pending]

    async def __aenter__(self) -> CallEventProducer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _event_id_of(event: object) -> str | None:
    if isinstance(event, CallEvent):
        return event.event_id
    value = event.get("event_id") if isinstance(event, Mapping) else None
    return value if isinstance(value, str) else None


async def _outcome(item: asyncio.Future[Delivered] | Failed) -> Outcome:
    if isinstance(item, Failed):
        return item
    try:
        return await item
    except DeliveryFailed as error:
        return Failed(error.event_id, error)


def _settle(result: asyncio.Future[Delivered], event: CallEvent, acked: asyncio.Future[Any]) -> None:
    if acked.cancelled():
        _settle_failed(result, DeliveryFailed(event.event_id, asyncio.CancelledError()))
    elif (error := acked.exception()) is not None:
        _settle_failed(result, DeliveryFailed(event.event_id, error))
    else:
        metadata = acked.result()
        ACKED.inc()
        if not result.done():  # the caller may have stopped waiting (timeout); the record is still written
            result.set_result(Delivered(event.event_id, event.extension, metadata.partition, metadata.offset))


def _settle_failed(result: asyncio.Future[Delivered], error: DeliveryFailed) -> None:
    RECORDS.labels("failed").inc()
    log.warning("%s", error)
    if not result.done():
        result.set_exception(error)

"""`callapi-events deliver`: one worker process, its resources opened once and closed on the way out.

SIGTERM/SIGINT stop fetching, let in-flight jobs finish (bounded by the request timeout), commit what is
finished and leave the group, so the partitions move to another worker at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from delivery.attempt import Deliverer
from delivery.circuit import Circuits
from delivery.consumer import InvalidHandler, JobConsumer
from delivery.gone import RequestDisabler
from delivery.hosts import HostLimiter
from delivery.http import HttpClient, new_client
from delivery.metrics import DeliveryMetrics
from delivery.publishing import Outgoing, publish_acknowledged
from schemas.consoles import kafka_connection_errors_dropped
from schemas.durations import parse_duration_s
from schemas.errors import InvalidRecord
from schemas.hints import topic_missing
from schemas.letters import dead_letter_headers, fit_letter
from schemas.ops import serve_ops
from schemas.publisher import RecordPublisher
from schemas.settings import Settings

log = logging.getLogger(__name__)


def group_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}delivery"


def job_topics(settings: Settings) -> str:
    """`deliveries` and every delay topic, by pattern: also those of an earlier retry schedule, whose jobs would
    otherwise wait forever on a topic no worker reads."""
    return "^" + re.escape(settings.topics.deliveries) + r"(\.retry\.\d+(ms|s|m|h|d))?$"


def delay_topic_s(settings: Settings, topic: str) -> float | None:
    """The delay a delay topic stands for, read from its name (`….retry.30s` → 30); None for `deliveries`."""
    head, _, label = topic.rpartition(".")
    return parse_duration_s(label) if head == f"{settings.topics.deliveries}.retry" else None


def new_consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group_id(settings), enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_interval_ms=300_000, client_id="callapi-delivery",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )


def new_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
        max_batch_size=262_144,
        client_id="callapi-delivery",
    )


def invalid_record_handler(settings: Settings, publisher: RecordPublisher, metrics: DeliveryMetrics) -> InvalidHandler:
    """Unreadable records go to the DLQ as they are, with why and where from in their headers; batched with the
    worker's other records, sent again until Kafka takes them (the offset stays unfinished until then)."""
    dlq = settings.topics.deliveries_dlq

    async def moved_to_dlq(record: ConsumerRecord[bytes, bytes], error: InvalidRecord) -> None:
        headers = dead_letter_headers(error, topic=record.topic, partition=record.partition, offset=record.offset)
        key, value, cut = fit_letter(record.key, record.value)
        await publish_acknowledged(publisher, [Outgoing(dlq, key, value, headers + cut)])
        metrics.invalid.inc()
        log.warning("unreadable record %s@%d:%d moved to the DLQ: %s", record.topic, record.partition,
                    record.offset, error)

    return moved_to_dlq


def new_deliverer(settings: Settings, *, client: HttpClient, publisher: RecordPublisher,
                  metrics: DeliveryMetrics) -> Deliverer:
    return Deliverer(
        settings=settings, client=client, publisher=publisher,
        disabler=RequestDisabler(database_url=settings.database_url), metrics=metrics,
        circuits=Circuits(failure_threshold=settings.circuit_failure_threshold, open_s=settings.circuit_open_s),
        hosts=HostLimiter(max_per_host=settings.max_per_host, max_waiting_per_host=settings.max_waiting_per_host,
                          stall_s=settings.host_stall_s, monotonic_s=time.monotonic),
    )


async def warn_if_missing(consumer: AIOKafkaConsumer, settings: Settings) -> None:
    """The topics are subscribed by pattern, so a worker of a wrong prefix would idle in silence: say so."""
    if settings.topics.deliveries not in await consumer.topics():
        log.warning("%s; delivering nothing until it is created", topic_missing(settings.topics.deliveries,
                                                                                 settings.kafka_bootstrap))


async def run_worker(
    settings: Settings, *, host: str, port: int, metrics: DeliveryMetrics | None = None,
    client: HttpClient | None = None,
) -> None:
    metrics = metrics or DeliveryMetrics()
    client = client or new_client(settings)
    producer, consumer = new_producer(settings), new_consumer(settings)
    publisher = RecordPublisher(producer)  # one per worker: every job's records share its batches
    deliverer = new_deliverer(settings, client=client, publisher=publisher, metrics=metrics)
    jobs = JobConsumer(
        consumer=consumer, handle=deliverer.handle, invalid=invalid_record_handler(settings, publisher, metrics),
        max_in_flight=settings.max_in_flight, drain_s=settings.request_timeout_s + 2,
        commit_interval_s=settings.commit_interval_s,
        topic_delay_s=lambda topic: delay_topic_s(settings, topic),
    )
    metrics.in_flight.set_function(lambda: jobs.in_flight)  # read at scrape time, not set twice per job
    metrics.open_circuits.set_function(lambda: deliverer.circuits.open_count(deliverer.monotonic_s()))
    ops = await serve_ops(host, port, ready=jobs.ready)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, jobs.stop)
    with kafka_connection_errors_dropped():  # `deliver` says it, naming CALLAPI_KAFKA_BOOTSTRAP
        await producer.start()
    try:
        consumer.subscribe(pattern=job_topics(settings), listener=jobs)
        await consumer.start()
        await warn_if_missing(consumer, settings)
        log.info("delivering from %s and its delay topics", settings.topics.deliveries)
        await jobs.run()
        if jobs.failed:
            raise SystemExit("a job failed unexpectedly (see the log above); the worker stopped so it is redone")
    finally:
        await consumer.stop()
        await producer.stop()
        await client.close()
        await ops.cleanup()
        log.info("worker stopped")

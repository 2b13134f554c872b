"""A fault scenario's world: tenants and requests through the control plane, load from the simulator, and
the read-back that feeds the invariant (events actually on `call-events`, the receivers, `deliveries.dlq`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from control.service import add_request, create_extension, create_organization, create_provider
from processors.records import decode_event
from producers.simulator.generator import Plan
from producers.simulator.population import SimExtension
from schemas.attempts import DeliveryAttempt
from schemas.codec import decode
from schemas.errors import InvalidRecord
from schemas.events import CallEvent, EventType
from schemas.jobs import DeliveryJob, job_id_for
from schemas.request_rows import extension_requests
from schemas.requests import EventRequest
from schemas.settings import Settings
from tests.faults.invariants import InvariantReport, check, expected_job_ids
from tests.processes import Component
from tests.services import Service, all_ready

UrlFor = Callable[[SimExtension, EventType, str], str]
"""(extension, type, role) → the URL of that request; role is `main`, `second` or `disabled`."""


@dataclass(frozen=True)
class World:
    plan: Plan
    config: dict[str, list[EventRequest]]
    organization_ids: dict[str, int]

    @property
    def extensions(self) -> list[str]:
        return list(self.config)


def free_tenant_base(database_url: str, organizations: int) -> int:
    with psycopg.connect(database_url) as conn:
        taken = {int(code) for (code,) in conn.execute(
            "SELECT code FROM accounts WHERE kind = 'organization' AND code ~ '^[0-9]+$'").fetchall()}
    for base in range(8000, 1000, -organizations):
        if not taken.intersection(range(base, base + organizations)):
            return base
    raise RuntimeError("no free block of organization codes")


def provision(settings: Settings, plan: Plan, url_for: UrlFor) -> World:
    """Per extension: one request per type, a second dial-in request, and a disabled hangup request."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        provider = create_provider(conn, f"faults {plan.tenant_base}")
        organization_ids = {}
        for tenant in plan.population().tenants:
            org = create_organization(conn, provider.id, tenant.code, f"faults {tenant.code}")
            organization_ids[tenant.code] = org.id
            for sim in tenant.extensions:
                extension = create_extension(conn, org.id, sim.number)
                for event_type in EventType:
                    add_request(conn, settings, extension, {
                        "type": int(event_type), "method": int(event_type) % 2,
                        "url": url_for(sim, event_type, "main")})
                second = url_for(sim, EventType.DIAL_IN, "second")
                add_request(conn, settings, extension, {"type": 0, "method": 1, "url": second})
                disabled = url_for(sim, EventType.HANGUP, "disabled")
                add_request(conn, settings, extension, {"type": 2, "status": 0, "url": disabled})
        config = {sim.number: extension_requests(conn, sim.number) for sim in plan.population().extensions}
    return World(plan, config, organization_ids)


def wait_configured(proc: Service, world: World, timeout_s: float = 90.0) -> None:
    """Every extension's requests are in the processor's table (the relay published them)."""
    proc.wait_metric("callapi_processor_table_extensions", len(world.extensions), timeout_s)


def simulator(settings: Settings, plan: Plan, *, count: int, rate_eps: float,
              name: str = "faults-simulate") -> Component:
    return Component(
        settings, "simulate", "-n", str(plan.organizations), "-m", str(plan.extensions), "--seed", str(plan.seed),
        "--rate", str(rate_eps), "--count", str(count), "--tenant-base", str(plan.tenant_base), name=name,
    )


async def _read_all(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` up to its end offsets at the start of the read (no consumer group)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def read_all(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    return asyncio.run(asyncio.wait_for(_read_all(settings, topic), timeout=120))


def produced_events(settings: Settings) -> list[CallEvent]:
    """The good events on `call-events`, read back (what the processor owes jobs for)."""
    events = []
    for record in read_all(settings, settings.topics.call_events):
        try:
            events.append(decode_event(record.key, record.value, max_bytes=settings.max_event_bytes))
        except InvalidRecord:
            continue
    return events


def dead_lettered_ids(settings: Settings) -> list[str]:
    records = read_all(settings, settings.topics.deliveries_dlq)
    return [decode(DeliveryJob, record.value or b"").job_id for record in records]


@dataclass
class Outcome:
    report: InvariantReport
    events: int
    waited_s: float


def settle(settings: Settings, world: World, received: Callable[[], Iterable[str]], *, timeout_s: float = 120.0,
           quiet_s: float = 3.0) -> Outcome:
    """Wait until every owed job was delivered or dead-lettered (or the timeout), then check the invariant."""
    began = time.monotonic()
    produced = produced_events(settings)
    expected = expected_job_ids(produced, world.config)
    deadline = began + timeout_s
    dead: list[str] = []
    while time.monotonic() < deadline:
        missing = expected - set(received())
        if not missing:
            break
        dead = dead_lettered_ids(settings)
        if not missing - set(dead):
            break
        time.sleep(1.0)
    time.sleep(quiet_s)  # late repeats still count as duplicates
    report = check(expected, list(received()), dead_lettered_ids(settings))
    return Outcome(report, len(produced), time.monotonic() - began)


@dataclass
class Pipeline:
    api: Service
    processor: Service
    deliverer: Service
    world: World


@contextlib.contextmanager
def running(settings: Settings, plan: Plan, url_for: UrlFor, *, name: str) -> Iterator[Pipeline]:
    """API (+ relay), processor and delivery worker started, tenants provisioned, config in the table."""
    api = Service(settings, "api", name=f"{name}-api")  # with its outbox relay: config reaches the processor
    proc = Service(settings, "processor", name=f"{name}-processor")
    worker = Service(settings, "deliver", name=f"{name}-deliver")
    with all_ready(api, proc, worker):
        world = provision(settings, plan, url_for)
        wait_configured(proc, world)
        yield Pipeline(api, proc, worker, world)


def receiver_url_for(base_url: str) -> UrlFor:
    def url_for(extension: SimExtension, event_type: EventType, role: str) -> str:
        return f"{base_url}/{extension.extended}/{event_type.slug}/{role}"

    return url_for


def where_lost(settings: Settings, world: World, lost: Iterable[str]) -> str:
    """For a failure message: how far the lost jobs got (on `deliveries`, retried, attempted), and whose."""
    lost = set(lost)
    if not lost:
        return "nothing lost"
    owners: Counter[tuple[int, str, str]] = Counter()
    offsets: dict[int, list[int]] = {}
    for record in read_all(settings, settings.topics.call_events):
        try:
            event = decode_event(record.key, record.value, max_bytes=settings.max_event_bytes)
        except InvalidRecord:
            continue
        for request in world.config.get(event.extension, []):
            if job_id_for(event.event_id, request.id) in lost:
                owners[(record.partition, event.type.slug, request.url.rsplit("/", 1)[-1])] += 1
                offsets.setdefault(record.partition, []).append(record.offset)
    names = settings.topics
    seen: dict[str, list[tuple[int, int]]] = {}
    for topic in (names.deliveries, *names.retries):
        seen[topic.removeprefix(settings.topic_prefix)] = sorted(
            (r.partition, r.offset) for r in read_all(settings, topic)
            if decode(DeliveryJob, r.value or b"").job_id in lost)
    attempts = read_all(settings, names.delivery_attempts)
    outcomes = Counter(a.outcome.value for r in attempts
                       if (a := decode(DeliveryAttempt, r.value or b"")).job_id in lost)
    return (f"{len(lost)} lost: on topics at (partition, offset) {seen}; their attempts by outcome "
            f"{dict(outcomes)}; by (event partition, type, role) {dict(owners)}; their call-events offsets "
            f"{ {p: sorted(set(o)) for p, o in sorted(offsets.items())} }; processor group committed "
            f"{asyncio.run(_committed(settings, names.call_events, f'{settings.topic_prefix}processor'))}")


async def _committed(settings: Settings, topic: str, group_id: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(settings.partitions)}
    finally:
        await consumer.stop()


def group_joins(service: Service) -> int:
    """How often the component (re)joined its consumer group so far (aiokafka logs each join)."""
    return service.component.log().count("(Re-)joining group")


class Supervisor:
    """Plays a process supervisor while in use: a component that exits is started again, and counted."""

    def __init__(self, *services: Service, every_s: float = 0.5) -> None:
        self.services = services
        self.every_s = every_s
        self.exits: list[str] = []  # "<command> exited <status> at HH:MM:SS", in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="faults-supervisor", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            for service in self.services:
                process = service.component.process
                if process is not None and process.poll() is not None:
                    self.exits.append(f"{service.command} exited {process.returncode} at {time.strftime('%X')}")
                    service.restart()

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP the process (a long GC pause, a partition: connections stay open, nothing answers), SIGCONT after."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)

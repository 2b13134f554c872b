"""The half-open probe of a circuit, with the real Deliverer, limiter and circuit, and a clock moved by hand."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from delivery.attempt import Deliverer
from delivery.circuit import Circuits, State
from delivery.gone import RequestDisabler
from delivery.hosts import HostLimiter, destination_key
from delivery.http import new_client
from delivery.metrics import DeliveryMetrics
from schemas.publisher import RecordPublisher
from schemas.settings import Settings
from tests.delivery.jobs import make_job


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


async def test_a_probe_cancelled_while_waiting_for_its_host_lets_the_next_job_probe() -> None:
    # A rebalance cancels jobs that are not sending yet; the probe may be one of them, queued behind requests
    # to its host that were already out when the circuit opened.
    settings = Settings(allow_private_urls=True)
    clock = Clock()
    circuits = Circuits(failure_threshold=1, open_s=5.0)
    hosts = HostLimiter(max_per_host=1, max_waiting_per_host=10, stall_s=60.0, monotonic_s=clock)
    client = new_client(settings)
    deliverer = Deliverer(
        settings=settings, client=client, publisher=RecordPublisher(AIOKafkaProducer()),
        disabler=RequestDisabler(database_url=settings.database_url),
        metrics=DeliveryMetrics(registry=CollectorRegistry()), circuits=circuits, hosts=hosts, monotonic_s=clock,
    )
    job = make_job("http://127.0.0.1:9/hook")
    key = destination_key(job.url)
    await hosts.acquire(key)  # a request still out to the host
    circuit = circuits.get(key, now_s=clock())
    circuit.record_failure(clock())
    clock.now_s += 5.0  # the open window is over: the next job is the probe
    probe = asyncio.create_task(deliverer.handle(job))
    await asyncio.sleep(0.05)
    assert circuit.state is State.HALF_OPEN and not probe.done()
    probe.cancel()
    await asyncio.gather(probe, return_exceptions=True)
    hosts.release(key)
    await client.close()
    assert circuit.allow(clock())  # another job may probe; the circuit is not half-open forever

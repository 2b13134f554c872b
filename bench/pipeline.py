"""The pipeline as the benchmarks run it: fresh topics, config written straight to `event-requests`, the
processor and delivery workers as subprocesses (in a scratch folder), and a logging nginx as the sink.

Config skips PostgreSQL and the outbox on purpose: the benchmarks measure the data path only, and the
relay's own latency is measured by bench/relay_latency.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from deploy.topics import create_topics, delete_topics
from producers.simulator.generator import Plan
from schemas.codec import encode_list
from schemas.events import EventType
from schemas.ops import free_port
from schemas.requests import EventRequest, ExtensionRequests, HttpMethod
from schemas.settings import Settings

UrlFor = Callable[[str, EventType], str]


def bench_settings(base: Settings, **overrides: Any) -> Settings:
    values = {"topic_prefix": f"bench.{uuid.uuid4().hex[:8]}.", "allow_private_urls": True, **overrides}
    return base.model_copy(update=values)


@contextlib.contextmanager
def fresh_topics(settings: Settings) -> Iterator[Settings]:
    specs = settings.topic_specs()
    asyncio.run(create_topics(settings.kafka_bootstrap, specs))
    try:
        yield settings
    finally:
        asyncio.run(delete_topics(settings.kafka_bootstrap, [spec.name for spec in specs]))


def config_for(plan: Plan, url_for: UrlFor) -> dict[str, list[EventRequest]]:
    """One request per event type per extension (GET and POST alternate), as the simulator provisions."""
    now = datetime.now(UTC)
    return {
        ext.number: [
            EventRequest(id=f"b{index}t{int(kind)}", extension=ext.number, type=kind,
                         method=HttpMethod.POST if int(kind) % 2 else HttpMethod.GET, url=url_for(ext.number, kind),
                         modified=now)
            for kind in EventType
        ]
        for index, ext in enumerate(plan.population().extensions)
    }


async def publish(settings: Settings, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def read_records(settings: Settings, topic: str, expected: int,
                       timeout_s: float) -> list[ConsumerRecord[bytes, bytes]]:
    """`topic` from the beginning until `expected` records arrived; TimeoutError when they do not in time."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
    finally:
        await consumer.stop()
    if len(found) < expected:
        raise TimeoutError(f"only {len(found)} of {expected} records appeared on {topic}")
    return found


def publish_config(settings: Settings, config: dict[str, list[EventRequest]]) -> None:
    records = ((ext.encode(), encode_list(ExtensionRequests, reqs)) for ext, reqs in config.items())
    asyncio.run(publish(settings, settings.topics.event_requests, records))


def component_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = settings.environment(os.environ)
    env["CALLAPI_LOG_LEVEL"] = "WARNING"
    return {**env, **(extra or {})}


class Proc:
    """`callapi-events <command> --port P` in a scratch folder; SIGTERM on stop."""

    def __init__(self, settings: Settings, command: str, *, workdir: Path, extra_env: dict[str, str] | None = None):
        self.command = command
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = component_env(settings, extra_env)
        self._workdir = workdir
        self.log_path = workdir / f"{command}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "callapi_events", self.command, "--port", str(self.port)], env=self._env,
                cwd=self._workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.command} exited {self.process.returncode}; see {self.log_path}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith(name + " ") or line.startswith(name + "{"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(check: Callable[[], bool], *, timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done within {timeout_s:.0f} s")
        time.sleep(every_s)


# Faust's default 60 s session timeout only matters when a member dies; the benchmarks never kill one.
PROCESSOR_ENV: dict[str, str] = {}


@contextlib.contextmanager
def components(settings: Settings, *, processors: int = 1, workers: int = 1) -> Iterator[list[Proc]]:
    """Processors and delivery workers started together and stopped (SIGTERM) on the way out."""
    with tempfile.TemporaryDirectory(prefix="callapi-bench-") as scratch:
        procs = [Proc(settings, "processor", workdir=Path(scratch), extra_env=PROCESSOR_ENV)
                 for _ in range(processors)]
        procs += [Proc(settings, "deliver", workdir=Path(scratch)) for _ in range(workers)]
        try:
            for proc in procs:
                proc.start()
            yield procs
        finally:
            for proc in procs:
                proc.stop()


def all_ready(procs: list[Proc], timeout_s: float = 180.0) -> float:
    """Wait until every process answers ready at once; returns that moment (time.time())."""
    wait_for(lambda: all(proc.ready() for proc in procs), timeout_s=timeout_s, what="components ready")
    return time.time()

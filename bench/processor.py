"""Processor throughput (events/s, one worker) and memory (RSS) with N configured extensions.

`run(settings, extensions)` writes N extensions' config (one signed dial-in request each) and a backlog of
events to fresh topics, starts one `callapi-events processor` subprocess, and measures: the time until it
is ready (the config table read from `event-requests`), its events/s on the backlog (ready → every event
joined, each job acknowledged by Kafka) with its CPU per event over them, and its RSS with the full table.
`python -m bench.processor` runs 10k (median of 3 runs), 100k and 1M extensions and writes
bench/results/processor.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from deploy.topics import create_topics, delete_topics
from schemas.codec import encode, encode_list
from schemas.events import CallEvent, EventType
from schemas.requests import EventRequest, ExtensionRequests, HttpMethod
from schemas.settings import Settings

RESULTS = Path(__file__).parent / "results" / "processor.json"
SIZES = (10_000, 100_000, 1_000_000)
RUNS = {10_000: 3}  # the machine is shared: the median of several runs where a run is short
EVENTS = 20_000
NOW = datetime.now(UTC)


def _extension(index: int) -> str:
    return f"{1000 + index // 10_000:04d}*{100 + index % 10_000}"


def _config_value(extension: str, index: int) -> bytes:
    request = EventRequest(
        id=f"r{index}", extension=extension, type=EventType.DIAL_IN, method=HttpMethod.POST,
        url=f"https://hooks.example.com/callapi/{index}", signing_secrets=("whsec_" + "k" * 32,), modified=NOW,
    )
    return encode_list(ExtensionRequests, [request])


def _event(extension: str) -> bytes:
    return encode(CallEvent(
        event_id=uuid.uuid4().hex, type=EventType.DIAL_IN, occurred_at=NOW, tenant=extension.split("*")[0],
        extension=extension, CallID="1732701600.42", CallerIDNum="+61299990000", CallerIDName="ACME Pty",
        CalledDID="+61280001234", CalledExtension=extension, CallStatus="CALLING", CallFlow="IN",
        CalledNumber="+61280001234",
    ))


async def _produce(settings: Settings, topic: str, records: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value=value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLAPI_")}
    env.update({"CALLAPI_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "CALLAPI_TOPIC_PREFIX": settings.topic_prefix,
                "CALLAPI_PARTITIONS": str(settings.partitions), "CALLAPI_LOG_LEVEL": "WARNING"})
    return env


def _metric(port: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def _wait(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"not done in {timeout_s}s")


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _measure(settings: Settings, extensions: int, events: int) -> dict[str, Any]:
    port = 19_000 + random.randrange(1000)
    log_path = Path(tempfile.gettempdir()) / f"bench-processor-{settings.topic_prefix}log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "callapi_events", "processor", "--port", str(port)],
                                   env=_env(settings), stdout=log, stderr=subprocess.STDOUT)
        try:
            started = time.perf_counter()
            print(f"processor log: {log_path}", file=sys.stderr)
            _wait(lambda: _ready(port), 900)
            ready, ready_cpu_s = time.perf_counter(), _cpu_s(process.pid)
            _wait(lambda: _metric(port, 'callapi_processor_events_total{result="joined"}') >= events, 900)
            done, done_cpu_s = time.perf_counter(), _cpu_s(process.pid)
            return {
                "extensions": extensions, "events": events,
                "ready_s": round(ready - started, 1),
                "events_per_s": round(events / (done - ready)),
                "cpu_us_per_event": round((done_cpu_s - ready_cpu_s) / events * 1e6, 1),
                "rss_mb": round(_rss_mb(process.pid)),
                "table_extensions": int(_metric(port, "callapi_processor_table_extensions")),
            }
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def run(settings: Settings, extensions: int, *, events: int = EVENTS) -> dict[str, Any]:
    bench = settings.model_copy(update={"topic_prefix": f"bench.{uuid.uuid4().hex[:8]}."})
    names = [spec.name for spec in bench.topic_specs()]
    asyncio.run(create_topics(bench.kafka_bootstrap, bench.topic_specs()))
    try:
        exts = [_extension(i) for i in range(extensions)]
        asyncio.run(_produce(bench, bench.topics.event_requests,
                             ((ext, _config_value(ext, i)) for i, ext in enumerate(exts))))
        chosen = random.Random(7).choices(exts, k=events)
        asyncio.run(_produce(bench, bench.topics.call_events, ((ext, _event(ext)) for ext in chosen)))
        return _measure(bench, extensions, events)
    finally:
        asyncio.run(delete_topics(bench.kafka_bootstrap, names))


def median_run(settings: Settings, extensions: int, runs: int) -> dict[str, Any]:
    """The run with the median events/s of `runs` runs, with every run's events/s."""
    results = []
    for _ in range(runs):
        results.append(run(settings, extensions))
        print(json.dumps(results[-1]), flush=True)
    ranked = sorted(results, key=lambda result: result["events_per_s"])
    return {**ranked[len(ranked) // 2], "events_per_s_runs": [result["events_per_s"] for result in results]}


def main() -> None:
    settings = Settings()
    results = [median_run(settings, size, RUNS.get(size, 1)) for size in SIZES]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"partitions": settings.partitions, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""How long a committed configuration change takes to reach `event-requests` while the system is idle.

`run(settings)` creates a throwaway provider/organization/extension, runs the outbox relay in-process,
commits one change at a time and times commit → record consumed, then removes its accounts and writes
bench/results/relay_latency.json. The target is p99 < 1 s.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer

from bench.tenants import bench_organization
from control.relay import run_relay
from control.service import add_request, admin, edit_request
from control.service.admin import Account
from schemas.requests import ExtensionRequests
from schemas.settings import Settings

RESULTS = Path(__file__).parent / "results" / "relay_latency.json"
CHANGES = 200
IDLE_BETWEEN_S = 0.05


def _setup(conn: psycopg.Connection[Any], settings: Settings, org: Account) -> tuple[Any, str]:
    extension = admin.create_extension(conn, org.id, "1")
    bench_settings = settings.model_copy(update={"allow_private_urls": True})
    request = add_request(conn, bench_settings, extension, {"type": 0, "url": "http://127.0.0.1:9/"}).request
    return extension, request.id


async def _measure(settings: Settings, conn: psycopg.Connection[Any], extension: Any, request_id: str,
                   changes: int) -> list[float]:
    consumer = AIOKafkaConsumer(settings.topics.event_requests, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay(settings, stop=stop))
    latencies: list[float] = []
    try:
        await asyncio.sleep(1.0)  # relay connected and listening, consumer positioned
        for index in range(changes):
            marker = f"bench-{index}-{secrets.token_hex(4)}"
            edit_request(conn, settings, extension, 0, request_id, {"note": marker})
            committed = time.perf_counter()
            while True:
                record = await consumer.getone()
                if record.key == extension.number.encode() and any(
                        item.note == marker for item in ExtensionRequests.validate_json(record.value or b"[]")):
                    break
            latencies.append(time.perf_counter() - committed)
            await asyncio.sleep(IDLE_BETWEEN_S)
    finally:
        stop.set()
        await relay
        await consumer.stop()
    return latencies


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(settings: Settings, *, changes: int = CHANGES) -> dict[str, Any]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn, \
            bench_organization(conn, "relay latency bench") as org:
        extension, request_id = _setup(conn, settings, org)
        latencies = asyncio.run(_measure(settings, conn, extension, request_id, changes))
    result = {
        "changes": len(latencies), "relay_poll_s": settings.relay_poll_s,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(_percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2), "target_p99_ms": 1000,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(run(Settings()), indent=2))

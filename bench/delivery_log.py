"""The delivery-log sink's rate: `delivery-attempts` → one `callapi-events sink` → PostgreSQL.

A backlog of attempts (one test tenant of its own) is produced first, then one sink process drains it; the rate
is measured from the sink's first offset commit to the commit of the last record (read every 0.1 s), so start-up
and group join are not counted. Its CPU and PostgreSQL's over the same window say what one row costs each; the
rows are counted in the table before they are deleted, so a sink that commits without writing cannot pass.
`python -m bench.delivery_log` runs 3 rounds and prints the result.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from aiokafka.admin import AIOKafkaAdminClient

from bench import cpu
from bench.cpu import CpuSampler
from bench.pipeline import bench_settings, fresh_topics, publish
from control.sink import BATCH_RECORDS, group_id
from schemas.attempts import DeliveryAttempt, Outcome
from schemas.codec import encode
from schemas.settings import Settings

POLL_S = 0.1


def attempts(tenant: str, count: int) -> Iterator[tuple[bytes, bytes]]:
    """`count` delivered first attempts of organization 0998's 997 extensions (so on every partition), a microsecond
    apart, under `tenant`: a name no organization has, so the rows are easy to find and delete."""
    now = datetime.now(UTC)
    for i in range(count):
        attempt = DeliveryAttempt(job_id=f"msg_{uuid.uuid4().hex}", event_id=f"bench-{i}", event_type="dial-in",
                                  tenant=tenant, extension=f"0998*{i % 997}", request_id="bench", attempt=1,
                                  outcome=Outcome.DELIVERED, status_code=204, duration_ms=3.2,
                                  attempted_at=now + timedelta(microseconds=i))
        yield attempt.extension.encode(), encode(attempt)


async def _committed(admin: AIOKafkaAdminClient, group: str) -> int:
    return sum(meta.offset for meta in (await admin.list_consumer_group_offsets(group)).values())


async def _drain(settings: Settings, count: int, timeout_s: float) -> dict[str, Any]:
    sink = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callapi_events", "sink", "--port", "0",
        env={**settings.environment(os.environ), "CALLAPI_LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    sampler = CpuSampler({"sink": cpu.process(sink.pid), "postgresql": cpu.processes_called("postgres"),
                          "kafka_broker": cpu.processes_running("kafka.Kafka"), "machine_busy": cpu.machine})
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        async with sampler:
            first: tuple[float, int] | None = None
            deadline = time.monotonic() + timeout_s
            while (done := await _committed(admin, group_id(settings))) < count:
                if first is None and done:
                    first = (time.time(), done)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the sink committed {done:,} of {count:,} records in {timeout_s:.0f} s")
                await asyncio.sleep(POLL_S)
            end = time.time()
    finally:
        await admin.close()
        sink.terminate()
        await asyncio.wait_for(sink.wait(), 30)
    if first is None:
        raise RuntimeError(f"{count:,} attempts were drained before a first commit was seen: use more")
    start, already = first
    rows, span_s, cores = count - already, end - start, sampler.cores(start, end)
    return {"rows": rows, "span_s": round(span_s, 2), "rows_per_s": round(rows / span_s),
            "sink_cpu_us_per_row": round(1e6 * cores["sink"] * span_s / rows, 1),
            "postgresql_cpu_us_per_row": round(1e6 * cores["postgresql"] * span_s / rows, 1),
            "cores": {**cores, "machine_cores": os.cpu_count()}}


def _round(base: Settings, count: int) -> dict[str, Any]:
    settings = bench_settings(base)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    with fresh_topics(settings), psycopg.connect(settings.database_url, autocommit=True) as conn:
        try:
            asyncio.run(publish(settings, settings.topics.delivery_attempts, attempts(tenant, count)))
            result = asyncio.run(_drain(settings, count, timeout_s=max(120.0, count / 1000)))
            stored = conn.execute("SELECT count(*) FROM delivery_log WHERE tenant = %s", (tenant,)).fetchone()
            if stored is None or stored[0] != count:
                raise RuntimeError(f"the sink committed every offset but the table holds {stored} of {count} rows")
        finally:
            conn.execute("DELETE FROM delivery_log WHERE tenant = %s", (tenant,))
    return result


def run(settings: Settings, *, attempts_per_round: int, rounds: int = 3) -> dict[str, Any]:
    """One sink draining `attempts_per_round` attempts, `rounds` times; the median round is reported."""
    runs = sorted((_round(settings, attempts_per_round) for _ in range(rounds)), key=lambda r: r["rows_per_s"])
    return {"attempts": attempts_per_round, "batch_records": BATCH_RECORDS, "sink": runs[len(runs) // 2],
            "rounds": [r["rows_per_s"] for r in runs],
            "median_rows_per_s": round(statistics.median(r["rows_per_s"] for r in runs))}


if __name__ == "__main__":
    print(json.dumps(run(Settings(), attempts_per_round=200_000), indent=2))

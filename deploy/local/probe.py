"""Readiness probes that speak the real protocols (a Kafka metadata request, a PostgreSQL query)."""

from __future__ import annotations

import asyncio
import logging


async def _kafka_metadata(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), timeout=5)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout=5)
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        await admin.close()


def kafka_metadata_ok(bootstrap: str) -> bool:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected while starting
    return asyncio.run(_kafka_metadata(bootstrap))

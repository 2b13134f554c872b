"""Operations: liveness, readiness (PostgreSQL reachable and migrated, Kafka reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from control.api.models import Status
from control.migrate import pending

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
PROBE_TIMEOUT_S = 3.0


def database_ok(pool: ConnectionPool) -> bool:
    """Reachable and migrated up to this version: a replica started before the migrate Job ran (an upgrade that
    adds a table) takes no traffic until it has."""
    try:
        with pool.connection(timeout=PROBE_TIMEOUT_S) as conn:
            missing = pending(conn)
    except Exception as error:  # any failure means not ready
        log.info("readiness: database not reachable: %s", error)
        return False
    if missing:
        log.info("readiness: the database lacks migration(s) %s: run `callapi-events db migrate`", ", ".join(missing))
    return not missing


async def kafka_ok(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout=PROBE_TIMEOUT_S)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout=PROBE_TIMEOUT_S)
        return bool(cluster.get("brokers"))
    except Exception as error:  # any failure means not ready
        log.info("readiness: Kafka not reachable: %s", error)
        return False
    finally:
        await admin.close()


@router.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """The process answers."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status, responses={503: {"model": Status, "description": "not ready"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready when PostgreSQL (migrated) and Kafka both answer."""
    db, kafka = await asyncio.gather(run_in_threadpool(database_ok, request.app.state.pool),
                                     kafka_ok(request.app.state.settings.kafka_bootstrap))
    ready = db and kafka
    return JSONResponse({"status": "ready" if ready else "not ready"}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}},
                                                                  "description": "Prometheus text format"}})
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST.split(";")[0])

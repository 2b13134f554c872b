"""The delivery-log sink against real Kafka and PostgreSQL, and the deliveries endpoint that reads the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import REGISTRY

from control import partitions
from control.service import add_request
from control.service.queries import DELIVERIES_COUNTED
from control.sink import APPLICATION_NAME, LogWriter, group_id, run_sink
from schemas.attempts import DeliveryAttempt, Outcome
from schemas.codec import encode
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.kafka import produce
from tests.processes import Component


def attempt(tenant: Tenant, request_id: str, number: int, at: datetime, job: str = "msg_1") -> DeliveryAttempt:
    return DeliveryAttempt(job_id=job, event_id="ev1", event_type="dial-in", tenant=tenant.org.code or "",
                           extension=tenant.extension.number, request_id=request_id, attempt=number,
                           outcome=Outcome.RETRY if number < 3 else Outcome.DELIVERED,
                           status_code=500 if number < 3 else 204, duration_ms=12.5, attempted_at=at)


def logged(conn: psycopg.Connection[Any], request_id: str) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT job_id, attempt, outcome, status_code FROM delivery_log WHERE request_id = %s"
                        " ORDER BY attempted_at", (request_id,)).fetchall()


async def wait_rows(conn: psycopg.Connection[Any], request_id: str, count: int, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s * 10)):
        # In a thread: the sink runs on this event loop, and a partition it is creating blocks this query.
        if len(await asyncio.to_thread(logged, conn, request_id)) >= count:
            return
        await asyncio.sleep(0.1)


async def committed_everything(settings: Settings) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id(settings))
    finally:
        await admin.close()
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(settings.topics.delivery_attempts, p) for p in range(settings.partitions)]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return all(offsets.get(tp) is not None and offsets[tp].offset == end for tp, end in ends.items() if end)


@pytest.fixture
def request_id(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant) -> str:
    return add_request(conn, settings, tenant.extension, {"type": 0, "url": "http://127.0.0.1:9/"}).request.id


async def test_attempts_are_written_once_and_offsets_committed(conn: psycopg.Connection[Any], settings: Settings,
                                                               tenant: Tenant, request_id: str) -> None:
    now = datetime.now(UTC)
    attempts = [attempt(tenant, request_id, n, now - timedelta(days=1, minutes=5 - n)) for n in (1, 2)]
    attempts.append(attempt(tenant, request_id, 3, now))
    records = [(tenant.extension.number, encode(a)) for a in attempts]
    await produce(settings, settings.topics.delivery_attempts,
                  [*records, records[0], (tenant.extension.number, b'{"not": "an attempt"}')])
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop=stop))
    await wait_rows(conn, request_id, 3)
    for _ in range(100):
        if await committed_everything(settings):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert logged(conn, request_id) == [("msg_1", 1, "retry", 500), ("msg_1", 2, "retry", 500),
                                        ("msg_1", 3, "delivered", 204)]
    assert await committed_everything(settings)
    names = partition_names(conn)
    days = {a.attempted_at.date() for a in attempts}  # today, yesterday (and the day before, just after midnight)
    assert len(days) >= 2 and {partitions.partition_name(day) for day in days} <= names


def partition_names(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'delivery_log'").fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize(("names", "today", "keep_days", "dropped"), [
    (["delivery_log_20261101", "delivery_log_20261112", "delivery_log_20261113", "other"], date(2026, 11, 27), 14,
     ["delivery_log_20261101", "delivery_log_20261112"]),
    (["delivery_log_20261127"], date(2026, 11, 27), 1, []),
    (["delivery_log_20261125"], date(2026, 11, 27), 1, ["delivery_log_20261125"]),
])
def test_retention_rule(names: list[str], today: date, keep_days: int, dropped: list[str]) -> None:
    assert partitions.expired(names, today=today, retention_days=keep_days) == dropped


async def test_old_partitions_are_dropped(database_url: str, settings: Settings) -> None:
    old_day = datetime.now(UTC).date() - timedelta(days=settings.delivery_log_retention_days + 3)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await partitions.ensure_partition(conn, old_day)
        await partitions.ensure_partition(conn, datetime.now(UTC).date())
        dropped = await partitions.drop_expired(conn, today=datetime.now(UTC).date(),
                                                retention_days=settings.delivery_log_retention_days)
        left = await partitions.existing_partitions(conn)
    assert partitions.partition_name(old_day) in dropped
    assert partitions.partition_name(old_day) not in left
    assert partitions.partition_name(datetime.now(UTC).date()) in left


async def test_a_batch_read_again_is_written_once(database_url: str, conn: psycopg.Connection[Any],
                                                  tenant: Tenant, request_id: str) -> None:
    """After a crash the sink reads a batch again: its COPY meets rows already there and falls back to skipping them."""
    now = datetime.now(UTC)
    first = [attempt(tenant, request_id, 1, now, job="msg_5")]
    again = [*first, attempt(tenant, request_id, 2, now + timedelta(seconds=1), job="msg_5")]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
        writer = LogWriter(conn=aconn)
        await writer.write(first)
        await writer.write(again)
        await writer.write(again)
        await writer.write([attempt(tenant, request_id, 3, now + timedelta(seconds=2), job="msg_5")])
    assert [row[1] for row in logged(conn, request_id)] == [1, 2, 3]


@pytest.fixture
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def test_sink_command_and_deliveries_endpoint(conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant,
                                              request_id: str, api: ApiServer) -> None:
    start = datetime.now(UTC)
    attempts = [attempt(tenant, request_id, n, start + timedelta(seconds=n), job="msg_2") for n in range(1, 6)]
    with Component(settings, "sink", "--port", "0") as sink:
        asyncio.run(produce(settings, settings.topics.delivery_attempts,
                            [(tenant.extension.number, encode(a)) for a in attempts]))
        asyncio.run(wait_rows(conn, request_id, 5))
        assert len(logged(conn, request_id)) == 5, sink.log()
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents/0/{request_id}/deliveries"
    with api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as http:
        first = http.get(path, params={"count": 2}).json()
        second = http.get(path, params={"count": 2, "startIndex": 2}).json()
    assert first["paging"] == {"startIndex": 0, "itemsPerPage": 2, "totalResults": 5, "totalResultsCapped": False}
    assert [e["attempt"] for e in first["entry"]] == [5, 4]
    assert [e["attempt"] for e in second["entry"]] == [3, 2]
    assert first["entry"][0]["outcome"] == "delivered" and first["entry"][0]["job_id"] == "msg_2"


async def test_sink_resumes_after_losing_its_database_connection(conn: psycopg.Connection[Any], settings: Settings,
                                                                 tenant: Tenant, request_id: str) -> None:
    now = datetime.now(UTC)
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop=stop))
    try:
        await produce(settings, settings.topics.delivery_attempts,
                      [(tenant.extension.number, encode(attempt(tenant, request_id, 1, now, job="msg_3")))])
        await wait_rows(conn, request_id, 1)
        killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE application_name = %s AND datname = current_database()",
                              (APPLICATION_NAME,)).fetchone()
        assert killed is not None and killed[0] == 1
        await produce(settings, settings.topics.delivery_attempts,
                      [(tenant.extension.number, encode(attempt(tenant, request_id, 2, now, job="msg_3")))])
        await wait_rows(conn, request_id, 2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert [row[1] for row in logged(conn, request_id)] == [1, 2]


def pending() -> float | None:
    return REGISTRY.get_sample_value("callapi_sink_pending_attempts")


async def until(condition: Callable[[], bool], timeout_s: float = 30) -> bool:
    for _ in range(int(timeout_s * 10)):
        if condition():
            return True
        await asyncio.sleep(0.1)
    return condition()


@pytest.fixture
def own_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Topics and a consumer group of its own: nothing another test left unread."""
    return make_settings()


async def test_attempts_are_read_on_while_a_batch_waits_for_the_database(
    conn: psycopg.Connection[Any], database_url: str, own_settings: Settings, tenant: Tenant, request_id: str,
) -> None:
    """An attempt published while the sink writes is read at once. Left in the Kafka client's buffer for over
    0.1 s, it would make the client fetch the other partitions without its own, and the next attempt of that
    partition would wait for that fetch to end (up to 500 ms) before it could reach the delivery log."""
    settings = own_settings
    now = datetime.now(UTC)
    held = [(tenant.extension.number, encode(attempt(tenant, request_id, n, now, job="msg_held"))) for n in (1, 2)]
    locker = await psycopg.AsyncConnection.connect(database_url)
    await locker.execute("LOCK TABLE delivery_log IN ACCESS EXCLUSIVE MODE")  # the sink's write waits for it
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop=stop))
    try:
        await produce(settings, settings.topics.delivery_attempts, held[:1])
        assert await until(lambda: pending() == 1)  # read; its write waits
        await produce(settings, settings.topics.delivery_attempts, held[1:])
        assert await until(lambda: pending() == 2), pending()  # read while the first still waits
        await locker.rollback()
        await wait_rows(conn, request_id, 2)
        assert await until(lambda: pending() == 0)
        assert await committed_everything(settings)
    finally:
        stop.set()
        await locker.close()  # also when the test failed holding the lock: the sink can then stop
        await asyncio.wait_for(task, 30)
    assert [row[:2] for row in logged(conn, request_id)] == [("msg_held", 1), ("msg_held", 2)]


async def test_text_postgresql_cannot_store_does_not_stop_the_sink(conn: psycopg.Connection[Any], settings: Settings,
                                                                    tenant: Tenant, request_id: str) -> None:
    """A PBX may send any event_id (NUL included) through ingest; its attempts must not wedge the delivery log."""
    now = datetime.now(UTC)
    nul = attempt(tenant, request_id, 1, now, job="msg_4").model_copy(update={"event_id": "ev\u00001"})
    after = attempt(tenant, request_id, 2, now + timedelta(seconds=1), job="msg_4")
    await produce(settings, settings.topics.delivery_attempts,
                  [(tenant.extension.number, encode(nul)), (tenant.extension.number, encode(after))])
    stop = asyncio.Event()
    task = asyncio.create_task(run_sink(settings, stop=stop))
    try:
        await wait_rows(conn, request_id, 2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    rows = conn.execute("SELECT attempt, event_id FROM delivery_log WHERE job_id = 'msg_4' ORDER BY attempt").fetchall()
    assert rows == [(1, "ev\ufffd1"), (2, "ev1")]


async def test_the_deliveries_endpoint_counts_a_long_log_up_to_a_bound(database_url: str, settings: Settings,
                                                                        tenant: Tenant, request_id: str,
                                                                        api: ApiServer) -> None:
    now = datetime.now(UTC)
    logged_count = DELIVERIES_COUNTED + 50
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await LogWriter(conn=conn).write([attempt(tenant, request_id, 1, now - timedelta(milliseconds=n), job=f"m{n}")
                                          for n in range(logged_count)])
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents/0/{request_id}/deliveries"
    with api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as http:
        first = http.get(path, params={"count": 3}).json()
        last = http.get(path, params={"count": 100, "startIndex": logged_count - 20}).json()
    assert first["paging"] == {"startIndex": 0, "itemsPerPage": 3, "totalResults": DELIVERIES_COUNTED,
                               "totalResultsCapped": True}
    assert [e["job_id"] for e in first["entry"]] == ["m0", "m1", "m2"]
    assert last["paging"] == {"startIndex": logged_count - 20, "itemsPerPage": 20, "totalResults": logged_count,
                              "totalResultsCapped": False}  # a page past the bound is counted to its end
    assert last["entry"][-1]["job_id"] == f"m{logged_count - 1}"

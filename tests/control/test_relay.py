"""The outbox relay against real PostgreSQL and Kafka: committed changes reach `event-requests`, rolled-back
ones never do, rows are marked sent only after Kafka acked, replicas keep per-extension order, resync."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from control import relay
from control.relay import APPLICATION_NAME, resync, run_relay
from control.service import add_request, admin, authenticate, edit_request, issue_token, remove_request, rotate_secret
from deploy.grow import grow_to
from schemas.publisher import partition_for
from schemas.requests import ExtensionRequests
from schemas.settings import Settings
from tests.control.tenants import Tenant
from tests.control.topic import published_lists, relay_running
from tests.kafka import read_topic
from tests.processes import Component

URL = "http://127.0.0.1:9/hook"


def unsent(conn: psycopg.Connection[Any], number: str) -> int:
    row = conn.execute("SELECT count(*) FROM outbox WHERE extension = %s AND sent_at IS NULL", (number,)).fetchone()
    return int(row[0]) if row else -1


async def test_each_committed_change_is_published(conn: psycopg.Connection[Any], settings: Settings,
                                                  tenant: Tenant) -> None:
    number = tenant.extension.number
    async with relay_running(settings):
        saved = add_request(conn, settings, tenant.extension, {"type": 2, "method": 1, "url": URL, "signing": True})
        lists = await published_lists(settings, number, until=lambda items: len(items) == 1)
        item = lists[-1][0]
        assert (item.id, item.extension, item.type.slug, item.method, item.url, item.enabled) == (
            saved.request.id, number, "hangup", "POST", URL, True)
        assert item.signing_secrets == (saved.secret,)
        edit_request(conn, settings, tenant.extension, 2, saved.request.id, {"status": 0})
        lists = await published_lists(settings, number, until=lambda items: bool(items) and not items[0].enabled)
        assert lists[-1][0].enabled is False
        remove_request(conn, tenant.extension, 2, saved.request.id)
        lists = await published_lists(settings, number, until=lambda items: items == [])
        assert lists[-1] == []
        await asyncio.sleep(0.5)
    assert unsent(conn, number) == 0


async def test_a_rolled_back_change_is_never_published(conn: psycopg.Connection[Any], settings: Settings,
                                                       tenant: Tenant) -> None:
    class Abort(Exception):
        pass

    rolled_back = ""
    async with relay_running(settings):
        with pytest.raises(Abort), conn.transaction():
            rolled_back = add_request(conn, settings, tenant.extension, {"type": 0, "url": URL}).request.id
            raise Abort
        kept = add_request(conn, settings, tenant.extension, {"type": 1, "url": URL}).request.id
        lists = await published_lists(settings, tenant.extension.number, until=lambda items: len(items) == 1)
    assert [[item.id for item in items] for items in lists] == [[kept]]
    assert rolled_back and rolled_back != kept


async def test_rows_stay_unsent_until_kafka_acks(conn: psycopg.Connection[Any], settings: Settings,
                                                 tenant: Tenant) -> None:
    with socket.socket() as closed:  # a port nobody listens on: Kafka unreachable
        closed.bind(("127.0.0.1", 0))
        dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{closed.getsockname()[1]}"})
    add_request(conn, settings, tenant.extension, {"type": 3, "url": URL})
    stop = asyncio.Event()
    task = asyncio.create_task(run_relay(dead, stop=stop))
    await asyncio.sleep(2.0)
    assert unsent(conn, tenant.extension.number) == 1
    stop.set()
    await asyncio.wait_for(task, 30)
    async with relay_running(settings):
        await published_lists(settings, tenant.extension.number, until=lambda items: len(items) == 1)
        for _ in range(50):
            if unsent(conn, tenant.extension.number) == 0:
                break
            await asyncio.sleep(0.1)
    assert unsent(conn, tenant.extension.number) == 0


async def test_two_replicas_keep_per_extension_order(conn: psycopg.Connection[Any], settings: Settings,
                                                     tenant: Tenant) -> None:
    saved = add_request(conn, settings, tenant.extension, {"type": 0, "url": URL, "note": "0"})
    async with relay_running(settings), relay_running(settings):
        for index in range(1, 31):
            edit_request(conn, settings, tenant.extension, 0, saved.request.id, {"note": str(index)})
            await asyncio.sleep(0.01)
        lists = await published_lists(settings, tenant.extension.number, until=lambda items: items[0].note == "30")
    notes = [int(items[0].note) for items in lists]
    assert notes == sorted(notes) and notes[-1] == 30


@pytest.fixture
def fresh(make_settings: Callable[..., Settings]) -> Settings:
    """Settings with new, empty topics: as after losing the cluster."""
    return make_settings()


async def test_resync_republishes_every_extension(conn: psycopg.Connection[Any], fresh: Settings,
                                                  settings: Settings, tenant: Tenant) -> None:
    saved = add_request(conn, settings, tenant.extension, {"type": 4, "url": URL})
    row = conn.execute("SELECT count(*) FROM extensions").fetchone()
    progress: list[tuple[int, int]] = []
    assert await resync(fresh, progress=lambda done, total: progress.append((done, total))) == (row[0] if row else -1)
    assert progress[-1] == (row[0], row[0]) if row else False
    lists = await published_lists(fresh, tenant.extension.number, until=lambda items: len(items) == 1)
    assert [item.id for item in lists[-1]] == [saved.request.id]


def test_relay_and_resync_commands(conn: psycopg.Connection[Any], make_settings: Callable[..., Settings],
                                   tenant: Tenant) -> None:
    settings = make_settings()
    with Component(settings, "relay", "--port", "0") as relay:
        saved = add_request(conn, settings, tenant.extension, {"type": 1, "url": URL})
        lists = asyncio.run(published_lists(settings, tenant.extension.number, until=lambda items: len(items) == 1))
        assert [item.id for item in lists[-1]] == [saved.request.id], relay.log()
    fresh = make_settings()
    resync_run = Component(fresh, "relay", "--resync", name="resync").start()
    assert resync_run.process is not None and resync_run.process.wait(120) == 0, resync_run.log()
    assert "republished" in resync_run.log()
    lists = asyncio.run(published_lists(fresh, tenant.extension.number, until=lambda items: len(items) == 1))
    assert [item.id for item in lists[-1]] == [saved.request.id]


async def test_relay_survives_losing_its_database_connections(conn: psycopg.Connection[Any], settings: Settings,
                                                              tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="control.relay")
    async with relay_running(settings):
        first = add_request(conn, settings, tenant.extension, {"type": 0, "url": URL}).request.id
        await published_lists(settings, tenant.extension.number, until=lambda items: len(items) == 1)
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()", (APPLICATION_NAME,),
        ).fetchone()
        assert killed is not None and killed[0] >= 2
        second = add_request(conn, settings, tenant.extension, {"type": 1, "url": URL}).request.id
        lists = await published_lists(settings, tenant.extension.number, until=lambda items: len(items) == 2)
    assert [item.id for item in lists[-1]] == [first, second]
    said = [record.getMessage() for record in caplog.records if record.name == "control.relay"]
    assert any("relay round failed" in line for line in said), said  # the lost connection was told
    assert any(line.startswith("relay works again") for line in said), said  # and that it was over


def failed_rounds() -> float:
    return REGISTRY.get_sample_value("callapi_relay_failures_total") or 0.0


async def test_a_stored_request_the_model_refuses_is_left_out_and_holds_up_nothing(
        conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="control.relay")
    number = tenant.extension.number
    kept = add_request(conn, settings, tenant.extension, {"type": 0, "url": URL}).request.id
    bad = add_request(conn, settings, tenant.extension, {"type": 1, "url": URL}).request.id
    # a row the database accepts but the published model refuses (an empty URL)
    conn.execute("UPDATE event_requests SET url = '' WHERE id = %s", (bad,))
    async with relay_running(settings):
        edit_request(conn, settings, tenant.extension, 0, kept, {"status": 0})
        lists = await published_lists(settings, number, until=lambda items: len(items) == 1 and not items[0].enabled)
        assert [item.id for item in lists[-1]] == [kept]
        conn.execute("UPDATE event_requests SET url = %s WHERE id = %s", (URL, bad))
        edit_request(conn, settings, tenant.extension, 1, bad, {"note": "fixed"})
        lists = await published_lists(settings, number, until=lambda items: len(items) == 2)
        await asyncio.sleep(0.5)
    assert {item.id for item in lists[-1]} == {kept, bad}
    refused = [r.getMessage() for r in caplog.records if r.name == "control.relay" and r.levelno == logging.ERROR]
    assert refused and all(f"request {bad} of extension {number} is left out" in line for line in refused), refused
    assert "url: String should have at least 1 character" in refused[0]
    assert not any("relay round failed" in r.getMessage() for r in caplog.records), "the batch must not fail"
    assert unsent(conn, number) == 0


async def test_an_unexpected_failure_is_logged_once_with_its_traceback_and_the_relay_goes_on(
        conn: psycopg.Connection[Any], settings: Settings, tenant: Tenant, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO, logger="control.relay")
    broken = True
    real_sweep = relay.sweep

    async def sweep_with_a_bug(conn: Any) -> None:  # a bug in the relay's own code, until it is "fixed"
        if broken:
            raise ZeroDivisionError("division by zero")
        await real_sweep(conn)

    monkeypatch.setattr(relay, "sweep", sweep_with_a_bug)
    saved = add_request(conn, settings, tenant.extension, {"type": 0, "url": URL}).request.id
    async with relay_running(settings):
        before = failed_rounds()
        for _ in range(300):
            if failed_rounds() >= before + 3:
                break
            await asyncio.sleep(0.1)
        assert failed_rounds() >= before + 3
        broken = False
        lists = await published_lists(settings, tenant.extension.number, until=lambda items: len(items) == 1)
    assert [item.id for item in lists[-1]] == [saved]
    told = [record for record in caplog.records if record.name == "control.relay"]
    failures = [record for record in told if "relay round failed" in record.getMessage()]
    assert len(failures) == 1, [record.getMessage() for record in told]  # not one each second
    assert failures[0].exc_info is not None and "ZeroDivisionError" in failures[0].getMessage()
    assert "this warning repeats at most every 60 s" in failures[0].getMessage()
    assert any(record.getMessage().startswith("relay works again") for record in told), told


async def test_expired_secrets_are_swept_and_their_list_republished(conn: psycopg.Connection[Any], settings: Settings,
                                                                    tenant: Tenant) -> None:
    quick = settings.model_copy(update={"secret_overlap_s": 1})
    async with relay_running(settings):
        saved = add_request(conn, quick, tenant.extension, {"type": 0, "url": URL, "signing": True})
        rotated = rotate_secret(conn, quick, tenant.extension, 0, saved.request.id)
        lists = await published_lists(settings, tenant.extension.number,
                                      until=lambda items: bool(items) and len(items[0].signing_secrets) == 2)
        assert lists[-1][0].signing_secrets == (rotated.secret, saved.secret)
        lists = await published_lists(settings, tenant.extension.number,
                                      until=lambda items: items[0].signing_secrets == (rotated.secret,))
    assert lists[-1][0].signing_secrets == (rotated.secret,)
    left = conn.execute("SELECT count(*) FROM signing_secrets WHERE extension_id = %s", (tenant.extension.id,))
    assert left.fetchone() == (1,)


async def test_expired_access_tokens_are_swept(conn: psycopg.Connection[Any], settings: Settings,
                                               tenant: Tenant) -> None:
    """Integrations often take a new token per call: expired ones must not pile up forever."""
    creds = (tenant.client.client_id, tenant.client.client_secret)
    now = datetime.now(UTC)
    issue_token(conn, *creds, ttl_s=3600, now=now - timedelta(hours=2))
    live = issue_token(conn, *creds, ttl_s=3600, now=now).access_token
    client_tokens = "SELECT count(*) FROM access_tokens t JOIN api_clients c ON c.id = t.api_client_id" \
                    " WHERE c.client_id = %s"
    assert conn.execute(client_tokens, (creds[0],)).fetchone() == (2,)
    async with relay_running(settings):
        for _ in range(100):
            if conn.execute(client_tokens, (creds[0],)).fetchone() == (1,):
                break
            await asyncio.sleep(0.1)
    assert conn.execute(client_tokens, (creds[0],)).fetchone() == (1,)
    assert authenticate(conn, live, now=datetime.now(UTC)).account_id == tenant.org.id


@pytest.fixture
def two_partitions(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(partitions=2)


async def test_a_list_published_after_partitions_were_added_lands_on_its_new_partition(
        conn: psycopg.Connection[Any], two_partitions: Settings, tenant: Tenant) -> None:
    settings = two_partitions
    code = tenant.org.code or ""
    number = next(f"{code}*{n}" for n in range(300, 400)
                  if partition_for(f"{code}*{n}".encode(), 2) != partition_for(f"{code}*{n}".encode(), 4))
    extension = admin.create_extension(conn, tenant.org.id, number)
    async with relay_running(settings):
        add_request(conn, settings, extension, {"type": 0, "url": URL})
        await published_lists(settings, number, until=lambda items: len(items) == 1)  # its producer counts 2
        admin_client = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin_client.start()
        try:  # as `topics grow` does (until the metadata shows them), whose resync then puts the list there
            await grow_to(admin_client, [settings.topics.event_requests], 4)
        finally:
            await admin_client.close()
        add_request(conn, settings, extension, {"type": 1, "url": URL})
        await published_lists(settings, number, until=lambda items: len(items) == 2)
    records = await read_topic(settings, settings.topics.event_requests, idle_s=0.5)
    partitions = {len(ExtensionRequests.validate_json(record.value or b"[]")): record.partition
                  for record in records if record.key == number.encode()}  # read partition by partition, not in time
    assert partitions == {1: partition_for(number.encode(), 2), 2: partition_for(number.encode(), 4)}

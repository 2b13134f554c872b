"""Sign-in throttling: the policy's pure parts (table tests), its PostgreSQL counters (explicit clocks, real
concurrency), and POST /oauth/token and the web UI sign-in over real HTTP against the real PostgreSQL.

Each test signs in from addresses of its own (X-Forwarded-For from the trusted loopback peer), so the
counters of one test never touch another's, nor the loopback address the other control tests use.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from typing import Any

import httpx
import psycopg
import pytest

from control.api.addresses import parse_networks, source_address
from control.errors import Throttled
from control.service import SignInPolicy
from control.service.throttle import address_subject, check, client_subject, record_failure, record_success
from control.service.throttle import retry_after_s as seconds_left
from control.ui.routes_auth import throttled_text
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import Browser

PER_CLIENT = 3
PER_ADDRESS = 5
WINDOW_S = 600  # long: no test here waits for it, except the one with its own short window
TRUSTED = parse_networks("127.0.0.1, 10.0.0.0/8")


def new_address() -> str:
    """A fresh address of the benchmarking range 198.18.0.0/15: no other test uses it."""
    return f"198.{random.randrange(18, 20)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("203.0.113.9", [], "203.0.113.9"),                                  # direct, no header
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),                    # untrusted peer: header ignored
    ("127.0.0.1", [], "127.0.0.1"),                                      # trusted peer, no header
    ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),                     # trusted peer: believed
    ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),            # the client's own entry is not
    ("127.0.0.1", ["198.51.100.1, 10.1.2.3"], "198.51.100.1"),           # walks past trusted hops
    ("127.0.0.1", ["6.6.6.6", "198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # several headers: one list
    ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),                   # every hop trusted: the leftmost
    ("127.0.0.1", ["198.51.100.1, not-an-address"], "127.0.0.1"),        # garbage: stop at the proxy
    ("127.0.0.1", [" 2001:db8::1 "], "2001:db8::1"),
    ("::ffff:127.0.0.1", ["198.51.100.1"], "198.51.100.1"),              # dual-stack peer
    (None, ["198.51.100.1"], "unknown"),
])
def test_source_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert source_address(peer, forwarded, TRUSTED) == expected


def test_trusted_proxies_setting() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" 10.0.0.0/8 ,192.168.1.7,, fd00::/8") == (
        ip_network("10.0.0.0/8"), ip_network("192.168.1.7/32"), ip_network("fd00::/8"))
    with pytest.raises(ValueError, match="CALLAPI_TRUSTED_PROXIES: 'ingress' is not an IP address"):
        parse_networks("10.0.0.0/8,ingress")


@pytest.mark.parametrize(("value", "expected"), [
    ("cli_0123abcd", "cli_0123abcd"), ("", ""), ("x" * 255, "x" * 255), ("x" * 256, None), ("cli_\x00", None),
    ("cli_\ud800", None),
])
def test_client_subject(value: str, expected: str | None) -> None:
    assert client_subject(value) == expected


@pytest.mark.parametrize(("address", "expected"), [
    ("198.51.100.7", "198.51.100.7"), ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"), ("unknown", "unknown"), ("u" * 100, "u" * 64),
])
def test_address_subject(address: str, expected: str) -> None:
    assert address_subject(address) == expected


@pytest.mark.parametrize(("left", "expected_s", "expected_text"), [
    (timedelta(seconds=0.2), 1, "about 1 second;"), (timedelta(seconds=59.01), 60, "about 60 seconds;"),
    (timedelta(seconds=150), 150, "about 3 minutes;"), (timedelta(seconds=900), 900, "about 15 minutes;"),
    (timedelta(seconds=-3), 1, "about 1 second;"),
])
def test_retry_after(left: timedelta, expected_s: int, expected_text: str) -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert seconds_left(now + left, now) == expected_s
    assert expected_text in throttled_text(expected_s)


def test_counters_and_windows_in_postgres(conn: psycopg.Connection[Any]) -> None:
    """Explicit clocks a day in the past: nothing here waits, and no other test's rows are swept."""
    policy = SignInPolicy(window_s=60, max_failures_per_client=2, max_failures_per_address=4)
    start = datetime.now(UTC) - timedelta(days=1)
    client, other, address = f"cli_{uuid.uuid4().hex}", f"cli_{uuid.uuid4().hex}", new_address()
    record_failure(conn, policy, client, address, now=start)
    check(conn, policy, client, address, now=start)  # one failure: below the limit
    record_failure(conn, policy, client, address, now=start + timedelta(seconds=10))
    with pytest.raises(Throttled) as refused:
        check(conn, policy, client, address, now=start + timedelta(seconds=20))
    assert (refused.value.code, refused.value.status, refused.value.retry_after_s) == ("sign_in_throttled", 429, 40)
    check(conn, policy, other, address, now=start + timedelta(seconds=20))  # the address is still below its limit
    check(conn, policy, client, address, now=start + timedelta(seconds=60))  # the window is over
    record_failure(conn, policy, client, address, now=start + timedelta(seconds=61))  # restarts it at 1
    assert counter(conn, "client", client) == (1, start + timedelta(seconds=121))
    assert counter(conn, "address", address) == (1, start + timedelta(seconds=121))
    record_success(conn, other, now=start + timedelta(seconds=200))  # sweeps expired rows of every key
    assert counter(conn, "client", client) is None and counter(conn, "address", address) is None


def test_concurrent_failures_are_all_counted(database_url: str) -> None:
    policy = SignInPolicy(window_s=600, max_failures_per_client=1000, max_failures_per_address=1000)
    client, address, now = f"cli_{uuid.uuid4().hex}", new_address(), datetime.now(UTC)

    def fail(_: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as own:
            for _ in range(5):
                record_failure(own, policy, client, address, now=now)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fail, range(8)))
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert counter(conn, "client", client) == (40, now + timedelta(seconds=600))
        assert counter(conn, "address", address) == (40, now + timedelta(seconds=600))


def counter(conn: psycopg.Connection[Any], kind: str, subject: str) -> tuple[int, datetime] | None:
    row = conn.execute("SELECT failures, window_ends FROM sign_in_failures WHERE kind = %s AND subject = %s",
                       (kind, subject)).fetchone()
    return None if row is None else (row[0], row[1])


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    limits = {"sign_in_window_s": WINDOW_S, "sign_in_max_failures_per_client": PER_CLIENT,
              "sign_in_max_failures_per_address": PER_ADDRESS, "trusted_proxies": "127.0.0.1"}
    with ApiServer(settings.model_copy(update=limits)) as server:
        yield server


def sign_in(http: httpx.Client, client_id: str, secret: str, address: str) -> httpx.Response:
    return http.post("/oauth/token", headers={"X-Forwarded-For": address},
                     data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})


def statuses(http: httpx.Client, client_id: str, secret: str, address: str, times: int) -> list[int]:
    return [sign_in(http, client_id, secret, address).status_code for _ in range(times)]


def throttled_count(http: httpx.Client, via: str) -> float:
    found = re.search(rf'callapi_api_sign_ins_total{{outcome="throttled",via="{via}"}} (\S+)',
                      http.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def assert_throttled(answer: httpx.Response, *, window_s: int = WINDOW_S) -> None:
    assert answer.status_code == 429, answer.text
    assert 0 < int(answer.headers["retry-after"]) <= window_s
    assert answer.json()["error"]["code"] == "sign_in_throttled"
    assert "Retry-After" in answer.json()["error"]["message"]


def test_wrong_secrets_lock_the_client_even_for_the_right_secret(api: ApiServer, tenant: Tenant) -> None:
    client_id, secret, address = tenant.client.client_id, tenant.client.client_secret, new_address()
    with api.client() as http:
        before = throttled_count(http, "oauth")
        assert statuses(http, client_id, "wrong", address, PER_CLIENT) == [401] * PER_CLIENT
        assert_throttled(sign_in(http, client_id, "wrong", address))
        assert_throttled(sign_in(http, client_id, secret, address))  # the right secret too, during the lock
        assert_throttled(sign_in(http, client_id, secret, new_address()))  # from anywhere: the client is locked
        assert throttled_count(http, "oauth") == before + 3


def test_one_address_cannot_spray_client_ids(api: ApiServer, conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    from tests.control.tenants import make_tenant

    other = make_tenant(conn, tenant.provider).client
    address = new_address()
    with api.client() as http:
        unknown = [sign_in(http, f"cli_guess{n}", "wrong", address).status_code for n in range(PER_ADDRESS - 1)]
        assert unknown == [401] * (PER_ADDRESS - 1)
        assert sign_in(http, tenant.client.client_id, tenant.client.client_secret, address).status_code == 200
        assert sign_in(http, other.client_id, "wrong", address).status_code == 401  # the address's last failure
        assert_throttled(sign_in(http, other.client_id, other.client_secret, address))
        assert_throttled(sign_in(http, "cli_guess_more", "wrong", address))
        assert sign_in(http, other.client_id, other.client_secret, new_address()).status_code == 200


def test_success_resets_the_client_but_not_the_address(api: ApiServer, conn: psycopg.Connection[Any],
                                                       tenant: Tenant) -> None:
    client_id, secret, address = tenant.client.client_id, tenant.client.client_secret, new_address()
    with api.client() as http:
        assert statuses(http, client_id, "wrong", address, PER_CLIENT - 1) == [401] * (PER_CLIENT - 1)
        assert sign_in(http, client_id, secret, address).status_code == 200
        assert counter(conn, "client", client_id) is None
        assert counter(conn, "address", address) is not None and counter(conn, "address", address)[0] == 2
        assert statuses(http, client_id, "wrong", address, PER_CLIENT - 1) == [401] * (PER_CLIENT - 1)
        assert sign_in(http, client_id, secret, address).status_code == 200  # 4 failures, never 3 in a row
        assert sign_in(http, client_id, "wrong", address).status_code == 401  # the address's 5th
        assert_throttled(sign_in(http, client_id, secret, address))


def test_sign_in_works_again_after_the_window(settings: Settings, tenant: Tenant) -> None:
    short = {"sign_in_window_s": 2, "sign_in_max_failures_per_client": 1, "trusted_proxies": "127.0.0.1"}
    client_id, secret, address = tenant.client.client_id, tenant.client.client_secret, new_address()
    with ApiServer(settings.model_copy(update=short)) as api, api.client() as http:
        assert sign_in(http, client_id, "wrong", address).status_code == 401
        refused = sign_in(http, client_id, secret, address)
        assert_throttled(refused, window_s=2)
        time.sleep(int(refused.headers["retry-after"]))
        assert sign_in(http, client_id, secret, address).status_code == 200


def test_forwarded_for_is_ignored_unless_the_peer_is_trusted(settings: Settings, conn: psycopg.Connection[Any],
                                                            tenant: Tenant) -> None:
    spoofed = new_address()
    with ApiServer(settings) as api, api.client() as http:  # the default: no trusted proxies
        assert sign_in(http, tenant.client.client_id, "wrong", spoofed).status_code == 401
    assert counter(conn, "address", spoofed) is None
    assert counter(conn, "address", "127.0.0.1") is not None


def test_ui_sign_in_is_throttled_with_a_clear_page(api: ApiServer, tenant: Tenant) -> None:
    client_id, secret, address = tenant.client.client_id, tenant.client.client_secret, new_address()
    with Browser(api.url) as browser, api.client() as http:
        browser.http.headers["X-Forwarded-For"] = address
        before = throttled_count(http, "ui")
        assert sign_in(http, client_id, "wrong", address).status_code == 401  # the API and the UI share counters
        assert [browser.sign_in(client_id, "wrong").status_code for _ in range(PER_CLIENT - 1)] == [401, 401]
        for attempt in ("wrong", secret):
            page = browser.sign_in(client_id, attempt)
            assert page.status_code == 429 and 0 < int(page.headers["retry-after"]) <= WINDOW_S
            assert page.headers["content-type"].startswith("text/html")
            assert "Too many failed sign-in attempts" in page.text and "Traceback" not in page.text
            assert 'name="client_secret"' in page.text  # the form stays, ready for later
            assert "__Host-callapi-session" not in browser.cookies
        assert throttled_count(http, "ui") == before + 2

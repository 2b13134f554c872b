"""A test notification asked for over real HTTP: queued by the API, published by the real relay, sent by a real
worker to a real receiver, signed with the request's secret, even while the request is disabled."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from urllib.parse import quote

import psycopg

from control.service.test_notifications import TESTS_PER_MINUTE
from schemas.settings import Settings
from schemas.synthetic import caller_name
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.polling import eventually
from tests.receiver import Receiver
from tests.services import Service

NINE = {"CallID", "CallerIDNum", "CallerIDName", "CalledDID", "CalledExtension", "CallStatus", "CallFlow",
        "CallerExtension", "CalledNumber"}


def _signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_a_test_notification_reaches_the_url_signed_even_when_the_request_is_disabled(
        make_settings: Callable[..., Settings], tenant: Tenant, receiver: Receiver) -> None:
    settings = make_settings()
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    with ApiServer(settings) as api, \
            api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as http:
        added = http.post(path, json={"type": 4, "method": 1, "url": f"{receiver.url}/hook", "signing": True,
                                      "status": 0}).json()
        queued = http.post(f"{path}/4/{added['id']}/test")
        assert queued.status_code == 202, queued.text
        test = queued.json()
        assert test["call_id"].startswith("test.") and test["job_id"].startswith("msg_")
        assert http.post(f"{path}/4/nosuchrequest/test").status_code == 404
        assert http.post(f"{path}/3/{added['id']}/test").status_code == 404  # another type: not that request
        with psycopg.connect(settings.database_url) as conn:
            unsent = conn.execute("SELECT count(*) FROM test_notifications WHERE sent_at IS NULL AND extension = %s",
                                  (tenant.extension.number,)).fetchone()
        assert unsent == (1,)  # queued in PostgreSQL: nothing reaches Kafka before the relay runs

        with Service(settings, "relay"), Service(settings, "deliver"):
            assert eventually(lambda: receiver.received("/hook"), timeout_s=60), "the test notification never came"
    (sent,) = receiver.received("/hook")
    assert set(sent.params) == NINE and sent.params["CallID"] == test["call_id"]
    assert sent.params["CallerIDName"] == caller_name("test") and sent.params["CallFlow"] == "OUT"
    assert sent.headers["webhook-id"] == test["job_id"] and sent.headers["x-callapi-event"] == "answer-out"
    expected = _signature(added["secret"], test["job_id"], sent.headers["webhook-timestamp"], sent.body)
    assert sent.headers["webhook-signature"] == expected


def test_a_request_is_sent_at_most_ten_tests_a_minute(make_settings: Callable[..., Settings], tenant: Tenant) -> None:
    settings = make_settings()
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    with ApiServer(settings) as api, \
            api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as http:
        first = http.post(path, json={"type": 0, "url": "https://93.184.215.14/hook"}).json()
        other = http.post(path, json={"type": 0, "url": "https://93.184.215.14/other"}).json()
        assert [http.post(f"{path}/0/{first['id']}/test").status_code for _ in range(TESTS_PER_MINUTE)] == \
            [202] * TESTS_PER_MINUTE
        refused = http.post(f"{path}/0/{first['id']}/test")
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "test_throttled")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert http.post(f"{path}/0/{other['id']}/test").status_code == 202  # per request: the other is not held


def test_a_request_stored_in_a_form_that_cannot_be_sent_is_refused_saying_what_to_edit(
        make_settings: Callable[..., Settings], tenant: Tenant) -> None:
    settings = make_settings()
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    with ApiServer(settings) as api, \
            api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as http:
        added = http.post(path, json={"type": 0, "url": "https://93.184.215.14/hook"}).json()
        with psycopg.connect(settings.database_url, autocommit=True) as conn:  # only a direct edit makes one
            conn.execute("UPDATE event_requests SET url = '' WHERE id = %s", (added["id"],))
        refused = http.post(f"{path}/0/{added['id']}/test")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "request_invalid"), refused.text
    assert f"request {added['id']} is stored in a form that cannot be sent (url: " in refused.json()["error"]["message"]

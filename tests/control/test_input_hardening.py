"""Odd input a sloppy client or an attacker sends, over real HTTP against the real PostgreSQL: each is refused with
a 4xx in the error shape, and a refused request changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, str(body["error"]["code"])


@pytest.mark.parametrize("repeat", ["grant_type=client_credentials", "grant_type=password", "client_id={id}",
                                    "client_secret={secret}", "client_secret=nope"])
def test_a_token_request_with_a_parameter_sent_twice_is_invalid_request(api: ApiServer, tenant: Tenant,
                                                                         repeat: str) -> None:
    """RFC 6749 3.2: parameters MUST NOT be included more than once; the copy a framework keeps is no answer."""
    client_id, secret = tenant.client.client_id, tenant.client.client_secret
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    with api.client() as http:
        answer = http.post("/oauth/token", content=f"{repeat.format(id=client_id, secret=secret)}&{body}",
                           headers=FORM)
    assert error(answer) == (400, "invalid_request"), answer.text
    assert "more than once" in answer.json()["error"]["message"]


def test_a_revoke_with_token_sent_twice_is_invalid_request_and_revokes_neither(api: ApiServer, tenant: Tenant) -> None:
    client_id, secret = tenant.client.client_id, tenant.client.client_secret
    first, second, caller = (api.token(client_id, secret) for _ in range(3))
    with api.client(caller) as http:
        answer = http.post("/oauth/revoke", content=f"token={first}&token={second}", headers=FORM)
        assert error(answer) == (400, "invalid_request"), answer.text
        for token in (first, second, caller):
            still = http.get("/uapi/extensions/@me/" + tenant.extension.number.replace("*", "%2A") +
                             "/phoneCallEvents", headers={"Authorization": f"Bearer {token}"})
            assert still.status_code == 200, still.text

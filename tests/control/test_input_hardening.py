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


def signed_in(http: httpx.Client, tenant: Tenant, token: str) -> bool:
    """Whether `token` still reaches the tenant's extension."""
    path = f"/uapi/extensions/@me/{tenant.extension.number.replace('*', '%2A')}/phoneCallEvents"
    answer = http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


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
        assert all(signed_in(http, tenant, token) for token in (first, second, caller))


@pytest.mark.parametrize(("body", "content_type"), [('{"token": "%s"}', "application/json"), ("token=%s", "text/plain"),
                                                    ("token=%s", None)])
def test_a_revoke_whose_body_is_not_a_form_is_refused_and_revokes_nothing(
        api: ApiServer, tenant: Tenant, body: str, content_type: str | None) -> None:
    """Read as a form without `token`, such a body would revoke the caller's own token instead of the one sent."""
    other, caller = (api.token(tenant.client.client_id, tenant.client.client_secret) for _ in range(2))
    headers = {"Content-Type": content_type} if content_type else {}
    with api.client(caller) as http:
        answer = http.post("/oauth/revoke", content=(body % other).encode(), headers=headers)  # None: no type
        assert error(answer) == (400, "invalid_request"), answer.text
        assert all(signed_in(http, tenant, token) for token in (other, caller))


def test_a_revoke_without_a_body_still_revokes_the_bearer_token_itself(api: ApiServer, tenant: Tenant) -> None:
    caller = api.token(tenant.client.client_id, tenant.client.client_secret)
    with api.client(caller) as http:
        assert http.post("/oauth/revoke").status_code == 200
        assert not signed_in(http, tenant, caller)

"""Failures of POST /oauth/token and POST /oauth/revoke over real HTTP against the real PostgreSQL, as RFC 6749
5.2 and RFC 7009 say: every failed client authentication is 401 invalid_client challenging for HTTP Basic (the
scheme clients authenticate with there, never Bearer), and revoking an unknown token answers 200."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest

from control.api.routes_oauth import BASIC_CHALLENGE
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant

GRANT = {"grant_type": "client_credentials"}
BEHIND_A_PROXY = {"trusted_proxies": "127.0.0.1"}  # so each client below fails from an address of its own


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings.model_copy(update=BEHIND_A_PROXY)) as server:
        yield server


def client(api: ApiServer, token: str | None = None) -> httpx.Client:
    """A client whose failed sign-ins count against an address of its own, not the 127.0.0.1 of other tests."""
    http = api.client(token)
    http.headers["X-Forwarded-For"] = f"2001:db8:{secrets.randbits(16):x}:{secrets.randbits(16):x}::1"
    return http


def error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return response.status_code, str(body["error"]["code"])


Sent = tuple[dict[str, str], dict[str, str]]  # form fields besides grant_type, headers
INVALID_CLIENT: dict[str, Callable[[str, str], Sent]] = {  # of the tenant's client_id and secret
    "form, wrong secret": lambda cid, _: ({"client_id": cid, "client_secret": "nope"}, {}),
    "form, unknown client": lambda _, __: ({"client_id": "cli_nobody", "client_secret": "nope"}, {}),
    "form, no secret": lambda cid, _: ({"client_id": cid}, {}),
    "form, no client_id": lambda _, secret: ({"client_secret": secret}, {}),
    "no credentials at all": lambda _, __: ({}, {}),
    "basic, wrong secret": lambda cid, _: ({}, basic(f"{cid}:nope".encode())),
    "basic, not base64": lambda _, __: ({}, {"Authorization": "Basic not*base64"}),
    "basic, no colon": lambda cid, _: ({}, basic(cid.encode())),
    "basic, not UTF-8": lambda _, __: ({}, basic(b"\xff\xfe:\xff")),
    "basic, empty": lambda _, __: ({}, {"Authorization": "Basic"}),
    "bearer instead of client credentials": lambda _, __: ({}, {"Authorization": "Bearer some-token"}),
    "bearer header, wrong form secret": lambda cid, _: ({"client_id": cid, "client_secret": "nope"},
                                                        {"Authorization": "Bearer some-token"}),
}


@pytest.mark.parametrize("case", INVALID_CLIENT, ids=list(INVALID_CLIENT))
def test_a_failed_client_authentication_is_401_invalid_client_with_a_basic_challenge(
        api: ApiServer, tenant: Tenant, case: str) -> None:
    form, headers = INVALID_CLIENT[case](tenant.client.client_id, tenant.client.client_secret)
    with client(api) as http:
        answer = http.post("/oauth/token", data={**GRANT, **form}, headers=headers)
    assert error(answer) == (401, "invalid_client"), answer.text
    assert answer.headers["www-authenticate"] == BASIC_CHALLENGE
    assert answer.headers["cache-control"] == "no-store"


def test_other_refusals_of_the_token_endpoint_are_400_without_a_challenge(api: ApiServer, tenant: Tenant) -> None:
    client_id, secret = tenant.client.client_id, tenant.client.client_secret
    with client(api) as http:
        cases = {
            "unsupported_grant_type": http.post("/oauth/token", data={"grant_type": "password"},
                                                  auth=(client_id, secret)),
            "invalid_request": http.post("/oauth/token", data={}, auth=(client_id, secret)),
            "two methods": http.post("/oauth/token", data={**GRANT, "client_secret": secret},
                                       auth=(client_id, secret)),
            "another client_id": http.post("/oauth/token", data={**GRANT, "client_id": "cli_other"},
                                             auth=(client_id, secret)),
        }
    expected = {"unsupported_grant_type": "unsupported_grant_type", "invalid_request": "invalid_request",
                "two methods": "invalid_request", "another client_id": "invalid_request"}
    for name, answer in cases.items():
        assert error(answer) == (400, expected[name]), (name, answer.text)
        assert "www-authenticate" not in answer.headers, name


def test_basic_with_the_same_client_id_in_the_form_is_one_authentication(api: ApiServer, tenant: Tenant) -> None:
    """RFC 6749 3.2.1: a client may name itself with client_id in the body while authenticating by Basic."""
    with client(api) as http:
        answer = http.post("/oauth/token", data={**GRANT, "client_id": tenant.client.client_id},
                             auth=(tenant.client.client_id, tenant.client.client_secret))
    assert answer.status_code == 200, answer.text


def test_revoke_takes_the_clients_basic_credentials_as_rfc_7009_says(api: ApiServer, tenant: Tenant) -> None:
    client_id, secret = tenant.client.client_id, tenant.client.client_secret
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    token = api.token(client_id, secret)
    with client(api) as anonymous, client(api, token) as holder:
        assert holder.get(path).status_code == 200
        unknown = anonymous.post("/oauth/revoke", data={"token": "never-issued"}, auth=(client_id, secret))
        assert unknown.status_code == 200, unknown.text  # RFC 7009 2.2: an invalid token is not an error
        assert holder.get(path).status_code == 200
        revoked = anonymous.post("/oauth/revoke", data={"token": token, "token_type_hint": "refresh_token"},
                                 auth=(client_id, secret))
        assert revoked.status_code == 200, revoked.text  # an unsupported hint widens the search (RFC 7009 2.1)
        assert holder.get(path).status_code == 401
        missing = anonymous.post("/oauth/revoke", data={}, auth=(client_id, secret))
        assert error(missing) == (400, "invalid_request")


@pytest.mark.parametrize("case", ["basic, wrong secret", "basic, not base64", "basic, no colon", "basic, empty"])
def test_a_failed_basic_authentication_at_revoke_is_challenged_for_basic(
        api: ApiServer, tenant: Tenant, case: str) -> None:
    _, headers = INVALID_CLIENT[case](tenant.client.client_id, tenant.client.client_secret)
    token = api.token(tenant.client.client_id, tenant.client.client_secret)
    with client(api) as anonymous:
        answer = anonymous.post("/oauth/revoke", data={"token": token}, headers=headers)
    assert error(answer) == (401, "invalid_client"), answer.text
    assert answer.headers["www-authenticate"] == BASIC_CHALLENGE


def test_revoke_by_bearer_answers_200_for_unknown_or_empty_tokens_and_revokes_nothing(
        api: ApiServer, tenant: Tenant) -> None:
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    with client(api, api.token(tenant.client.client_id, tenant.client.client_secret)) as http:
        for form in ({"token": "never-issued"}, {"token": ""}):
            assert http.post("/oauth/revoke", data=form).status_code == 200, form
            assert http.get(path).status_code == 200, form  # still signed in
    with client(api) as anonymous:
        refused = anonymous.post("/oauth/revoke", data={"token": "never-issued"})
    assert error(refused) == (401, "unauthorized")
    assert refused.headers["www-authenticate"] == "Bearer"  # the scheme this caller needs: none was tried


def test_failed_basic_revokes_count_towards_the_sign_in_throttle(
        make_settings: Callable[..., Settings], tenant: Tenant) -> None:
    """A client secret cannot be guessed at /oauth/revoke instead of /oauth/token."""
    with ApiServer(make_settings(sign_in_max_failures_per_client=2, **BEHIND_A_PROXY)) as strict, \
            client(strict) as anonymous:
        for _ in range(2):
            wrong = anonymous.post("/oauth/revoke", data={"token": "x"}, auth=(tenant.client.client_id, "nope"))
            assert error(wrong) == (401, "invalid_client")
        right = anonymous.post("/oauth/revoke", data={"token": "x"},
                               auth=(tenant.client.client_id, tenant.client.client_secret))
        assert error(right) == (429, "sign_in_throttled") and int(right.headers["retry-after"]) > 0
        token = anonymous.post("/oauth/token", data=GRANT, auth=(tenant.client.client_id, tenant.client.client_secret))
        assert error(token) == (429, "sign_in_throttled")  # the same counters

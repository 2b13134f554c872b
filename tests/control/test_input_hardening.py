"""Odd input a sloppy client or an attacker sends, over real HTTP against the real PostgreSQL: each is refused with
a 4xx in the error shape, and a refused request changes nothing."""

from __future__ import annotations

import base64
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
    answer = http.get(resource(tenant), headers={"Authorization": f"Bearer {token}"})
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


@pytest.mark.parametrize(("body", "content_type"), [
    ('{"token": "%s"}', "application/json"),
    ("token=%s", "text/plain"),
    ("token=%s", None),
    ("--x\r\nContent-Disposition: form-data; name=token\r\n\r\n%s", "multipart/form-data; boundary=x"),
    ("--x\r\nbroken", "multipart/form-data; boundary=x"),  # truncated: read as a form without fields
])
def test_a_revoke_whose_body_is_not_a_form_is_refused_and_revokes_nothing(
        api: ApiServer, tenant: Tenant, body: str, content_type: str | None) -> None:
    """Read as a form without `token`, such a body would revoke the caller's own token instead of the one sent."""
    other, caller = (api.token(tenant.client.client_id, tenant.client.client_secret) for _ in range(2))
    headers = {"Content-Type": content_type} if content_type else {}  # None: httpx sends no type
    with api.client(caller) as http:
        answer = http.post("/oauth/revoke", content=body.replace("%s", other).encode(), headers=headers)
        assert error(answer) == (400, "invalid_request"), answer.text
        assert all(signed_in(http, tenant, token) for token in (other, caller))


def test_a_revoke_without_a_body_still_revokes_the_bearer_token_itself(api: ApiServer, tenant: Tenant) -> None:
    caller = api.token(tenant.client.client_id, tenant.client.client_secret)
    with api.client(caller) as http:
        assert http.post("/oauth/revoke").status_code == 200
        assert not signed_in(http, tenant, caller)


def resource(tenant: Tenant) -> str:
    return f"/uapi/extensions/@me/{tenant.extension.number.replace('*', '%2A')}/phoneCallEvents"


@pytest.mark.parametrize(("suffix", "query", "code"), [
    ("", "count=1&count=2", "paging_invalid"),
    ("", "startIndex=0&startIndex=1", "paging_invalid"),
    ("", "type=0&type=1", "pce_type_invalid"),
    ("", "filterBy=note&filterBy=url&filterValue=x", "filter_invalid"),
    ("", "filterBy=note&filterValue=a&filterValue=b", "filter_invalid"),
    ("", "sortOrder=desc&sortOrder=asc", "sort_invalid"),
    ("", "sortBy=id&sortBy=url", "sort_invalid"),
    ("/0", "count=1&count=2", "paging_invalid"),
    ("/0/{id}/deliveries", "count=1&count=2", "paging_invalid"),
    ("/0/{id}/deliveries", "startIndex=0&startIndex=5", "paging_invalid"),
])
def test_a_list_parameter_sent_twice_is_refused_with_its_code(http: httpx.Client, tenant: Tenant, suffix: str,
                                                               query: str, code: str) -> None:
    added = http.post(resource(tenant), json={"type": 0, "url": "http://127.0.0.1:9/twice"})
    assert added.status_code == 201, added.text
    answer = http.get(resource(tenant) + suffix.format(id=added.json()["id"]) + "?" + query)
    assert error(answer) == (400, code), answer.text
    assert "more than once" in answer.json()["error"]["message"]


def test_a_repeated_parameter_the_list_does_not_take_is_ignored_as_any_unknown_one(http: httpx.Client,
                                                                                  tenant: Tenant) -> None:
    assert http.get(resource(tenant) + "?utm=a&utm=b").status_code == 200


def stored_urls(http: httpx.Client, tenant: Tenant) -> list[str]:
    listed = http.get(resource(tenant), params={"count": 1000})
    assert listed.status_code == 200, listed.text
    return [entry["url"] for entry in listed.json()["entry"]]


@pytest.mark.parametrize("body", [
    b'{"type": 0, "url": "http://127.0.0.1:9/first", "url": "http://127.0.0.1:9/second"}',
    b'{"type": 0, "type": 1, "url": "http://127.0.0.1:9/typed"}',
    b'{"type": 0, "url": "http://127.0.0.1:9/l", "links": {"self": "a", "self": "b"}}',
    b'{"type": NaN, "url": "http://127.0.0.1:9/nan"}',
    b'{"type": 0, "status": Infinity, "url": "http://127.0.0.1:9/inf"}',
    b'{"type": 0, "method": -Infinity, "url": "http://127.0.0.1:9/minf"}',
])
def test_an_add_whose_json_repeats_a_field_or_holds_nan_is_refused_and_adds_nothing(
        http: httpx.Client, tenant: Tenant, body: bytes) -> None:
    """Which copy of a repeated field counts depends on the parser; NaN and Infinity are not JSON (RFC 8259 6)."""
    before = stored_urls(http, tenant)
    answer = http.post(resource(tenant), content=body, headers={"Content-Type": "application/json"})
    assert error(answer) == (400, "request_invalid"), answer.text
    assert stored_urls(http, tenant) == before


def test_an_edit_whose_json_repeats_a_field_is_refused_and_changes_nothing(http: httpx.Client,
                                                                           tenant: Tenant) -> None:
    added = http.post(resource(tenant), json={"type": 0, "url": "http://127.0.0.1:9/kept", "note": "kept"}).json()
    path = f"{resource(tenant)}/0/{added['id']}"
    answer = http.put(path, content=b'{"note": "one", "note": "two"}', headers={"Content-Type": "application/json"})
    assert error(answer) == (400, "request_invalid"), answer.text
    assert http.get(path).json()["note"] == "kept"


def test_numbers_sent_as_strings_still_work(http: httpx.Client, tenant: Tenant) -> None:
    answer = http.post(resource(tenant), json={"type": "1", "method": "1", "status": "0", "signing": "1",
                                              "url": "http://127.0.0.1:9/strings"})
    assert answer.status_code == 201, answer.text
    assert {k: answer.json()[k] for k in ("type", "method", "status", "signing")} == {
        "type": 1, "method": 1, "status": 0, "signing": True}


def test_an_add_with_two_idempotency_keys_is_refused_and_adds_nothing(http: httpx.Client, tenant: Tenant) -> None:
    """Which of two keys counts is the server's guess: a retry sending them in the other order would add twice."""
    before = stored_urls(http, tenant)
    answer = http.post(resource(tenant), json={"type": 0, "url": "http://127.0.0.1:9/keys"},
                       headers=[("Idempotency-Key", "first"), ("Idempotency-Key", "second")])
    assert error(answer) == (400, "idempotency_key_invalid"), answer.text
    assert stored_urls(http, tenant) == before


@pytest.mark.parametrize(("path", "body", "content_type"), [
    ("/oauth/token", b"--x\r\nbroken\r\n\r\nvalue\r\n--x--\r\n", "multipart/form-data; boundary=x"),
    ("/oauth/token", b"grant_type=client_credentials", "multipart/form-data"),  # no boundary
    ("/oauth/token", "&".join(f"f{n}=1" for n in range(1001)).encode(), "application/x-www-form-urlencoded"),
    ("/oauth/revoke", b"garbage before the first boundary", "multipart/form-data; boundary=x"),
])
def test_a_form_the_oauth_endpoints_cannot_read_is_invalid_request(api: ApiServer, tenant: Tenant, path: str,
                                                                   body: bytes, content_type: str) -> None:
    """RFC 6749 5.2 and RFC 7009 2.2.1: a malformed request is invalid_request, whoever finds it malformed."""
    caller = api.token(tenant.client.client_id, tenant.client.client_secret)
    with api.client(caller if path == "/oauth/revoke" else None) as http:
        answer = http.post(path, content=body, headers={"Content-Type": content_type})
        assert error(answer) == (400, "invalid_request"), answer.text
        assert signed_in(http, tenant, caller)


def test_two_authorization_headers_are_refused_whichever_comes_first(api: ApiServer, tenant: Tenant) -> None:
    """The API would read the first header; a proxy or log in front of it may have judged the other."""
    client_id, secret = tenant.client.client_id, tenant.client.client_secret
    good = api.token(client_id, secret)
    with api.client() as http:
        for pair in ([f"Bearer {good}", "Bearer nope"], ["Bearer nope", f"Bearer {good}"]):
            answer = http.get(resource(tenant), headers=[("Authorization", value) for value in pair])
            assert error(answer) == (401, "unauthorized"), answer.text
            assert answer.headers["www-authenticate"] == "Bearer"
        basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        answer = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers=[("Authorization", basic), ("Authorization", basic)])
        assert error(answer) == (401, "invalid_client"), answer.text
        assert answer.headers["cache-control"] == "no-store"
        revoke = http.post("/oauth/revoke", headers=[("Authorization", f"Bearer {good}"), ("Authorization", "x")])
        assert error(revoke) == (401, "invalid_client"), revoke.text
        assert signed_in(http, tenant, good)

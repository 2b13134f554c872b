"""Request bodies over real HTTP against the real PostgreSQL: the caller is authenticated (and its access to the
extension checked) before its body is read, on the Event resource and on /oauth/revoke; and a body naming a field
the resource does not have is refused rather than half applied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from control.api.models import AddRequestBody, EditRequestBody, EventRequestOut
from control.service import list_requests, parse_list_query
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant, make_tenant

URL = "http://127.0.0.1:9/hook"
JSON = {"content-type": "application/json"}
MALFORMED = {
    "not-json": (b'{"type": 0,}', JSON),
    "not-utf-8": (b'{"type": 0, "url": "http://h/\xff"}', JSON),
    "huge-number": (b'{"type": ' + b"9" * 5000 + b"}", JSON),
    "nested-too-deep": (b"[" * 200_000, JSON),
    "not-an-object": (b'["not", "an", "object"]', JSON),
    "wrong-types": (b'{"type": [], "url": {}}', JSON),
    "unknown-field": (b'{"stauts": 0}', JSON),
    "not-json-content": (b"type=0&url=x", {"content-type": "application/x-www-form-urlencoded"}),
}
# every route that needs a token, with the body it would be sent: (method, suffix under …/phoneCallEvents)
ROUTES = [("POST", ""), ("PUT", "/0/abc"), ("POST", "/0/abc/rotateSecret"), ("POST", "/0/abc/test"),
          ("GET", ""), ("GET", "/0"), ("GET", "/0/abc"), ("DELETE", "/0"), ("DELETE", "/0/abc"),
          ("GET", "/0/abc/deliveries")]


def base(number: str) -> str:
    return f"/uapi/extensions/@me/{quote(number, safe='')}/phoneCallEvents"


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["error"]["code"])


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


@pytest.mark.parametrize("body", MALFORMED, ids=list(MALFORMED))
@pytest.mark.parametrize(("method", "suffix"), ROUTES, ids=[f"{m} {s or '/'}" for m, s in ROUTES])
def test_a_caller_without_a_valid_token_is_unauthorized_whatever_its_body(
        api: ApiServer, tenant: Tenant, method: str, suffix: str, body: str) -> None:
    content, headers = MALFORMED[body]
    with api.client() as anonymous, api.client("not-a-token") as forged:
        for client in (anonymous, forged):
            response = client.request(method, base(tenant.extension.number) + suffix, content=content,
                                      headers=headers)
            assert error(response) == (401, "unauthorized"), response.text
            assert response.headers["www-authenticate"] == "Bearer"


def test_revoke_asks_for_a_token_before_reading_its_form(api: ApiServer, tenant: Tenant) -> None:
    broken = {"content": b"garbage", "headers": {"content-type": "multipart/form-data; boundary=xyz"}}
    with api.client() as anonymous:
        assert error(anonymous.post("/oauth/revoke", **broken)) == (401, "unauthorized")
    kept, other = (api.token(tenant.client.client_id, tenant.client.client_secret) for _ in range(2))
    path = base(tenant.extension.number)
    with api.client(kept) as client, api.client(other) as victim:
        assert error(client.post("/oauth/revoke", **broken)) == (400, "invalid_request")
        assert client.get(path).status_code == 200  # the malformed revoke revoked nothing
        assert client.post("/oauth/revoke", data={"token": other}).json() == {"status": "revoked"}
        assert (client.get(path).status_code, victim.get(path).status_code) == (200, 401)


@pytest.mark.parametrize("body", MALFORMED, ids=list(MALFORMED))
def test_another_tenants_extension_is_not_found_whatever_the_body(
        api: ApiServer, conn: psycopg.Connection[Any], tenant: Tenant, body: str) -> None:
    content, headers = MALFORMED[body]
    stranger = make_tenant(conn)
    with api.client(api.token(stranger.client.client_id, stranger.client.client_secret)) as client:
        for method, suffix in (("POST", ""), ("PUT", "/0/abc")):
            response = client.request(method, base(tenant.extension.number) + suffix, content=content,
                                      headers=headers)
            assert error(response) == (404, "not_found"), response.text


@pytest.mark.parametrize("body", MALFORMED, ids=list(MALFORMED))
def test_a_signed_in_caller_learns_what_is_wrong_with_its_body(http: httpx.Client, tenant: Tenant,
                                                               body: str) -> None:
    content, headers = MALFORMED[body]
    response = http.post(base(tenant.extension.number), content=content, headers=headers)
    expected = {"wrong-types": "pce_type_invalid", "unknown-field": "field_unknown"}.get(body, "request_invalid")
    assert error(response) == (400, expected), response.text


def test_a_misspelt_field_on_add_is_refused_and_nothing_is_added(http: httpx.Client, conn: psycopg.Connection[Any],
                                                                 tenant: Tenant) -> None:
    response = http.post(base(tenant.extension.number), json={"type": 0, "url": URL, "stauts": 0, "nte": "x"})
    assert error(response) == (400, "field_unknown")
    message = response.json()["error"]["message"]
    assert "nte, stauts" in message and "status" in message and "note" in message, message
    assert list_requests(conn, tenant.extension, parse_list_query({})).total == 0
    typos = {f"x{n:05}": 1 for n in range(5000)}
    many = http.post(base(tenant.extension.number), json={"type": 0, "url": URL, **typos})
    assert error(many) == (400, "field_unknown")
    assert "x00009 and 4990 more" in many.json()["error"]["message"] and len(many.text) < 500


def test_a_body_without_a_content_type_is_read_as_json(http: httpx.Client, tenant: Tenant) -> None:
    response = http.post(base(tenant.extension.number), content=b'{"type": 0, "url": "%s"}' % URL.encode())
    assert "content-type" not in response.request.headers
    assert response.status_code == 201, response.text
    assert response.json()["url"] == URL


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_json_in_another_encoding_than_utf_8_is_refused_and_nothing_changes(
        http: httpx.Client, conn: psycopg.Connection[Any], tenant: Tenant, encoding: str) -> None:
    """RFC 8259 8.1: JSON exchanged between systems is UTF-8; json.loads would read these too."""
    path = base(tenant.extension.number)
    add = http.post(path, content=f'{{"type": 0, "url": "{URL}"}}'.encode(encoding), headers=JSON)
    assert error(add) == (400, "request_invalid"), add.text
    assert "not UTF-8" in add.json()["error"]["message"]
    assert list_requests(conn, tenant.extension, parse_list_query({})).total == 0
    added = http.post(path, json={"type": 0, "url": URL}).json()
    item = f"{path}/0/{added['id']}"
    edit = http.put(item, content='{"note": "edited"}'.encode(encoding), headers=JSON)
    assert error(edit) == (400, "request_invalid"), edit.text
    assert http.get(item).json() == added


def test_utf_8_with_a_byte_order_mark_is_read(http: httpx.Client, tenant: Tenant) -> None:
    """RFC 8259 8.1 lets a parser ignore a BOM, and clients that write one would gain nothing from a refusal."""
    response = http.post(base(tenant.extension.number), content=f'{{"type": 0, "url": "{URL}"}}'.encode("utf-8-sig"),
                         headers=JSON)
    assert response.status_code == 201, response.text


def test_a_misspelt_field_on_edit_is_refused_and_nothing_changes(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    added = http.post(path, json={"type": 0, "url": URL}).json()
    item = f"{path}/0/{added['id']}"
    response = http.put(item, json={"stauts": 0, "note": "typo beside me"})
    assert error(response) == (400, "field_unknown")
    assert "stauts" in response.json()["error"]["message"]
    assert http.get(item).json() == added


def test_the_resource_sent_back_as_it_is_is_a_no_op_edit(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    added = http.post(path, json={"type": 1, "url": URL, "note": "crm", "signing": True}).json()
    item = f"{path}/1/{added['id']}"
    read = http.get(item).json()
    assert set(read) == {"id", "type", "method", "url", "status", "note", "modified", "links", "signing"}
    for sent in (read, added):  # as read, and as the Add answered it (with its secret)
        again = http.put(item, json=sent)
        assert again.status_code == 200, again.text
        assert again.json() == read  # `modified` kept; no new secret
    changed = http.put(item, json={**read, "note": "renamed"})
    assert changed.status_code == 200 and changed.json()["note"] == "renamed"


def test_another_requests_resource_is_not_copied_over_this_one(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    first = http.post(path, json={"type": 0, "url": URL, "note": "first"}).json()
    second = http.post(path, json={"type": 0, "url": URL, "note": "second"}).json()
    response = http.put(f"{path}/0/{second['id']}", json={**first, "note": "first, edited"})
    assert error(response) == (400, "pce_id_invalid")
    assert first["id"] in response.json()["error"]["message"]
    assert http.get(f"{path}/0/{second['id']}").json()["note"] == "second"


def test_a_resource_read_elsewhere_can_be_added_as_it_is(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    original = http.post(path, json={"type": 2, "url": URL, "note": "copy me"}).json()
    copy = http.post(path, json=original)
    assert copy.status_code == 201, copy.text
    assert copy.json()["id"] != original["id"] and copy.json()["note"] == "copy me"


def test_every_field_of_the_resource_may_be_sent_back() -> None:
    for model in (AddRequestBody, EditRequestBody):
        assert set(EventRequestOut.model_fields) <= set(model.model_fields), model
        assert set(model.read_only()) == set(EventRequestOut.model_fields) - set(model.writable()), model


def test_openapi_says_which_fields_a_body_takes(api: ApiServer) -> None:
    with api.client() as client:
        document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("AddRequestBody", "EditRequestBody"):
        assert schemas[name]["additionalProperties"] is False, name
        assert {"id", "modified", "links"} <= {field for field, spec in schemas[name]["properties"].items()
                                               if spec.get("readOnly")}, name
    assert schemas["AddRequestBody"]["required"] == ["type", "url"]
    operations = document["paths"]["/uapi/extensions/{userId}/{extension}/phoneCallEvents"]
    assert operations["post"]["requestBody"]["required"] is True
    assert operations["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AddRequestBody"}
    edit = document["paths"]["/uapi/extensions/{userId}/{extension}/phoneCallEvents/{type}/{id}"]["put"]
    assert edit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EditRequestBody"}

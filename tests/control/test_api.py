"""The Control API over real HTTP (uvicorn on a free port) against the real PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from control.api.routes_oauth import client_credentials
from control.migrate import migrate
from control.service import issue_token, list_requests, parse_list_query, revoke_client
from control.ui.session import SESSION_COOKIE
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant, make_tenant

URL = "http://127.0.0.1:9/hook"
FIELDS = {"id", "type", "method", "url", "status", "note", "modified", "links", "signing"}


def base(number: str, user: str = "@me") -> str:
    return f"/uapi/extensions/{user}/{quote(number, safe='')}/phoneCallEvents"


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


def test_token_endpoint(api: ApiServer, tenant: Tenant) -> None:
    form = {"grant_type": "client_credentials", "client_id": tenant.client.client_id,
            "client_secret": tenant.client.client_secret}
    with api.client() as client:
        good = client.post("/oauth/token", data=form)
        assert good.status_code == 200
        assert good.json()["token_type"] == "Bearer" and good.json()["expires_in"] == 3600
        wrong = client.post("/oauth/token", data={**form, "client_secret": "nope"})
        assert (wrong.status_code, error_code(wrong)) == (401, "invalid_client")
        unknown = client.post("/oauth/token", data={**form, "client_id": "cli_nobody"})
        assert (unknown.status_code, error_code(unknown)) == (401, "invalid_client")
        grant = client.post("/oauth/token", data={**form, "grant_type": "password"})
        assert (grant.status_code, error_code(grant)) == (400, "unsupported_grant_type")
        nul = client.post("/oauth/token", data={**form, "client_id": "cli_\u0000"})
        assert (nul.status_code, error_code(nul)) == (401, "invalid_client")
        missing = client.post("/oauth/token", data={"grant_type": "client_credentials"})
        assert (missing.status_code, error_code(missing)) == (401, "invalid_client")  # RFC 6749 5.2


def test_token_endpoint_takes_the_client_credentials_by_http_basic(api: ApiServer, tenant: Tenant) -> None:
    grant = {"grant_type": "client_credentials"}
    client_id, secret = tenant.client.client_id, tenant.client.client_secret
    with api.client() as client:
        good = client.post("/oauth/token", data=grant, auth=(client_id, secret))
        assert good.status_code == 200 and good.json()["token_type"] == "Bearer"
        wrong = client.post("/oauth/token", data=grant, auth=(client_id, "nope"))
        assert (wrong.status_code, error_code(wrong)) == (401, "invalid_client")
        assert wrong.headers["www-authenticate"].startswith("Basic ")  # RFC 6749 5.2: the scheme the client used
        both = client.post("/oauth/token", data={**grant, "client_id": client_id, "client_secret": secret},
                           auth=(client_id, secret))
        assert (both.status_code, error_code(both)) == (400, "invalid_request")
        garbled = client.post("/oauth/token", data=grant, headers={"Authorization": "Basic not*base64"})
        assert (garbled.status_code, error_code(garbled)) == (401, "invalid_client")
    with api.client(good.json()["access_token"]) as signed_in:
        assert signed_in.get(base(tenant.extension.number)).status_code == 200


@pytest.mark.parametrize(("header", "expected"), [
    ("Basic " + base64.b64encode(b"cli_a:s3cret").decode(), ("cli_a", "s3cret")),
    ("basic " + base64.b64encode(b"cli_a:p%3Ass+word").decode(), ("cli_a", "p:ss word")),  # form-encoded first
    ("Basic " + base64.b64encode(b"cli_a:").decode(), ("cli_a", "")),
])
def test_basic_client_credentials_are_read_form_decoded(header: str, expected: tuple[str, str]) -> None:
    assert client_credentials(header, None, None) == expected


def test_bearer_token_is_required(api: ApiServer, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    with api.client() as anonymous, api.client("not-a-token") as forged:
        for response in (anonymous.get(path), forged.get(path)):
            assert (response.status_code, error_code(response)) == (401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"


def test_expired_revoked_and_client_revoked_tokens(api: ApiServer, conn: psycopg.Connection[Any],
                                                   tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    creds = (tenant.client.client_id, tenant.client.client_secret)
    expired = issue_token(conn, *creds, ttl_s=3600, now=datetime.now(UTC) - timedelta(hours=2)).access_token
    with api.client(expired) as client:
        assert (client.get(path).status_code, error_code(client.get(path))) == (401, "unauthorized")
    token = api.token(*creds)
    with api.client(token) as client:
        assert client.get(path).status_code == 200
        assert client.post("/oauth/revoke").json() == {"status": "revoked"}
        assert client.get(path).status_code == 401
    with api.client(api.token(*creds)) as client:
        assert client.get(path).status_code == 200
        assert revoke_client(conn, tenant.client.client_id)
        assert client.get(path).status_code == 401


def test_event_resource_operations(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    added = http.post(path, json={"type": "0", "method": "1", "url": URL, "status": "1", "note": "crm"})
    assert added.status_code == 201, added.text
    body = added.json()
    assert set(body) == FIELDS
    assert (body["type"], body["method"], body["url"], body["status"], body["note"], body["signing"]) == (
        0, 1, URL, 1, "crm", False)
    self_link = body["links"]["self"]
    assert self_link.endswith(f"{path}/0/{body['id']}")
    assert http.get(self_link).json() == body
    edited = http.put(f"{path}/0/{body['id']}", json={"status": 0, "method": "GET", "note": "paused"})
    assert (edited.status_code, edited.json()["status"], edited.json()["method"], edited.json()["note"]) == (
        200, 0, 0, "paused")
    listed = http.get(path, params={"count": 10, "startIndex": 0})
    assert listed.json()["paging"] == {"startIndex": 0, "itemsPerPage": 1, "totalResults": 1}
    assert listed.json()["entry"] == [edited.json()]
    assert http.delete(f"{path}/0/{body['id']}").json() == {"removed": 1}
    gone = http.get(f"{path}/0/{body['id']}")
    assert (gone.status_code, error_code(gone)) == (404, "not_found")


def test_both_extension_forms_and_account_ids(http: httpx.Client, tenant: Tenant) -> None:
    number = tenant.extension.number
    added = http.post(base(number), json={"type": "hangup", "url": URL}).json()
    for path in (f"/uapi/extensions/@me/{number}/phoneCallEvents", base(number.replace("*", "")),
                 base(number, user=str(tenant.org.id))):
        answer = http.get(f"{path}/2/{added['id']}")
        assert answer.status_code == 200 and answer.json()["id"] == added["id"], path


def test_list_filters_sorting_and_remove_all_of_a_type(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    for index in range(4):
        added = http.post(path, json={"type": index % 2, "url": f"{URL}/{index}", "note": f"n{index}"})
        assert added.status_code == 201
    page = http.get(path, params={"count": "2", "startIndex": "2", "sortOrder": "descending"}).json()
    assert [e["url"] for e in page["entry"]] == [f"{URL}/1", f"{URL}/0"]
    assert page["paging"] == {"startIndex": 2, "itemsPerPage": 2, "totalResults": 4}
    found = http.get(path, params={"filterBy": "note", "filterValue": "n2"}).json()
    assert [e["note"] for e in found["entry"]] == ["n2"]
    assert http.get(path, params={"type": "dial-out"}).json()["paging"]["totalResults"] == 2
    assert http.get(f"{path}/1").json()["paging"]["totalResults"] == 2
    assert http.delete(f"{path}/1").json() == {"removed": 2}
    assert [e["type"] for e in http.get(path).json()["entry"]] == [0, 0]


def test_signing_over_http(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    added = http.post(path, json={"type": 0, "url": URL, "signing": True}).json()
    assert added["secret"].startswith("whsec_") and added["signing"] is True
    read = http.get(f"{path}/0/{added['id']}").json()
    assert "secret" not in read and read["signing"] is True
    rotated = http.post(f"{path}/0/{added['id']}/rotateSecret").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != added["secret"]
    off = http.put(f"{path}/0/{added['id']}", json={"signing": False}).json()
    assert off["signing"] is False and "secret" not in off
    refused = http.post(f"{path}/0/{added['id']}/rotateSecret")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "pce_not_signing")
    assert http.get(f"{path}/0/{added['id']}").json()["signing"] is False
    assert "secret" not in str(http.get(path).json())


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status", "code"),
    [
        ("POST", "", {"type": 9, "url": URL}, 400, "pce_type_invalid"),
        ("POST", "", {"url": URL}, 400, "pce_type_invalid"),
        ("POST", "", {"type": 1.5, "url": URL}, 400, "pce_type_invalid"),
        ("POST", "", {"type": 0, "url": URL, "method": "PUT"}, 400, "pce_method_invalid"),
        ("POST", "", {"type": 0, "url": URL, "status": 3}, 400, "pce_status_invalid"),
        ("POST", "", {"type": 0, "url": URL, "note": "x" * 1025}, 400, "pce_note_invalid"),
        ("POST", "", {"type": 0, "url": "javascript:alert(1)"}, 400, "pce_url_invalid"),
        ("POST", "", {"type": 0, "url": 12}, 400, "pce_url_invalid"),
        ("POST", "", {"type": 0, "url": URL, "signing": "perhaps"}, 400, "pce_signing_invalid"),
        ("POST", "", ["not", "an", "object"], 400, "request_invalid"),
        ("GET", "?count=0", None, 400, "paging_invalid"),
        ("GET", "?startIndex=-1", None, 400, "paging_invalid"),
        ("GET", "?filterBy=secret&filterValue=x", None, 400, "filter_invalid"),
        ("GET", "?sortOrder=sideways", None, 400, "sort_invalid"),
        ("GET", "/0/not-alnum!", None, 400, "pce_id_invalid"),
        ("GET", "/7/abc", None, 400, "pce_type_invalid"),
        ("GET", "/0/abc", None, 404, "not_found"),
        ("PUT", "/0/abc", {"note": "x"}, 404, "not_found"),
        ("DELETE", "/0/abc", None, 404, "not_found"),
        ("POST", "/0/abc/rotateSecret", None, 404, "not_found"),
        ("GET", "/0/abc/deliveries", None, 404, "not_found"),
        ("PATCH", "/0/abc", None, 405, "method_not_allowed"),
    ],
)
def test_error_codes(http: httpx.Client, tenant: Tenant, method: str, suffix: str, body: Any, status: int,
                     code: str) -> None:
    response = http.request(method, base(tenant.extension.number) + suffix, json=body)
    assert (response.status_code, error_code(response)) == (status, code)



@pytest.mark.parametrize(("suffix", "allowed"), [
    ("", "GET, HEAD, POST"), ("/0", "DELETE, GET, HEAD"), ("/0/abc", "DELETE, GET, HEAD, PUT"),
    ("/0/abc/rotateSecret", "POST"), ("/0/abc/deliveries", "GET, HEAD"),
])
def test_method_not_allowed_names_every_method_the_resource_takes(http: httpx.Client, tenant: Tenant, suffix: str,
                                                                   allowed: str) -> None:
    response = http.request("PATCH", base(tenant.extension.number) + suffix)
    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")
    assert response.headers["allow"] == allowed  # RFC 9110: the methods the target resource supports


def test_answers_with_tokens_or_secrets_are_never_cached(api: ApiServer, http: httpx.Client, tenant: Tenant) -> None:
    # RFC 6749 5.1: the token endpoint's answers carry Cache-Control: no-store (and Pragma: no-cache); so do the
    # Event resource's, which carry signing secrets and a tenant's settings.
    with api.client() as anonymous:
        token = anonymous.post("/oauth/token", data={"grant_type": "client_credentials",
                                                     "client_id": tenant.client.client_id,
                                                     "client_secret": tenant.client.client_secret})
        refused = anonymous.get(base(tenant.extension.number))
    signed = http.post(base(tenant.extension.number), json={"type": 0, "url": URL, "signing": True})
    rotated = http.post(f"{base(tenant.extension.number)}/0/{signed.json()['id']}/rotateSecret")
    for answer in (token, refused, signed, rotated, http.get(base(tenant.extension.number))):
        assert answer.headers.get("cache-control") == "no-store", answer.request.url
        assert answer.headers.get("pragma") == "no-cache", answer.request.url

def test_bad_and_unknown_extensions(http: httpx.Client, tenant: Tenant) -> None:
    malformed = http.get(base("21O"))
    assert (malformed.status_code, error_code(malformed)) == (400, "extension_invalid")
    for path in (base("9999*999"), base(tenant.extension.number, user="someone"),
                 base(tenant.extension.number, user="999999999")):
        missing = http.get(path)
        assert (missing.status_code, error_code(missing)) == (404, "not_found"), path


def test_cross_tenant_access_is_not_found_and_changes_nothing(
        api: ApiServer, http: httpx.Client, conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    path = base(tenant.extension.number)
    victim = http.post(path, json={"type": 0, "url": URL, "note": "mine"}).json()
    item = f"{path}/0/{victim['id']}"
    before = list_requests(conn, tenant.extension, parse_list_query({}))
    stranger, sibling = make_tenant(conn), make_tenant(conn, provider=tenant.provider)
    for other in (stranger, sibling):
        with api.client(api.token(other.client.client_id, other.client.client_secret)) as client:
            for user in ("@me", str(tenant.org.id), str(other.org.id)):
                p = base(tenant.extension.number, user)
                for response in (client.get(p), client.post(p, json={"type": 0, "url": URL}),
                                 client.get(f"{p}/0/{victim['id']}"),
                                 client.put(f"{p}/0/{victim['id']}", json={"note": "theirs"}),
                                 client.delete(f"{p}/0/{victim['id']}"), client.delete(f"{p}/0"),
                                 client.post(f"{p}/0/{victim['id']}/rotateSecret"),
                                 client.get(f"{p}/0/{victim['id']}/deliveries")):
                    assert (response.status_code, error_code(response)) == (404, "not_found"), response.request
    assert list_requests(conn, tenant.extension, parse_list_query({})) == before
    with api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as owner:
        assert owner.get(item).json() == victim


def test_provider_reaches_its_organizations(api: ApiServer, conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    from control.service import create_client

    creds = create_client(conn, tenant.provider.id)
    with api.client(api.token(creds.client_id, creds.client_secret)) as client:
        for user in ("@me", str(tenant.provider.id), str(tenant.org.id)):
            assert client.get(base(tenant.extension.number, user)).status_code == 200, user


def test_cap_per_extension(settings: Settings, tenant: Tenant) -> None:
    with ApiServer(settings.model_copy(update={"max_requests_per_extension": 2})) as api, \
            api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as client:
        path = base(tenant.extension.number)
        assert [client.post(path, json={"type": 0, "url": URL}).status_code for _ in range(2)] == [201, 201]
        over = client.post(path, json={"type": 0, "url": URL})
        assert (over.status_code, error_code(over)) == (409, "pce_limit_reached")
        assert over.json()["error"]["message"].endswith("the maximum is 2: remove one to add another")  # what next


def test_an_add_missing_a_field_or_not_an_object_says_what_to_send(api: ApiServer, tenant: Tenant) -> None:
    with api.client(api.token(tenant.client.client_id, tenant.client.client_secret)) as client:
        path = base(tenant.extension.number)
        untyped, unaddressed, listed = (client.post(path, json=body) for body in ({"url": URL}, {"type": 0}, []))
        nulls = [client.post(path, json=body) for body in ({"type": None, "url": URL}, {"type": 0, "url": None})]
    for answer in (untyped, nulls[0]):  # null as left out
        assert (error_code(answer), answer.json()["error"]["message"]) == (
            "pce_type_invalid", "type is required: 0-4 or dial-in, dial-out, hangup, answer-in, answer-out")
    for answer in (unaddressed, nulls[1]):
        assert (error_code(answer), answer.json()["error"]["message"]) == (
            "pce_url_invalid", "url is required: the http(s) URL to notify")
    assert error_code(listed) == "request_invalid" and "must be a JSON object" in listed.json()["error"]["message"]
    assert "AddRequestBody" not in listed.text  # no class name of the server's


def test_health_metrics_and_openapi(api: ApiServer) -> None:
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        metrics = client.get("/metrics").text
        assert 'callapi_api_requests_total{method="GET",route="/healthz",status="200"}' in metrics
        document = client.get("/openapi.json").json()
    operations = {(path, verb) for path, item in document["paths"].items() for verb in item}
    assert len(operations) == 15
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            if path.startswith("/uapi") or path.startswith("/oauth"):
                errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
                assert {"400", "401", "503"} <= errors or path == "/oauth/token", (path, verb)
                assert "ErrorBody" in str(operation["responses"]["401"]), (path, verb)


def test_database_down_answers_503(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql://callapi:callapi@127.0.0.1:1/callapi"})
    with ApiServer(down) as api, api.client("some-token") as client:
        response = client.get(base("0003*210"))
        assert (response.status_code, error_code(response)) == (503, "service_unavailable")
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200


def test_an_unmigrated_database_answers_503_and_is_not_ready_until_migrated(settings: Settings,
                                                                           unmigrated_database_url: str) -> None:
    unmigrated = settings.model_copy(update={"database_url": unmigrated_database_url})
    with ApiServer(unmigrated) as api, api.client("some-token") as client:
        response = client.get(base("0003*210"))
        assert (response.status_code, error_code(response)) == (503, "service_unavailable")
        assert "callapi-events db migrate" in response.json()["error"]["message"]
        page = client.get("/ui/extensions", headers={"Cookie": f"{SESSION_COOKIE}=some-token"})
        assert (page.status_code, page.headers["content-type"].split(";")[0]) == (503, "text/html")  # a page, not JSON
        assert "Temporarily unavailable" in page.text
        assert client.get("/readyz").status_code == 503
        migrate(unmigrated_database_url)
        assert client.get("/readyz").json() == {"status": "ready"}


@pytest.mark.parametrize(("body", "code"), [
    ({"type": 0, "url": "http://127.0.0.1/\u0000"}, "pce_url_invalid"),
    ({"type": 0, "url": URL, "note": "a\u0000b"}, "pce_note_invalid"),
])
def test_text_postgresql_cannot_store_is_a_400(http: httpx.Client, tenant: Tenant, body: dict[str, Any],
                                               code: str) -> None:
    response = http.post(base(tenant.extension.number), json=body)
    assert (response.status_code, error_code(response)) == (400, code)
    lone_surrogate = b'{"type": 0, "url": "http://127.0.0.1:9/", "note": "\\ud800"}'
    response = http.post(base(tenant.extension.number), content=lone_surrogate,
                         headers={"content-type": "application/json"})
    assert (response.status_code, error_code(response)) == (400, "pce_note_invalid")
    response = http.get(base(tenant.extension.number), params={"filterBy": "url", "filterValue": "\u0000"})
    assert (response.status_code, error_code(response)) == (400, "filter_invalid")

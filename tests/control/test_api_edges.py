"""Edge input over real HTTP against the real PostgreSQL: what the IDNA codec, the JSON decoder or a non-ASCII
digit would otherwise turn into a 500 or a record no PBX key can match."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from control.api.bodylimit import MAX_BODY_BYTES
from control.errors import InvalidInput
from control.service import admin, list_requests, parse_list_query
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import Browser

PUBLIC_URL = "https://93.184.215.14/hook"  # a public address literal: no DNS needed
BAD_HOSTS = ["https://crm..example.com/hook", "https://.example.com/hook", f"https://{'a' * 64}.example.com/hook"]


def base(number: str) -> str:
    return f"/uapi/extensions/@me/{quote(number, safe='')}/phoneCallEvents"


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture(scope="module", params=[False, True], ids=["production", "private-urls-allowed"])
def api(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Iterator[ApiServer]:
    with ApiServer(make_settings(allow_private_urls=request.param)) as server:
        yield server


@pytest.mark.parametrize("url", BAD_HOSTS, ids=["empty-label", "leading-dot", "label-over-63"])
def test_host_names_the_idna_codec_refuses_are_a_400(http: httpx.Client, conn: psycopg.Connection[Any],
                                                     tenant: Tenant, url: str) -> None:
    path = base(tenant.extension.number)
    added = http.post(path, json={"type": 0, "url": url})
    assert (added.status_code, error_code(added)) == (400, "pce_url_invalid")
    assert "not a valid host name" in added.json()["error"]["message"]
    kept = http.post(path, json={"type": 0, "url": PUBLIC_URL}).json()
    edited = http.put(f"{path}/0/{kept['id']}", json={"url": url})
    assert (edited.status_code, error_code(edited)) == (400, "pce_url_invalid")
    assert [item.url for item in list_requests(conn, tenant.extension, parse_list_query({})).items] == [PUBLIC_URL]


def test_the_web_ui_explains_a_bad_host_name_next_to_the_field(api: ApiServer, tenant: Tenant) -> None:
    with Browser(api.url) as browser:
        assert browser.sign_in(tenant.client.client_id, tenant.client.client_secret).status_code == 303
        page = f"/ui/extensions/{quote(tenant.extension.number, safe='*')}"
        answer = browser.post(f"{page}/requests", data={"type": "0", "method": "GET", "url": BAD_HOSTS[0],
                                                        "status": "1", "note": "", "csrf": browser.csrf(page)})
    assert answer.status_code == 400
    assert 'id="url-error"' in answer.text and "not a valid host name" in answer.text


@pytest.mark.parametrize("body", [
    b'{"type": 0, "url": "https://93.184.215.14/\xff"}',  # not UTF-8
    b'{"type": ' + b"9" * 5000 + b', "url": "https://93.184.215.14/"}',  # past Python's int-digits limit
], ids=["not-utf-8", "huge-number"])
def test_bodies_the_json_decoder_refuses_are_request_invalid(http: httpx.Client, tenant: Tenant, body: bytes) -> None:
    response = http.post(base(tenant.extension.number), content=body, headers={"content-type": "application/json"})
    assert (response.status_code, error_code(response)) == (400, "request_invalid")



def test_a_body_that_is_not_json_says_so_and_where(http: httpx.Client, tenant: Tenant) -> None:
    response = http.post(base(tenant.extension.number), content=b'{"type": 0,}',
                         headers={"content-type": "application/json"})
    assert (response.status_code, error_code(response)) == (400, "request_invalid")
    message = response.json()["error"]["message"]
    assert "not valid JSON" in message and "character 11" in message, message

@pytest.mark.parametrize("number", ["\u0660\u0660\u0660\u0663*\u0662\u0661\u0660", "0003*\uff12\uff11\uff10"],
                         ids=["arabic-indic", "fullwidth"])
def test_extension_numbers_in_other_digits_are_invalid(http: httpx.Client, number: str) -> None:
    response = http.get(base(number))
    assert (response.status_code, error_code(response)) == (400, "extension_invalid")


def test_the_admin_refuses_extensions_in_other_digits(conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    for number in ("\u0662\u0661\u0660", f"{tenant.org.code}*\uff12\uff11\uff10"):
        with pytest.raises(InvalidInput) as refused:
            admin.create_extension(conn, tenant.org.id, number)
        assert refused.value.code == "extension_invalid"
    row = conn.execute("SELECT count(*) FROM extensions WHERE number !~ '^[0-9]+[*][0-9]+$'").fetchone()
    assert row is not None and row[0] == 0


def _chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 65_536):
        yield b"a" * 65_536


@pytest.mark.parametrize("resource", ["sign-in", "event-resource"])
@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "chunked"])
def test_a_body_over_the_cap_is_refused_before_anything_reads_it(api: ApiServer, tenant: Tenant, resource: str,
                                                                 streamed: bool) -> None:
    size = MAX_BODY_BYTES + 65_536
    path, token = "/oauth/token", None
    if resource == "event-resource":  # signed in: the Event resource reads bodies only once the caller is known
        path, token = base(tenant.extension.number), api.token(tenant.client.client_id, tenant.client.client_secret)
    with api.client(token) as http:
        answer = http.post(path, content=_chunks(size) if streamed else b"a" * size,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert (answer.status_code, error_code(answer)) == (413, "request_too_large")


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "chunked"])
def test_a_body_over_the_cap_of_a_caller_without_a_token_is_refused_as_unsigned(api: ApiServer, tenant: Tenant,
                                                                                streamed: bool) -> None:
    size = MAX_BODY_BYTES + 65_536
    with api.client() as http:
        answer = http.post(base(tenant.extension.number), content=_chunks(size) if streamed else b"a" * size,
                           headers={"content-type": "application/json"})
    assert (answer.status_code, error_code(answer)) == (401, "unauthorized")


def test_a_refused_body_is_counted_in_the_request_metrics(api: ApiServer) -> None:
    with api.client() as http:
        http.post("/oauth/token", content=b"a" * (MAX_BODY_BYTES + 1))
        metrics = http.get("/metrics").text
    assert any(line.startswith("callapi_api_requests_total{") and 'status="413"' in line
               for line in metrics.splitlines())

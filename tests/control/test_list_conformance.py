"""ListAll's and the delivery log's parameters and HTTP's HEAD over real HTTP against the real PostgreSQL: a
parameter the list cannot honour is refused with its code, never ignored, and HEAD answers as GET does, without the
body."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from schemas.attempts import Outcome
from schemas.events import EventType
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.ui import attempt, write_attempts

URL = "https://93.184.215.14/hook"  # a public address literal: no DNS needed


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def base(tenant: Tenant) -> str:
    return f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


def notes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["note"] for entry in response.json()["entry"]]


def test_a_list_of_one_type_filters_and_sorts_as_listall_does(http: httpx.Client, tenant: Tenant) -> None:
    path = base(tenant)
    for type_, note in [(1, "alpha one"), (1, "beta"), (1, "alpha two"), (2, "alpha other type")]:
        assert http.post(path, json={"type": type_, "url": URL, "note": note}).status_code == 201
    assert notes(http.get(f"{path}/1", params={"filterBy": "note", "filterValue": "alpha"})) == ["alpha one",
                                                                                                   "alpha two"]
    assert notes(http.get(f"{path}/1", params={"sortOrder": "descending"})) == ["alpha two", "beta", "alpha one"]
    assert notes(http.get(f"{path}/dial-out", params={"type": "1"})) == ["alpha one", "beta", "alpha two"]
    for params, code in [({"filterBy": "bogus", "filterValue": "x"}, "filter_invalid"),
                         ({"sortOrder": "sideways"}, "sort_invalid"), ({"sortBy": "bogus"}, "sort_invalid"),
                         ({"type": "2"}, "pce_type_invalid")]:
        answer = http.get(f"{path}/1", params=params)
        assert (answer.status_code, error_code(answer)) == (400, code), (params, answer.text)


@pytest.mark.parametrize("suffix", ["", "/1"])
def test_a_filter_value_without_filter_by_is_refused(http: httpx.Client, tenant: Tenant, suffix: str) -> None:
    assert http.post(base(tenant), json={"type": 1, "url": URL, "note": "kept"}).status_code == 201
    answer = http.get(base(tenant) + suffix, params={"filterValue": "nothing matches this"})
    assert (answer.status_code, error_code(answer)) == (400, "filter_invalid"), answer.text
    assert "filterBy" in answer.json()["error"]["message"]


def attempts(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [entry["attempt"] for entry in response.json()["entry"]]


def test_the_delivery_log_is_newest_first_or_in_the_sort_order_asked_for(http: httpx.Client, tenant: Tenant,
                                                                        database_url: str) -> None:
    added = http.post(base(tenant), json={"type": 0, "url": URL})
    assert added.status_code == 201, added.text
    write_attempts(database_url, [attempt(tenant.extension, added.json()["id"], EventType.DIAL_IN, number=n,
                                          outcome=Outcome.RETRY, status_code=500, ago_s=60 - n) for n in (1, 2, 3)])
    log = f"{base(tenant)}/0/{added.json()['id']}/deliveries"
    assert attempts(http.get(log)) == attempts(http.get(log, params={"sortOrder": "descending"})) == [3, 2, 1]
    assert attempts(http.get(log, params={"sortOrder": "ascending"})) == [1, 2, 3]
    assert attempts(http.get(log, params={"sortOrder": "asc", "count": 1, "startIndex": 1})) == [2]
    assert attempts(http.get(log, params={"type": "dial-in", "filterBy": "", "sortBy": ""})) == [3, 2, 1]


@pytest.mark.parametrize(("params", "code"), [
    ({"filterBy": "outcome", "filterValue": "failed"}, "filter_invalid"), ({"filterBy": "note"}, "filter_invalid"),
    ({"filterValue": "x"}, "filter_invalid"), ({"sortBy": "created"}, "sort_invalid"),
    ({"sortOrder": "sideways"}, "sort_invalid"), ({"type": "1"}, "pce_type_invalid"),
])
def test_a_delivery_log_parameter_it_cannot_honour_is_refused(http: httpx.Client, tenant: Tenant,
                                                               params: dict[str, str], code: str) -> None:
    """As ListAll's: a client that filters the log must not get the whole log as if it were the filtered one."""
    added = http.post(base(tenant), json={"type": 0, "url": URL})
    assert added.status_code == 201, added.text
    answer = http.get(f"{base(tenant)}/0/{added.json()['id']}/deliveries", params=params)
    assert (answer.status_code, error_code(answer)) == (400, code), (params, answer.text)
    assert next(iter(params)) in answer.json()["error"]["message"]


def test_head_answers_as_get_does_without_the_body(api: ApiServer, http: httpx.Client, tenant: Tenant) -> None:
    """RFC 9110 9.1: a general-purpose server supports HEAD wherever it supports GET (monitors probe with it)."""
    assert http.post(base(tenant), json={"type": 0, "url": URL}).status_code == 201
    for path in [base(tenant), f"{base(tenant)}/0", "/healthz", "/readyz", "/metrics"]:
        got, head = http.get(path), http.head(path)
        assert (head.status_code, head.content) == (200, b""), (path, head.status_code)
        assert head.headers["content-type"] == got.headers["content-type"], path
    with api.client() as anonymous:
        assert anonymous.head(base(tenant)).status_code == 401
    refused = http.head(f"{base(tenant)}/0/abc/rotateSecret")  # a path GET does not take: HEAD neither
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert http.patch(base(tenant), json={}).headers["allow"] == "GET, HEAD, POST"


def test_head_on_a_ui_page_is_refused(api: ApiServer, http: httpx.Client) -> None:
    """Showing a UI page takes its flash message, with a new signing secret shown once: only a browser's GET may."""
    with api.client() as browser:  # whoever asks, before any sign-in check
        page = browser.head("/ui/extensions")
    assert page.status_code == 405 and "HEAD" not in page.headers["allow"], page.headers

"""Behind a TLS-terminating reverse proxy (a Kubernetes ingress): the scheme the client used, X-Forwarded-Proto,
is believed from CALLAPI_TRUSTED_PROXIES only, so the API's links and the web UI speak https."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from control.api.addresses import forwarded_scheme, parse_networks
from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant

HOST = "callapi.example.com"
HTTPS = {"Host": HOST, "X-Forwarded-Proto": "https"}
PLAIN_HTTP_WARNING = "served over plain HTTP"
TRUSTED = parse_networks("10.0.0.0/8")


@pytest.mark.parametrize(("peer", "headers", "expected"), [
    ("10.1.2.3", ["https"], "https"),
    ("10.1.2.3", ["HTTPS "], "https"),
    ("10.1.2.3", ["http"], "http"),
    ("10.1.2.3", ["https, http"], "http"),  # the nearest proxy's word is the last one
    ("10.1.2.3", ["gopher"], None),
    ("10.1.2.3", [], None),
    ("192.0.2.7", ["https"], None),  # not a trusted proxy: anyone can send the header
    (None, ["https"], None),
])
def test_forwarded_scheme(peer: str | None, headers: list[str], expected: str | None) -> None:
    assert forwarded_scheme(peer, headers, TRUSTED) == expected


@pytest.fixture(scope="module")
def behind_proxy(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings.model_copy(update={"trusted_proxies": "127.0.0.1"})) as api:
        yield api


def self_link(api: ApiServer, tenant: Tenant, headers: dict[str, str]) -> str:
    token = api.token(tenant.client.client_id, tenant.client.client_secret)
    path = f"/uapi/extensions/@me/{quote(tenant.extension.number, safe='')}/phoneCallEvents"
    with api.client(token) as http:
        added = http.post(path, json={"type": 0, "url": "http://127.0.0.1:9/hook"}, headers=headers)
    assert added.status_code == 201, added.text
    return str(added.json()["links"]["self"])


def test_links_use_the_scheme_the_client_used(behind_proxy: ApiServer, tenant: Tenant) -> None:
    assert self_link(behind_proxy, tenant, HTTPS).startswith(f"https://{HOST}/uapi/extensions/")
    assert self_link(behind_proxy, tenant, {"Host": HOST}).startswith(f"http://{HOST}/uapi/extensions/")


def test_the_sign_in_page_knows_it_is_served_over_https(behind_proxy: ApiServer) -> None:
    with behind_proxy.client() as http:
        assert PLAIN_HTTP_WARNING not in http.get("/ui/", headers=HTTPS).text
        assert PLAIN_HTTP_WARNING in http.get("/ui/", headers={"Host": HOST}).text


def test_a_client_cannot_claim_https_without_a_trusted_proxy(settings: Settings, tenant: Tenant) -> None:
    with ApiServer(settings) as api:  # the default: no trusted proxies
        assert self_link(api, tenant, HTTPS).startswith(f"http://{HOST}/")
        with api.client() as http:
            assert PLAIN_HTTP_WARNING in http.get("/ui/", headers=HTTPS).text

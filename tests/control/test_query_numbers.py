"""Numbers in query strings and paths over real HTTP against the real PostgreSQL: a count, a startIndex, an event
type, a Request ID or an extension is read only as sent, in ASCII digits and letters. A sign, a space, an underscore,
a decimal point or another script's digits, which Python's int() and pydantic read as a number, answer 400 with the
parameter's code instead of a page the client did not ask for."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from schemas.settings import Settings
from tests.control.server import ApiServer
from tests.control.tenants import Tenant
from tests.control.test_api import base, error_code

URL = "http://127.0.0.1:9/hook"
NOT_PLAIN_DIGITS = ["+5", "-0", " 5", "5 ", "\t5", "5\n", "1_0", "5.0", "1e1", "0x5", "5\x00", "9" * 5000,
                    "\u00b2", "\u0661", "\uff15"]  # superscript two, Arabic-Indic one, fullwidth five


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[ApiServer]:
    with ApiServer(settings) as server:
        yield server


def added(http: httpx.Client, tenant: Tenant) -> str:
    answer = http.post(base(tenant.extension.number), json={"type": 0, "url": URL})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def refused(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, error_code(answer)


@pytest.mark.parametrize("name", ["count", "startIndex"])
@pytest.mark.parametrize("value", NOT_PLAIN_DIGITS)
def test_paging_numbers_are_plain_ascii_digits(http: httpx.Client, tenant: Tenant, name: str, value: str) -> None:
    request_id = added(http, tenant)
    for suffix in ["", "/0", f"/0/{request_id}/deliveries"]:
        answer = http.get(f"{base(tenant.extension.number)}{suffix}?{name}={quote(value, safe='')}")
        assert refused(answer) == (400, "paging_invalid"), (suffix, answer.text)


def test_plain_digits_still_page(http: httpx.Client, tenant: Tenant) -> None:
    request_id = added(http, tenant)
    for suffix in ["", "/0", f"/0/{request_id}/deliveries"]:
        answer = http.get(f"{base(tenant.extension.number)}{suffix}?count=0001&startIndex=00")
        assert answer.status_code == 200, (suffix, answer.text)
        assert answer.json()["paging"] == {**answer.json()["paging"], "startIndex": 0}


@pytest.mark.parametrize("value", ["+0", " 0", "0 ", "0\n", "\u0660", "0_0", "0.0", " dial-in"])
def test_an_event_type_is_a_plain_number_or_a_name(http: httpx.Client, tenant: Tenant, value: str) -> None:
    request_id = added(http, tenant)
    typed = quote(value, safe="")
    for path in [f"/{typed}", f"?type={typed}", f"/{typed}/{request_id}", f"/{typed}/{request_id}/deliveries",
                 f"?filterBy=type&filterValue={typed}"]:
        answer = http.get(base(tenant.extension.number) + path)
        assert refused(answer) == (400, "pce_type_invalid"), (path, answer.text)


@pytest.mark.parametrize(("name", "value", "code"), [("method", " 0", "pce_method_invalid"),
                                                    ("status", "1 ", "pce_status_invalid")])
def test_a_filter_on_a_number_takes_the_plain_number(http: httpx.Client, tenant: Tenant, name: str, value: str,
                                                     code: str) -> None:
    added(http, tenant)
    answer = http.get(f"{base(tenant.extension.number)}?filterBy={name}&filterValue={quote(value)}")
    assert refused(answer) == (400, code), answer.text


@pytest.mark.parametrize(("field", "value", "code"), [("type", " 1", "pce_type_invalid"),
                                                     ("method", "1 ", "pce_method_invalid"),
                                                     ("status", "\t0", "pce_status_invalid")])
def test_a_number_sent_as_a_string_in_a_body_is_its_digits_alone(http: httpx.Client, tenant: Tenant, field: str,
                                                                  value: str, code: str) -> None:
    answer = http.post(base(tenant.extension.number), json={"type": 0, "url": URL, field: value})
    assert refused(answer) == (400, code), answer.text


def test_a_request_id_with_a_trailing_line_break_is_invalid_not_looked_up(http: httpx.Client, tenant: Tenant) -> None:
    """`$` in a regular expression also matches before a final line break."""
    answer = http.get(f"{base(tenant.extension.number)}/0/{added(http, tenant)}%0A")
    assert refused(answer) == (400, "pce_id_invalid"), answer.text


@pytest.mark.parametrize("value", [" {}", "{} ", "{}%0A"])
def test_an_extension_is_read_as_sent(http: httpx.Client, tenant: Tenant, value: str) -> None:
    number = value.format(quote(tenant.extension.number, safe=""))
    answer = http.get(f"/uapi/extensions/@me/{number.replace(' ', '%20')}/phoneCallEvents")
    assert refused(answer) == (400, "extension_invalid"), answer.text

"""The request builder and the signer: pure, checked against the reference standardwebhooks package."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from delivery.request import FORM_CONTENT_TYPE, build_request, encode_parameters
from delivery.signing import signature_header
from schemas.events import PARAMETER_NAMES
from tests.delivery.jobs import PARAMS, make_job, new_secret

NOW_S = 1_796_000_000
UA = "callapi-events/1.2.3"


def test_post_sends_the_nine_parameters_as_a_form_body() -> None:
    req = build_request(make_job("http://example.com/hook?a=1", method="POST"), now_s=NOW_S, user_agent=UA)
    assert req.method == "POST"
    assert req.url == "http://example.com/hook?a=1"
    assert [k for k, _ in parse_qsl(req.body.decode(), keep_blank_values=True)] == list(PARAMETER_NAMES)
    assert dict(parse_qsl(req.body.decode(), keep_blank_values=True)) == PARAMS
    assert req.headers["Content-Type"] == FORM_CONTENT_TYPE
    assert req.payload == req.body


@pytest.mark.parametrize(("url", "own"), [
    ("http://example.com/hook", []),
    ("http://example.com/hook?token=abc&x=", [("token", "abc"), ("x", "")]),
    ("http://example.com/hook?CallID=spoofed&keep=1", [("keep", "1")]),
    ("http://example.com/h%C3%A9?q=a%20b#frag", [("q", "a b")]),
    ("http://example.com?q=é", [("q", "é")]),
])
def test_get_merges_the_parameters_with_the_urls_own_query(url: str, own: list[tuple[str, str]]) -> None:
    req = build_request(make_job(url, method="GET"), now_s=NOW_S, user_agent=UA)
    parts = urlsplit(req.url)
    assert req.method == "GET" and req.body == b""
    assert parse_qsl(parts.query, keep_blank_values=True) == [*own, *PARAMS.items()]
    assert req.payload == parts.query.encode()
    assert not parts.fragment
    assert req.url.isascii()


@pytest.mark.parametrize(("url", "sent"), [
    ("http://Bücher.example:8080/hook?q=1#x", "http://xn--bcher-kva.example:8080/hook?q=1"),
    ("https://straße.example", "https://xn--strae-oqa.example/"),  # WHATWG's (UTS 46) form, not IDNA 2003's
])
def test_an_internationalised_host_goes_out_in_its_idna_form(url: str, sent: str) -> None:
    assert build_request(make_job(url, method="POST"), now_s=NOW_S, user_agent=UA).url == sent


def test_headers() -> None:
    job = make_job("http://example.com/", method="GET", request_id="abc123", sequence=42)
    headers = build_request(job, now_s=NOW_S, user_agent=UA).headers
    assert headers == {
        "User-Agent": UA, "X-CallAPI-Event": "dial-in", "X-CallAPI-Request-ID": "abc123",
        "X-CallAPI-Sequence": "42", "webhook-id": job.job_id, "webhook-timestamp": str(NOW_S),
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("count", [1, 2])
def test_signature_verifies_with_every_secret_during_a_rotation(method: str, count: int) -> None:
    secrets = tuple(new_secret() for _ in range(count))
    job = make_job("http://example.com/hook?a=1", method=method, secrets_=secrets)
    now_s = int(time.time())  # the reference verifier checks the timestamp against its own clock
    req = build_request(job, now_s=now_s, user_agent=UA)
    assert len(req.headers["webhook-signature"].split(" ")) == count
    for secret in secrets:
        Webhook(secret).verify(req.payload, req.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(req.payload, req.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(secrets[0]).verify(req.payload + b"&x=1", req.headers, json_parse=False)


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@given(st.binary(max_size=200), st.text(max_size=40), st.integers(min_value=0, max_value=2**33))
def test_signature_matches_the_reference_for_any_payload(payload: bytes, msg_id: str, timestamp_s: int) -> None:
    secret = new_secret()
    ours = signature_header((secret,), msg_id=msg_id, timestamp_s=timestamp_s, payload=payload)
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return
    assert ours == Webhook(secret).sign(msg_id, _dt(timestamp_s), text)


@given(st.dictionaries(st.sampled_from(PARAMETER_NAMES), st.text(max_size=30)))
@example({"CallerIDName": "a\x00b c", "CallID": "\x00"})  # the values are escaped joined by NULs
def test_parameter_encoding_equals_urlencode(values: dict[str, str]) -> None:
    expected = urlencode([(name, values.get(name, "")) for name in PARAMETER_NAMES])
    assert encode_parameters(values) == expected

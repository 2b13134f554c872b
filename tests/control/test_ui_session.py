"""Pure pieces of the web UI: CSRF tokens, signed flash cookies, the request form, labels and URLs."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from fastapi import Response
from hypothesis import given
from hypothesis import strategies as st

from control.ui import session
from control.ui.forms import RequestForm
from control.ui.render import disabled_text, extension_url, request_url, type_label
from schemas.events import EventType

KEY = "session-token-of-alice"


@pytest.mark.parametrize(("key", "sent", "ok"), [
    (KEY, session.csrf_token(KEY), True),
    (KEY, session.csrf_token("session-token-of-bob"), False),
    (KEY, session.csrf_token(KEY)[:-1], False),
    (KEY, "", False),
    (KEY, None, False),
    (KEY, ["list"], False),
    (None, session.csrf_token(KEY), False),
    ("", session.csrf_token(""), False),
])
def test_csrf_token_check(key: str | None, sent: object, ok: bool) -> None:
    assert session.csrf_ok(key, sent) is ok


def test_csrf_token_does_not_reveal_the_session_token() -> None:
    assert KEY not in session.csrf_token(KEY)
    assert len(session.csrf_token(KEY)) == 64


@given(message=st.text(), request_id=st.none() | st.text(), secret_ref=st.none() | st.text())
def test_flash_round_trips_and_is_cookie_safe(message: str, request_id: str | None, secret_ref: str | None) -> None:
    flash = session.Flash(message, "0003*210", request_id, secret_ref=secret_ref)
    value = session.encode_flash(flash, KEY)
    assert session.decode_flash(value, KEY) == flash
    response = Response()
    session.set_cookie(response, session.FLASH_COOKIE, value, max_age_s=60)
    assert '"' not in response.headers["set-cookie"].split(";")[0]  # no quoting needed
    parsed = SimpleCookie(response.headers["set-cookie"])[session.FLASH_COOKIE]
    assert parsed.value == value


def test_a_signing_secret_is_never_encoded_into_the_flash_cookie() -> None:
    """The cookie is signed, not encrypted: the secret waits in PostgreSQL, the cookie carries a reference."""
    with pytest.raises(ValueError, match="does not go into the flash cookie"):
        session.encode_flash(session.Flash("hi", "0003*210", "r1", "whsec_c2VjcmV0"), KEY)


@pytest.mark.parametrize("value", [
    None, "", "no-dot", "e30.", "e30.00",  # e30 is {}
    session.encode_flash(session.Flash("hi"), "another-key"),
    session.encode_flash(session.Flash("hi"), KEY)[:-2] + "00",
    session.encode_flash(session.Flash("hi"), KEY).replace(".", "x."),
])
def test_flash_refuses_missing_foreign_or_tampered_values(value: str | None) -> None:
    assert session.decode_flash(value, KEY) is None


def test_cookie_attributes() -> None:
    response = Response()
    session.set_cookie(response, session.SESSION_COOKIE, "token", max_age_s=3600)
    attributes = {part.strip().lower() for part in response.headers["set-cookie"].split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/", "max-age=3600"} <= attributes
    assert not any(part.startswith("domain") for part in attributes)  # __Host- cookies are host-only


@pytest.mark.parametrize(("posted", "data"), [
    ({"type": "2", "method": "POST", "url": "https://x.example/h", "status": "0", "note": "n", "signing": "on"},
     {"type": "2", "method": "POST", "url": "https://x.example/h", "status": "0", "note": "n", "signing": True}),
    ({"type": "0", "url": "u"},  # an unticked checkbox is absent: signing off; missing fields stay empty
     {"type": "0", "method": "", "url": "u", "status": "", "note": "", "signing": False}),
    ({"csrf": "t", "extra": "x", "type": "1", "signing": ""},
     {"type": "1", "method": "", "url": "", "status": "", "note": "", "signing": False}),
])
def test_posted_form_becomes_service_fields(posted: dict[str, str], data: dict[str, object]) -> None:
    assert RequestForm.posted(posted).data() == data


@pytest.mark.parametrize(("event_type", "label"), [
    (EventType.DIAL_IN, "Dial-In"), (EventType.DIAL_OUT, "Dial-Out"), (EventType.HANGUP, "Hangup"),
    (EventType.ANSWER_IN, "Answer-In"), (EventType.ANSWER_OUT, "Answer-Out"),
])
def test_type_labels_are_voipnows(event_type: EventType, label: str) -> None:
    assert type_label(event_type) == label


def test_urls_keep_the_star_and_escape_the_rest() -> None:
    assert extension_url("0003*210") == "/ui/extensions/0003*210"
    assert request_url("0003*210", EventType.ANSWER_OUT, "abc") == "/ui/extensions/0003*210/requests/answer-out/abc"
    assert request_url("0003*210", EventType.HANGUP, "a/b?c") == "/ui/extensions/0003*210/requests/hangup/a%2Fb%3Fc"


@pytest.mark.parametrize(("reason", "text"), [
    ("gone", "The endpoint answered 410 Gone, so delivery stopped. Fix it, then enable."),
    ("something new", "something new"),
])
def test_disabled_reasons_are_explained(reason: str, text: str) -> None:
    assert disabled_text(reason) == text


@pytest.mark.parametrize(("value", "path"), [
    ("/ui/extensions/0003*210/requests/dial-in/abc%2F1", "/ui/extensions/0003*210/requests/dial-in/abc%2F1"),
    ("/ui/extensions", "/ui/extensions"),
    (None, None), ("", None), ("/ui", None), ("https://evil.example/ui/", None), ("//evil.example/ui/", None),
    ("/ui/\\evil.example", None), ("/ui/x?next=//evil", None), ("/ui/x\r\nSet-Cookie: a=b", None), ("/api/x", None),
])
def test_only_a_page_of_the_ui_is_returned_to_after_signing_in(value: str | None, path: str | None) -> None:
    assert session.return_path(value) == path

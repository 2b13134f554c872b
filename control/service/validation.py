"""Pure parsing of Event resource input: VoipNow clients send numbers as strings, names or numbers.

Every parser returns the clean value or raises InvalidInput with the CONTRACT.md code of its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from control.errors import InvalidInput
from schemas.events import EventType
from schemas.extensions import canonical_extension
from schemas.requests import HttpMethod
from schemas.urlguard import UnsafeUrl, check_url, system_resolver

MAX_NOTE_CHARS = 1024
MAX_URL_CHARS = 2048
REQUEST_ID = re.compile(r"[A-Za-z0-9]{1,255}")
DIGITS = re.compile(r"[0-9]+")
_METHODS = {"0": HttpMethod.GET, "1": HttpMethod.POST, "GET": HttpMethod.GET, "POST": HttpMethod.POST}
_FLAGS = {"0": False, "1": True, "false": False, "true": True}


def _text(value: object) -> str | None:
    """Numbers and strings as text, as sent (" 1" is no number); anything else (lists, objects, bools) as None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value)


def clean_text(value: str, *, code: str, field: str) -> str:
    """Text PostgreSQL can store: no NUL characters, no lone UTF-16 surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(code, f"{field} is not valid Unicode text", field=field) from None
    if "\x00" in value:
        raise InvalidInput(code, f"{field} must not contain NUL characters", field=field)
    return value


def parse_type(value: object) -> EventType:
    """0-4, "0"-"4" or a name: dial-in, dial-out, hangup, answer-in, answer-out."""
    if value is None or value == "":
        raise InvalidInput("pce_type_invalid", "type is required: 0-4 or dial-in, dial-out, hangup, "
                           "answer-in, answer-out", field="type")
    if isinstance(value, str) and value != value.strip():  # EventType.parse would trim it
        raise InvalidInput("pce_type_invalid", f"type {value!r} has spaces around it: send 0-4 or a name alone",
                           field="type")
    try:
        return EventType.parse(value)
    except ValueError as error:
        raise InvalidInput("pce_type_invalid", str(error), field="type") from None


def parse_method(value: object) -> HttpMethod:
    """0 or "GET", 1 or "POST" (any case)."""
    text = _text(value)
    method = _METHODS.get(text.upper()) if text is not None else None
    if method is None:
        raise InvalidInput("pce_method_invalid", f"method {value!r} is not 0 (GET) or 1 (POST)", field="method")
    return method


def parse_status(value: object) -> bool:
    """1 / "1" / true: enabled; 0 / "0" / false: disabled."""
    flag = value if isinstance(value, bool) else _FLAGS.get((_text(value) or "?").lower())
    if flag is None:
        raise InvalidInput("pce_status_invalid", f"status {value!r} is not 0 (disabled) or 1 (enabled)",
                           field="status")
    return flag


def parse_signing(value: object) -> bool:
    flag = value if isinstance(value, bool) else _FLAGS.get((_text(value) or "?").lower())
    if flag is None:
        raise InvalidInput("pce_signing_invalid", f"signing {value!r} is not true or false", field="signing")
    return flag


def parse_note(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("pce_note_invalid", "note must be text", field="note")
    if len(value) > MAX_NOTE_CHARS:
        raise InvalidInput("pce_note_invalid", f"note is longer than {MAX_NOTE_CHARS} characters", field="note")
    return clean_text(value, code="pce_note_invalid", field="note")


RESOLVE_TIMEOUT_S = 3.0
_RESOLVERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="url-check-dns")


def resolve_in_time(host: str, *, resolve: Callable[[str], list[str]] = system_resolver,
                    timeout_s: float = RESOLVE_TIMEOUT_S) -> list[str]:
    """`resolve(host)` given `timeout_s`: the caller holds a pooled database connection meanwhile, and the system
    resolver may take 20 s and more to give up on an unreachable DNS server."""
    try:
        return _RESOLVERS.submit(resolve, host).result(timeout=timeout_s)
    except TimeoutError:
        raise UnsafeUrl(f"the host {host!r} did not resolve within {timeout_s:g} s; check the name or try again "
                        "shortly") from None


def parse_url(value: object, *, allow_private: bool, resolve: Callable[[str], list[str]] = resolve_in_time) -> str:
    """An http(s) URL of at most 2,048 characters that passes the URL guard."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("pce_url_invalid", "url is required: an http:// or https:// URL", field="url")
    url = clean_text(value.strip(), code="pce_url_invalid", field="url")
    if len(url) > MAX_URL_CHARS:
        raise InvalidInput("pce_url_invalid", f"url is longer than {MAX_URL_CHARS} characters", field="url")
    try:
        check_url(url, allow_private=allow_private, resolve=resolve)
    except UnsafeUrl as error:
        raise InvalidInput("pce_url_invalid", str(error), field="url") from None
    return url


def parse_request_id(value: object) -> str:
    """A Request ID: 1-255 letters and digits."""
    text = value if isinstance(value, str) else ""
    if not REQUEST_ID.fullmatch(text):  # match() with `$` would take a final line break too
        raise InvalidInput("pce_id_invalid", f"request id {value!r} is not 1-255 letters and digits", field="id")
    return text


def parse_extension(value: str) -> str:
    """The canonical `0003*210` form of `0003*210` or `0003210` (ASCII digits only), as sent in the path."""
    if value != value.strip():  # canonical_extension would trim it
        raise InvalidInput("extension_invalid", f"extension {value!r} has white space around it: send the number "
                           "alone", field="extension")
    try:
        return canonical_extension(value)
    except ValueError as error:
        raise InvalidInput("extension_invalid", str(error), field="extension") from None


def parse_int(value: object, *, name: str, code: str, minimum: int, maximum: int) -> int:
    """A whole number in the ASCII digits 0-9 alone: int() and pydantic also read "+5", " 5", "1_0", "5.0" and other
    scripts' digits (superscript two, Arabic-Indic one), which a client that sends them did not mean as this number."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and DIGITS.fullmatch(value))):
        raise InvalidInput(code, f"{name} {_shown(value)} is not a whole number in the digits 0-9 alone (no sign, "
                           "space or separator)", field=name)
    significant = str(value).lstrip("0")  # int() refuses 4,301 digits and more: longer is out of range anyway
    number = int(significant or "0") if len(significant) <= len(str(maximum)) else maximum + 1
    if not minimum <= number <= maximum:
        raise InvalidInput(code, f"{name} {_shown(value)} is out of range ({minimum}-{maximum})", field=name)
    return number


def _shown(value: object) -> str:
    """`value` quoted for a message, cut short: a query string may be kilobytes long."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."

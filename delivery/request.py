"""The HTTP request of one delivery attempt, built from a DeliveryJob (pure).

GET: the URL's own query is kept (minus any of the nine parameter names) and the nine parameters follow it,
form-encoded in VoipNow's order. POST: the nine parameters are the `application/x-www-form-urlencoded` body.

The signed payload is the parameter-carrying string exactly as sent: for POST the body, for GET the whole
raw query string (everything after `?`, the URL's own parameters included). A receiver verifies GET
notifications with the raw query string of the request line, before any decoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from pyreqwest.http import Url

from delivery.signing import signature_header
from schemas.events import PARAMETER_NAMES
from schemas.jobs import DeliveryJob
from schemas.requests import HttpMethod

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_QUERY_SAFE = "&=+%/:?@!$()*,;~"  # not `'`: WHATWG parsers (reqwest) would escape it after signing
_RESERVED = re.compile(r"[^A-Za-z0-9_.~-]")


@dataclass(slots=True)  # not frozen: that sets each field through object.__setattr__, per job
class OutgoingRequest:
    method: str
    url: str
    """Already percent-encoded: send it as is, so the query bytes match the signature."""
    body: bytes
    headers: dict[str, str]
    payload: bytes
    """What was signed: the POST body or the GET query string."""


@lru_cache(maxsize=1024)
def _escaped(char: str) -> str:
    """`quote_plus` of one character: its UTF-8 bytes as %XX, a space as `+`."""
    return "+" if char == " " else "".join(f"%{byte:02X}" for byte in char.encode())


def _escape_match(match: re.Match[str]) -> str:
    return _escaped(match.group())


def _form_value(value: str) -> str:
    """`quote_plus(value)`, several times faster on the short values of a notification."""
    return _RESERVED.sub(_escape_match, value) if _RESERVED.search(value) else value


_SEPARATOR = "\x00"
_RESERVED_BUT_SEPARATOR = re.compile(r"[^A-Za-z0-9_.~\x00-]")
_PARAMETERS_TEMPLATE = "&".join(f"{name}={{}}" for name in PARAMETER_NAMES)


def encode_parameters(params: dict[str, str]) -> str:
    """`urlencode` of the nine parameters in order (names are plain ASCII). The values are escaped in one pass,
    joined by a NUL that the pass leaves alone; a value holding a NUL itself takes the value-by-value path."""
    values = _SEPARATOR.join([params.get(name, "") for name in PARAMETER_NAMES])
    if values.count(_SEPARATOR) != len(PARAMETER_NAMES) - 1:
        return "&".join(f"{name}={_form_value(params.get(name, ''))}" for name in PARAMETER_NAMES)
    return _PARAMETERS_TEMPLATE.format(*_RESERVED_BUT_SEPARATOR.sub(_escape_match, values).split(_SEPARATOR))


def _own_query(raw_query: str) -> list[str]:
    """The URL's own query pairs, verbatim, without those that would shadow a notification parameter."""
    pairs = [pair for pair in quote(raw_query, safe=_QUERY_SAFE).split("&") if pair]
    return [pair for pair in pairs if unquote_plus(pair.split("=", 1)[0]) not in PARAMETER_NAMES]


def _ascii_netloc(netloc: str) -> str:
    """An internationalised host name in its IDNA form (`bücher.de` → `xn--bcher-kva.de`), as reqwest's WHATWG
    parser sends it: the aiohttp client, told the URL is already encoded, cannot encode a host itself."""
    userinfo, at, host_port = netloc.rpartition("@")
    host, colon, port = host_port.partition(":")
    try:
        host = Url(f"http://{host}/").host_str or host
    except ValueError:  # left as it is: the client refuses it (invalid_url)
        return netloc
    return f"{userinfo}{at}{host}{colon}{port}"


@lru_cache(maxsize=4096)
def _target(url: str) -> tuple[str, str]:
    """(scheme://host/path, the URL's own query to keep): the same for every job of one request."""
    parts = urlsplit(url)
    netloc = parts.netloc if parts.netloc.isascii() else _ascii_netloc(parts.netloc)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
    return urlunsplit((parts.scheme, netloc, path, "", "")), "&".join(_own_query(parts.query))


def _get_url(url: str, parameters: str) -> tuple[str, str]:
    base, own = _target(url)
    query = f"{own}&{parameters}" if own and parameters else own or parameters
    return (f"{base}?{query}" if query else base), query


def build_request(job: DeliveryJob, *, now_s: int, user_agent: str) -> OutgoingRequest:
    """The request for `job` sent at `now_s` (unix seconds, the `webhook-timestamp`)."""
    parameters = encode_parameters(job.params)
    if job.method is HttpMethod.GET:
        url, query = _get_url(job.url, parameters)
        body, payload = b"", query.encode()
    else:
        url, _ = _get_url(job.url, "")
        body = payload = parameters.encode()
    headers = {
        "User-Agent": user_agent,
        "X-CallAPI-Event": job.event_type.slug,
        "X-CallAPI-Request-ID": job.request_id,
        "X-CallAPI-Sequence": str(job.sequence),
        "webhook-id": job.job_id,
        "webhook-timestamp": str(now_s),
    }
    if job.method is HttpMethod.POST:
        headers["Content-Type"] = FORM_CONTENT_TYPE
    if job.signing_secrets:
        headers["webhook-signature"] = signature_header(
            job.signing_secrets, msg_id=job.job_id, timestamp_s=now_s, payload=payload
        )
    return OutgoingRequest(job.method.value, url, body, headers, payload)

"""The answers of the Control API and the ingest to a request head their HTTP servers refuse before any route runs
(control/api/http_protocol.py, producers/ingest/protocol.py): one status, code and wording for both, each message
quoting nothing the client sent."""

from __future__ import annotations

from http import HTTPStatus

Refusal = tuple[HTTPStatus, str, str]  # status, error code, message

MAX_HEADER_FIELDS = 100  # Apache's LimitRequestFields: browsers send about 20, proxies add a few

INVALID: Refusal = (HTTPStatus.BAD_REQUEST, "request_invalid",
                    "the request is not valid HTTP/1.1 (request line or headers); check what the client sends")
URL_INVALID: Refusal = (HTTPStatus.BAD_REQUEST, "request_invalid",
                        "the URL is not valid HTTP/1.1: percent-encode each byte of a parameter that is not printable "
                        "ASCII (a space, an accented letter: %20, %FC)")
TOO_MANY_FIELDS: Refusal = (HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request_header_fields_too_large",
                            f"the request has more than {MAX_HEADER_FIELDS} header fields, the most this server "
                            "reads; send fewer")


def uri_too_long(limit: int, *, measured: str = "URL", or_else: str = "") -> Refusal:
    """414 for a `measured` (the URL, or the request line holding it) over `limit` bytes; `or_else`: another way to
    send what it carried."""
    return (HTTPStatus.REQUEST_URI_TOO_LONG, "uri_too_long",
            f"the {measured} is over {limit} bytes, the longest this server reads: no path or query here needs that "
            f"many; shorten it{f' ({or_else})' if or_else else ''}")


def head_too_large(limit: int) -> Refusal:
    return (HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request_header_fields_too_large",
            f"the request line and headers are over {limit} bytes, the most this server reads; send fewer or shorter "
            "headers (a large Cookie?)")


def head_timed_out(timeout_s: float) -> Refusal:
    return (HTTPStatus.REQUEST_TIMEOUT, "request_timeout",
            f"the request line and headers did not all arrive within {timeout_s:g} s of their first byte; send the "
            "whole request head at once")

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


HEAD_END = b"\r\n\r\n"  # the empty line that ends a request head, and a chunked body


def after_request(read: bytes, body_bytes: int = 0, *, head_in_read: bool = True) -> int:
    """How many bytes of `read`, a read in which a request ended, follow that request (the start of the next head,
    which the parser holds unfinished). `body_bytes`: the bytes of the request's Content-Length body in `read` (0
    without one: a chunked body ends with an empty line, as a head does). A body holding an empty line itself can
    only make this count less, never more: a next head is never refused for the body before it."""
    if not head_in_read:
        return max(0, len(read) - body_bytes)
    found = read.rfind(HEAD_END, 0, len(read) - body_bytes)
    # none: the empty line began in the read before, and ends in the first bytes of this one
    head_end = found + len(HEAD_END) if found >= 0 else next(
        (n for n in (3, 2, 1) if read[:n] == HEAD_END[-n:]), 0)
    return max(0, len(read) - head_end - body_bytes)

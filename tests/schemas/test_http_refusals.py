"""Where a request ended in a read that also holds the start of the next head (after_request): pure logic."""

from __future__ import annotations

import pytest

from schemas.http_refusals import after_request

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: "  # a head not finished
FORM = b"a=1&b=2"


@pytest.mark.parametrize("read, body_bytes, head_in_read, after", [
    (GET, 0, True, 0),
    (GET + NEXT, 0, True, len(NEXT)),
    (GET + b"\r\n\r\n" + NEXT, 0, True, len(NEXT)),  # empty lines before a request line are no head
    (GET[-1:] + NEXT, 0, True, len(NEXT)),  # the empty line ending the head began in the read before
    (GET[-3:] + NEXT, 0, True, len(NEXT)),
    (GET + FORM + NEXT, len(FORM), True, len(NEXT)),
    (FORM + NEXT, len(FORM), False, len(NEXT)),  # the body's head came in a read before
    (b"5\r\nabcde\r\n0\r\n\r\n" + NEXT, 0, True, len(NEXT)),  # a chunked body ends with an empty line
], ids=["get", "get-then-head", "empty-lines", "straddled-1", "straddled-3", "body", "body-begun-before",
        "chunked"])
def test_the_bytes_after_a_request_are_those_of_the_next_head(
        read: bytes, body_bytes: int, head_in_read: bool, after: int) -> None:
    assert after_request(read, body_bytes, head_in_read=head_in_read) == after


def test_a_body_holding_an_empty_line_counts_less_never_more() -> None:
    body = b"a=1\r\n\r\nb=2"
    assert 0 < after_request(GET + body + NEXT, len(body)) <= len(NEXT)

"""Requests the HTTP server cannot parse or refuses to read, sent over a raw socket to `callapi-events api` run as a
real subprocess: they answer in the API's error shape (a URL too long to parse: 414 uri_too_long; a request head over
CALLAPI_MAX_REQUEST_HEAD_BYTES: 431 request_header_fields_too_large), not in uvicorn's plain text."""

from __future__ import annotations

import contextlib
import json
import select
import socket
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest

from control.api.http_protocol import MAX_HEADER_FIELDS, MAX_URL_BYTES
from schemas.ops import free_port
from schemas.settings import Settings
from tests.control.test_cli import wait_healthy
from tests.processes import Component


@contextlib.contextmanager
def running_api(settings: Settings) -> Iterator[tuple[str, int]]:
    """`callapi-events api` as a subprocess, once healthy: its host and port."""
    port = free_port()
    with Component(settings, "api", "--no-relay", "--port", str(port)) as component:
        wait_healthy(f"http://127.0.0.1:{port}", component)
        yield "127.0.0.1", port


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[tuple[str, int]]:
    with running_api(settings) as address:
        yield address


@pytest.fixture(scope="module")
def small_head_api(settings: Settings) -> Iterator[tuple[str, int]]:
    """An API reading request heads of at most SMALL_HEAD_BYTES (CALLAPI_MAX_REQUEST_HEAD_BYTES)."""
    with running_api(settings.model_copy(update={"max_request_head_bytes": SMALL_HEAD_BYTES})) as address:
        yield address


SMALL_HEAD_BYTES = 16_384


def exchange(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends `request` as it is and reads the answer until the server closes: status, headers, body."""
    with socket.create_connection(address, timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65_536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def get(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def error_of(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/json", (headers, body[:200])
    document: dict[str, Any] = json.loads(body)
    assert set(document) == {"error"} and set(document["error"]) == {"code", "message"}, document
    return dict(document["error"])


def test_a_url_too_long_to_parse_answers_414_in_the_error_shape(api: tuple[str, int]) -> None:
    status, headers, body = exchange(api, get(b"/uapi/" + b"a" * MAX_URL_BYTES))
    assert (status, error_of(headers, body)["code"]) == (414, "uri_too_long")
    assert str(MAX_URL_BYTES) in error_of(headers, body)["message"]


def test_a_long_url_the_server_can_parse_is_routed_as_usual(api: tuple[str, int]) -> None:
    status, headers, body = exchange(api, get(b"/uapi/" + b"a" * (MAX_URL_BYTES - 100)))
    assert (status, error_of(headers, body)["code"]) == (404, "not_found")


@pytest.mark.parametrize("request_bytes", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Name: x\r\n\r\n",
], ids=["request-line", "header-name"])
def test_an_unparsable_request_answers_400_in_the_error_shape(api: tuple[str, int], request_bytes: bytes) -> None:
    status, headers, body = exchange(api, request_bytes)
    assert (status, error_of(headers, body)["code"]) == (400, "request_invalid")
    assert headers["connection"] == "close"


def padded(head_bytes: int, *, path: bytes = b"/healthz", close: bool = True) -> bytes:
    """A GET of `path` whose request line and headers are exactly `head_bytes` long, padded by an X-Pad header."""
    start = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (b"Connection: close\r\n" if close else b"")
    frame = start + b"X-Pad: \r\n\r\n"
    return start + b"X-Pad: " + b"a" * (head_bytes - len(frame)) + b"\r\n\r\n"


def read_answer(stream: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    """One answer read from a kept-alive connection: status, headers, body (by its content-length)."""
    status_line = stream.readline()
    assert status_line, "the server closed the connection without an answer"
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.lower()] = value.strip()
    return int(status_line.split()[1]), headers, stream.read(int(headers["content-length"]))


def test_a_head_at_the_cap_is_served_on_each_request_of_a_connection_and_one_byte_more_answers_431(
        api: tuple[str, int], settings: Settings) -> None:
    cap = settings.max_request_head_bytes
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        for _ in range(3):  # the count starts again with each request: together they are well over the cap
            connection.sendall(padded(cap, close=False))
            status, _, body = read_answer(stream)
            assert status == 200, body[:200]
        connection.sendall(padded(cap + 1, close=False))
        status, headers, body = read_answer(stream)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
        assert str(cap) in error_of(headers, body)["message"] and headers["connection"] == "close"
        assert stream.read() == b""  # and the connection ends


def test_a_head_over_the_setting_answers_431_and_a_url_over_it_414(small_head_api: tuple[str, int]) -> None:
    status, headers, body = exchange(small_head_api, padded(SMALL_HEAD_BYTES + 1))
    assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
    status, headers, body = exchange(small_head_api, get(b"/uapi/" + b"a" * SMALL_HEAD_BYTES))
    assert (status, error_of(headers, body)["code"]) == (414, "uri_too_long")
    assert str(SMALL_HEAD_BYTES) in error_of(headers, body)["message"]
    status, _, body = exchange(small_head_api, padded(SMALL_HEAD_BYTES))
    assert status == 200, body[:200]


def test_a_head_over_the_cap_is_answered_before_the_client_has_sent_the_rest(
        api: tuple[str, int], settings: Settings) -> None:
    """The server stops reading the head at the cap: it answers while the client is still sending its header."""
    unfinished = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * settings.max_request_head_bytes
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(unfinished)  # of a 1 MB header, never finished
        status, headers, body = read_answer(stream)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
        assert stream.read() == b""


def test_a_1_mb_header_sent_whole_answers_431_which_the_client_reads(api: tuple[str, int]) -> None:
    """The server drops the rest of the megabyte instead of resetting the connection, which could lose the answer."""
    status, headers, body = exchange(api, padded(1_048_576))
    assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")


def test_more_header_fields_than_the_cap_answer_431(api: tuple[str, int]) -> None:
    def with_fields(count: int) -> bytes:  # Host and Connection, then, …
        fields = b"".join(b"X-%d: 1\r\n" % n for n in range(count - 2))
        return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + fields + b"\r\n"

    status, _, body = exchange(api, with_fields(MAX_HEADER_FIELDS))
    assert status == 200, body[:200]
    status, headers, body = exchange(api, with_fields(MAX_HEADER_FIELDS + 1))
    assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
    assert str(MAX_HEADER_FIELDS) in error_of(headers, body)["message"]


def test_a_pipelined_head_over_the_cap_is_answered_after_the_request_sent_before_it(
        api: tuple[str, int], settings: Settings) -> None:
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(padded(100, close=False) + padded(settings.max_request_head_bytes + 1, close=False))
        status, _, body = read_answer(stream)
        assert status == 200, body[:200]
        status, headers, body = read_answer(stream)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
        assert stream.read() == b""


def test_a_trailer_field_that_never_ends_answers_431_before_the_client_has_sent_it(api: tuple[str, int]) -> None:
    """Trailers (after a chunked body's last chunk) are held whole until each ends, as headers are: they are counted
    against the same cap, and the server answers while the client is still sending one."""
    head = (b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\na=b&c\r\n0\r\nX-Trailer: ")
    piece = b"a" * 16_384
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(head)
        for _ in range(256):  # 4 MiB, 64 times the cap
            connection.sendall(piece)
            if select.select([connection], [], [], 0)[0]:
                break  # the server answered
        else:
            pytest.fail("the server still reads a trailer field of 4 MiB")
        status, headers, body = read_answer(stream)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")


def token_request(form: bytes) -> bytes:
    """A POST of the token endpoint with a Content-Length form (no such client: 401)."""
    return (b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(form) + form)


@pytest.mark.parametrize("before, status", [
    (padded(100, close=False), 200),
    (token_request(b"grant_type=client_credentials&client_id=nobody&client_secret=wrong"), 401),
], ids=["after-a-get", "after-a-body"])
def test_a_head_begun_in_the_read_that_ended_the_request_before_it_is_counted_from_its_first_byte(
        small_head_api: tuple[str, int], before: bytes, status: int) -> None:
    """Its bytes in that read count: over the setting there, it answers 431 without the client sending more."""
    unfinished = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * SMALL_HEAD_BYTES
    with socket.create_connection(small_head_api, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(before + unfinished)  # in one write, which the server reads at once; never the rest
        answer_status, _, body = read_answer(stream)
        assert answer_status == status, body[:200]
        answer_status, headers, body = read_answer(stream)
        assert (answer_status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
        assert stream.read() == b""

"""A request head must arrive whole within CALLAPI_REQUEST_HEAD_TIMEOUT_S of its first byte (a client dribbling it
would hold a connection forever): `callapi-events api` run as a real subprocess, with a short timeout, over a raw
socket. Between requests, and while a body is sent, nothing is timed."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from schemas.settings import Settings
from tests.control.test_api_unparsable import error_of, padded, read_answer, running_api

HEAD_TIMEOUT_S = 1.0
# Well past the timeout, and well before uvicorn's 5 s keep-alive timeout closes an idle connection
PAUSE_S = 2 * HEAD_TIMEOUT_S
DRIBBLE_BYTES = 100  # one every 0.1 s: ten times the timeout, after which the server never refuses
KEEP_ALIVE_S = 5  # uvicorn's keep-alive timeout


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[tuple[str, int]]:
    with running_api(settings.model_copy(update={"request_head_timeout_s": HEAD_TIMEOUT_S})) as address:
        yield address


def assert_timed_out(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert (status, error_of(headers, body)["code"]) == (408, "request_timeout")
    assert f"{HEAD_TIMEOUT_S:g} s" in error_of(headers, body)["message"] and headers["connection"] == "close"


@pytest.mark.parametrize("start, byte", [
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b"a"),  # a header value that never ends
    (b"", b"\r\n"),  # empty lines, which the parser skips before a request line
], ids=["header-value", "empty-lines"])
def test_a_head_dribbled_a_byte_at_a_time_answers_408_and_the_connection_closes(
        api: tuple[str, int], start: bytes, byte: bytes) -> None:
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(start)
        for _ in range(DRIBBLE_BYTES):
            if select.select([connection], [], [], 0.1)[0]:
                break  # the server answered
            connection.sendall(byte)
        else:
            pytest.fail(f"the server still reads a head sent a byte every 0.1 s after {DRIBBLE_BYTES} bytes")
        assert_timed_out(read_answer(stream))
        assert stream.read() == b""


def test_a_head_begun_on_a_kept_alive_connection_is_timed_from_its_first_byte(api: tuple[str, int]) -> None:
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(padded(100, close=False))
        status, _, body = read_answer(stream)
        assert status == 200, body[:200]
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 12")  # and never the rest
        assert_timed_out(read_answer(stream))
        assert stream.read() == b""


def test_a_kept_alive_connection_idle_between_requests_is_not_timed(api: tuple[str, int]) -> None:
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        for _ in range(2):
            connection.sendall(padded(100, close=False))
            status, _, body = read_answer(stream)
            assert status == 200, body[:200]
            time.sleep(PAUSE_S)  # idle: uvicorn's keep-alive timeout applies, not the head's


def test_a_slow_body_is_not_timed(api: tuple[str, int]) -> None:
    """Only the head is: the token endpoint reads the whole form, sent in two parts a pause apart, and answers it."""
    form = b"grant_type=client_credentials&client_id=nobody&client_secret=wrong"
    head = (b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(form))
    with socket.create_connection(api, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(head + form[:10])
        time.sleep(PAUSE_S)
        connection.sendall(form[10:])
        status, headers, body = read_answer(stream)
        assert (status, error_of(headers, body)["code"]) == (401, "invalid_client")


def test_a_connection_that_never_sends_a_byte_is_closed(api: tuple[str, int]) -> None:
    """As one idle between requests is, by uvicorn's keep-alive timeout: no head has begun, so nothing is answered."""
    with socket.create_connection(api, timeout=30) as connection:
        assert connection.recv(1) == b""


def test_a_head_begun_in_the_read_that_ended_the_request_before_it_is_not_closed_as_idle(
        settings: Settings) -> None:
    """uvicorn arms its keep-alive timeout (5 s) when an answer ends: a head already begun then is timed as a head
    (here 60 s), not closed as a connection idle between requests."""
    with running_api(settings.model_copy(update={"request_head_timeout_s": 60.0})) as address, \
            socket.create_connection(address, timeout=30) as connection, connection.makefile("rb") as stream:
        connection.sendall(padded(100, close=False) + b"GET /healthz HTTP/1.1\r\nHost: 12")  # in one write
        status, _, body = read_answer(stream)
        assert status == 200, body[:200]
        time.sleep(KEEP_ALIVE_S + 1)
        connection.sendall(b"7.0.0.1\r\nConnection: close\r\n\r\n")
        status, _, body = read_answer(stream)
        assert status == 200, body[:200]

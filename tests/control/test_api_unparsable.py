"""Requests the HTTP server cannot parse, sent over a raw socket to `callapi-events api` run as a real subprocess:
they answer in the API's error shape (a URL too long to parse: 414 uri_too_long), not in uvicorn's plain text."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from control.api.http_protocol import MAX_URL_BYTES
from schemas.ops import free_port
from schemas.settings import Settings
from tests.control.test_cli import wait_healthy
from tests.processes import Component


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[tuple[str, int]]:
    port = free_port()
    with Component(settings, "api", "--no-relay", "--port", str(port)) as component:
        wait_healthy(f"http://127.0.0.1:{port}", component)
        yield "127.0.0.1", port


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

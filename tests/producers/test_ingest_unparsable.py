"""Requests aiohttp's parser refuses before any handler runs, sent as raw bytes to the ingest served on 127.0.0.1:
they answer in the ingest's error shape, never echoing what was sent (aiohttp's own answer is a plain-text 400
quoting the first ~100 bytes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

SECRET = b"s3cr3t-echo-marker"


async def exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends `request` as it is and reads the answer until the server closes: status, headers, body."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def error_of(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"].startswith("application/json"), (headers, body[:200])
    assert SECRET not in body, body[:300]
    document: dict[str, Any] = json.loads(body)
    assert set(document) == {"error"} and set(document["error"]) == {"code", "message"}, document
    return dict(document["error"])


def get(target: bytes, *headers: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (get(b"/ingest/0003/dial-in?CallerIDName=M\xfcller&x=" + SECRET), 400, "request_invalid"),
    (b"NOT HTTP AT ALL " + SECRET + b"\r\n\r\n", 400, "request_invalid"),
    (get(b"/healthz", b"Bad Header Name: " + SECRET), 400, "request_invalid"),
    (get(b"/healthz?x=" + SECRET + b"a" * 9000), 414, "uri_too_long"),
    (get(b"/healthz", b"X-Pad: " + SECRET + b"a" * 9000), 431, "request_header_fields_too_large"),
    (get(b"/healthz", *(b"X-%d: " % n + SECRET for n in range(130))), 431, "request_header_fields_too_large"),
], ids=["raw-byte-in-url", "request-line", "header-name", "long-url", "long-header", "too-many-headers"])
async def test_a_request_the_parser_refuses_answers_in_the_error_shape_without_echoing_it(
        ingest_url: str, request_bytes: bytes, status: int, code: str) -> None:
    answer_status, headers, body = await exchange(ingest_url, request_bytes)  # and the connection ends
    assert (answer_status, error_of(headers, body)["code"]) == (status, code)


async def test_a_request_the_parser_takes_is_answered_as_before(ingest_url: str) -> None:
    status, headers, body = await exchange(ingest_url, get(b"/healthz", b"Connection: close"))
    assert status == 200, body[:200]

"""Requests aiohttp's parser refuses before any handler runs, sent as raw bytes to the ingest served on 127.0.0.1:
they answer in the ingest's error shape, never echoing what was sent (aiohttp's own answer is a plain-text 400
quoting the first ~100 bytes)."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from aiohttp.web_protocol import MAX_MSG_QUEUE_SIZE

from schemas.http_refusals import MAX_HEADER_FIELDS
from schemas.settings import Settings
from tests.producers.helpers import IngestTenant
from tests.producers.ingest_server import NINE, serving
from tests.producers.test_ingest import events_on_topic

SECRET = b"s3cr3t-echo-marker"


SMALL_HEAD_BYTES = 16_384
# a head over SMALL_HEAD_BYTES, never ended
UNFINISHED_OVER_THE_SETTING = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * SMALL_HEAD_BYTES


@pytest.fixture(scope="module")
async def small_head_url(settings: Settings) -> AsyncIterator[str]:
    """The ingest reading request heads of at most SMALL_HEAD_BYTES (CALLAPI_MAX_REQUEST_HEAD_BYTES)."""
    async with serving(settings.model_copy(update={"max_request_head_bytes": SMALL_HEAD_BYTES})) as url:
        yield url


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A connection to the server at `url`, closed at the end."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends `request` as it is and reads the answer until the server closes: status, headers, body."""
    async with connected(url) as (reader, writer):
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    head, _, body = answer.partition(b"\r\n\r\n")
    status, headers = status_and_headers(head)
    return status, headers, body


def status_and_headers(head: bytes) -> tuple[int, dict[str, str]]:
    """An answer's status and headers; every answer, a refusal's too, is HTTP/1.1's."""
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), status_line
    return int(status_line.split()[1]), {name.lower(): value.strip() for name, _, value in
                                         (line.partition(":") for line in lines)}


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
    (get(b"/healthz", b"X-Pad: " + SECRET + b"a" * 70_000), 431, "request_header_fields_too_large"),
    (get(b"/healthz", *(b"X-%d: " % n + SECRET for n in range(130))), 431, "request_header_fields_too_large"),
], ids=["raw-byte-in-url", "request-line", "header-name", "long-url", "long-header", "too-many-headers"])
async def test_a_request_the_parser_refuses_answers_in_the_error_shape_without_echoing_it(
        ingest_url: str, request_bytes: bytes, status: int, code: str) -> None:
    answer_status, headers, body = await exchange(ingest_url, request_bytes)  # and the connection ends
    assert (answer_status, error_of(headers, body)["code"]) == (status, code)
    assert headers["connection"] == "close"  # as the Control API's refusals say


async def test_a_request_the_parser_takes_is_answered_as_before(ingest_url: str) -> None:
    status, _, body = await exchange(ingest_url, get(b"/healthz", b"Connection: close"))
    assert status == 200, body[:200]


def padded(head_bytes: int, *, close: bool = True) -> bytes:
    """A GET of /healthz whose request line and headers are exactly `head_bytes` long, padded by X-Pad headers of
    4,000 bytes (each under aiohttp's 8,190) and one of the rest."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (b"Connection: close\r\n" if close else b"")
    while head_bytes - len(head) - 2 > 4000 + 2 * len(b"X-Pad: \r\n"):
        head += b"X-Pad: " + b"a" * (4000 - len(b"X-Pad: \r\n")) + b"\r\n"
    return head + b"X-Pad: " + b"a" * (head_bytes - len(head) - len(b"X-Pad: \r\n\r\n")) + b"\r\n\r\n"


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One answer read from a kept-alive connection: status, headers, body (by its content-length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    status, headers = status_and_headers(head)
    return status, headers, await reader.readexactly(int(headers["content-length"]))


async def test_headers_each_short_enough_but_together_over_the_setting_answer_431(
        ingest_url: str, settings: Settings) -> None:
    """aiohttp's own bounds are per line (8,190 bytes) and 128 headers: ~1 MiB of head in all, without this one."""
    cap = settings.max_request_head_bytes
    fields = [b"X-%d: " % n + b"a" * 4000 for n in range(cap // 4000 + 1)]
    status, headers, body = await exchange(ingest_url, get(b"/healthz", b"Connection: close", *fields))
    assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
    assert str(cap) in error_of(headers, body)["message"]
    status, _, body = await exchange(ingest_url, get(b"/healthz", b"Connection: close", *fields[: cap // 8000]))
    assert status == 200, body[:200]


async def test_a_head_at_the_setting_is_served_on_each_request_of_a_connection_and_one_byte_more_answers_431(
        small_head_url: str) -> None:
    async with connected(small_head_url) as (reader, writer):
        for _ in range(3):  # the count starts again with each request: together they are well over the bound
            writer.write(padded(SMALL_HEAD_BYTES, close=False))
            status, _, body = await read_answer(reader)
            assert status == 200, body[:200]
        writer.write(padded(SMALL_HEAD_BYTES + 1, close=False))
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
        assert await asyncio.wait_for(reader.read(), 30) == b""  # and the connection ends


async def test_a_head_over_the_setting_is_answered_before_the_client_has_sent_the_rest(small_head_url: str) -> None:
    async with connected(small_head_url) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 6000 + b"\r\nX-Pad-2: ")
        for _ in range(3):  # headers each under aiohttp's 8,190 bytes, of a head never finished
            writer.write(b"a" * 6000 + b"\r\nX-Pad-3: ")
            await writer.drain()
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")


async def test_one_header_may_take_the_whole_head_and_a_head_may_have_100_but_not_101(
        ingest_url: str, settings: Settings) -> None:
    """As for the Control API (aiohttp alone refuses a header over 8,190 bytes and reads 128)."""
    start = get(b"/healthz", b"Connection: close")[:-2]
    pad = settings.max_request_head_bytes - len(start + b"X-Pad: \r\n\r\n")
    status, _, body = await exchange(ingest_url, start + b"X-Pad: " + b"a" * pad + b"\r\n\r\n")
    assert status == 200, body[:200]
    fields = [b"X-%d: 1" % n for n in range(MAX_HEADER_FIELDS - 2)]  # with Host and Connection
    status, _, body = await exchange(ingest_url, get(b"/healthz", b"Connection: close", *fields))
    assert status == 200, body[:200]
    status, headers, body = await exchange(ingest_url, get(b"/healthz", b"Connection: close", *fields, b"X-Last: 1"))
    assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
    assert str(MAX_HEADER_FIELDS) in error_of(headers, body)["message"]


async def test_a_1_mib_head_sent_whole_answers_431_which_the_client_reads(ingest_url: str) -> None:
    status, headers, body = await exchange(ingest_url, padded(1_048_576))
    assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")


async def test_a_body_read_with_its_head_does_not_count_in_it(small_head_url: str) -> None:
    form = b"CallerIDName=" + b"a" * (4 * SMALL_HEAD_BYTES)
    request = (b"POST /ingest/0003/dial-in HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(form) + form)
    status, headers, body = await exchange(small_head_url, request)  # in one write: no credential, so 401
    assert (status, error_of(headers, body)["code"]) == (401, "unauthorized")


async def test_a_request_whose_head_came_with_the_end_of_the_body_before_it_has_its_own_body_read_as_a_body(
        small_head_url: str) -> None:
    """A body longer than the head's bound, of a request pipelined behind another's body, is not taken for a head."""
    def post(form: bytes) -> bytes:
        return (b"POST /ingest/0003/dial-in HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(form) + form)

    first, second = post(b"a=" + b"b" * 100), post(b"a=" + b"b" * (4 * SMALL_HEAD_BYTES))
    head_end = first.index(b"\r\n\r\n") + 4
    # each part in a read of its own (a pause apart): the first body's end comes with the second's head
    async with connected(small_head_url) as (reader, writer):
        for part in (first[:head_end + 10], first[head_end + 10:] + second[:200], second[200:], get(b"/healthz")):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.2)
        for status in (401, 401, 200):
            answer_status, _, body = await read_answer(reader)
            assert answer_status == status, body[:200]


async def test_a_valid_request_sent_with_one_over_the_setting_is_answered_and_only_the_second_refused(
        small_head_url: str) -> None:
    # in one write, which the server reads at once
    async with connected(small_head_url) as (reader, writer):
        writer.write(get(b"/healthz") + padded(SMALL_HEAD_BYTES + 1, close=False))
        status, _, body = await read_answer(reader)
        assert status == 200, body[:200]
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")
        assert await asyncio.wait_for(reader.read(), 30) == b""


async def test_a_head_begun_in_the_read_that_ended_the_request_before_it_is_counted_from_its_first_byte(
        small_head_url: str) -> None:
    """Its bytes in that read count: over the setting there, it answers 431 without the client sending more."""
    async with connected(small_head_url) as (reader, writer):
        writer.write(get(b"/healthz") + UNFINISHED_OVER_THE_SETTING)  # and never the rest
        status, _, body = await read_answer(reader)
        assert status == 200, body[:200]
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")


async def test_a_head_begun_in_the_read_that_ended_a_compressed_body_is_counted_from_its_first_byte(
        small_head_url: str) -> None:
    """The body's bytes in that read are known as sent, not as decompressed: over the setting there, 431 at once."""
    form = gzip.compress(b"CallerIDName=" + b"a" * 1000)
    request = (b"POST /ingest/0003/dial-in HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(form) + form)
    # each part in a read of its own (a pause apart): the body's end comes with the head, never finished
    async with connected(small_head_url) as (reader, writer):
        for part in (request[:-10], request[-10:] + UNFINISHED_OVER_THE_SETTING):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.2)
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (401, "unauthorized")
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")


@pytest.mark.parametrize("requests", [MAX_MSG_QUEUE_SIZE + 1, 2 * MAX_MSG_QUEUE_SIZE + 1, 40])
async def test_a_head_sent_after_more_pipelined_requests_than_the_server_queues_is_counted_from_its_first_byte(
        small_head_url: str, requests: int) -> None:
    """aiohttp parses at most MAX_MSG_QUEUE_SIZE pipelined requests ahead of the one answered, holding the rest of
    the read: the head after them, over the setting, answers 431 once they are parsed, without the client sending
    more."""
    async with connected(small_head_url) as (reader, writer):
        writer.write(get(b"/healthz") * requests + UNFINISHED_OVER_THE_SETTING)  # in one write, and never the rest
        for _ in range(requests):
            status, _, body = await read_answer(reader)
            assert status == 200, body[:200]
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (431, "request_header_fields_too_large")


def notification(tenant: IngestTenant, event_id: str, *, body: str = "") -> bytes:
    """A dial-in of `tenant` with its own event_id: a GET, or a POST whose form has a Content-Length or is chunked."""
    form = urlencode(NINE | {"CalledExtension": f"{tenant.code}210", "event_id": event_id}).encode()
    head = b"/ingest/%s/dial-in" % tenant.code.encode()
    auth = b"Authorization: Bearer " + tenant.org_token.encode()
    if not body:
        return get(head + b"?" + form, auth)
    framing = (b"Content-Length: %d\r\n\r\n%s" % (len(form), form) if body == "length"
               else b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(form), form))
    return (b"POST " + head + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth
            + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n" + framing)


async def answered_then_refused(reader: asyncio.StreamReader, event_ids: list[str]) -> None:
    """The answers to pipelined notifications of `event_ids`, in order, then the 400 of the request after them."""
    for event_id in event_ids:
        status, _, body = await read_answer(reader)
        assert status == 202, body[:200]
        assert json.loads(body)["event_ids"] == [event_id]
    status, headers, body = await read_answer(reader)
    assert (status, error_of(headers, body)["code"], headers["connection"]) == (400, "request_invalid", "close")


@pytest.mark.parametrize("bodies", [("", ""), ("length", "chunked"), ("chunked", "length")],
                         ids=["two-gets", "length-then-chunked", "chunked-then-length"])
@pytest.mark.parametrize("malformed", [b"NOT HTTP AT ALL\r\n\r\n", get(b"/healthz", b"Bad Header Name: 1")],
                         ids=["request-line", "header-name"])
async def test_valid_requests_sent_with_one_the_parser_refuses_are_answered_before_its_400(
        settings: Settings, ingest_url: str, tenant: IngestTenant, bodies: tuple[str, str], malformed: bytes) -> None:
    """aiohttp's parser drops the requests it parsed in the read in which it fails: they are answered all the same,
    in order, and their events reach the topic."""
    event_ids = [f"pipelined-{uuid.uuid4()}" for _ in bodies]
    # in one write, which the server reads at once
    async with connected(ingest_url) as (reader, writer):
        writer.write(b"".join(notification(tenant, event_id, body=body)
                              for event_id, body in zip(event_ids, bodies, strict=True))
                     + malformed)
        await answered_then_refused(reader, event_ids)
        assert await asyncio.wait_for(reader.read(), 30) == b""
    assert [event.event_id for event in await events_on_topic(settings, event_ids)] == event_ids


@pytest.mark.parametrize("split", [-10, 40], ids=["in-a-body", "in-a-head"])
async def test_requests_sent_with_one_the_parser_refuses_in_a_read_begun_inside_a_request_are_answered_before_its_400(
        settings: Settings, ingest_url: str, tenant: IngestTenant, split: int) -> None:
    """The read in which the parser fails may begin with the end of a body, or of a head, begun in the read before."""
    event_ids = [f"pipelined-{uuid.uuid4()}" for _ in range(2)]
    first, second = notification(tenant, event_ids[0], body="length"), notification(tenant, event_ids[1])
    # each part in a read of its own (a pause apart)
    async with connected(ingest_url) as (reader, writer):
        for part in (first[:split], first[split:] + second + b"NOT HTTP AT ALL\r\n\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.2)
        await answered_then_refused(reader, event_ids)
    assert [event.event_id for event in await events_on_topic(settings, event_ids)] == event_ids

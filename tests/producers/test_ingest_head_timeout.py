"""A request head must arrive whole within CALLAPI_REQUEST_HEAD_TIMEOUT_S of its first byte (a client dribbling it
would hold a connection forever): the ingest served on 127.0.0.1 with a short timeout, over a raw socket. Between
requests, and while a body is sent, nothing is timed; a connection that sends nothing is closed by the keep-alive
timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from schemas.settings import Settings
from tests.producers.helpers import IngestTenant
from tests.producers.ingest_server import serving
from tests.producers.test_ingest_unparsable import error_of, get, read_answer

HEAD_TIMEOUT_S = 1.0
PAUSE_S = 2 * HEAD_TIMEOUT_S  # well past the timeout
DRIBBLE_BYTES = 100  # one every 0.1 s: ten times the timeout, after which the server never refuses
KEEPALIVE_S = 1.0


@pytest.fixture(scope="module")
async def timed_url(settings: Settings) -> AsyncIterator[str]:
    async with serving(settings.model_copy(update={"request_head_timeout_s": HEAD_TIMEOUT_S})) as url:
        yield url


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        yield reader, writer
    finally:
        writer.close()


def assert_timed_out(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert (status, error_of(headers, body)["code"]) == (408, "request_timeout")
    assert f"{HEAD_TIMEOUT_S:g} s" in error_of(headers, body)["message"] and headers["connection"] == "close"


async def closed(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 30) == b""


@pytest.mark.parametrize("start, byte", [
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b"a"),  # a header value that never ends
    (b"", b"\r\n"),  # empty lines, which the parser skips before a request line
], ids=["header-value", "empty-lines"])
async def test_a_head_dribbled_a_byte_at_a_time_answers_408_and_the_connection_closes(
        timed_url: str, start: bytes, byte: bytes) -> None:
    async with connected(timed_url) as (reader, writer):
        writer.write(start)
        answer = asyncio.ensure_future(read_answer(reader))
        for _ in range(DRIBBLE_BYTES):
            if (await asyncio.wait({answer}, timeout=0.1))[0]:
                break  # the server answered
            writer.write(byte)
            await writer.drain()
        else:
            answer.cancel()
            pytest.fail(f"the server still reads a head sent a byte every 0.1 s after {DRIBBLE_BYTES} bytes")
        assert_timed_out(answer.result())
        assert await closed(reader)


async def test_a_head_begun_on_a_kept_alive_connection_is_timed_from_its_first_byte(timed_url: str) -> None:
    async with connected(timed_url) as (reader, writer):
        writer.write(get(b"/healthz"))
        status, _, body = await read_answer(reader)
        assert status == 200, body[:200]
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 12")  # and never the rest
        assert_timed_out(await read_answer(reader))
        assert await closed(reader)


def post(form: bytes, *, chunked: bool = False) -> bytes:
    """A form POSTed to the ingest without a credential (401), its body by Content-Length or in one chunk."""
    head = (b"POST /ingest/0003/dial-in HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n")
    if chunked:
        return head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(form), form)
    return head + b"Content-Length: %d\r\n\r\n" % len(form) + form


UNFINISHED = b"GET /healthz HTTP/1.1\r\nHost: 12"  # a head never finished
FORM = b"CallerIDName=a\r\n\r\nb"  # an empty line in a body is no head's end


@pytest.mark.parametrize("parts, status", [
    ([get(b"/healthz") + UNFINISHED], 200),
    ([post(FORM) + UNFINISHED], 401),
    ([post(FORM, chunked=True) + UNFINISHED], 401),
    ([post(FORM)[:-5], post(FORM)[-5:] + UNFINISHED], 401),  # the body's end in a read of its own, with the head
], ids=["after-a-get", "after-a-body", "after-a-chunked-body", "after-a-body-begun-in-a-read-before"])
async def test_a_head_begun_in_the_read_that_ended_the_request_before_it_is_timed_from_its_first_byte(
        timed_url: str, parts: list[bytes], status: int) -> None:
    async with connected(timed_url) as (reader, writer):
        for part in parts:  # each in a read of its own (a pause apart), the last never finished
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.2)
        answer_status, _, body = await read_answer(reader)
        assert answer_status == status, body[:200]
        assert_timed_out(await read_answer(reader))
        assert await closed(reader)


async def test_a_kept_alive_connection_idle_between_requests_is_not_timed(timed_url: str) -> None:
    async with connected(timed_url) as (reader, writer):
        for _ in range(2):
            writer.write(get(b"/healthz"))
            status, _, body = await read_answer(reader)
            assert status == 200, body[:200]
            await asyncio.sleep(PAUSE_S)


async def test_a_slow_body_is_not_timed(timed_url: str, tenant: IngestTenant) -> None:
    """Only the head is: a form sent in two parts a pause apart is read whole (it names a parameter twice: 400)."""
    form = b"CallerIDName=a&CallerIDName=b"
    head = (b"POST /ingest/%s/dial-in HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
            % (tenant.code.encode(), tenant.org_token.encode(), len(form)))
    async with connected(timed_url) as (reader, writer):
        writer.write(head + form[:10])
        await asyncio.sleep(PAUSE_S)
        writer.write(form[10:])
        status, headers, body = await read_answer(reader)
        assert (status, error_of(headers, body)["code"]) == (400, "parameter_repeated")


async def test_a_connection_that_never_sends_a_byte_is_closed_after_the_keep_alive_timeout(
        settings: Settings) -> None:
    """As one idle between requests is (aiohttp arms its keep-alive timer when a connection opens): no head has
    begun, so nothing is answered."""
    async with serving(settings, keepalive_timeout=KEEPALIVE_S) as url, connected(url) as (reader, _):
        assert await closed(reader)


async def test_a_head_sent_after_more_pipelined_requests_than_the_server_queues_is_timed(timed_url: str) -> None:
    """aiohttp parses at most 32 pipelined requests ahead of the one answered, holding the rest of the read: the
    head after them is timed once they are parsed."""
    async with connected(timed_url) as (reader, writer):
        writer.write(get(b"/healthz") * 40 + UNFINISHED)  # in one write, and never the rest
        for _ in range(40):
            status, _, body = await read_answer(reader)
            assert status == 200, body[:200]
        assert_timed_out(await read_answer(reader))
        assert await closed(reader)

"""Both HTTP clients of the workers against real servers on 127.0.0.1: the same replies, the same error classes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyreqwest.http import Url

from delivery.errors import ConnectionFailed, InvalidReply, RequestTimeout, TransportError
from delivery.http import (
    HEAD_CUT_OFF,
    HEAD_INVALID,
    HEAD_TIMED_OUT,
    HEAD_TOO_LARGE,
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    HttpClient,
    new_client,
)
from delivery.http_aiohttp import AiohttpClient, FunctionResolver
from delivery.http_reqwest import PyreqwestClient
from delivery.pinning import PinnedClients, choose_address
from delivery.request import OutgoingRequest, build_request
from schemas.settings import Settings
from schemas.urlguard import UnsafeUrl
from tests.delivery.jobs import make_job
from tests.delivery.rawhttp import BAD_HEADS, CUT_REPLIES, RawServer, replying

CLIENTS = ["pyreqwest", "aiohttp"]
CONNECT_TIMEOUT_S = 0.3
REQUEST_TIMEOUT_S = 0.5


@asynccontextmanager
async def open_client(name: str, *, allow_private: bool = True) -> AsyncIterator[HttpClient]:
    client = new_client(Settings(http_client=name, allow_private_urls=allow_private, max_in_flight=16,
                                 connect_timeout_s=CONNECT_TIMEOUT_S, request_timeout_s=REQUEST_TIMEOUT_S))
    try:
        yield client
    finally:
        await client.close()


def get(url: str, **headers: str) -> OutgoingRequest:
    return OutgoingRequest("GET", url, b"", headers, b"")


async def error_of(client: HttpClient, request: OutgoingRequest) -> TransportError:
    with pytest.raises(TransportError) as caught:
        await client.send(request)
    return caught.value


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize(("status", "retry_after"), [(204, None), (503, "7"), (429, "Wed, 21 Oct 2015 07:28:00 GMT"),
                                                     (410, None), (500, None)])
async def test_status_and_retry_after_come_back(name: str, status: int, retry_after: str | None) -> None:
    headers = {"X-Reply-Retry-After": retry_after} if retry_after else {}
    async with RawServer() as server, open_client(name) as client:
        response = await client.send(get(f"{server.url()}/status/{status}", **headers))
    assert (response.status_code, response.retry_after) == (status, retry_after)


@pytest.mark.parametrize("name", CLIENTS)
async def test_a_redirect_is_returned_not_followed(name: str) -> None:
    async with RawServer() as server, open_client(name) as client:
        response = await client.send(get(f"{server.url()}/status/302", **{"X-Reply-Location": "/elsewhere"}))
    assert response.status_code == 302
    assert [seen.target for seen in server.seen] == [b"/status/302"]


@pytest.mark.parametrize("name", CLIENTS)
async def test_connections_are_kept_alive(name: str) -> None:
    async with RawServer() as server, open_client(name) as client:
        for _ in range(3):
            assert (await client.send(get(f"{server.url()}/x"))).status_code == 204
    assert server.connections == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("name", CLIENTS)
async def test_a_refused_connection_is_a_connect_error(name: str) -> None:
    async with open_client(name) as client:
        error = await error_of(client, get(f"http://127.0.0.1:{closed_port()}/x"))
    assert (type(error), error.error_class, error.retryable) == (ConnectionFailed, "connect_error", True)


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("allow_private", [True, False])
async def test_a_name_that_does_not_resolve_is_a_dns_error(name: str, allow_private: bool) -> None:
    async with open_client(name, allow_private=allow_private) as client:
        error = await error_of(client, get("http://no-such-host.invalid/x"))
    assert (type(error), error.error_class) == (ConnectionFailed, "dns_error")


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("path", ["/hang", "/hang-head", "/hang-mid-head"])
async def test_no_reply_head_within_the_request_timeout_is_a_timeout(name: str, path: str) -> None:
    async with RawServer() as server, open_client(name) as client:
        started_s = asyncio.get_running_loop().time()
        error = await error_of(client, get(server.url() + path))
        elapsed_s = asyncio.get_running_loop().time() - started_s
    assert (type(error), error.error_class, error.retryable) == (RequestTimeout, "timeout", True)
    assert str(error).startswith(HEAD_TIMED_OUT)
    assert REQUEST_TIMEOUT_S <= elapsed_s < 5  # bounded by the request timeout, not the server's 60 s


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("path", sorted(CUT_REPLIES))
async def test_a_reply_head_cut_off_by_a_close_is_a_connection_error_not_a_timeout(name: str, path: str) -> None:
    """The receiver hung up in the middle of (or before) its reply head: retried as a connection error, said in
    the same words by both clients (aiohttp's own is the repr of the half-parsed head)."""
    async with RawServer() as server, open_client(name) as client:
        error = await error_of(client, get(server.url() + path))
    assert (type(error), error.error_class, error.retryable) == (ConnectionFailed, "connection_error", True)
    assert str(error) == HEAD_CUT_OFF


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("bad", sorted(BAD_HEADS))
async def test_a_malformed_reply_head_is_an_invalid_reply(name: str, bad: str) -> None:
    """Not a connection failure (the connection worked) and not a 400 (aiohttp's parser error carries one):
    its own class, retried as a 5xx is, with the parser's complaint on one line. The next request works."""
    async with RawServer() as server, open_client(name) as client:
        error = await error_of(client, get(f"{server.url()}/bad-head/{bad}"))
        assert (await client.send(get(f"{server.url()}/x"))).status_code == 204
    assert (type(error), error.error_class, error.retryable) == (InvalidReply, "invalid_reply", True)
    assert str(error).startswith(f"{HEAD_INVALID}: ") and "\n" not in str(error) and "400" not in str(error)
    assert [seen.connection for seen in server.seen] == [1, 2]


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize(("status", "retry_after"), [(200, None), (503, "7")])
@pytest.mark.parametrize("broken", ["short-body", "short-chunked", "stall-body"])
async def test_a_body_that_breaks_off_after_the_head_keeps_the_status(
    name: str, status: int, retry_after: str | None, broken: str,
) -> None:
    """The status decides (Standard Webhooks): a body cut short by a close or stalled past the request timeout
    does not turn a 200 into a failure, nor a 503 into anything but a 503. The connection is not reused."""
    headers = {"X-Reply-Retry-After": retry_after} if retry_after else {}
    async with RawServer() as server, open_client(name) as client:
        response = await client.send(get(f"{server.url()}/{broken}/{status}", **headers))
        assert (response.status_code, response.retry_after) == (status, retry_after)
        assert (await client.send(get(f"{server.url()}/x"))).status_code == 204
    assert [seen.connection for seen in server.seen] == [1, 2]


@contextmanager
def unanswered_listener() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops further SYNs, so a connect hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


@pytest.mark.parametrize("name", CLIENTS)
async def test_a_hang_while_connecting_is_a_connect_timeout(name: str) -> None:
    with unanswered_listener() as port:
        await asyncio.sleep(0.1)  # let the fillers' handshakes settle into the queue
        async with open_client(name) as client:
            error = await error_of(client, get(f"http://127.0.0.1:{port}/x"))
    assert error.error_class == "connect_timeout"


@pytest.mark.parametrize("name", CLIENTS)
async def test_a_body_past_the_limit_drops_the_connection_and_the_next_request_works(name: str) -> None:
    async with RawServer() as server, open_client(name) as client:
        assert (await client.send(get(f"{server.url()}/sized/{MAX_BODY_BYTES}"))).status_code == 200
        assert (await client.send(get(f"{server.url()}/x"))).status_code == 204
        assert server.connections == 1  # a body within the limit is read: the connection is reused
        assert (await client.send(get(f"{server.url()}/endless"))).status_code == 200
        assert (await client.send(get(f"{server.url()}/x"))).status_code == 204
    assert server.endless_finished == [False]  # cut off, not read to the end
    assert [seen.connection for seen in server.seen] == [1, 1, 1, 2]


TRICKY_URLS = [
    "/hook?token=a%2Fb+c%20d&q=it's&CallID=spoofed&e=%e9&empty=&plus=1+1",
    "/h%C3%A9/x;y=1/a+b?q=é&amp=a%26b&eq=a%3Db=c",
    "/?x=%zz&y=~*()!$,;:@/?",
]


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", TRICKY_URLS)
async def test_the_request_target_goes_out_byte_for_byte(name: str, method: str, path: str) -> None:
    async with RawServer() as server, open_client(name) as client:
        base = server.url()
        request = build_request(make_job(base + path, method=method), now_s=1_796_000_000, user_agent="t")
        assert (await client.send(request)).status_code == 204
    sent = request.url.removeprefix(base).encode()
    assert [seen.target for seen in server.seen] == [sent]
    if method == "GET":
        assert sent.split(b"?", 1)[1] == request.payload  # what was signed is what went out


@given(st.text(max_size=40), st.text(max_size=20))
def test_urls_from_the_builder_survive_the_whatwg_parser_of_reqwest(own_query: str, value: str) -> None:
    request = build_request(make_job(f"http://example.com/hook?{own_query}&v={value}", method="GET"),
                            now_s=1_796_000_000, user_agent="t")
    assert str(Url(request.url)) == request.url


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]"])
async def test_private_destinations_are_refused_unless_allowed(name: str, host: str) -> None:
    async with RawServer() as server:
        async with open_client(name, allow_private=False) as client:
            error = await error_of(client, get(f"http://{host}:{server.port}/x"))
        assert (error.error_class, error.retryable) == ("unsafe_url", False)
        assert "loopback" in str(error)
        assert server.connections == 0
        if host != "[::ffff:127.0.0.1]":  # the server listens on IPv4 only
            async with open_client(name, allow_private=True) as client:
                assert (await client.send(get(f"http://{host}:{server.port}/x"))).status_code == 204
            assert server.connections == 1


@pytest.mark.parametrize(("name", "error_class"), [("pyreqwest", "unsafe_url"), ("aiohttp", "invalid_url")])
async def test_a_decimal_ipv4_host_never_reaches_the_address(name: str, error_class: str) -> None:
    """`http://2130706433/` is 127.0.0.1 to reqwest's WHATWG parser (refused by the guard); yarl rejects it."""
    async with RawServer() as server, open_client(name, allow_private=False) as client:
        error = await error_of(client, get(f"http://2130706433:{server.port}/x"))
    assert (error.error_class, error.retryable) == (error_class, False)
    assert server.connections == 0


class Dns:
    """What the pinned clients resolve (the names do not exist in the system's DNS), and what the guard refuses."""

    def __init__(self, answers: dict[str, list[str]], forbidden: Iterable[str] = ()) -> None:
        self.answers = answers
        self.forbidden = set(forbidden)
        self.lookups = 0

    async def resolve(self, host: str) -> list[str]:
        self.lookups += 1
        if host not in self.answers:
            raise ConnectionFailed(f"cannot resolve {host!r}", error_class="dns_error")
        return list(self.answers[host])

    def check(self, host: str, addresses: Iterable[str]) -> None:
        for address in addresses:
            if address in self.forbidden:
                raise UnsafeUrl(f"the host {host!r} resolves to {address}, a forbidden address")


def pinned_client(dns: Dns, *, ttl_s: float = 0.2, request_timeout_s: float = REQUEST_TIMEOUT_S,
                  max_destinations: int = 1024) -> PyreqwestClient:
    return PyreqwestClient(connect_timeout_s=CONNECT_TIMEOUT_S, request_timeout_s=request_timeout_s,
                           allow_private_urls=False, max_connections=16, dns_ttl_s=ttl_s, resolve=dns.resolve,
                           check=dns.check, max_destinations=max_destinations)


async def test_pinned_client_connects_to_the_checked_address_and_refuses_a_rebinding() -> None:
    dns = Dns({"hooks.test": ["127.0.0.1"]}, forbidden={"127.0.0.2"})
    client = pinned_client(dns)
    try:
        async with RawServer() as server:
            url = f"http://hooks.test:{server.port}/x"
            assert (await client.send(get(url))).status_code == 204
            dns.answers["hooks.test"] = ["127.0.0.2"]
            assert (await client.send(get(url))).status_code == 204  # still pinned: the answer is not stale yet
            await asyncio.sleep(0.3)
            error = await error_of(client, get(url))
    finally:
        await client.close()
    assert error.error_class == "unsafe_url" and "127.0.0.2" in str(error)
    assert [(seen.local_address, seen.headers["host"]) for seen in server.seen] == [
        ("127.0.0.1", f"hooks.test:{server.port}")] * 2


async def test_pinned_client_keeps_its_connections_and_follows_a_dns_change() -> None:
    dns = Dns({"hooks.test": ["127.0.0.1"]})
    client = pinned_client(dns, request_timeout_s=3)
    try:
        async with RawServer(hosts=("127.0.0.1", "127.0.0.3")) as server:
            url = f"http://hooks.test:{server.port}"
            await client.send(get(url + "/a"))
            dns.answers["hooks.test"] = ["127.0.0.3", "127.0.0.1"]  # another order: the pinned address stays
            await asyncio.sleep(0.3)
            await client.send(get(url + "/b"))
            slow = asyncio.create_task(client.send(get(url + "/slow")))
            await asyncio.sleep(0.1)
            dns.answers["hooks.test"] = ["127.0.0.3"]
            await asyncio.sleep(0.3)
            await client.send(get(url + "/c"))
            assert (await slow).status_code == 204  # the replaced client finished its request
    finally:
        await client.close()
    by_target = {seen.target: (seen.local_address, seen.connection) for seen in server.seen}
    assert by_target[b"/a"] == by_target[b"/b"] == ("127.0.0.1", 1)
    assert by_target[b"/c"][0] == "127.0.0.3"
    assert dns.lookups == 3


async def test_pinned_client_moves_to_the_next_address_after_a_connect_failure() -> None:
    dns = Dns({"hooks.test": ["127.0.0.2", "127.0.0.1"]})  # the server listens on 127.0.0.1 only
    client = pinned_client(dns, ttl_s=60)
    try:
        async with RawServer() as server:
            url = f"http://hooks.test:{server.port}/x"
            assert (await error_of(client, get(url))).error_class == "connect_error"
            assert (await client.send(get(url))).status_code == 204
    finally:
        await client.close()


@pytest.mark.parametrize(("addresses", "pinned", "failed", "chosen"), [
    (["a", "b"], None, False, "a"),
    (["a", "b"], "b", False, "b"),
    (["a", "b"], "b", True, "a"),
    (["a", "b"], "a", True, "b"),
    (["a"], "a", True, "a"),
    (["c", "d"], "a", False, "c"),
])
def test_choose_address(addresses: list[str], pinned: str | None, failed: bool, chosen: str) -> None:
    assert choose_address(addresses, pinned=pinned, failed=failed) == chosen


async def test_a_name_whose_dns_never_answers_is_a_connect_timeout() -> None:
    """As reqwest's own resolver within its connect timeout, where the pinned client's lookup had no bound."""
    class SilentDns(Dns):
        async def resolve(self, host: str) -> list[str]:
            await asyncio.Event().wait()
            return []

    client = pinned_client(SilentDns({}))
    try:  # the bound here only keeps a hang from stalling the suite
        error = await asyncio.wait_for(error_of(client, get("http://silent.test/x")), timeout=30)
    finally:
        await client.close()
    assert error.error_class == "connect_timeout" and "silent.test" in str(error), error


async def test_pinned_clients_are_bounded_and_resolved_once_for_concurrent_requests() -> None:
    dns = Dns({f"h{i}.test": ["192.0.2.1"] for i in range(3)})
    built: list[tuple[str, str]] = []

    def build(host: str, address: str) -> object:
        built.append((host, address))
        return object()

    pins = PinnedClients[object](build=build, max_clients=2, idle_s=0, resolve=dns.resolve, check=dns.check)
    first = await asyncio.gather(*(pins.get("h0.test") for _ in range(5)))
    assert len({id(client) for client in first}) == 1 and dns.lookups == 1
    await pins.get("h1.test")
    await pins.get("h2.test")
    assert len(pins) == 2 and built == [(f"h{i}.test", "192.0.2.1") for i in range(3)]


async def test_a_new_host_takes_the_slot_of_an_idle_client_and_otherwise_overflows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dns = Dns({f"h{i}.test": ["192.0.2.1"] for i in range(6)})
    now = [0.0]
    pins = PinnedClients[object](build=lambda host, address: object(), max_clients=2, idle_s=60, resolve=dns.resolve,
                                 check=dns.check, ttl_s=1e9, monotonic_s=lambda: now[0])
    with caplog.at_level("WARNING", logger="delivery.pinning"):
        h0, h1 = await pins.get("h0.test"), await pins.get("h1.test")
        now[0] = 30.0
        assert await pins.get("h2.test") is None  # both clients in use within the minute: no slot
        assert await pins.get("h3.test") is None  # warned once a minute only
        assert await pins.get("h0.test") is h0  # used at 30 s: h1 is now the least recently used
        now[0] = 61.0
        assert await pins.get("h2.test") is not None  # h1, idle since 0 s, gave its slot up
        assert await pins.get("h1.test") is None  # h0 and h2 are in use
        now[0] = 95.0
        assert await pins.get("h4.test") is not None  # h0, idle since 30 s
        assert await pins.get("h5.test") is None  # a minute after the first warning: the next one
    assert len(pins) == 2 and h1 not in pins.clients() and h0 not in pins.clients()
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("1 request(s)") and "CALLAPI_MAX_DESTINATIONS (2)" in warnings[0]
    assert warnings[1].startswith("3 request(s)")  # h3, h1 and h5


async def test_hosts_past_the_bound_go_through_aiohttp_with_the_same_guard(caplog: pytest.LogCaptureFixture) -> None:
    dns = Dns({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"], "c.test": ["127.0.0.2"]}, forbidden={"127.0.0.2"})
    client = pinned_client(dns, ttl_s=60, max_destinations=1)
    try:
        async with RawServer() as server:
            with caplog.at_level("WARNING", logger="delivery.pinning"):
                for host in ("a.test", "b.test", "a.test", "b.test"):
                    assert (await client.send(get(f"http://{host}:{server.port}/{host}"))).status_code == 204
            refused = await error_of(client, get(f"http://c.test:{server.port}/c"))
            unknown = await error_of(client, get(f"http://d.test:{server.port}/d"))
            pinned = len(client._pinned)
    finally:
        await client.close()
    assert pinned == 1 and "went through aiohttp" in caplog.text  # a.test pinned, b.test past the bound
    assert sorted(seen.headers["host"].split(":")[0] for seen in server.seen) == ["a.test"] * 2 + ["b.test"] * 2
    assert (refused.error_class, unknown.error_class) == ("unsafe_url", "dns_error")


@pytest.mark.parametrize("name", CLIENTS)
async def test_an_internationalised_host_name_is_reached_through_its_idna_form(name: str) -> None:
    """`bücher.test` is looked up, checked and sent as `xn--bcher-kva.test`, as a browser would, by either client."""
    dns = Dns({"xn--bcher-kva.test": ["127.0.0.1"]})
    client: HttpClient = pinned_client(dns) if name == "pyreqwest" else AiohttpClient(
        connect_timeout_s=CONNECT_TIMEOUT_S, request_timeout_s=REQUEST_TIMEOUT_S, allow_private_urls=False,
        max_connections=16, resolver=FunctionResolver(dns.resolve), check=dns.check)
    try:
        async with RawServer() as server:
            job = make_job(f"http://Bücher.test:{server.port}/hook?q=1", method="GET")
            assert (await client.send(build_request(job, now_s=1_796_000_000, user_agent="t"))).status_code == 204
    finally:
        await client.close()
    assert [seen.headers["host"] for seen in server.seen] == [f"xn--bcher-kva.test:{server.port}"]


async def test_the_pinned_clients_bound_is_a_setting() -> None:
    client = new_client(Settings(http_client="pyreqwest", max_destinations=3000))
    try:
        assert isinstance(client, PyreqwestClient) and client.max_destinations == 3000
    finally:
        await client.close()


@pytest.mark.parametrize("name", CLIENTS)
async def test_a_connection_reset_before_the_reply_is_a_connection_error(name: str) -> None:
    async with RawServer() as server, open_client(name) as client:
        post = [OutgoingRequest("POST", f"{server.url()}{path}", b"a=1", {}, b"a=1") for path in ("/reset", "/x")]
        error = await error_of(client, post[0])
        assert (await client.send(post[1])).status_code == 204
    assert (type(error), error.error_class) == (ConnectionFailed, "connection_error")
    assert [seen.target for seen in server.seen] == [b"/reset", b"/x"]  # a POST is not sent again


OK = b"HTTP/1.1 200 OK\r\n"
NO_BODY = b"Content-Length: 0\r\n\r\n"
CHUNKED_BODY = b"4\r\nbody\r\n0\r\n\r\n"


def fields(count: int, value_bytes: int = 1) -> bytes:
    return b"".join(b"X-F%d: %s\r\n" % (i, b"v" * value_bytes) for i in range(count))


KEPT_STATUS = {
    "header-line-over-8-KiB": OK + b"X-Long: " + b"a" * 9_000 + b"\r\n" + NO_BODY,
    "header-line-of-300-KiB": OK + b"X-Long: " + b"a" * 300 * 1024 + b"\r\n" + NO_BODY,
    "obsolete-line-folding": OK + b"X-Folded: a\r\n b\r\n" + NO_BODY,
    "bad-chunk-size-with-the-head": OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nbody\r\n0\r\n\r\n",
    "chunk-longer-than-its-size": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbody\r\n0\r\n\r\n",
    "204-then-stray-bytes": b"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nbody",
    "content-length-twice-the-same": OK + b"Content-Length: 4\r\ncontent-length:4 \r\n\r\nbody",
    "content-length-list-of-the-same": OK + b"Content-Length: 4, 4\r\n\r\nbody",
    "content-length-and-chunked": OK + b"Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY,
}


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("case", sorted(KEPT_STATUS))
async def test_an_unambiguous_status_counts_with_both_clients(name: str, case: str) -> None:
    """A long header line within the head's bound, a folded line, a Content-Length given twice alike or beside
    Transfer-Encoding, a body whose framing breaks in the same read as the head: the status is plain, so it counts
    (one client gave it, the other refused the reply)."""
    reply = KEPT_STATUS[case]
    async with replying(reply) as url, open_client(name) as client:
        assert (await client.send(get(f"{url}/x"))).status_code == int(reply.split(b" ")[1])


OVERSIZED = {
    "101-header-fields": OK + fields(100) + NO_BODY,
    "a-1-MiB-header-line": OK + b"X-Long: " + b"a" * 1024 * 1024 + b"\r\n" + NO_BODY,
    "99-fields-of-8-KiB": OK + fields(99, 8_000) + NO_BODY,
}


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("case", sorted(OVERSIZED))
async def test_a_reply_head_past_the_bounds_is_an_invalid_reply_in_the_same_words(name: str, case: str) -> None:
    """More than 100 header fields, or MAX_HEAD_BYTES read without the head ending: not read further."""
    assert len(OVERSIZED[case]) > MAX_HEAD_BYTES or case == "101-header-fields"
    async with replying(OVERSIZED[case]) as url, open_client(name) as client:
        error = await error_of(client, get(f"{url}/x"))
    assert (type(error), error.error_class) == (InvalidReply, "invalid_reply")
    assert str(error) == f"{HEAD_INVALID}: {HEAD_TOO_LARGE}"


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("head", [b"HTTP/2.0 200 OK\r\n", b"HTTP/1.1 099 Early\r\n", OK + b"Retry-After: 1\x7f\r\n",
                                  OK + b"X-Id: a\x01b\r\n", b"HTTP/1.1 200 O\x1bK\r\n", OK + b" X-Id: 1\r\n"])
async def test_a_reply_head_hyper_refuses_is_an_invalid_reply_from_both(name: str, head: bytes) -> None:
    """An HTTP/2.0 version or a status under 100 in an HTTP/1 reply, a control character in a header value or the
    reason, whitespace before the first header: hyper's parser refuses them (pyreqwest offers no leniency for
    them), so both clients do."""
    async with replying(head + NO_BODY) as url, open_client(name) as client:
        error = await error_of(client, get(f"{url}/x"))
    assert (type(error), error.error_class) == (InvalidReply, "invalid_reply")
    assert str(error).startswith(f"{HEAD_INVALID}: ") and "\n" not in str(error)


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("value", [b"\xe9", b"\xc3\xa9", b"\x80"])
async def test_a_retry_after_that_is_not_ascii_is_none(name: str, value: bytes) -> None:
    """pyreqwest's get_header refuses such a value; the aiohttp client drops it too rather than pass on its guess."""
    async with replying(b"HTTP/1.1 503 Busy\r\nRetry-After: " + value + b"\r\n" + NO_BODY) as url, \
            open_client(name) as client:
        response = await client.send(get(f"{url}/x"))
    assert (response.status_code, response.retry_after) == (503, None)

"""A head timed while the server itself has stopped reading is not refused: uvicorn pauses reading a connection when
a pipelined request's head completes while the request before it is still answered, so the rest of a third head
waits unread in the socket through no fault of the client. A real uvicorn server on 127.0.0.1 in the test's process,
serving ApiHttpProtocol with a tiny head timeout, and an endpoint whose answer the test holds and releases."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope

from control.api.http_protocol import limited_to
from tests.control.test_api_unparsable import read_answer

HEAD_TIMEOUT_S = 0.05
WAIT_S = 30  # a bound on waits for the server, reached only when it fails

released = threading.Event()  # the held endpoint answers once this is set
timed_out = threading.Event()  # the head timer fired
paused_at_timeouts: list[bool] = []  # flow.read_paused each time it fired


class Observed(limited_to(65_536, HEAD_TIMEOUT_S)):  # type: ignore[misc]  # a class made at run time
    def _head_timed_out(self) -> None:
        paused_at_timeouts.append(self.flow.read_paused)
        super()._head_timed_out()
        timed_out.set()


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Answers 200 with the request's path; /held only once the test sets `released`."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/held":
        await asyncio.to_thread(released.wait, WAIT_S)
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def address() -> Iterator[tuple[str, int]]:
    released.clear()
    timed_out.clear()
    paused_at_timeouts.clear()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                           http=Observed))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    try:
        yield "127.0.0.1", server.servers[0].sockets[0].getsockname()[1]
    finally:
        released.set()
        server.should_exit = True
        thread.join(WAIT_S)


def test_a_head_timed_while_the_server_stopped_reading_is_not_refused(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=WAIT_S) as connection, connection.makefile("rb") as stream:
        # In one write, so one read: a held request, a second whose complete head makes uvicorn pause reading,
        # and the beginning of a third head, timed from then on while reading is paused
        connection.sendall(b"GET /held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                           b"GET /second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                           b"GET /third HTTP/1.1\r\nHo")
        assert timed_out.wait(WAIT_S), "the head timer did not fire"
        assert paused_at_timeouts[0], "reading was not paused when the head timer fired"
        # Sent before the release: unread while paused, and read as soon as reading resumes, before any timer runs
        # (a client sending it later could be refused by the timer restarted while paused, rightly)
        connection.sendall(b"st: 127.0.0.1\r\n\r\n")
        released.set()
        answers = [read_answer(stream) for _ in range(3)]
    assert [(status, body) for status, _, body in answers] == [(200, b"/held"), (200, b"/second"), (200, b"/third")]

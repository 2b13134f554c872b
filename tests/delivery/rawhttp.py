"""A raw asyncio HTTP/1.1 server for the HTTP client tests: it records the request line byte for byte, which
connection and local address each request came on, and misbehaves on demand, by path:

    /status/<code>   that status, with the request's `X-Reply-*` headers echoed as reply headers (X-Reply-Retry-After)
    /slow            204 after SLOW_S
    /hang            reads the request, never answers
    /hang-head       sends the status line of a 200, then nothing (the head never ends)
    /hang-mid-head   sends the status line of a 200 and half a header name, then nothing
    /cut-head        sends the status line of a 200 and half a header name, then closes the connection
    /cut-status      sends half a status line, then closes the connection
    /close           closes the connection without a byte of reply
    /bad-head/<name> the malformed head BAD_HEADS[name], then closes the connection
    /stall-body/<code>     that status, Content-Length 100 and 10 bytes of it, then nothing
    /short-body/<code>     that status, Content-Length 100 and 10 bytes of it, then closes the connection
    /short-chunked/<code>  that status, chunked, one chunk, then closes without the last chunk
    /reset           resets the connection (RST) instead of answering
    /sized/<n>       200 with an n-byte body
    /endless         200, chunked, streaming until the client goes away (or ENDLESS_CAP_BYTES)
    anything else    204
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

SLOW_S = 0.5
PARTIAL_HEAD = b"HTTP/1.1 200 OK\r\nContent-Le"
CUT_REPLIES = {"/cut-head": PARTIAL_HEAD, "/cut-status": b"HTTP/1.1 20", "/close": b""}
BAD_HEADS = {
    "status-line": b"garbage garbage\r\n\r\n",
    "status-code": b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
    "header": b"HTTP/1.1 200 OK\r\nfoo bar\r\nContent-Length: 0\r\n\r\n",
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
}
ENDLESS_CAP_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Seen:
    target: bytes
    connection: int
    local_address: str
    headers: dict[str, str]


@dataclass
class RawServer:
    hosts: tuple[str, ...] = ("127.0.0.1",)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    endless_finished: list[bool] = field(default_factory=list)
    """For each /endless reply: True if it was streamed to the end (the client read on), False if cut off."""
    _servers: list[asyncio.Server] = field(default_factory=list)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    port: int = 0

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> RawServer:
        for host in self.hosts:  # one port on every address
            server = await asyncio.start_server(self._serve, host, self.port)
            self.port = int(server.sockets[0].getsockname()[1])
            self._servers.append(server)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._exchange(reader, writer)
        except asyncio.CancelledError:
            pass  # the server is closing; ending normally keeps asyncio's stream callback quiet
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        local_address = str(writer.get_extra_info("sockname")[0])
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while request := await _read_request(reader):
                target, headers = request
                self.seen.append(Seen(target, connection, local_address, headers))
                if not await self._reply(target.decode(), headers, writer):
                    break

    async def _reply(self, target: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        path = target.split("?", 1)[0]
        extra = "".join(f"{name[8:]}: {value}\r\n" for name, value in headers.items() if name.startswith("x-reply-"))
        if path in ("/hang", "/hang-head", "/hang-mid-head"):
            writer.write({"/hang": b"", "/hang-head": b"HTTP/1.1 200 OK\r\n", "/hang-mid-head": PARTIAL_HEAD}[path])
            await asyncio.sleep(60)
            return False
        if path in CUT_REPLIES or path.startswith("/bad-head/"):
            writer.write(CUT_REPLIES.get(path) or BAD_HEADS[path.removeprefix("/bad-head/")])
            await writer.drain()
            return False
        kind, _, code = path[1:].partition("/")
        if kind in BROKEN_BODIES:
            await _broken_body(writer, kind, f"HTTP/1.1 {code} Scripted\r\n{extra}")
            return False
        if path == "/reset":
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if path == "/endless":
            await self._endless(writer)
            return False
        if path == "/slow":
            await asyncio.sleep(SLOW_S)
        status, body = 204, b""
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
        elif path.startswith("/sized/"):
            status, body = 200, b"y" * int(path.rsplit("/", 1)[1])
        writer.write(f"HTTP/1.1 {status} Scripted\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        return True

    async def _endless(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"4000\r\n" + b"z" * 0x4000 + b"\r\n"
        sent = 0
        finished = False
        try:
            while sent < ENDLESS_CAP_BYTES:
                writer.write(chunk)
                await writer.drain()
                sent += 0x4000
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            finished = True
        finally:
            self.endless_finished.append(finished)


BROKEN_BODIES = ("stall-body", "short-body", "short-chunked")


async def _broken_body(writer: asyncio.StreamWriter, kind: str, head: str) -> None:
    """A complete reply head, then a body that ends too soon: it stalls, or the connection closes."""
    if kind == "short-chunked":
        writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + b"a\r\n" + b"x" * 10 + b"\r\n")
    else:
        writer.write(f"{head}Content-Length: 100\r\n\r\n".encode() + b"x" * 10)
    await writer.drain()
    if kind == "stall-body":
        await asyncio.sleep(60)


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str]] | None:
    line = await reader.readline()
    if not line:
        return None
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if length := int(headers.get("content-length") or 0):
        await reader.readexactly(length)
    return line.split(b" ")[1], headers


@contextlib.asynccontextmanager
async def replying(reply: bytes) -> AsyncIterator[str]:
    """A server on 127.0.0.1 answering a connection's first request with exactly these bytes, then closing it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline() not in (b"\r\n", b""):
                pass
            writer.write(reply)
            await writer.drain()
        except ConnectionError:
            pass  # the client stopped reading an oversized head
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

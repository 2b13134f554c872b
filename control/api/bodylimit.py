"""A cap on request bodies, checked before any route reads one: the API's bodies are a few hundred bytes, and
without a cap anyone, signed in or not, could make a replica hold an arbitrarily large body in memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_048_576


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Answers 413 `request_too_large` to a body over `max_bytes`, declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        # a declared size over the cap is refused at the first read, not on arrival: a route that refuses the
        # caller first (no token: 401) answers the same whether the body is declared or streamed
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        received = int(declared) if declared.isdigit() and int(declared) > self._max_bytes else 0
        overflowed = started = False

        async def counting_receive() -> Message:
            nonlocal received, overflowed
            if received <= self._max_bytes:
                message = await receive()
                received += len(message.get("body", b""))
            if received > self._max_bytes:
                overflowed = True
                raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            # FastAPI turns an error while reading a body into its own 400: answer ours in its place
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if overflowed:
                    await self._refuse(send)
            if not overflowed:
                await send(message)

        try:
            await self._app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": {"code": "request_too_large", "message":
                                     f"the request body is larger than {self._max_bytes} bytes"}}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

"""Paths are routed as sent: an encoded slash (`%2F`) is refused instead of being decoded into a separator, and so
are a backslash (`%5C` or as is) and an encoded NUL (`%00`).

The server decodes `%2F` before routing, so `…/phoneCallEvents/0%2Fabc` would read request `abc` and
`…/0/abc%2Fdeliveries` its delivery log: one address, two meanings, and a proxy or log in front that matches on
the path as sent sees another resource than the one answered. A backslash is a separator to some proxies and
servers (IIS, URL normalizers), and a NUL ends a string in C code and cannot be stored in PostgreSQL text. No
identifier (account, extension, Request ID, event type) contains any of them, so such a path names nothing: it
answers 404, as any unknown path (not a 400 about a field: the path is refused before it is read as fields).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from control.api import errors

REFUSED = {b"%2f": "an encoded slash (%2F)", b"%5c": "an encoded backslash (%5C)", b"\\": "a backslash (\\)",
           b"%00": "an encoded NUL (%00)"}
MESSAGE = ("no such path: a path segment holds {}, which no account, extension or request id contains; send each "
           "identifier as it is, e.g. …/phoneCallEvents/0/{{id}}")


class RefusedPathCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = (scope.get("raw_path") or b"").lower() if scope["type"] == "http" else b""
        refused = next((name for escape, name in REFUSED.items() if escape in path), None)
        if refused is not None:
            response = errors.refusal(Request(scope), 404, MESSAGE.format(refused))
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

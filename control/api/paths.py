"""Paths are routed as sent: an encoded slash (`%2F`) is refused instead of being decoded into a separator.

The server decodes `%2F` before routing, so `…/phoneCallEvents/0%2Fabc` would read request `abc` and
`…/0/abc%2Fdeliveries` its delivery log: one address, two meanings, and a proxy or log in front that matches on
the path as sent sees another resource than the one answered. No identifier (account, extension, Request ID,
event type) can contain `/`, so a path with an encoded slash names nothing: it answers 404, as any unknown path.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from control.api import errors

ENCODED_SLASH = b"%2f"
MESSAGE = ("no such path: a path segment holds an encoded slash (%2F), and no account, extension or request id "
           "contains '/'; send each identifier as it is, e.g. …/phoneCallEvents/0/{id}")


class EncodedSlash:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ENCODED_SLASH in (scope.get("raw_path") or b"").lower():
            response = errors.refusal(Request(scope), 404, MESSAGE)
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

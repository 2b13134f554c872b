"""HEAD is answered wherever GET is (RFC 9110 9.1: a general-purpose server supports both; monitors and load
balancers probe with HEAD). FastAPI's routes take only the methods they name, so HEAD is routed as GET here; the
server, whose own scope still says HEAD, sends the answer's status and headers without its body. Not the web UI's
pages: for a browser only, and showing one takes the one-shot secret and the message it shows (405 as before)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from control.api.errors import UI_PREFIX


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD" and not scope["path"].startswith(UI_PREFIX):
            scope = {**scope, "method": "GET"}  # a copy: the server's scope keeps HEAD and drops the body
        await self._app(scope, receive, send)

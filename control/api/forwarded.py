"""Behind a TLS-terminating reverse proxy the API is reached over plain HTTP: the scheme a trusted proxy reports
(X-Forwarded-Proto, see addresses.py) becomes the request's, so `links.self`, redirects and the web UI's
"plain HTTP" warning reflect what the client used."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from control.api.addresses import Network, forwarded_scheme


class ForwardedScheme:
    def __init__(self, app: ASGIApp, *, trusted: tuple[Network, ...]) -> None:
        self._app = app
        self._trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._trusted:
            client = scope.get("client")
            said = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-proto"]
            scheme = forwarded_scheme(client[0] if client else None, said, self._trusted)
            if scheme is not None:
                scope = {**scope, "scheme": scheme}
        await self._app(scope, receive, send)

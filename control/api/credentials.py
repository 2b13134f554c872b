"""One Authorization header per request: it is not a list (RFC 9110 11.6.2), and with two, the framework would
read the first while a proxy or log in front may have judged the other. Such credentials are unreadable: 401."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from control.api.errors import error_response
from control.api.routes_oauth import BASIC_CHALLENGE

CHECKED_PREFIXES = ("/oauth/", "/uapi/")


async def one_authorization(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    path = request.url.path
    if path.startswith(CHECKED_PREFIXES) and len(request.headers.getlist("authorization")) > 1:
        oauth = path.startswith("/oauth/")  # the token endpoint's clients authenticate by HTTP Basic
        return error_response(401, "invalid_client" if oauth else "unauthorized",
                              "send one Authorization header, not several",
                              {"WWW-Authenticate": BASIC_CHALLENGE if oauth else "Bearer"})
    return await call_next(request)

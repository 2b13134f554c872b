"""The app factory: one connection pool per process, opened at start-up, closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from psycopg_pool import ConnectionPool

from control.api import errors, metrics, openapi, routes_events, routes_oauth, routes_ops
from control.api.addresses import parse_networks
from control.api.bodylimit import BodyLimit
from control.api.credentials import one_authorization
from control.api.forwarded import ForwardedScheme
from control.api.head import HeadAsGet
from control.api.paths import RefusedPathCharacters
from schemas import __version__
from schemas.settings import Settings

log = logging.getLogger(__name__)
POOL_MIN = 1
POOL_MAX = 10


def open_pool(settings: Settings) -> ConnectionPool:
    """Opens without waiting, so the API starts (and answers 503) while PostgreSQL is down."""
    pool = ConnectionPool(settings.database_url, min_size=POOL_MIN, max_size=POOL_MAX, open=False,
                          kwargs={"autocommit": True, "connect_timeout": 5}, name="callapi-api")
    pool.open(wait=False)
    return pool


def create_app(settings: Settings, *, relay: bool = False) -> FastAPI:
    """The Control API; with `relay`, the outbox relay runs as a background task of the same process."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = open_pool(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(_run_relay(settings, stop)) if relay else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            app.state.pool.close()

    # redirect_slashes off: a trailing slash answers 404 (errors.py), not a 307 that a client follows with its body
    app = FastAPI(title="CallAPI Control", version=__version__, lifespan=lifespan, redirect_slashes=False,
                  description="The Event resource of CallAPI Events (VoipNow UnifiedAPI shaped), with "
                  "multi-tenant OAuth 2.0 client credentials.")
    app.state.settings = settings
    app.state.relay = relay  # the web UI tells whether a queued test notification gets sent
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)  # a bad value stops the start-up
    errors.install(app)
    from control.ui import router as ui_router  # here, not at the top: control.ui imports control.api.deps
    from control.ui.deps import SameSite

    app.add_middleware(HeadAsGet)  # next to routing: every other part sees the HEAD the client sent
    # These two next to routing, as if they were routes: their 403s and 404s are counted and never cached as others
    app.add_middleware(SameSite)  # the UI's cross-site refusal, for every route under /ui however it was added
    app.add_middleware(RefusedPathCharacters)
    app.add_middleware(BodyLimit)  # before anything reads a body
    app.middleware("http")(one_authorization)  # inside metrics and never_cached: its 401s are counted, not cached
    app.middleware("http")(metrics.measure)  # outside BodyLimit: its 413s are counted too
    app.middleware("http")(never_cached)
    app.add_middleware(ForwardedScheme, trusted=app.state.trusted_proxies)  # outermost: every part sees the scheme
    app.include_router(routes_oauth.router)
    app.include_router(routes_events.router)
    app.include_router(routes_ops.router)
    app.include_router(ui_router)
    openapi.install(app)
    return app


PRIVATE_PREFIXES = ("/oauth/", "/uapi/")


async def never_cached(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Answers of the token endpoint and the Event resource carry bearer tokens, signing secrets and a tenant's
    settings: no cache or proxy may keep them (RFC 6749 5.1 demands it of the token endpoint)."""
    response = await call_next(request)
    if request.url.path.startswith(PRIVATE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


async def _run_relay(settings: Settings, stop: asyncio.Event) -> None:
    from control.relay import run_relay

    await run_relay(settings, stop=stop)

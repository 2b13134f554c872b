"""Dependencies of the routes: settings, a pooled database connection, the caller, the extension.

The web UI uses the same ones: `Db`, `AppSettings`, `CurrentCaller`, `Extension`, `SourceAddress`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from control.api.addresses import Network, source_address
from control.errors import Unauthorized
from control.service import Caller, ExtensionRef, authenticate, resolve_extension
from schemas.settings import Settings

POOL_TIMEOUT_S = 5.0
bearer = HTTPBearer(auto_error=False, description="a token from POST /oauth/token")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> ConnectionPool:
    pool: ConnectionPool = request.app.state.pool
    return pool


def get_db(pool: Annotated[ConnectionPool, Depends(get_pool)]) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection from the process's pool; PoolTimeout (database down) answers 503."""
    with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
        yield conn


def get_source_address(request: Request) -> str:
    """Where the request comes from: the peer, or X-Forwarded-For behind a trusted proxy (addresses.py)."""
    trusted: tuple[Network, ...] = request.app.state.trusted_proxies
    peer = request.client.host if request.client else None
    return source_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


AppSettings = Annotated[Settings, Depends(get_settings)]
Db = Annotated[psycopg.Connection[Any], Depends(get_db)]
SourceAddress = Annotated[str, Depends(get_source_address)]


def get_caller(db: Db, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send Authorization: Bearer <token>; get a token from POST /oauth/token")
    return authenticate(db, credentials.credentials, now=datetime.now(UTC))


CurrentCaller = Annotated[Caller, Depends(get_caller)]
UserId = Annotated[str, Path(description="`@me` (the token's account) or an account id")]
ExtensionNumber = Annotated[
    str, Path(description="`0003*210` (send the star as %2A) or the extended form `0003210`")
]


def get_extension(db: Db, caller: CurrentCaller, userId: UserId, extension: ExtensionNumber) -> ExtensionRef:
    return resolve_extension(db, caller, userId, extension)


Extension = Annotated[ExtensionRef, Depends(get_extension)]

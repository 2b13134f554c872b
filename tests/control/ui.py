"""Helpers of the web UI tests: a browser-like httpx session (cookies, CSRF tokens) and delivery-log rows."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import psycopg

from control.service import ExtensionRef
from control.sink import LogWriter
from schemas.attempts import DeliveryAttempt, Outcome
from schemas.events import EventType
from schemas.extensions import tenant_of

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """Keeps cookies like a browser on a secure origin (httpx's jar never sends Secure cookies over http)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        headers = {**(headers or {}), **({"Cookie": cookie} if cookie else {})}
        response = self.http.request(method, url, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or morsel.value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def csrf(self, url: str = "/ui/extensions") -> str:
        """The CSRF token of the forms of `url`."""
        found = CSRF.search(self.get(url).text)
        assert found is not None, f"no CSRF field on {url}"
        return found.group(1)

    def sign_in(self, client_id: str, client_secret: str) -> httpx.Response:
        token = self.csrf("/ui/")
        return self.post("/ui/signin", data={"client_id": client_id, "client_secret": client_secret, "csrf": token})


def _readings(set_cookie: str) -> list[bytes]:
    """A Set-Cookie header's value as sent, and every base64 reading of it and of its dot-separated parts."""
    values = [morsel.value for morsel in SimpleCookie(set_cookie).values()] + [set_cookie]
    found = [value.encode() for value in values]
    for value in values:
        for part in [value, *value.split(".")]:
            for decode in (base64.urlsafe_b64decode, base64.b64decode):
                with contextlib.suppress(ValueError):  # binascii.Error too
                    found.append(decode(part + "=" * (-len(part) % 4)))
    return found


def readable_in_cookies(set_cookie_headers: list[str], secret: str) -> list[str]:
    """The Set-Cookie headers from which a signing secret (whsec_ + base64 key) can be read, as text or decoded."""
    encoded = secret.removeprefix("whsec_")
    needles = [secret.encode(), encoded.encode(), base64.b64decode(encoded)]
    return [header for header in set_cookie_headers
            if any(needle in reading for reading in _readings(header) for needle in needles)]


def attempt(extension: ExtensionRef, request_id: str, event_type: EventType, *, number: int, outcome: Outcome,
            status_code: int | None, ago_s: float, error: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(
        job_id=uuid.uuid4().hex, event_id=str(uuid.uuid4()), event_type=event_type, tenant=tenant_of(extension.number),
        extension=extension.number, request_id=request_id, attempt=number, outcome=outcome, status_code=status_code,
        error=error, duration_ms=12.5 * number, attempted_at=datetime.now(UTC) - timedelta(seconds=ago_s),
    )


def write_attempts(database_url: str, attempts: list[DeliveryAttempt]) -> None:
    """Into the delivery log the way the sink writes them (daily partitions created as needed).

    In a thread of its own: Playwright's sync API keeps an event loop running in the test's thread.
    """

    async def write() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await LogWriter(conn=conn).write(attempts)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result(timeout=30)

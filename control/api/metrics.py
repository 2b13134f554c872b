"""Prometheus metrics of the API: requests by route template (never by extension or tenant), latency, and
sign-ins by outcome (a rising `throttled` or `failed` count is someone guessing secrets)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

from control.errors import Throttled, Unauthorized

REQUESTS = Counter("callapi_api_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("callapi_api_request_duration_seconds", "time to answer an HTTP request", ["route"])
SIGN_INS = Counter("callapi_api_sign_ins_total", "client-credential sign-ins (via: oauth, ui) by outcome: "
                   "ok, failed (wrong credentials), throttled (refused: too many failures)", ["via", "outcome"])
for _via in ("oauth", "ui"):  # every series from the start, so increase() sees the first failure too
    for _outcome in ("ok", "failed", "throttled"):
        SIGN_INS.labels(_via, _outcome)


@contextlib.contextmanager
def counting_sign_in(via: str) -> Iterator[None]:
    """Counts the sign-in run inside by its outcome; its errors pass through."""
    try:
        yield
    except Throttled:
        SIGN_INS.labels(via, "throttled").inc()
        raise
    except Unauthorized:
        SIGN_INS.labels(via, "failed").inc()
        raise
    SIGN_INS.labels(via, "ok").inc()


async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    LATENCY.labels(route).observe(time.perf_counter() - started)
    return response

"""Prometheus metrics of the API: requests by route template (never by extension or tenant) and latency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

REQUESTS = Counter("callapi_api_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("callapi_api_request_duration_seconds", "time to answer an HTTP request", ["route"])


async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    LATENCY.labels(route).observe(time.perf_counter() - started)
    return response

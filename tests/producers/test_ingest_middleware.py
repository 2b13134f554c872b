"""The ingest endpoint's error middleware, served for real: an unexpected failure in a handler is logged and answered
500 in the endpoint's error shape, and counted like every other answer."""

from __future__ import annotations

import logging

import httpx
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from producers.ingest.app import error_middleware


async def failing(request: web.Request) -> web.Response:
    raise RuntimeError("a defect")


def answered(status: str) -> float:
    return REGISTRY.get_sample_value("callapi_ingest_requests_total", {"route": "failing", "status": status}) or 0.0


async def test_an_unexpected_failure_is_logged_and_answered_500_in_the_error_shape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = web.Application(middlewares=[error_middleware(retry_after_s=1)])
    app.router.add_resource("/fail", name="failing").add_route("GET", failing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    before = answered("500")
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{runner.addresses[0][1]}/fail")
    finally:
        await runner.cleanup()
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert answered("500") == before + 1
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert failures and "a defect" in str(failures[0].exc_info[1])  # type: ignore[index]

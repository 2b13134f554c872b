"""The operations endpoint, served for real on 127.0.0.1."""

from __future__ import annotations

import httpx
from prometheus_client import Counter

from schemas.ops import bound_port, serve_ops

PROBE_TOTAL = Counter("callapi_test_probe_total", "A counter that only this test increments.")


async def test_health_readiness_and_metrics_are_served() -> None:
    state = {"ready": False}

    async def ready() -> bool:
        return state["ready"]

    runner = await serve_ops("127.0.0.1", 0, ready=ready)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        PROBE_TOTAL.inc()
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/readyz")).status_code == 503
            state["ready"] = True
            assert (await client.get("/readyz")).status_code == 200
            metrics = await client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "callapi_test_probe_total 1.0" in metrics.text
    finally:
        await runner.cleanup()

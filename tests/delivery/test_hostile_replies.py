"""Replies a receiver may send that no worker should trip over: both HTTP clients against a real server on
127.0.0.1 that writes the reply head byte for byte, then the worker's decision on what came back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from delivery.http import new_client
from delivery.policy import Action, AttemptResult, decide
from delivery.request import OutgoingRequest
from schemas.settings import Settings
from tests.delivery.rawhttp import replying

CLIENTS = ["pyreqwest", "aiohttp"]


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize(("head", "action"), [
    (b"HTTP/1.1 503 Busy\r\nRetry-After: \xc2\xb2\r\n", Action.RETRY),    # UTF-8 superscript two: not a number
    (b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\n", Action.RETRY),        # the same in Latin-1
    (b"HTTP/1.1 429 Slow\r\nRetry-After: \xd9\xa3\r\n", Action.RETRY),    # an Arabic-Indic digit
    (b"HTTP/1.1 200 OK\r\nRetry-After: \xff\xfe\r\n", Action.DELIVERED),  # bytes that decode to nothing usable
])
async def test_a_non_ascii_retry_after_is_ignored_not_fatal(name: str, head: bytes, action: Action) -> None:
    client = new_client(Settings(http_client=name, allow_private_urls=True, connect_timeout_s=1.0,
                                 request_timeout_s=2.0))
    try:
        async with replying(head + b"Content-Length: 0\r\nConnection: close\r\n\r\n") as url:
            response = await client.send(OutgoingRequest("POST", url, b"a=1", {}, b"a=1"))
    finally:
        await client.close()
    assert response.status_code == int(head.split(b" ")[1])
    result = AttemptResult(status_code=response.status_code, retry_after=response.retry_after)
    decision = decide(result, attempts_made=1, now=datetime.now(UTC), schedule=(5.0, 30.0), jitter=0.2, rand=0.5)
    assert decision.action is action
    if action is Action.RETRY:
        assert decision.delay_s == 5.0  # the schedule's, as with no Retry-After at all

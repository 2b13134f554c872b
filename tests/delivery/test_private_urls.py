"""The URL guard at send time: with private URLs not allowed, loopback destinations are refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas.attempts import Outcome
from schemas.settings import Settings
from tests.delivery.helpers import attempts_of, dead_letters
from tests.delivery.jobs import make_job, produce_jobs
from tests.processes import Component
from tests.receiver import Receiver


@pytest.fixture(scope="module")
def guarded(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(allow_private_urls=False)


async def test_a_name_resolving_to_loopback_is_refused_at_connect_time(guarded: Settings, receiver: Receiver) -> None:
    settings = guarded
    port = receiver.url.rsplit(":", 1)[1]
    by_name = make_job(f"http://localhost:{port}/by-name", request_id="byname")
    literal = make_job(f"http://127.0.0.1:{port}/literal", request_id="literal")
    with Component(settings, "deliver", "--port", "0", name="delivery-private"):
        await produce_jobs(settings, [by_name, literal])
        letters = await dead_letters(settings, {by_name.job_id, literal.job_id})
        attempts = [(await attempts_of(settings, job.job_id, count=1))[0] for job in (by_name, literal)]
    assert receiver.received() == []
    assert "loopback" in (letters[by_name.job_id].last_error or "")
    assert "loopback" in (letters[literal.job_id].last_error or "")
    assert [(a.outcome, a.error, a.status_code) for a in attempts] == [(Outcome.FAILED, "unsafe_url", None)] * 2

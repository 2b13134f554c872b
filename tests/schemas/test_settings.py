"""Settings: read from CALLAPI_* variables, bad values fail at start-up, topic specs follow them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.durations import format_duration, parse_duration_s
from schemas.settings import Settings


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("5s", 5), ("2m", 120), ("1h", 3600), ("1d", 86400)])
def test_durations_parse_and_format_back(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds
    assert format_duration(seconds) == text


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLAPI_TOPIC_PREFIX", "eu1.")
    monkeypatch.setenv("CALLAPI_RETRY_SCHEDULE", "5s,1m")
    monkeypatch.setenv("CALLAPI_ALLOW_PRIVATE_URLS", "true")
    settings = Settings()
    assert settings.topics.call_events == "eu1.call-events"
    assert settings.topics.retries == ["eu1.deliveries.retry.5s", "eu1.deliveries.retry.1m"]
    assert settings.allow_private_urls is True


@pytest.mark.parametrize(("name", "value"), [("PARTITIONS", "0"), ("RETRY_SCHEDULE", "soon"), ("RETRY_JITTER", "2")])
def test_bad_values_fail_at_start_up(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"CALLAPI_{name}", value)
    with pytest.raises(ValidationError):
        Settings()


def test_topic_specs_cover_the_contract_and_compact_event_requests() -> None:
    specs = {spec.name: spec for spec in Settings(topic_prefix="p.", partitions=6).topic_specs()}
    for name in ["call-events", "call-events.dlq", "event-requests", "deliveries", "deliveries.retry.5s",
                 "deliveries.retry.3h", "deliveries.dlq", "delivery-attempts"]:
        assert f"p.{name}" in specs
    assert specs["p.event-requests"].compacted
    assert not specs["p.call-events"].compacted
    assert {spec.partitions for spec in specs.values()} == {6}


def test_environment_reproduces_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(topic_prefix="t.", partitions=3, retry_schedule=(0.5, 2.0), allow_private_urls=True)
    env = original.environment({"PATH": "/bin", "CALLAPI_PARTITIONS": "99"})
    assert env["PATH"] == "/bin" and env["CALLAPI_PARTITIONS"] == "3"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == original

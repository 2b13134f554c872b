"""Structured logs: one JSON object per line, correlation fields, no secrets in either format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callapi_events.logs import configure_logging, redact

SECRET_ALPHABET = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-",
                          min_size=8, max_size=60)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Route the root logger into a buffer for one test, then put the previous handlers back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_level_logger_message_and_correlation_fields(captured: io.StringIO) -> None:
    configure_logging("info", json_format=True, stream=captured)
    log = logging.getLogger("delivery.worker")
    log.debug("not shown at INFO")
    log.info("delivered %s in %d ms", "https://example.com/hook", 42,
             extra={"tenant": "0003", "extension": "0003*210", "job_id": "j-1", "request_id": 7})
    log.warning("no correlation here")
    first, second = lines(captured)
    assert first["level"] == "INFO" and first["logger"] == "delivery.worker"
    assert first["msg"] == "delivered https://example.com/hook in 42 ms"
    assert (first["tenant"], first["extension"], first["job_id"], first["request_id"]) == (
        "0003", "0003*210", "j-1", "7")
    assert str(first["ts"]).endswith("Z") and "T" in str(first["ts"])
    assert second["msg"] == "no correlation here" and "tenant" not in second


def test_exceptions_are_one_line_with_the_traceback_inside(captured: io.StringIO) -> None:
    configure_logging("DEBUG", json_format=True, stream=captured)
    try:
        raise RuntimeError("secret whsec_c2VjcmV0IGtleQ== leaked into an error")
    except RuntimeError:
        logging.getLogger("x").exception("failed")
    (entry,) = lines(captured)
    assert "RuntimeError" in str(entry["exc"]) and "whsec_c2Vj" not in captured.getvalue()


def test_text_format_is_redacted_too(captured: io.StringIO) -> None:
    configure_logging("INFO", json_format=False, stream=captured)
    logging.getLogger("control.api").info("token for %s: Bearer abc.def.ghi", "client-1",
                                          extra={"tenant": "0003"})
    out = captured.getvalue()
    assert "abc.def.ghi" not in out and "Bearer [REDACTED]" in out and "tenant=0003" in out


def test_unknown_level_is_refused_with_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="DEBUG, INFO, WARNING"):
        configure_logging("LOUD", json_format=True, stream=io.StringIO())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret whsec_[REDACTED]"),
        ("Authorization: Bearer eyJhbGciOi.J9.x", "Authorization: Bearer [REDACTED]"),
        ("authorization: bearer tok123", "authorization: bearer [REDACTED]"),
        ('{"access_token": "abc123", "token_type": "Bearer"}',
         '{"access_token": "[REDACTED]", "token_type": "Bearer"}'),
        ("client_id=c1&client_secret=s3cr3t&grant_type=x", "client_id=c1&client_secret=[REDACTED]&grant_type=x"),
        ("postgresql://callapi:hunter2@db:5432/callapi", "postgresql://callapi:[REDACTED]@db:5432/callapi"),
        ("signing_secret: abc", "signing_secret: [REDACTED]"),
        ("nothing to hide, secret_overlap_s=86400", "nothing to hide, secret_overlap_s=86400"),
        ("GET https://example.com/hook?CallID=1.2", "GET https://example.com/hook?CallID=1.2"),
    ],
)
def test_redaction_table(text: str, expected: str) -> None:
    assert redact(text) == expected


@given(secret=SECRET_ALPHABET, prefix=st.text(max_size=30), suffix=st.text(max_size=30))
def test_no_signing_secret_survives_in_any_field(secret: str, prefix: str, suffix: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from callapi_events.logs import JsonFormatter

    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("%swhsec_%s%s", prefix, secret, suffix, extra={"request_id": f"whsec_{secret}"})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert f"whsec_{secret}" not in stream.getvalue()
    assert json.loads(stream.getvalue())["request_id"] == "whsec_[REDACTED]"

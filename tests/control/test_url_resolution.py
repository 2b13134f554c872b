"""The URL check's name resolution is bounded: the request holds a pooled database connection meanwhile."""

from __future__ import annotations

import threading

import pytest

from control.errors import InvalidInput
from control.service.validation import parse_url, resolve_in_time
from schemas.urlguard import UnsafeUrl


def test_a_resolver_that_answers_in_time_is_used() -> None:
    assert resolve_in_time("example.test", resolve=lambda host: ["93.184.215.14"], timeout_s=5) == ["93.184.215.14"]


def test_a_resolver_that_does_not_answer_in_time_is_a_clear_refusal() -> None:
    released = threading.Event()

    def hanging(host: str) -> list[str]:
        released.wait(10)
        return ["93.184.215.14"]

    try:
        with pytest.raises(UnsafeUrl, match=r"did not resolve within 0\.2 s"):
            resolve_in_time("slow.example.test", resolve=hanging, timeout_s=0.2)
        with pytest.raises(InvalidInput) as refused:
            parse_url("https://slow.example.test/hook", allow_private=False,
                      resolve=lambda host: resolve_in_time(host, resolve=hanging, timeout_s=0.2))
        assert refused.value.code == "pce_url_invalid"
    finally:
        released.set()

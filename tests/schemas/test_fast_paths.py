"""The validators' fast paths for the usual input must agree with the full normalisation on every input."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas.events import _SPELLINGS, EventType

EVENT_TYPES: list[object] = [
    *_SPELLINGS, "dial-in", "DIAL-IN", "dial_in", "Dial-In", " hangup ", "hangup\n", "HANGUP", "Hangup", "hang-up",
    "answer_out", "ANSWER-OUT", "d\u0131al-\u0131n", "0", "4", "5", "02", " 3 ", "-1", "+2", "\u0663", "\uff13",
    "\u00b3", "", " ", "ringing", 0, 4, 5, -1, True, False, 2.0, None, EventType.HANGUP,
]


def outcome(parse: Callable[[object], object], value: object) -> object:
    try:
        return parse(value)
    except ValueError as error:
        return ("refused", str(error))


@pytest.mark.parametrize("value", EVENT_TYPES, ids=repr)
def test_event_type_lookup_agrees_with_the_full_parse(value: object) -> None:
    fast, slow = outcome(EventType.parse, value), outcome(EventType._parse_slowly, value)
    assert fast == slow
    assert type(fast) is type(slow)

"""The validators' fast paths for the usual input must agree with the full normalisation on every input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from schemas.events import _SPELLINGS, EventType
from schemas.extensions import _normalised_extension, canonical_extension

EVENT_TYPES: list[object] = [
    *_SPELLINGS, "dial-in", "DIAL-IN", "dial_in", "Dial-In", " hangup ", "hangup\n", "HANGUP", "Hangup", "hang-up",
    "answer_out", "ANSWER-OUT", "d\u0131al-\u0131n", "0", "4", "5", "02", " 3 ", "-1", "+2", "\u0663", "\uff13",
    "\u00b3", "", " ", "ringing", 0, 4, 5, -1, True, False, 2.0, None, EventType.HANGUP,
]


def outcome(parse: Callable[[Any], object], value: object) -> object:
    try:
        return parse(value)
    except ValueError as error:
        return ("refused", str(error))


@pytest.mark.parametrize("value", EVENT_TYPES, ids=repr)
def test_event_type_lookup_agrees_with_the_full_parse(value: object) -> None:
    fast, slow = outcome(EventType.parse, value), outcome(EventType._parse_slowly, value)
    assert fast == slow
    assert type(fast) is type(slow)


EXTENSIONS = [
    "0003*210", "3*210", "03*210", "003*210", "0003*0210", "0000*0", "9999*9999999999", "0003*12345678901",
    "12345*210", " 0003*210", "0003*210 ", " 0003*210 ", "0003*210\n", "\t0003*210", "0003 *210", "0003* 210",
    "0003**210", "0003#210", "0003-210", "0003.210", "0003*", "*210", "0003*21a", "12340101", "00030", "123",
    "", " ", "0003*\uff12\uff11", "\u0660\u0660\u0660\u0663*210", "\uff10\uff10\uff10\uff13*210", "0003*\u00b2",
]


class Digits(str):
    """A str subclass: the canonical form is returned as a plain str all the same."""


@pytest.mark.parametrize("value", [*EXTENSIONS, Digits("0003*210")], ids=repr)
def test_canonical_extension_fast_path_agrees_with_the_full_normalisation(value: str) -> None:
    fast, slow = outcome(canonical_extension, value), outcome(_normalised_extension, value)
    assert fast == slow
    assert type(fast) is type(slow)

"""JSON read strictly, for bodies clients send: an object naming a field twice and NaN / Infinity are refused.

`json.loads` keeps the last copy of a repeated name (another parser in front may keep the first) and reads the
constants NaN, Infinity and -Infinity, which are not JSON (RFC 8259 4, 6)."""

from __future__ import annotations

import json
from typing import Any


class RepeatedName(Exception):
    """An object names `name` twice."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NotANumber(Exception):
    """NaN, Infinity or -Infinity, named as written."""


def loads(raw: bytes | str) -> Any:
    """`json.loads`, raising RepeatedName or NotANumber too."""
    return json.loads(raw, object_pairs_hook=_named_once, parse_constant=_no_constant)


def _named_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            raise RepeatedName(name)
        fields[name] = value
    return fields


def _no_constant(name: str) -> Any:
    raise NotANumber(name)

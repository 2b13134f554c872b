"""JSON read strictly, for bodies clients send: an object naming a field twice, NaN / Infinity, and bytes that are
not UTF-8 are refused.

`json.loads` keeps the last copy of a repeated name (another parser in front may keep the first), reads the
constants NaN, Infinity and -Infinity, which are not JSON (RFC 8259 4, 6), and reads bytes in UTF-16 or UTF-32
too, where JSON exchanged between systems must be UTF-8 (RFC 8259 8.1). A leading UTF-8 byte order mark is
ignored, as 8.1 allows a parser to."""

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


class NotUtf8(ValueError):
    """Bytes that are not UTF-8: the message says which encoding they look like, or which byte is wrong."""


def loads(raw: bytes | str) -> Any:
    """`json.loads`, raising RepeatedName, NotANumber or NotUtf8 too."""
    text = utf8_text(raw) if isinstance(raw, bytes) else raw
    return json.loads(text, object_pairs_hook=_named_once, parse_constant=_no_constant)


def utf8_text(raw: bytes) -> str:
    """`raw` read as UTF-8, a leading byte order mark dropped."""
    encoding = json.detect_encoding(raw)  # how json.loads would read it: from the zero bytes of the first four
    if not encoding.startswith("utf-8"):
        raise NotUtf8(f"it is {encoding.upper()}, not UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise NotUtf8(f"byte {error.start} is not UTF-8") from None


def _named_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            raise RepeatedName(name)
        fields[name] = value
    return fields


def _no_constant(name: str) -> Any:
    raise NotANumber(name)

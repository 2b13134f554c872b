"""Parameter bytes → text: UTF-8, else Windows-1252, so a legacy PBX's display name arrives, not U+FFFD.

Legacy PBXs and SIP devices send names such as `CallerIDName=M%FCller` in ISO-8859-1. Decoding those bytes as
UTF-8 with replacement would destroy the name silently; refusing them would lose the event. Windows-1252 (what
browsers read for "ISO-8859-1", WHATWG) maps every byte to a character, so nothing is lost: its 0x80-0x9F are
printable (0x80 is €), and the five bytes it leaves undefined read as ISO-8859-1's C1 controls (U+0081 …).
Each name and value is decoded on its own (a PBX may pass a SIP name through beside fields of its own in UTF-8).
A charset the sender declares is followed instead, strictly; a declared UTF-8 reads as no declaration.
Pure functions, no IO.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from yarl import URL


def _windows_1252_table() -> str:
    chars = []
    for byte in range(256):
        try:
            chars.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: as ISO-8859-1 (and WHATWG) read them
            chars.append(chr(byte))
    return "".join(chars)


WINDOWS_1252 = _windows_1252_table()
"""The character of each byte, 0-255."""
_OVER_LATIN1 = {byte: WINDOWS_1252[byte] for byte in range(256) if WINDOWS_1252[byte] != chr(byte)}
"""Where Windows-1252 differs from ISO-8859-1 (27 of 0x80-0x9F): decoding is ISO-8859-1, then these."""


@dataclass(frozen=True)
class Decoded:
    """The text of a parameter's name and value; `fallback` when either was not UTF-8 (read as Windows-1252)."""

    name: str
    value: str
    fallback: bool


class NotInCharset(ValueError):
    """A parameter's bytes are not text in the charset the sender declared."""

    def __init__(self, name: str, charset: str) -> None:
        super().__init__(f"{name or 'a parameter'} is not {charset} text, the charset the Content-Type declares: "
                         "send it in that charset, or declare the one it is in")


def is_utf8(charset: str | None) -> bool:
    """Whether a declared charset (None: none declared) means UTF-8; LookupError for one Python does not know."""
    return charset is None or codecs.lookup(charset).name == "utf-8"


def text_of(raw: bytes) -> tuple[str, bool]:
    """(the text, whether it fell back): UTF-8 when the bytes are UTF-8, else Windows-1252."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1").translate(_OVER_LATIN1), True


def in_charset(raw: bytes, charset: str | None) -> tuple[str, bool]:
    """The text of `raw` in the declared `charset` (strict: UnicodeDecodeError), or as text_of when UTF-8 or none."""
    if is_utf8(charset):
        return text_of(raw)
    assert charset is not None
    return raw.decode(charset), False


def form_pairs(encoded: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The (name, value) bytes of an application/x-www-form-urlencoded string, as urllib's parse_qsl splits it
    (on `&` only; blank values kept; `+` is a space; an invalid %-escape stays as it is)."""
    for pair in encoded.split(b"&"):
        if pair:
            name, _, value = pair.partition(b"=")
            yield unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))


def utf8_form(encoded: bytes) -> list[tuple[str, str]] | None:
    """decode_form's (name, value) pairs, with no charset declared, when every name and value is UTF-8 (the usual
    form); None otherwise (decode_form then). Read by yarl's C unquoter, as aiohttp reads a query string: about a
    quarter of decode_form's time."""
    try:
        text = encoded.decode("utf-8")
    except UnicodeDecodeError:  # raw bytes not UTF-8
        return None
    pairs = list(URL.build(query_string=text, encoded=True).query.items())
    # yarl puts U+FFFD for %-escapes that are not UTF-8: such a form (or one sending U+FFFD itself) is decode_form's
    if any("\ufffd" in name or "\ufffd" in value for name, value in pairs):
        return None
    return pairs


def decode_form(encoded: bytes, charset: str | None = None) -> list[Decoded]:
    """Each parameter of a form-encoded string (a query string, an urlencoded body) as text; NotInCharset for one
    whose bytes are not in a declared charset other than UTF-8."""
    fields = []
    for raw_name, raw_value in form_pairs(encoded):
        try:
            name, name_fell_back = in_charset(raw_name, charset)
        except UnicodeDecodeError:
            raise NotInCharset("", str(charset)) from None
        try:
            value, value_fell_back = in_charset(raw_value, charset)
        except UnicodeDecodeError:
            raise NotInCharset(name, str(charset)) from None
        fields.append(Decoded(name, value, name_fell_back or value_fell_back))
    return fields

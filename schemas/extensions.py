"""Extension numbers: VoipNow's `0003*210` form and the extended `12340101` form, one canonical form.

The canonical form is `<organization code>*<extension number>`, e.g. `0003*210`. The extended form is
the same digits without the star, with a four-digit organization code first: `12340101` is `1234*0101`.
That is why organization codes have at most four digits: `12345*210` and `1234*5210` would share `12345210`.
"""

from __future__ import annotations

import re

ORG_CODE_DIGITS = 4
_STAR_FORM = re.compile(r"^(\d{1,4})\*(\d{1,10})$", re.ASCII)  # no other scripts' digits
_EXTENDED_FORM = re.compile(r"^(\d{4})(\d{1,10})$", re.ASCII)
_CANONICAL_FORM = re.compile(r"\d{4}\*\d{1,10}", re.ASCII)


def canonical_extension(value: str) -> str:
    """Return the canonical `org*ext` form of `value`, or raise ValueError saying what is wrong."""
    if type(value) is str and _CANONICAL_FORM.fullmatch(value):
        return value  # already canonical, as nearly every record's extension is: one match instead of three steps
    return _normalised_extension(value)


def _normalised_extension(value: str) -> str:
    """Every accepted form, with the refusal's message; canonical_extension() must agree with it."""
    text = value.strip()
    match = _STAR_FORM.match(text) or _EXTENDED_FORM.match(text)
    if match is None:
        raise ValueError(
            f"extension {value!r} is neither `0003*210` nor the extended form `12340101` (digits only)"
        )
    org, number = match.groups()
    return f"{org.zfill(ORG_CODE_DIGITS)}*{number}"


def organization_code(code: str) -> str:
    """`code` as stored and carried by extensions (`3` → `0003`); ValueError unless it is 1-4 ASCII digits."""
    if not (code.isascii() and code.isdigit() and 1 <= len(code) <= ORG_CODE_DIGITS):
        raise ValueError(f"organization code {code!r} is not 1-4 digits (e.g. 0003)")
    return code.zfill(ORG_CODE_DIGITS)


def tenant_of(extension: str) -> str:
    """The organization code that owns a canonical extension."""
    return extension.split("*", 1)[0]


def extended_form(extension: str) -> str:
    """`0003*210` → `0003210`: the digits-only form VoipNow uses in notification parameters."""
    return extension.replace("*", "")

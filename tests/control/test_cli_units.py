"""`admin extension create-many`'s number ranges (pure)."""

from __future__ import annotations

import pytest
import typer

from control.cli_admin import MAX_RANGE, expand_numbers


@pytest.mark.parametrize(("tokens", "numbers"), [
    (["210"], ["210"]),
    (["200-202"], ["200", "201", "202"]),
    (["0003*008-011"], ["0003*008", "0003*009", "0003*010", "0003*011"]),
    (["0003210-0003211", "7"], ["0003210", "0003211", "7"]),
    (["5-5"], ["5"]),
    (["0003*210"], ["0003*210"]),
])
def test_ranges_are_spelled_out_keeping_the_width(tokens: list[str], numbers: list[str]) -> None:
    assert expand_numbers(tokens) == numbers


@pytest.mark.parametrize("token", ["20-10", f"1-{MAX_RANGE + 1}"])
def test_backwards_or_huge_ranges_are_refused(token: str) -> None:
    with pytest.raises(typer.BadParameter):
        expand_numbers([token])


@pytest.mark.parametrize("token", ["\u0662\u0660\u0660-\u0662\u0660\u0662", "\uff12\uff10\uff10-\uff12\uff10\uff11",
                                   "1-" + "9" * 5000, "00001*1-2"], ids=["arabic-indic", "fullwidth", "long", "org"])
def test_a_range_in_other_digits_or_longer_than_an_extension_is_left_to_the_extension_check(token: str) -> None:
    """Arabic-Indic or fullwidth digits were spelled out as ASCII extensions, and 4,301 digits raised ValueError."""
    assert expand_numbers([token]) == [token]

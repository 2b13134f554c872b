"""Strict JSON: a name repeated in one object, or NaN / Infinity, is refused; everything else reads as json.loads."""

from __future__ import annotations

import json

import pytest

from schemas import strict_json


@pytest.mark.parametrize("raw", ['{"a": 1, "b": [1, {"a": 2}]}', '[{"a": 1}, {"a": 2}]', '"text"', "1e400", "{}"])
def test_json_reads_as_json_loads_reads_it(raw: str) -> None:
    assert strict_json.loads(raw) == json.loads(raw)


@pytest.mark.parametrize(("raw", "name"), [('{"url": 1, "url": 2}', "url"), ('[{"x": {"k": 1, "k": 1}}]', "k")])
def test_a_name_repeated_in_one_object_is_refused(raw: str, name: str) -> None:
    with pytest.raises(strict_json.RepeatedName) as refused:
        strict_json.loads(raw)
    assert refused.value.name == name


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant: str) -> None:
    with pytest.raises(strict_json.NotANumber, match=constant):
        strict_json.loads(f'{{"CallID": {constant}}}')

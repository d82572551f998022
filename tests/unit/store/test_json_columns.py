"""Reading a JSON column back (``statements.loads``): text as retune writes it takes a short
path through the C scanner; anything else reads exactly as ``json.loads`` reads it, and what
cannot be read is one ``ValueNotStorable`` naming the place."""

from __future__ import annotations

import json

import pytest

from retune.store.base import ValueNotStorable
from retune.store.sql.statements import dumps, loads

READABLE = [
    '{"stdout":"logs/ex-1/n0/3/stdout","stderr":"logs/ex-1/n0/3/stderr"}',
    ' {"a": [1, 2.5, null, true, "é"]} ',  # written by hand or another tool: spaces around
    "\n[1,2]\n",
    "0",
    '"text"',
    "null",
    "{}",
    '{"a":NaN}',  # json.loads reads it, so the store does
]


@pytest.mark.parametrize("text", READABLE)
def test_text_reads_as_json_loads_reads_it(text: str) -> None:
    assert repr(loads(text)) == repr(json.loads(text))


def test_what_retune_wrote_reads_back_equal() -> None:
    value = {"o0": {"nested": [1, "two", {"three": 3.0}]}, "big": 2**70, "s": "\u2603"}
    assert loads(dumps(value, "a value")) == value


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{bad", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"a":1} {"b":2}', "not valid JSON"),  # the scanner stops after the first value
        ("9" * 5000, "more than 4300 digits"),
    ],
)
def test_unreadable_text_is_one_error_naming_the_place(text: str, why: str) -> None:
    with pytest.raises(ValueNotStorable, match=why) as raised:
        loads(text, "the logs of attempt 3")
    assert "the logs of attempt 3" in str(raised.value)


def test_a_decoded_value_from_the_driver_is_returned_as_it_is() -> None:
    given = {"already": "decoded"}
    assert loads(given) is given

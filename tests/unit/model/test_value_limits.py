"""The limits of stored values: each is refused with a message naming the limit, and a value just
under it round-trips exactly (docs/decisions/0006, ``retune.model.values.limits``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from retune.model.values import LimitExceeded, Pickled, check_given, decode, encode, limits
from retune.model.values.limits import MAX_DEPTH, MAX_INT_DIGITS, MAX_SIZE

VALUE_KEY = "values/" + "ab" * 32


def nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_an_integer_of_4300_digits_round_trips_and_one_digit_more_is_refused_naming_the_limit() -> None:
    longest = int("9" * MAX_INT_DIGITS)
    assert decode(json.loads(json.dumps(encode(longest, int))), int) == longest
    assert decode(encode([-longest], list[int]), list[int]) == [-longest]

    for value, annotation in [(longest + 1, int), ([1, 10**5000], list[int]), ({"a": -(10**5000)}, Any)]:
        with pytest.raises(LimitExceeded, match="an integer of more than 4300 digits") as caught:
            encode(value, annotation)
        assert "as a str" in caught.value.fix


def test_values_nested_100_levels_round_trip_and_101_levels_are_refused() -> None:
    deepest = nested(MAX_DEPTH)
    assert decode(json.loads(json.dumps(encode(deepest))), Any) == deepest

    with pytest.raises(LimitExceeded, match=r"more than 100 levels deep.*\(at \[0\]\[0\]"):
        encode(nested(MAX_DEPTH + 1))


def test_a_value_deeper_than_the_stack_or_containing_itself_is_refused_as_too_deep() -> None:
    looped: list[Any] = []
    looped.append(looped)
    for value in (nested(50_000), looped):
        with pytest.raises(LimitExceeded, match="more than 100 levels deep, or contains itself"):
            encode(value)


def test_16_mib_of_json_round_trips_and_one_character_more_is_refused() -> None:
    largest = "x" * (MAX_SIZE - 2)  # the quotes make it MAX_SIZE characters of JSON
    assert decode(encode(largest, str), str) == largest

    with pytest.raises(LimitExceeded, match=r"over 16,777,216 characters \(16 MiB\)") as caught:
        encode([largest], list[str])
    assert "rt.File" in caught.value.fix
    blobs = Blobs()  # the way around it: bytes live in the blob store, whatever their size
    assert (
        decode(encode((largest * 2).encode(), bytes, blobs=blobs), bytes, blobs=blobs)
        == (largest * 2).encode()
    )


@pytest.mark.parametrize(
    "value",
    [
        [1, -22, 333],
        [0.5, -1e300, 3.0],
        ["a", "bc", ""],
        {"k": [True, False, None], "é": {"nested": ["ü", 12, 1.25]}, "": []},
        [[], {}, [[1]], {"a": {}}],
        [i * 1.1 for i in range(100)],  # long lists are estimated first, then measured exactly
        [(-7) ** (i % 9) for i in range(100)],
        ["word"] * 100,
    ],
)
def test_the_size_is_the_length_of_the_compact_json(monkeypatch: pytest.MonkeyPatch, value: Any) -> None:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    monkeypatch.setattr(limits, "MAX_SIZE", size)
    assert encode(value) == value
    monkeypatch.setattr(limits, "MAX_SIZE", size - 1)
    with pytest.raises(LimitExceeded, match="characters"):
        encode(value)


def test_a_non_finite_float_is_stored_as_a_string_under_float_and_refused_in_raw_json() -> None:
    assert decode(encode([float("inf"), float("nan")], list[float]), list[float])[0] == float("inf")
    with pytest.raises(LimitExceeded, match=r"a non-finite float \(nan\).*\(at \['x'\]\[1\]\)"):
        check_given({"x": [1.0, float("nan")]})


def test_a_string_that_is_not_unicode_is_refused_and_any_other_text_round_trips() -> None:
    text = "nul \x00, emoji 🎉, accents é"
    assert decode(json.loads(json.dumps(encode({text: text}, dict[str, str]))), dict[str, str]) == {
        text: text
    }
    with pytest.raises(LimitExceeded, match=r"not valid Unicode \(surrogates not allowed: '\\ud800'\)"):
        encode(["ok", "lone \ud800"], list[str])


def test_an_int_too_large_for_a_float_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="too large for a float"):
        encode(10**400, float)
    with pytest.raises(TypeError, match="too large for a float"):
        decode(10**400, float)


def test_a_refused_huge_int_is_shown_without_converting_it_to_text() -> None:
    with pytest.raises(TypeError, match="expected str, got int <int>"):
        encode(10**5000, str)


def test_a_client_may_not_hand_over_a_pickle_reference_or_a_blob_outside_values() -> None:
    check_given({"data": {"$bytes": VALUE_KEY}, "file": [{"$file": VALUE_KEY, "name": "a.csv"}]})

    with pytest.raises(LimitExceeded, match=r"pickled-value reference \(\$pickle\).*\(at \['m'\]\)"):
        check_given({"m": {"$pickle": VALUE_KEY}})
    for tag in ("$bytes", "$file", "$dir"):
        with pytest.raises(
            LimitExceeded, match=rf"blob reference \{{'\{tag}': 'bundles/x.zip'\}} outside values/"
        ):
            check_given([{tag: "bundles/x.zip"}])


def test_decoding_refuses_a_blob_reference_that_is_not_a_value_blob_without_reading_it() -> None:
    blobs = Blobs()
    blobs.data["bundles/x.zip"] = b"not yours"
    for data, annotation in [
        ({"$pickle": "bundles/x.zip"}, Pickled[int]),
        ({"$bytes": "bundles/x.zip"}, bytes),
        ({"$bytes": "values/../bundles/x.zip"}, Any),
    ]:
        with pytest.raises(TypeError, match=r"does not name a value \(values/<sha256>\)"):
            decode(data, annotation, blobs=blobs)
    assert blobs.reads == 0


class Blobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.reads = 0

    def put(self, key: str, data: bytes) -> None:
        self.data[key] = data

    def get(self, key: str) -> bytes:
        self.reads += 1
        return self.data[key]


def test_a_dict_that_would_read_back_as_a_blob_reference_is_refused_where_the_annotation_is_any() -> None:
    lookalike = {"$bytes": VALUE_KEY}
    with pytest.raises(TypeError, match=r"the key '\$bytes' would be read back as a blob reference"):
        encode([lookalike])
    assert decode(encode(lookalike, dict[str, str]), dict[str, str]) == lookalike

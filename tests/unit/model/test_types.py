"""Which values may be bound to which inputs (the type strings of ``retune.model.types``)."""

from __future__ import annotations

import pytest

from retune.model.types import element_type, is_assignable, parse_type


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("int", "int"),
        ("int", "float"),
        ("int", "optional[int]"),
        ("none", "optional[int]"),
        ("optional[int]", "optional[int]"),
        ("int", "optional[float]"),
        ("list[int]", "list[float]"),
        ("dict[str, list[int]]", "dict[str, list[int]]"),
        ("str", "any"),
        ("any", "int"),
        ("list[any]", "list[str]"),
    ],
)
def test_assignable(source: str, target: str) -> None:
    assert is_assignable(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("str", "int"),
        ("float", "int"),
        ("optional[int]", "int"),
        ("none", "int"),
        ("list[str]", "list[int]"),
        ("list[int]", "int"),
        ("int", "list[int]"),
        ("dict[str, int]", "dict[str, str]"),
        ("bool", "str"),
    ],
)
def test_not_assignable(source: str, target: str) -> None:
    assert not is_assignable(source, target)


def test_nested_type_arguments_split_at_the_top_level_comma_only() -> None:
    assert parse_type("dict[str, list[dict[str, int]]]") == ("dict", ("str", "list[dict[str, int]]"))


def test_element_type_of_a_list_and_of_anything_else() -> None:
    assert element_type("list[optional[int]]") == "optional[int]"
    assert element_type("dict[str, int]") is None
    assert element_type("int") is None

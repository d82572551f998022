"""A value the store cannot write as JSON, or cannot read back, is a store error naming the
value's place, and nothing of the change that carried it is written (SQLite and PostgreSQL).
A listing shows an execution it cannot read with the cause, and every other one."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from retune.model.execution import Attempt, AttemptKind, Phase
from retune.store import AttemptChange, NodeChange, ValueNotStorable
from retune.store.sql import SqlStore
from retune.store.sql import tables as t

from .backends import only_sqlite
from .test_sql_store import new_execution

HUGE = 10**5000


@pytest.fixture
def execution(store: SqlStore) -> str:
    store.create_execution(new_execution())
    return "ex-1"


def test_an_output_json_cannot_hold_is_refused_naming_its_node_and_nothing_is_written(
    store: SqlStore, execution: str
) -> None:
    store.apply([NodeChange(execution, "n0", Phase.RUNNING)])
    done = Attempt(number=1, phase=Phase.SUCCEEDED, kind=AttemptKind.USER)

    with pytest.raises(ValueNotStorable, match=r"outputs of node 'n0' of execution 'ex-1'.*4300 digits"):
        store.apply(
            [
                AttemptChange(execution, "n0", done),
                NodeChange(execution, "n0", Phase.SUCCEEDED, outputs={"o0": HUGE}),
            ]
        )

    node = store.get_execution(execution).node("n0")
    assert (node.phase, node.attempts) == (Phase.RUNNING, ())


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (float("nan"), "NaN or an infinite float"),
        (object(), "value JSON cannot represent"),
        ({1, 2}, "value JSON cannot"),
    ],
)
def test_inputs_json_cannot_hold_are_refused_naming_the_execution(
    store: SqlStore, value: object, why: str
) -> None:
    bad = replace(new_execution("ex-bad"), inputs={"x": value})

    with pytest.raises(
        ValueNotStorable, match=f"Cannot store the inputs of execution 'ex-bad': it holds a {why}"
    ):
        store.create_execution(bad)

    assert store.list_executions() == []


def test_a_stored_input_json_cannot_read_back_is_a_store_error_naming_the_execution(
    store: SqlStore, execution: str
) -> None:
    # As a value written by an older retune, or by hand: valid JSON, but not for Python's int().
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(t.executions)
            .where(t.executions.c.id == execution)
            .values(inputs=sa.text(_huge_json(store)))
        )

    with pytest.raises(
        ValueNotStorable, match=r"Cannot read the inputs of execution 'ex-1' back from the store"
    ):
        store.get_execution(execution)


UNREADABLE = {
    "a 5,000-digit integer": ('{"x": ' + "7" * 5000 + "}", "it holds an integer of more than 4300 digits."),
    "an infinite float": (
        '{"x": 1e999}',
        "it holds a non-finite float (inf), which JSON cannot represent (at ['x']).",
    ),
    "a lone surrogate": ('{"x": "\\ud800"}', "it holds a string that is not valid Unicode"),
    "101 levels": ('{"x": ' + "[" * 101 + "]" * 101 + "}", "more than 100 levels deep"),
}
"""JSON a column may hold (written by an older retune or by hand) that is past the limits a value
is written under: Python's ``json`` refuses it, or reads what no reader after it could use."""


@pytest.mark.parametrize("column", ["inputs", "outputs", "overrides"])
@pytest.mark.parametrize("case", UNREADABLE)
def test_a_listing_shows_an_execution_whose_data_cannot_be_read_with_the_cause_and_every_other_one(
    store: SqlStore, column: str, case: str
) -> None:
    stored, why = UNREADABLE[case]
    for n, execution_id in enumerate(["ex-a", "ex-bad", "ex-c"]):
        store.create_execution(
            replace(new_execution(execution_id, created_at=n + 1.0), project="p", domain="d")
        )
    _plant(store, "ex-bad", column, _literal(store, stored))

    for listed in (store.list_executions(), store.list_launched(), store.list_launched(project="p")):
        assert [(e.id, e.phase) for e in listed] == [(i, Phase.QUEUED) for i in ("ex-c", "ex-bad", "ex-a")]
        newest, bad, oldest = listed
        assert bad.unreadable is not None
        assert bad.unreadable.startswith(f"Cannot read the {column} back from the store: it ")
        assert why in bad.unreadable
        assert not bad.to_dict()[column]  # left empty, not made up
        assert (bad.workflow, bad.project) == (newest.workflow, "p")
        assert newest.unreadable is None and newest.inputs == oldest.inputs == {"x": 3}
    with pytest.raises(ValueNotStorable, match=f"Cannot read the {column} of execution 'ex-bad'"):
        store.get_execution("ex-bad")  # the record itself stays refused: nothing runs on such data


def test_values_just_under_each_limit_are_listed_and_read_as_they_are(store: SqlStore) -> None:
    deep: list[object] = []
    for _ in range(99):
        deep = [deep]  # 100 levels: the most a value may have, in an inputs mapping of its own
    inputs = {"deep": deep, "long": -int("9" * 4300), "text": "nul \x00 and 🎉", "floats": [1.5, -0.0]}
    store.create_execution(replace(new_execution("ex-1"), inputs=inputs, overrides={"n0": {"retries": 0}}))

    (listed,) = store.list_executions()

    assert (listed.unreadable, listed.inputs) == (None, inputs)
    assert store.get_execution("ex-1").inputs == inputs


@only_sqlite
def test_a_listing_names_text_that_is_not_json_and_each_column_that_cannot_be_read(store: SqlStore) -> None:
    store.create_execution(new_execution("ex-bad"))
    _plant(store, "ex-bad", "inputs", "'{\"x\": '")
    _plant(store, "ex-bad", "overrides", "'[1, 2'")

    (bad,) = store.list_executions()

    assert bad.unreadable is not None
    assert bad.unreadable.startswith("Cannot read the inputs back from the store: it is not valid JSON (")
    assert " Cannot read the overrides back from the store: it is not valid JSON (" in bad.unreadable
    assert (bad.id, bad.phase, bad.inputs, bad.overrides) == ("ex-bad", Phase.QUEUED, {}, {})


def _plant(store: SqlStore, execution_id: str, column: str, literal: str) -> None:
    """Write ``literal`` (SQL) into a JSON column, as an older retune or a hand could have."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(t.executions)
            .where(t.executions.c.id == execution_id)
            .values({column: sa.text(literal)})
        )


def _literal(store: SqlStore, text: str) -> str:
    literal = "'" + text.replace("'", "''") + "'"
    return literal if store.engine.dialect.name == "sqlite" else literal + "::json"


def _huge_json(store: SqlStore) -> str:
    literal = '\'{"x": ' + "1" * 5000 + "}'"
    return literal if store.engine.dialect.name == "sqlite" else literal + "::json"

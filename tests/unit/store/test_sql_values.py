"""A value the store cannot write as JSON, or cannot read back, is a store error naming the
value's place, and nothing of the change that carried it is written (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from retune.model.execution import Attempt, AttemptKind, Phase
from retune.store import AttemptChange, NodeChange, ValueNotStorable
from retune.store.sql import SqlStore
from retune.store.sql import tables as t

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


def _huge_json(store: SqlStore) -> str:
    literal = '\'{"x": ' + "1" * 5000 + "}'"
    return literal if store.engine.dialect.name == "sqlite" else literal + "::json"

"""The store keeps a map node's items: each attempt's item index, the outputs of the items
that succeeded (read back for resume, never with the record), the node's number of items.
On SQLite, PostgreSQL and the in-memory double alike; and a database of revision 0005 is
upgraded to these columns with its rows kept (decision 0022)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from retune.model.execution import Attempt, AttemptKind, Phase
from retune.store import AttemptChange, NodeChange, open_store
from retune.store.base import Store
from retune.store.sql.engine import normalize_url
from retune.store.sql.schema import MIGRATIONS
from retune.testing import MemoryStore

from .test_sql_store import PATHS, RESOLVED, new_execution

NODE = PATHS[0]


@pytest.fixture(params=["sql", "memory"])
def any_store(request: pytest.FixtureRequest, database_url: str) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with open_store(database_url) as opened:
        yield opened


def item_attempt(number: int, item: int, phase: Phase = Phase.RUNNING) -> Attempt:
    return Attempt(number=number, phase=phase, kind=AttemptKind.USER, item=item)


def test_item_attempts_keep_their_index_and_only_the_store_keeps_their_outputs(any_store: Store) -> None:
    any_store.create_execution(new_execution())
    any_store.apply(
        [
            NodeChange("ex-1", NODE, Phase.RUNNING, items=3),
            *(AttemptChange("ex-1", NODE, item_attempt(i + 1, i)) for i in range(3)),
        ]
    )
    any_store.apply(
        [
            AttemptChange("ex-1", NODE, item_attempt(1, 0, Phase.SUCCEEDED), {"o0": [0, "zero"]}),
            AttemptChange("ex-1", NODE, item_attempt(3, 2, Phase.SUCCEEDED), {"o0": {"two": 2}}),
            AttemptChange("ex-1", NODE, item_attempt(2, 1, Phase.FAILED)),
            AttemptChange("ex-1", NODE, item_attempt(4, 1)),
        ]
    )
    any_store.apply([NodeChange("ex-1", NODE, Phase.RUNNING)])  # names no items: keeps them

    node = any_store.get_execution("ex-1").node(NODE)

    assert [(a.number, a.item, a.phase) for a in node.attempts] == [
        (1, 0, Phase.SUCCEEDED),
        (2, 1, Phase.FAILED),
        (3, 2, Phase.SUCCEEDED),
        (4, 1, Phase.RUNNING),
    ]
    assert node.items == 3
    assert node.item_counts() == {"total": 3, "succeeded": 2, "failed": 0, "running": 1, "aborted": 0}
    assert any_store.item_outputs("ex-1", NODE) == {0: {"o0": [0, "zero"]}, 2: {"o0": {"two": 2}}}
    assert any_store.item_outputs("ex-1", PATHS[1]) == {}
    assert "outputs" not in node.to_dict()["attempts"][0]


def test_a_task_node_s_attempts_have_no_item_and_its_record_no_item_counts(any_store: Store) -> None:
    any_store.create_execution(new_execution())
    attempt = Attempt(number=1, phase=Phase.RUNNING, kind=AttemptKind.USER)
    any_store.apply([NodeChange("ex-1", NODE, Phase.RUNNING), AttemptChange("ex-1", NODE, attempt)])

    node = any_store.get_execution("ex-1").node(NODE)

    assert node.attempts == (attempt,)
    assert (node.items, node.to_dict()["items"], node.to_dict()["attempts"][0]["item"]) == (None, None, None)


def test_a_database_of_revision_0005_is_upgraded_keeping_its_attempts(database_url: str) -> None:
    engine = sa.create_engine(normalize_url(database_url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0005")
            conn.exec_driver_sql(
                "INSERT INTO executions (id, workflow, workflow_version, phase, inputs, overrides, "
                "created_at, updated_at) VALUES ('ex-old', 'wf', 'v1', 'RUNNING', '{}', '{}', 1.0, 1.0)"
            )
            conn.execute(
                sa.text(
                    "INSERT INTO node_executions (execution_id, path, position, task, phase, cache, config, "
                    "provenance, updated_at) VALUES ('ex-old', 'n0', 0, 't', 'RUNNING', 'disabled', "
                    f"'{json.dumps(RESOLVED[NODE].config.to_dict())}', '{{}}', 1.0)"
                )
            )
            conn.exec_driver_sql(
                "INSERT INTO attempts (execution_id, path, number, phase, kind, capacity, executor, logs) "
                "VALUES ('ex-old', 'n0', 1, 'RUNNING', 'user', 'on_demand', 'local', '{}')"
            )
    finally:
        engine.dispose()

    with open_store(database_url) as store:  # migrates to the newest revision
        node = store.get_execution("ex-old").node("n0")
        assert [(a.number, a.item, a.phase) for a in node.attempts] == [(1, None, Phase.RUNNING)]
        assert node.items is None
        assert store.item_outputs("ex-old", "n0") == {}


@pytest.mark.parametrize("items", [2, 3, 129, 300])
def test_a_batch_of_any_size_writes_every_item_once_however_it_is_split_into_statements(
    any_store: Store, items: int
) -> None:
    """SQLite writes a batch's attempts as multi-row statements (128 rows, then powers of two):
    every row lands once, and a second batch over the same attempts updates them all."""
    any_store.create_execution(new_execution())
    any_store.apply(
        [
            NodeChange("ex-1", NODE, Phase.RUNNING, items=items),
            *(AttemptChange("ex-1", NODE, item_attempt(i + 1, i)) for i in range(items)),
        ]
    )
    any_store.apply(
        [
            AttemptChange("ex-1", NODE, item_attempt(i + 1, i, Phase.SUCCEEDED), {"o0": i})
            for i in range(items)
        ]
    )

    attempts = any_store.get_execution("ex-1").node(NODE).attempts
    assert [(a.number, a.item, a.phase) for a in attempts] == [
        (i + 1, i, Phase.SUCCEEDED) for i in range(items)
    ]
    assert any_store.item_outputs("ex-1", NODE) == {i: {"o0": i} for i in range(items)}

"""The record a run answers is the one stored, on the SQL store too (SQLite here): built from the
changes the run wrote (``engine.run._Run.final``), equal field for field to ``get_execution``
of the same execution after it, whatever way it ended. (On the in-memory store every engine test
checks the same: conftest.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import retune as rt
from retune.api import spec_version, task_refs
from retune.engine import Engine, new_execution_id, new_nodes
from retune.model.execution import AttemptKind, CacheStatus, Phase
from retune.store import open_store
from retune.store.base import NewExecution, Store
from retune.testing import InlineExecutor

from . import flows_engine, flows_map


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'retune.db'}")
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _reset() -> None:
    for flows in (flows_engine, flows_map):
        flows.CALLS.clear()
        flows.FAILURES.clear()
    flows_map.HELD.clear()
    flows_map.RELEASE.clear()


def ran(store: Store, wf: Any, inputs: dict[str, Any], overrides: dict[str, Any] | None = None) -> Any:
    record = rt.run(wf, inputs, overrides, executor=InlineExecutor(), store=store, raise_on_failure=False)
    stored = store.get_execution(record.id)
    assert record == stored  # outputs included: these workflows return ints and lists of ints
    assert record.worker == stored.worker and record.worker  # the lease rt.run took
    return record


def test_a_run_that_succeeds_after_retries(store: Store) -> None:
    flows_engine.FAILURES["flaky"] = 2
    record = ran(store, flows_engine.with_flaky, {"x": 1}, {"flaky": {"retries": 2}})

    assert record.phase is Phase.SUCCEEDED
    assert [a.phase for a in record.node("flaky").attempts] == [Phase.FAILED, Phase.FAILED, Phase.SUCCEEDED]
    assert record.finished_at is not None and record.error is None


def test_a_run_that_fails_and_skips_what_depends_on_the_failure(store: Store) -> None:
    flows_engine.FAILURES["flaky"] = 1
    record = ran(store, flows_engine.with_flaky, {"x": 1}, {"flaky": {"retries": 0}})

    assert record.phase is Phase.FAILED
    assert "flaky failed on purpose" in (record.error or "")


def test_a_map_whose_item_is_retried_alone_and_one_whose_item_fails_it(store: Store) -> None:
    flows_map.FAILURES[2] = 1
    record = ran(store, flows_map.naps, {"xs": [1, 2, 3]}, {"nap": {"retries": 1}})
    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == [10, 20, 30]
    assert len(record.node("nap").attempts) == 4

    flows_map.FAILURES[3] = 5
    failed = ran(store, flows_map.naps, {"xs": [1, 2, 3]}, {"nap": {"retries": 0}})
    assert failed.phase is Phase.FAILED
    assert failed.node("nap").items == 3


def test_a_second_run_that_hits_the_cache(store: Store) -> None:
    first = ran(store, flows_engine.cached, {"x": 4})
    second = ran(store, flows_engine.cached, {"x": 4})

    assert first.outputs == second.outputs
    assert {n.cache for n in second.nodes} == {CacheStatus.HIT}
    assert all(not n.attempts for n in second.nodes)
    assert all(a.kind is AttemptKind.USER for n in first.nodes for a in n.attempts)


def test_an_aborted_run_and_a_resumed_one(store: Store) -> None:
    flows_map.HELD.update({2, 3})  # these items wait until released, or their attempt is cancelled
    try:
        aborted = ran_until(store, flows_map.naps, {"xs": [0, 1, 2, 3]}, "abort")
        assert aborted.phase is Phase.ABORTED
        assert aborted.node("nap").item_counts() == {
            "total": 4,
            "succeeded": 2,
            "failed": 0,
            "running": 0,
            "aborted": 2,
        }
        interrupted = ran_until(store, flows_map.naps, {"xs": [5, 6, 2, 3]}, "lost")
        assert interrupted.phase is Phase.RUNNING  # read back: another owner took it over
    finally:
        flows_map.RELEASE.set()
    spec = rt.compile(flows_map.naps).spec
    resumed = Engine(store, InlineExecutor()).run(interrupted.id, spec, task_refs(spec))
    assert resumed == store.get_execution(interrupted.id)
    assert resumed.outputs == [50, 60, 20, 30]


def ran_until(store: Store, wf: Any, inputs: dict[str, Any], signal: str) -> Any:
    """Drive ``wf`` until two items are done, then tell the engine ``signal``."""
    spec = rt.compile(wf).spec
    execution_id = new_execution_id()
    resolved = rt.resolve(wf, name=execution_id)
    engine = Engine(store, InlineExecutor())
    engine.launch(
        NewExecution(execution_id, spec.name, spec_version(spec), dict(inputs), new_nodes(resolved))
    )

    def stop() -> str | None:
        counts = store.get_execution(execution_id).node("nap").item_counts()
        return signal if counts and counts["succeeded"] == 2 else None

    record = engine.run(execution_id, spec, task_refs(spec), stop=stop)
    assert record == store.get_execution(execution_id)
    return record

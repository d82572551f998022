"""A map node's items are attempts of their own: all submitted at once, each retried alone on
the node's budgets, the node failing fast when one spends its budget; their outputs are stored
with their attempts, so a resumed execution runs only the items not done (decision 0022)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pytest

import retune as rt
from retune.api import spec_version, task_refs
from retune.cli.render import attempts_text
from retune.engine import Engine, new_execution_id, new_nodes
from retune.executors.base import AttemptRequest, AttemptResult
from retune.model.execution import Attempt, AttemptKind, CacheStatus, Execution, NodeExecution, Phase
from retune.server.schemas import NodeDocument
from retune.store.base import NewExecution
from retune.testing import InlineExecutor, MemoryStore

from . import flows_map as flows


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    flows.CALLS.clear()
    flows.FAILURES.clear()
    flows.HELD.clear()
    flows.RELEASE.clear()
    yield
    flows.RELEASE.set()  # never leave a held item waiting behind a failed test


class Recording(InlineExecutor):
    """Runs attempts inline and keeps every request it was given."""

    def __init__(self) -> None:
        super().__init__(workers=8)
        self.requests: list[AttemptRequest] = []

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        self.requests.append(request)
        return super().submit(request)


def launch(
    engine: Engine, wf: Any, inputs: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> str:
    spec = rt.compile(wf).spec
    execution_id = new_execution_id()
    resolved = rt.resolve(wf, overrides=overrides, name=execution_id)
    engine.launch(
        NewExecution(execution_id, spec.name, spec_version(spec), dict(inputs), new_nodes(resolved))
    )
    return execution_id


def drive(engine: Engine, wf: Any, execution_id: str, **kwargs: Any) -> Execution:
    spec = rt.compile(wf).spec
    return engine.run(execution_id, spec, task_refs(spec), **kwargs)


def run(
    engine: Engine, wf: Any, inputs: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> Execution:
    return drive(engine, wf, launch(engine, wf, inputs, overrides))


def by_item(node: NodeExecution) -> dict[int | None, list[tuple[Phase, AttemptKind]]]:
    found: dict[int | None, list[tuple[Phase, AttemptKind]]] = {}
    for attempt in node.attempts:
        found.setdefault(attempt.item, []).append((attempt.phase, attempt.kind))
    return found


def test_every_item_is_submitted_at_once_as_an_attempt_of_one_call_with_the_hook_s_config() -> None:
    executor = Recording()
    overrides = {"nap": {"resources": {"requests": {"cpu": "1"}}, "environment": {"K": "v"}}}

    record = run(Engine(MemoryStore(), executor), flows.naps, {"xs": [0, 1, 2, 3]}, overrides)

    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == [0, 10, 20, 30]
    assert [(r.attempt, list(r.calls)) for r in executor.requests] == [
        (1, [{"x": 0}]),
        (2, [{"x": 1}]),
        (3, [{"x": 2}]),
        (4, [{"x": 3}]),
    ]
    assert {(r.config.requests.cpu, r.config.environment["K"]) for r in executor.requests} == {(1.0, "v")}
    attempts = record.node("nap").attempts
    assert [(a.number, a.item) for a in attempts] == [(1, 0), (2, 1), (3, 2), (4, 3)]
    # all started (submitted in one batch) before the engine saw any of them end
    assert max(a.started_at or 0 for a in attempts) <= min(a.finished_at or 0 for a in attempts)


def test_a_failing_item_is_retried_alone_and_done_items_never_run_again() -> None:
    flows.FAILURES[20] = 1  # item 2 fails its first attempt

    record = run(
        Engine(MemoryStore(), InlineExecutor()), flows.naps, {"xs": [0, 10, 20, 30]}, {"nap": {"retries": 1}}
    )

    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == [0, 100, 200, 300]
    assert {key: count for key, count in flows.CALLS.items() if key.startswith("start")} == {
        "start-0": 1,
        "start-10": 1,
        "start-20": 2,
        "start-30": 1,
    }
    node = record.node("nap")
    assert by_item(node)[2] == [(Phase.FAILED, AttemptKind.USER), (Phase.SUCCEEDED, AttemptKind.USER)]
    assert all(len(by_item(node)[item]) == 1 for item in (0, 1, 3))
    assert "item with x=20 failed on purpose" in (next(a for a in node.attempts if a.item == 2).error or "")
    assert node.to_dict()["items"] == {"total": 4, "succeeded": 4, "failed": 0, "running": 0, "aborted": 0}
    assert attempts_text(node) == "items 4/4, 1 retry"


def test_an_item_that_spends_its_budget_fails_the_node_naming_it_and_cancels_the_others() -> None:
    flows.FAILURES[2] = 99
    flows.HELD.update({0, 1, 3})  # would run for 10 s unless cancelled

    record = run(
        Engine(MemoryStore(), InlineExecutor()), flows.naps, {"xs": [0, 1, 2, 3]}, {"nap": {"retries": 1}}
    )

    node = record.node("nap")
    assert record.phase is Phase.FAILED
    assert node.phase is Phase.FAILED
    assert node.error is not None
    assert node.error.startswith("item 2 of 4 failed after 2 attempts: ")
    assert "item with x=2 failed on purpose" in node.error
    assert "node n0 (hook 'nap') item 2 of 4 failed after 2 attempts" in (record.error or "")
    attempts = by_item(node)
    assert attempts[2] == [(Phase.FAILED, AttemptKind.USER)] * 2
    assert [attempts[item] for item in (0, 1, 3)] == [[(Phase.ABORTED, AttemptKind.USER)]] * 3
    assert {a.error for a in node.attempts if a.item != 2} == {"cancelled: item 2 failed, so the node failed"}
    assert not any(key.startswith("end") for key in flows.CALLS)  # the run did not wait for them
    assert node.item_counts() == {"total": 4, "succeeded": 0, "failed": 1, "running": 0, "aborted": 3}
    assert attempts_text(node) == "items 0/4, 1 failed, 3 aborted, 1 retry"


def test_an_empty_map_succeeds_at_once_with_empty_lists() -> None:
    executor = Recording()

    record = run(Engine(MemoryStore(), executor), flows.naps, {"xs": []})

    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == []
    assert record.node("nap").attempts == ()
    assert record.node("nap").item_counts() == {
        "total": 0,
        "succeeded": 0,
        "failed": 0,
        "running": 0,
        "aborted": 0,
    }
    assert executor.requests == []


def test_inputs_of_different_lengths_fail_the_map_node_before_any_item_runs() -> None:
    executor = Recording()

    record = run(Engine(MemoryStore(), executor), flows.pairs, {"a": [1, 2], "b": ["x"]}, None)

    assert record.phase is Phase.FAILED
    assert "map_task inputs have different lengths: {'a': 2, 'b': 1}" in (record.error or "")
    assert executor.requests == []


def test_a_resumed_execution_runs_only_the_items_not_done() -> None:
    store = MemoryStore()
    flows.HELD.update({2, 3})
    first = Engine(store, InlineExecutor())
    execution_id = launch(first, flows.naps, {"xs": [0, 1, 2, 3]})

    def two_done() -> str | None:  # the driver goes away once items 0 and 1 are recorded done
        counts = store.get_execution(execution_id).node("nap").item_counts()
        return "lost" if counts and counts["succeeded"] == 2 else None

    interrupted = drive(first, flows.naps, execution_id, stop=two_done)
    flows.RELEASE.set()  # the abandoned items end; their results are not recorded
    assert interrupted.phase is Phase.RUNNING
    assert interrupted.node("nap").item_counts() == {
        "total": 4,
        "succeeded": 2,
        "failed": 0,
        "running": 2,
        "aborted": 0,
    }

    resumed = drive(Engine(store, InlineExecutor()), flows.naps, execution_id)

    assert resumed.phase is Phase.SUCCEEDED
    assert resumed.outputs == [0, 10, 20, 30]
    assert {key: count for key, count in flows.CALLS.items() if key.startswith("start")} == {
        "start-0": 1,
        "start-1": 1,
        "start-2": 2,
        "start-3": 2,
    }
    attempts = by_item(resumed.node("nap"))
    assert attempts[0] == attempts[1] == [(Phase.SUCCEEDED, AttemptKind.USER)]
    assert (
        attempts[2]
        == attempts[3]
        == [(Phase.FAILED, AttemptKind.SYSTEM), (Phase.SUCCEEDED, AttemptKind.USER)]
    )


def test_a_map_node_is_cached_as_a_whole() -> None:
    engine = Engine(MemoryStore(), InlineExecutor())

    first = run(engine, flows.cached_naps, {"xs": [1, 2, 3]})
    second = run(engine, flows.cached_naps, {"xs": [1, 2, 3]})
    other = run(engine, flows.cached_naps, {"xs": [1, 2]})

    assert [r.nodes[0].cache for r in (first, second, other)] == [
        CacheStatus.MISS,
        CacheStatus.HIT,
        CacheStatus.MISS,
    ]
    assert second.outputs == first.outputs == [10, 20, 30]
    assert second.nodes[0].attempts == ()
    assert (len(first.nodes[0].attempts), len(other.nodes[0].attempts)) == (3, 2)
    assert flows.CALLS["cached-1"] == 2  # the third run's list differs: the whole map ran again


def test_a_map_node_s_record_is_the_api_s_node_document_with_its_item_counts() -> None:
    flows.FAILURES[1] = 1
    record = run(Engine(MemoryStore(), InlineExecutor()), flows.naps, {"xs": [0, 1]}, {"nap": {"retries": 1}})
    node = record.node("nap")

    document = NodeDocument.model_validate(node.to_dict())  # extra="forbid": no field unknown to it

    assert document.model_dump(mode="json") == node.to_dict()
    assert node.to_dict()["items"] == {"total": 2, "succeeded": 2, "failed": 0, "running": 0, "aborted": 0}
    assert [(a["number"], a["item"]) for a in node.to_dict()["attempts"]] == [(1, 0), (2, 1), (3, 1)]
    assert NodeExecution.from_dict(node.to_dict()) == node


def test_the_attempts_column_names_the_budget_only_of_the_system_s_attempts() -> None:
    node = run(Engine(MemoryStore(), InlineExecutor()), flows.naps, {"xs": [0]}).node("nap")
    attempts = (
        Attempt(1, Phase.FAILED, AttemptKind.USER, error="raised"),
        Attempt(2, Phase.FAILED, AttemptKind.SYSTEM, error="the task process died"),
        Attempt(3, Phase.SUCCEEDED, AttemptKind.USER),
    )
    as_task_node = replace(node, items=None, attempts=attempts)
    assert attempts_text(as_task_node) == "1:failed, 2:failed/system, 3:succeeded"
    assert attempts_text(replace(as_task_node, attempts=())) == "-"

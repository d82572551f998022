"""The engine drives executions durably: phases, retries, skips, cache, placement, resume."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import pytest

import retune as rt
from retune.api import spec_version, task_refs
from retune.engine import Engine, new_execution_id, new_nodes
from retune.executors.base import AttemptRequest, AttemptResult
from retune.model.execution import AttemptKind, CacheStatus, Capacity, Execution, Phase
from retune.store.base import NewExecution
from retune.testing import InlineExecutor, MemoryStore, PreemptingExecutor

from . import flows_engine as flows


@pytest.fixture(autouse=True)
def _reset() -> None:
    flows.CALLS.clear()
    flows.FAILURES.clear()


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


def run(
    engine: Engine, wf: Any, inputs: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> Execution:
    execution_id = launch(engine, wf, inputs, overrides)
    spec = rt.compile(wf).spec
    return engine.run(execution_id, spec, task_refs(spec))


def test_a_chain_runs_in_order_and_records_every_node() -> None:
    record = run(Engine(MemoryStore(), InlineExecutor()), flows.chain, {"x": 1})

    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == 4
    assert [n.phase for n in record.nodes] == [Phase.SUCCEEDED] * 3
    assert [n.outputs for n in record.nodes] == [{"o0": 2}, {"o0": 3}, {"o0": 4}]
    assert all(len(n.attempts) == 1 and n.cache is CacheStatus.DISABLED for n in record.nodes)
    assert record.node("last").path == "n2"


def test_user_failures_consume_retries_then_succeed() -> None:
    flows.FAILURES["flaky"] = 2
    record = run(
        Engine(MemoryStore(), InlineExecutor()), flows.with_flaky, {"x": 1}, {"flaky": {"retries": 2}}
    )

    node = record.node("flaky")
    assert record.phase is Phase.SUCCEEDED
    assert [(a.number, a.phase, a.kind) for a in node.attempts] == [
        (1, Phase.FAILED, AttemptKind.USER),
        (2, Phase.FAILED, AttemptKind.USER),
        (3, Phase.SUCCEEDED, AttemptKind.USER),
    ]
    assert "flaky failed on purpose" in (node.attempts[0].error or "")


def test_retries_zero_fails_the_node_and_skips_what_depends_on_it() -> None:
    flows.FAILURES["flaky"] = 1
    record = run(
        Engine(MemoryStore(), InlineExecutor()), flows.with_flaky, {"x": 1}, {"flaky": {"retries": 0}}
    )

    assert record.phase is Phase.FAILED
    assert [n.phase for n in record.nodes] == [Phase.FAILED, Phase.SKIPPED]
    assert "hook 'flaky'" in (record.error or "")
    assert "failed after 1 attempt: RuntimeError: flaky failed on purpose" in (record.error or "")


def test_cache_hits_on_the_second_run_and_misses_after_a_cache_version_override() -> None:
    engine = Engine(MemoryStore(), InlineExecutor())

    first = run(engine, flows.cached, {"x": 3})
    second = run(engine, flows.cached, {"x": 3})
    bumped = run(engine, flows.cached, {"x": 3}, {"square": {"cache_version": "2"}})

    assert [r.node("square").cache for r in (first, second, bumped)] == [
        CacheStatus.MISS,
        CacheStatus.HIT,
        CacheStatus.MISS,
    ]
    assert second.outputs == first.outputs == 9
    assert second.node("square").attempts == ()
    assert flows.CALLS["slow_square"] == 2


class CountingStore(MemoryStore):
    """Counts the store's cache reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []  # keys asked, per read

    def cache_get(self, key: str) -> Mapping[str, Any] | None:
        self.reads.append(1)
        return super().cache_get(key)

    def cache_get_many(self, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        self.reads.append(len(keys))
        found = {key: MemoryStore.cache_get(self, key) for key in keys}
        return {key: outputs for key, outputs in found.items() if outputs is not None}


def test_the_ready_nodes_of_a_cached_fan_out_are_looked_up_in_one_read() -> None:
    store = CountingStore()
    engine = Engine(store, InlineExecutor())

    first = run(engine, flows.cached_fan, {"x": 1})
    reads, store.reads = store.reads, []
    second = run(engine, flows.cached_fan, {"x": 1})
    third = run(engine, flows.cached_fan, {"x": 2})  # other inputs: six misses

    assert first.outputs == second.outputs == sum(range(1, 7))
    assert third.outputs == sum(range(2, 8))
    assert reads == [6]  # the six ready nodes: one read, not six
    assert [n.cache for n in second.nodes if n.task.endswith("cached_add")] == [CacheStatus.HIT] * 6
    assert [n.cache for n in third.nodes if n.task.endswith("cached_add")] == [CacheStatus.MISS] * 6
    assert store.reads == [6, 6]  # second and third runs: one read each
    assert flows.CALLS["cached_add"] == 12


def test_fan_out_lists_and_map_tasks_feed_a_reduction() -> None:
    record = run(Engine(MemoryStore(), InlineExecutor()), flows.fan, {"n": 4})

    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == (1 + 2 + 3 + 4) + (11 + 21 + 31)
    mapped = next(n for n in record.nodes if n.path == "n4")
    assert mapped.outputs == {"o0": [11, 21, 31]}
    assert [(a.number, a.item, a.phase) for a in mapped.attempts] == [  # an attempt per item
        (1, 0, Phase.SUCCEEDED),
        (2, 1, Phase.SUCCEEDED),
        (3, 2, Phase.SUCCEEDED),
    ]
    assert mapped.to_dict()["items"] == {"total": 3, "succeeded": 3, "failed": 0, "running": 0, "aborted": 0}


def test_preemptions_are_system_attempts_and_the_last_attempt_runs_on_demand() -> None:
    executor = PreemptingExecutor(InlineExecutor(), preemptions=10)
    record = run(
        Engine(MemoryStore(), executor),
        flows.with_flaky,
        {"x": 1},
        {"flaky": {"interruptible": True, "retries": 1}},
    )

    node = record.node("flaky")
    assert record.phase is Phase.SUCCEEDED
    assert [(a.kind, a.capacity) for a in node.attempts] == [
        (AttemptKind.SYSTEM, Capacity.INTERRUPTIBLE),
        (AttemptKind.SYSTEM, Capacity.INTERRUPTIBLE),
        (AttemptKind.SYSTEM, Capacity.INTERRUPTIBLE),
        (AttemptKind.USER, Capacity.ON_DEMAND),
    ]


def test_a_node_with_no_retries_left_never_goes_to_interruptible_capacity() -> None:
    executor = PreemptingExecutor(InlineExecutor(), preemptions=10)
    record = run(
        Engine(MemoryStore(), executor), flows.with_flaky, {"x": 1}, {"flaky": {"interruptible": True}}
    )

    assert [a.capacity for a in record.node("flaky").attempts] == [Capacity.ON_DEMAND]


class _Crash(BaseException):
    """Stands in for the engine process dying."""


class CrashingExecutor(InlineExecutor):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.left = after

    def submit(self, request: AttemptRequest) -> Future[AttemptResult]:
        if self.left == 0:
            raise _Crash
        self.left -= 1
        return super().submit(request)


def test_a_restarted_engine_resumes_without_rerunning_committed_nodes() -> None:
    store = MemoryStore()
    crashing = Engine(store, CrashingExecutor(after=4))
    execution_id = launch(crashing, flows.long_chain, {"x": 0})
    spec = rt.compile(flows.long_chain).spec
    with pytest.raises(_Crash):
        crashing.run(execution_id, spec, task_refs(spec))
    midway = store.get_execution(execution_id)
    assert [n.phase for n in midway.nodes][:5] == [Phase.SUCCEEDED] * 4 + [Phase.RUNNING]

    record = Engine(store, InlineExecutor()).run(execution_id, spec, task_refs(spec))

    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == 10
    assert all(count == 1 for count in flows.CALLS.values())
    assert len(flows.CALLS) == 10
    lost = record.nodes[4].attempts
    assert [(a.phase, a.kind) for a in lost] == [
        (Phase.FAILED, AttemptKind.SYSTEM),
        (Phase.SUCCEEDED, AttemptKind.USER),
    ]


def test_a_terminal_execution_is_not_run_again() -> None:
    store = MemoryStore()
    engine = Engine(store, InlineExecutor())
    record = run(engine, flows.chain, {"x": 1})
    spec = rt.compile(flows.chain).spec

    again = engine.run(record.id, spec, task_refs(spec))

    assert again == record
    assert flows.CALLS["inc-1"] == 1


def test_concurrent_identical_cache_serialize_runs_execute_the_body_once() -> None:
    store = MemoryStore()
    overrides = {"square": {"cache_serialize": True}}
    records: list[Execution] = []

    def one() -> None:
        records.append(run(Engine(store, InlineExecutor(), poll=0.01), flows.cached, {"x": 7}, overrides))

    threads = [threading.Thread(target=one) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert flows.CALLS["slow_square"] == 1
    assert sorted(r.node("square").cache for r in records) == [CacheStatus.HIT] * 4 + [CacheStatus.MISS]
    assert all(r.outputs == 49 for r in records)


class LateCacheStore(MemoryStore):
    """Misses the first cache read, as if another run wrote its outputs just after it."""

    def __init__(self) -> None:
        super().__init__()
        self.missed: set[str] = set()

    def cache_get(self, key: str) -> Mapping[str, Any] | None:
        if key not in self.missed:
            self.missed.add(key)
            return None
        return super().cache_get(key)


def test_a_reservation_won_after_the_outputs_were_written_reuses_them() -> None:
    store = LateCacheStore()
    overrides = {"square": {"cache_serialize": True}}
    run(Engine(MemoryStore(), InlineExecutor()), flows.cached, {"x": 5})  # a store without the entry
    first = run(Engine(store, InlineExecutor()), flows.cached, {"x": 6}, overrides)
    store.missed.clear()

    second = run(Engine(store, InlineExecutor()), flows.cached, {"x": 6}, overrides)

    assert first.node("square").cache is CacheStatus.MISS
    assert second.node("square").cache is CacheStatus.HIT
    assert flows.CALLS["slow_square"] == 2  # x=5 once, x=6 once: the second x=6 run reused it


class TransactionCountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.transactions = 0

    def apply(self, changes: Sequence[Any]) -> None:
        self.transactions += 1
        super().apply(changes)


class OneByOneExecutor(InlineExecutor):
    """Answers its attempts one at a time, a millisecond apart, as Ray's callbacks do."""

    def __init__(self) -> None:
        super().__init__(workers=1)

    def _run(self, request: AttemptRequest) -> AttemptResult:
        time.sleep(0.001)
        return super()._run(request)


def test_attempts_ending_one_by_one_are_recorded_a_few_at_a_time() -> None:
    store = TransactionCountingStore()

    record = run(Engine(store, OneByOneExecutor()), flows.wide, {"xs": list(range(60))})

    assert record.phase is Phase.SUCCEEDED
    assert record.outputs == list(range(1, 61))
    assert len(record.nodes[0].attempts) == 60
    # one transaction per ended attempt would be 60 and more; the engine gathers for a few ms
    assert store.transactions < 30

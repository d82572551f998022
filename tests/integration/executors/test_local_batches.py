"""The local executor sends short attempts of one map node to a task process in batches
(``LocalExecutor._batch``): every item is still an attempt of its own, with its own logs,
environment, context and outcome, and one that fails, crashes or times out ends only itself;
the items behind it in its batch run as if nothing happened.

Real task processes; each test runs a warm-up map first on the same executor, as batches start
once attempts are known to be short."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flows_batches as flows

import retune as rt
from retune.executors.local import LocalExecutor
from retune.model.execution import Attempt, Execution, Phase
from retune.store.base import BlobStore, Store


def run(
    parts: tuple[LocalExecutor, Store, BlobStore],
    where: Path,
    plans: list[str],
    workflow: rt.Workflow[Any, Any] = flows.items,
    **overrides: Any,
) -> Execution:
    executor, store, blobs = parts
    where.mkdir(exist_ok=True)
    jobs = [f"{where}|{i}|{plan}" for i, plan in enumerate(plans)]
    return rt.run(
        workflow,
        {"jobs": jobs},
        {"q": overrides} if overrides else None,
        executor=executor,
        store=store,
        blobs=blobs,
        raise_on_failure=False,
    )


def warmed(
    parts: tuple[LocalExecutor, Store, BlobStore],
    tmp_path: Path,
    workflow: rt.Workflow[Any, Any] = flows.items,
) -> int:
    """A first map of quick items, so the executor knows attempts are short; the count of
    attempts sent in batches after it."""
    assert run(parts, tmp_path / "warm", ["ok"] * 40, workflow).phase is Phase.SUCCEEDED
    return parts[0].batched


def by_item(record: Execution) -> dict[int, list[Attempt]]:
    found: dict[int, list[Attempt]] = {}
    for attempt in record.nodes[0].attempts:
        assert attempt.item is not None
        found.setdefault(attempt.item, []).append(attempt)
    return found


def test_batched_items_each_keep_their_own_logs_environment_and_attempt_number(
    parts: tuple[LocalExecutor, Store, BlobStore], tmp_path: Path
) -> None:
    before = warmed(parts, tmp_path)

    record = run(parts, tmp_path / "run", ["print"] * 60)

    assert record.phase is Phase.SUCCEEDED, record.error
    assert parts[0].batched - before >= 30  # most of the 60 items went in batches
    attempts = by_item(record)
    blobs = parts[2]
    for item, (attempt,) in attempts.items():
        name, leaked, number = record.outputs[item].split()
        assert (name, leaked, int(number)) == (str(item), "-", attempt.number)  # nothing leaked
        assert blobs.get(attempt.logs["stdout"]) == f"out {item}\n".encode()
        assert blobs.get(attempt.logs["stderr"]) == f"err {item}\n".encode()


def test_a_failing_or_crashing_item_ends_only_itself_and_is_retried_alone(
    parts: tuple[LocalExecutor, Store, BlobStore], tmp_path: Path
) -> None:
    before = warmed(parts, tmp_path)
    plans = ["ok"] * 40
    plans[5], plans[17] = "fail-once", "crash-once"

    record = run(parts, tmp_path / "run", plans, retries=1)

    assert record.phase is Phase.SUCCEEDED, record.error
    assert parts[0].batched > before
    attempts = by_item(record)
    assert sorted(attempts) == list(range(40))
    assert {item for item, tries in attempts.items() if len(tries) > 1} == {5, 17}
    assert "item 5 failed on purpose" in (attempts[5][0].error or "")
    assert "exit" in (attempts[17][0].error or "").lower()  # CRASHED: the process exited
    assert all(tries[-1].phase is Phase.SUCCEEDED for tries in attempts.values())
    assert [output.split()[0] for output in record.outputs] == [str(i) for i in range(40)]


def test_an_item_past_its_timeout_fails_alone_with_the_timeout_of_one_item(
    parts: tuple[LocalExecutor, Store, BlobStore], tmp_path: Path
) -> None:
    before = warmed(parts, tmp_path, flows.bounded_items)
    plans = ["ok"] * 30
    plans[12] = "sleep:30"

    record = run(parts, tmp_path / "run", plans, flows.bounded_items)

    assert record.phase is Phase.FAILED
    assert parts[0].batched > before
    node = record.nodes[0]
    assert "item 12 of 30 failed after 1 attempt: timed out after 1s" in (node.error or "")
    attempts = by_item(record)
    assert [a.phase for a in attempts[12]] == [Phase.FAILED]
    assert all(tries[0].phase is Phase.SUCCEEDED for item, tries in attempts.items() if item < 12)


def test_an_item_out_of_retries_fails_the_node_and_ends_the_other_items(
    parts: tuple[LocalExecutor, Store, BlobStore], tmp_path: Path
) -> None:
    before = warmed(parts, tmp_path)
    plans = ["sleep:0.05"] * 40
    plans[3] = "fail"

    record = run(parts, tmp_path / "run", plans)

    assert record.phase is Phase.FAILED
    assert parts[0].batched > before
    assert "item 3 of 40 failed after 1 attempt: " in (record.nodes[0].error or "")
    attempts = by_item(record)
    ended = {tries[-1].phase for tries in attempts.values()}
    assert ended <= {Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED}  # nothing left running
    assert Phase.ABORTED in ended  # the items not done were cancelled, not run on
    # the executor holds nothing of the run: the next map runs at once
    assert run(parts, tmp_path / "after", ["ok"] * 10).phase is Phase.SUCCEEDED

"""Why a Ray attempt has not started, from Ray's status of its task, the alive nodes and their
free resources: no cluster needed (executors.ray_start)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import retune as rt
from retune.executors.ray_placement import RayNode
from retune.executors.ray_start import Waiting, ended, latest_statuses, look_every, waiting

GI = 2**30


@rt.task
def step() -> int:
    return 1


@rt.workflow
def flow() -> int:
    return step()


CONFIG = next(iter(rt.resolve(flow).values())).config  # 250m, 256Mi
STEADY = RayNode("steady", {"CPU": 2.0, "memory": float(GI)}, False)
SPOT = RayNode("spot", {"CPU": 4.0, "memory": float(4 * GI)}, True)
NODES = [STEADY, SPOT]


def _on_demand(node: RayNode) -> bool:
    return not node.interruptible


def _free(**by_node: dict[str, float]) -> Any:
    return lambda: by_node


def test_a_task_a_worker_took_has_started_whatever_the_cluster_holds() -> None:
    for status in ("SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED"):
        assert waiting(CONFIG, status, [], _on_demand, _free()) is Waiting.STARTED


def test_a_request_no_node_it_may_use_can_hold_is_infeasible_even_without_ray_s_record() -> None:
    big = replace(CONFIG, requests=replace(CONFIG.requests, mem=2 * GI))

    assert waiting(big, "PENDING_NODE_ASSIGNMENT", NODES, _on_demand, _free()) is Waiting.INFEASIBLE
    assert waiting(big, None, NODES, _on_demand, _free()) is Waiting.INFEASIBLE
    assert waiting(big, None, NODES, lambda node: True, _free()) is not Waiting.INFEASIBLE


def test_a_task_ray_keeps_no_record_of_is_left_waiting() -> None:
    assert (
        waiting(CONFIG, None, NODES, _on_demand, _free(steady={"CPU": 2.0, "memory": GI})) is Waiting.UNKNOWN
    )


def test_a_task_behind_others_is_queued_and_one_with_room_free_is_not() -> None:
    pending = "PENDING_NODE_ASSIGNMENT"
    busy = _free(steady={"CPU": 0.0, "memory": float(GI)}, spot={"CPU": 4.0, "memory": float(4 * GI)})
    room = _free(steady={"CPU": 0.5, "memory": float(GI)})

    assert waiting(CONFIG, pending, NODES, _on_demand, busy) is Waiting.QUEUED, "the spot node is not its"
    assert waiting(CONFIG, pending, NODES, _on_demand, room) is Waiting.ROOM


def test_the_free_resources_are_read_only_when_they_decide() -> None:
    def never() -> Any:
        raise AssertionError("read")

    assert waiting(CONFIG, "RUNNING", NODES, _on_demand, never) is Waiting.STARTED
    assert waiting(CONFIG, None, NODES, _on_demand, never) is Waiting.UNKNOWN


def test_the_errors_say_what_it_waited_for_and_how_to_fix_it() -> None:
    gone = ended(Waiting.INFEASIBLE, CONFIG, 300, "PENDING_NODE_ASSIGNMENT", None)
    stuck = ended(Waiting.ROOM, CONFIG, 2, "PENDING_NODE_ASSIGNMENT", "/opt/py/bin/python")

    assert gone == (
        "the Ray task did not start within 300s: no alive node of the Ray cluster that it may run on can "
        "hold its request (cpu=250m, mem=256Mi, gpu=0; Ray's status: PENDING_NODE_ASSIGNMENT); the node "
        "that could may have left the cluster after the launch was checked. Add such a node, lower the "
        "request, or raise [executor] ray_start_timeout (RETUNE_RAY_START_TIMEOUT) for a cluster that "
        "adds nodes slowly."
    )
    assert stuck.startswith("the Ray task did not start within 2s although a node had room for it")
    assert "under the interpreter '/opt/py/bin/python'" in stuck


def test_looks_are_spaced_by_a_tenth_of_the_timeout_within_one_and_thirty_seconds() -> None:
    assert (look_every(2), look_every(100), look_every(3600)) == (1.0, 10.0, 30.0)


def test_the_latest_status_of_each_task_asked_for_is_read_from_ray_s_events() -> None:
    mine, other = b"m" * 24, b"o" * 24
    events = {
        b"\n\x18" + mine + b"1": {2: 100, 1: 50},
        b"\n\x18" + mine + b"2": {5: 300, 8: 200},
        b"\n\x18" + other + b"3": {8: 400},
        b"\x12\x00" + b"unordered": {1: 10},  # not led by its task_id: parsed, then left out
    }
    parsed: list[bytes] = []

    def parse(raw: bytes) -> Any:
        parsed.append(raw)
        task = raw[2:26] if raw.startswith(b"\n\x18") else b"x" * 24
        return SimpleNamespace(task_id=task, state_updates=SimpleNamespace(state_ts_ns=events[raw]))

    names = {1: "PENDING_ARGS_AVAIL", 2: "PENDING_NODE_ASSIGNMENT", 5: "SUBMITTED_TO_WORKER", 8: "RUNNING"}
    latest = latest_statuses(events, {mine, b"gone" * 6}, parse, names.__getitem__)

    assert latest == {mine: "SUBMITTED_TO_WORKER"}
    assert len(parsed) == 3, "another task's events are skipped unparsed"

"""``retune run`` of a map: its items run in parallel within capacity, a failing item is retried
alone, an item out of retries fails the node without waiting for the others, an interrupted map
resumes running only the items not done, and records count the items (decision 0022).

Real task processes over a fresh store (RETUNE_HOME per test, tests/e2e/conftest.py); the ledger
written by every item attempt (tests/e2e/flows_map.py) says what ran, when and where.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path
from typing import Any

FLOWS = Path(__file__).with_name("flows_map.py")
RETUNE = str(Path(sys.executable).with_name("retune"))


def retune(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RETUNE, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def jobs(ledger: Path, *plans: str) -> str:
    return json.dumps([f"{ledger}|{i}|{plan}" for i, plan in enumerate(plans)])


def run_map(ledger: Path, *plans: str, options: tuple[str, ...] = (), **kwargs: Any) -> dict[str, Any]:
    done = retune("run", f"{FLOWS}:items", "--jobs", jobs(ledger, *plans), *options, "--json", **kwargs)
    assert done.returncode in (0, 1), done.stderr
    record: dict[str, Any] = json.loads(done.stdout)
    return record


def record_of(execution_id: str) -> dict[str, Any]:
    shown = retune("executions", "show", execution_id, "--json")
    assert shown.returncode == 0, shown.stderr
    found: dict[str, Any] = json.loads(shown.stdout)
    return found


def lines(ledger: Path, word: str) -> list[list[str]]:
    text = ledger.read_text() if ledger.exists() else ""
    return [line.split()[1:] for line in text.splitlines() if line.startswith(word + " ")]


def started(ledger: Path) -> list[str]:
    return sorted(name for name, *_ in lines(ledger, "start"))


def intervals(ledger: Path) -> dict[str, tuple[float, float]]:
    """Each item's last attempt, as the task saw it: (start, end) seconds."""
    starts = {name: float(at) for name, _, at in lines(ledger, "start")}
    return {name: (starts[name], float(at)) for name, at in lines(ledger, "end")}


def most_at_once(spans: list[tuple[float, float]]) -> int:
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


def by_item(node: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for attempt in node["attempts"]:
        found.setdefault(attempt["item"], []).append((attempt["phase"], attempt["kind"]))
    return found


def test_a_map_s_items_run_in_parallel_each_an_attempt_of_its_own(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"

    record = run_map(ledger, *["sleep:1"] * 4)

    assert record["phase"] == "SUCCEEDED", record["error"]
    assert record["outputs"] == ["0", "1", "2", "3"]
    node = record["nodes"][0]
    assert node["items"] == {"total": 4, "succeeded": 4, "failed": 0, "running": 0, "aborted": 0}
    assert sorted(a["item"] for a in node["attempts"]) == [0, 1, 2, 3]
    spans = intervals(ledger)  # 4 x 250m requested on 2 cores or more: all four at once
    for (a, (a0, a1)), (b, (b0, b1)) in combinations(sorted(spans.items()), 2):
        assert a0 < b1 and b0 < a1, f"items {a} and {b} did not overlap: {spans}"
    for attempt, other in combinations(node["attempts"], 2):  # and so their records
        assert attempt["started_at"] < other["finished_at"] and other["started_at"] < attempt["finished_at"]
    shown = retune("executions", "show", record["id"])
    assert re.search(r"items 4/4", shown.stdout), shown.stdout


def test_the_hook_s_resources_apply_to_every_item_so_capacity_bounds_how_many_run_at_once(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger"

    record = run_map(
        ledger, *["sleep:0.5"] * 4, options=("-o", "each.cpu=1"), env={"RETUNE_CAPACITY_CPU": "2"}
    )

    assert record["phase"] == "SUCCEEDED", record["error"]
    assert {a["item"] for a in record["nodes"][0]["attempts"]} == {0, 1, 2, 3}
    assert most_at_once(list(intervals(ledger).values())) == 2
    # The record says when each item began to run, not when it was queued: the two that waited
    # for a core began ~0.5 s after the first two, as the tasks themselves saw.
    spans = intervals(ledger)
    for attempt in record["nodes"][0]["attempts"]:
        began, _ = spans[str(attempt["item"])]
        assert abs(attempt["started_at"] - began) < 0.25, (attempt, spans)


def test_a_failing_item_is_retried_alone_and_the_others_run_once(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"

    record = run_map(ledger, "sleep:0", "sleep:0", "fail-once", "sleep:0", options=("-o", "each.retries=1"))

    assert record["phase"] == "SUCCEEDED", record["error"]
    assert record["outputs"] == ["0", "1", "2", "3"]
    assert started(ledger) == ["0", "1", "2", "2", "3"]  # item 2 twice, the others once
    assert (tmp_path / "ledger.failed.2").exists()
    node = record["nodes"][0]
    attempts = by_item(node)
    assert attempts[2] == [("FAILED", "user"), ("SUCCEEDED", "user")]
    assert [attempts[i] for i in (0, 1, 3)] == [[("SUCCEEDED", "user")]] * 3
    failed = next(a for a in node["attempts"] if a["phase"] == "FAILED")
    assert "item 2 failed on purpose" in failed["error"]
    shown = retune("executions", "show", record["id"])
    assert "items 4/4, 1 retry" in shown.stdout, shown.stdout


def test_an_item_out_of_retries_fails_the_node_naming_it_and_the_others_are_stopped(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"

    record = run_map(ledger, "sleep:60", "sleep:60", "fail", "sleep:60", timeout=40)  # no waiting 60 s

    assert record["phase"] == "FAILED"
    assert "item 2 of 4 failed after 1 attempt: " in record["error"]
    assert "item 2 failed on purpose" in record["error"]
    node = record["nodes"][0]
    assert node["items"] == {"total": 4, "succeeded": 0, "failed": 1, "running": 0, "aborted": 3}
    assert {i: by_item(node)[i] for i in (0, 1, 3)} == {i: [("ABORTED", "user")] for i in (0, 1, 3)}
    assert lines(ledger, "end") == []  # none of the others finished
    pids = [int(pid) for name, pid, _ in lines(ledger, "start") if name != "2"]
    for pid in pids:  # nor does any of them run on
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in Path(f"/proc/{pid}/status").read_text()
    shown = retune("executions", "show", record["id"])
    assert "items 0/4, 1 failed, 3 aborted" in shown.stdout, shown.stdout


def wait_until(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not after {timeout} s")


def test_an_interrupted_map_resumes_running_only_the_items_not_done(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    proc = subprocess.Popen(
        [
            RETUNE,
            "run",
            f"{FLOWS}:items",
            "--jobs",
            jobs(ledger, "sleep:0", "sleep:0", "sleep:60", "sleep:60"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listed = wait_until(lambda: json.loads(retune("executions", "list", "--json").stdout), "no execution")
        execution_id = listed[0]["id"]

        def two_done() -> bool:
            items = record_of(execution_id)["nodes"][0]["items"]
            return bool(items and items["succeeded"] == 2 and started(ledger) == ["0", "1", "2", "3"])

        wait_until(two_done, "items 0 and 1 recorded done while 2 and 3 run")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    interrupted = record_of(execution_id)["nodes"][0]
    assert interrupted["items"] == {"total": 4, "succeeded": 2, "failed": 0, "running": 2, "aborted": 0}

    Path(f"{ledger}.fast").touch()  # the items run again need not sleep
    resumed = retune("executions", "resume", execution_id)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = record_of(execution_id)
    assert final["phase"] == "SUCCEEDED", final["error"]
    assert final["outputs"] == ["0", "1", "2", "3"]
    assert started(ledger) == ["0", "1", "2", "2", "3", "3"]  # items 0 and 1 did not run again
    assert sorted(name for name, _ in lines(ledger, "end")) == ["0", "1", "2", "3"]
    attempts = by_item(final["nodes"][0])
    assert attempts[0] == attempts[1] == [("SUCCEEDED", "user")]
    assert attempts[2] == attempts[3] == [("FAILED", "system"), ("SUCCEEDED", "user")]

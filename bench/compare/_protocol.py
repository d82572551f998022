"""What every comparison script shares: distinct inputs, the timing loop, the JSON it prints.

A script runs one workload of one framework and prints one line ``BENCH-JSON {...}`` on stdout
(frameworks may log anything else around it). The loop mirrors ``bench.execution``: one
untimed warm-up, then up to ``reps`` timed repetitions (at least ``MIN_REPS``; no more once
``budget`` seconds have gone), each on inputs no earlier run used, each output checked against
the same functions called directly. The direct calls are timed in the same process.

This file runs under the comparison environment's interpreter (bench/.venv-compare), not the
project's: it imports nothing of retune or bench.
"""

from __future__ import annotations

import gc
import itertools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

MIN_REPS = 3
DIRECT_REPS = 20
_seeds = itertools.count(1)


def seed() -> int:
    """A base value no earlier run in this process used: chains and maps stay far apart."""
    return next(_seeds) * 1_000_000


def inputs_for(workload: str, size: int) -> Callable[[], dict[str, Any]]:
    if workload == "map":

        def items() -> dict[str, Any]:
            start = seed()
            return {"xs": list(range(start, start + size))}

        return items
    return lambda: {"x": seed()}


def measure(
    run: Callable[[dict[str, Any]], Any],
    direct: Callable[[dict[str, Any]], Any],
    new_inputs: Callable[[], dict[str, Any]],
    *,
    reps: int,
    budget: float,
) -> dict[str, Any]:
    first = new_inputs()
    _check(run(first), direct(first))
    seconds: list[float] = []
    began = time.perf_counter()
    for _ in range(reps):
        given = new_inputs()
        gc.collect()
        start = time.perf_counter()
        output = run(given)
        seconds.append(time.perf_counter() - start)
        _check(output, direct(given))
        if len(seconds) >= MIN_REPS and time.perf_counter() - began > budget:
            break
    direct_seconds = []
    for _ in range(DIRECT_REPS):
        given = new_inputs()
        gc.collect()
        start = time.perf_counter()
        direct(given)
        direct_seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "direct": direct_seconds}


def emit(
    framework: str, version: str, workload: str, size: int, result: dict[str, Any], **notes: Any
) -> None:
    payload = {
        "framework": framework,
        "version": version,
        "workload": workload,
        "size": size,
        **result,
        **notes,
    }
    sys.stdout.flush()
    print("BENCH-JSON " + json.dumps(payload), flush=True)


def args() -> tuple[str, int, int, float]:
    """``WORKLOAD SIZE REPS BUDGET`` from the command line."""
    workload, size, reps, budget = sys.argv[1:5]
    return workload, int(size), int(reps), float(budget)


def _check(output: Any, expected: Any) -> None:
    if output != expected:
        raise AssertionError(f"wrong output: {str(output)[:200]} != {str(expected)[:200]}")

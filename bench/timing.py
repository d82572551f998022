"""Repetitions, statistics and profiles.

Each repetition may need fresh inputs (a new ``Workflow`` object); ``setup`` builds them
outside the timed region. ``gc.collect()`` runs before every repetition so garbage left by
one is not collected, and paid for, inside the next; the collector stays enabled while a
repetition runs, as it would for a user.
"""

from __future__ import annotations

import cProfile
import gc
import io
import math
import pstats
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Setup = Callable[[], Any]
Body = Callable[[Any], Any]


@dataclass(frozen=True)
class Stats:
    p50: float
    p90: float
    min: float
    reps: int


def summarise(seconds: Sequence[float]) -> Stats:
    """p50 is the median; p90 is the nearest-rank 90th percentile (the max for fewer than 10)."""
    ordered = sorted(seconds)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return Stats(statistics.median(ordered), p90, ordered[0], len(ordered))


def measure(body: Body, *, setup: Setup = lambda: None, reps: int, warmups: int) -> list[float]:
    """Seconds per repetition of ``body(setup())``, after ``warmups`` untimed ones."""
    for _ in range(warmups):
        body(setup())
    seconds = []
    for _ in range(reps):
        argument = setup()
        gc.collect()
        start = time.perf_counter()
        body(argument)
        seconds.append(time.perf_counter() - start)
    return seconds


def profile(
    body: Body, *, setup: Setup = lambda: None, top: int = 15, sorts: Sequence[str] = ("tottime",)
) -> str:
    """One repetition under cProfile: the ``top`` functions by each of ``sorts``, as pstats prints them."""
    argument = setup()
    gc.collect()
    profiler = cProfile.Profile()
    profiler.enable()
    body(argument)
    profiler.disable()
    sections = []
    for order in sorts:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        total = next((line.strip() for line in lines if "function calls" in line), "")
        table = [line.rstrip() for line in lines[start:] if line.strip()]
        sections.append("\n".join([f"{total}; sorted by {order}" if len(sorts) > 1 else total, "", *table]))
    return "\n\n".join(sections)

"""The cyclic garbage collector in retune's own long-running processes: ``retune serve`` (each
process), ``retune worker`` and ``retune run``, once they have started.

Start-up leaves some 100,000-300,000 objects that live as long as the process (modules, classes,
pydantic's and SQLAlchemy's schemas, FastAPI's routes, cached specs), and every full collection
walks them all again. A launch or an engine step allocates thousands of short-lived containers, so
with CPython's default thresholds (700, 10, 10) a busy server collected all the time:
``retune serve`` spent ~2.9 s of CPU in the collector during ~18 s of launches, 1.2 s with
``settle`` (bench/server.py's load; docs/decisions/0024-server-throughput.md).

``paused``: one bounded computation that builds a large result, such as resolving a
10,000-node workflow, runs with the collector off and puts it back as it found it. Everything it
allocates is either its result or freed by reference counting, yet with the default thresholds
the collector walked every object of the process about once per resolve: 55% of the time of
bench's resolve row (168 -> 76 ms p50 with the collector off, same process, same minute). This
changes nothing in a user's process once the call returns, so ``rt.resolve`` may use it there.

``settle``: what start-up made is frozen (``gc.freeze``: never walked again), and the youngest
generation collects every ``YOUNG`` allocations rather than 700. Garbage without cycles is freed
by reference counting at once either way; cyclic garbage lives a little longer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

YOUNG: Final = 10_000
THRESHOLDS: Final = (YOUNG, 20, 100)


def settle() -> None:
    """Freeze what exists now and collect less often; the collector enabled (call once start-up
    is done, in a process retune owns: never in a user's process, whose settings these are)."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off for the block if it was on, and on again after (whatever the block
    raised). Another thread's collections wait too, for as long as the block runs: keep it to pure
    computations of bounded size."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

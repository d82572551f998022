"""The cyclic garbage collector in retune's own long-running processes: ``retune serve`` (each
process), ``retune worker`` and ``retune run``, once they have started.

Start-up leaves some 100,000-300,000 objects that live as long as the process (modules, classes,
pydantic's and SQLAlchemy's schemas, FastAPI's routes, cached specs), and every full collection
walks them all again. A launch or an engine step allocates thousands of short-lived containers, so
with CPython's default thresholds (700, 10, 10) a busy server collected all the time:
``retune serve`` spent ~2.9 s of CPU in the collector during ~18 s of launches, 1.2 s with
``settle`` (bench/server.py's load; docs/decisions/0024-server-throughput.md).

``settle``: what start-up made is frozen (``gc.freeze``: never walked again), and the youngest
generation collects every ``YOUNG`` allocations rather than 700. Garbage without cycles is freed
by reference counting at once either way; cyclic garbage lives a little longer.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG: Final = 10_000
THRESHOLDS: Final = (YOUNG, 20, 100)


def settle() -> None:
    """Freeze what exists now and collect less often; the collector enabled (call once start-up
    is done, in a process retune owns: never in a user's process, whose settings these are)."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()

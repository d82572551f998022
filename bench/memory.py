"""Peak memory of the engine process on a 2,000-node execution: ``python -m bench.memory run|direct``.

Each measurement is a fresh interpreter (the suite starts it with a fresh ``RETUNE_HOME``), and
the figure is that process's own high-water mark at exit: ``VmHWM`` from ``/proc/self/status``.
Worker processes are separate processes and not counted.

Why not ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which it also reports: on Linux that
value survives ``exec`` (the kernel keeps the old address space's peak in the process's
signal struct), so a child started from the bench process, itself over 100 MB by then,
inherits the parent's peak and reports it, whatever it does itself; ``VmHWM`` belongs to the
address space that ``exec`` created. Where ``/proc`` is missing, ``ru_maxrss`` is used.

- ``run``: imports retune, builds the workflow of ``BLOCKS`` blocks (a 100-task chain, a
  399-wide fan-out, a reduce: 2,000 task nodes), compiles it, then ``rt.run`` with the local
  executor and the SQLite store, caching on;
- ``direct``: the same imports, then the same functions called directly (the baseline).

Prints one JSON line: peak RSS in bytes, the peak before ``rt.run`` began (after compile), the
node count and the run's wall time.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BLOCKS, CHAIN, WIDTH = 4, 100, 399
NODES = BLOCKS * (CHAIN + WIDTH + 1)
ROOT = Path(__file__).resolve().parent.parent


def peak_bytes() -> int:
    """This process's peak resident set since it exec'd: ``VmHWM``, else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return ru_maxrss_bytes()


def ru_maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def main(mode: str) -> dict[str, Any]:
    import retune as rt
    from bench import workloads

    if mode == "direct":
        start = time.perf_counter()
        workloads.direct_mixed(BLOCKS, CHAIN, WIDTH, 1)
        seconds = time.perf_counter() - start
        return {"peak": peak_bytes(), "ru_maxrss": ru_maxrss_bytes(), "seconds": seconds}
    wf = workloads.build_mixed(BLOCKS, CHAIN, WIDTH)
    nodes = len(rt.compile(wf).nodes)
    before = peak_bytes()
    start = time.perf_counter()
    record = rt.run(wf, {"x": 1})
    seconds = time.perf_counter() - start
    if record.outputs != workloads.direct_mixed(BLOCKS, CHAIN, WIDTH, 1) or len(record.nodes) != NODES:
        raise AssertionError(f"wrong run: {len(record.nodes)} nodes, outputs {record.outputs}")
    return {
        "peak": peak_bytes(),
        "ru_maxrss": ru_maxrss_bytes(),
        "before_run": before,
        "nodes": nodes,
        "seconds": seconds,
    }


def measure(mode: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """One fresh interpreter running ``main(mode)``; its JSON line."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.memory", mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.memory {mode} exited {result.returncode}: {result.stderr[-2000:]}")
    payload: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return payload


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))

"""Workflows for the crash tests: every task body leaves a trace in a file the test reads.

- ``dag``: 100 task nodes, ten chains of nine ``step`` fanned into nine pairwise ``join`` and
  one final ``join`` of those; each body appends its node path to ``log`` and sleeps ``pause``.
- ``kill_flow``: a task that writes its pid to ``pid_file`` and sleeps until killed; the
  attempt after that finds the file and returns its attempt number.
- ``serialized_flow``: once ``parties`` runs have met at a barrier, a cached task whose body
  appends to ``log`` and takes ``pause`` seconds.
- ``crash_flow``: a task whose process exits (``os._exit(1)``) or segfaults (hook ``crasher``).
- ``sleeper_flow``: a task that leaves ``sleep 300 &`` behind and writes its pid to ``pid_file``.
"""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import retune as rt

CHAINS = 10
CHAIN_LENGTH = 9


def _ran(log: str, pause: float) -> None:
    """Append this node's path to ``log`` (one short O_APPEND write: atomic), then sleep."""
    line = f"{rt.current_context().node}\n".encode()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    time.sleep(pause)


@rt.task
def step(x: int, log: str, pause: float) -> int:
    _ran(log, pause)
    return x * 3 + 1


@rt.task
def join(xs: list[int], log: str, pause: float) -> int:
    _ran(log, pause)
    return sum(xs) % 1_000_003


@rt.workflow
def dag(log: str, pause: float = 0.03) -> int:
    tails = []
    for chain in range(CHAINS):
        value = step(x=chain, log=log, pause=pause)
        for _ in range(CHAIN_LENGTH - 1):
            value = step(x=value, log=log, pause=pause)
        tails.append(value)
    pairs = [join(xs=[tails[i], tails[i + 1]], log=log, pause=pause) for i in range(CHAINS - 1)]
    return join(xs=pairs, log=log, pause=pause)


@rt.task
def killed_once(pid_file: str) -> int:
    path = Path(pid_file)
    if path.exists():
        return rt.current_context().attempt
    partial = path.with_name(path.name + ".partial")
    partial.write_text(str(os.getpid()))
    partial.rename(path)  # the test never reads half a pid
    time.sleep(120)
    return -1


@rt.workflow
def kill_flow(pid_file: str) -> int:
    return killed_once(pid_file=pid_file).with_runtime_override("victim")


@rt.task
def arrive(barrier: str, parties: int) -> int:
    """Wait until ``parties`` runs have reached this point (one line each in ``barrier``)."""
    fd = os.open(barrier, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"here\n")
    finally:
        os.close(fd)
    deadline = time.monotonic() + 30
    while len(Path(barrier).read_bytes().splitlines()) < parties and time.monotonic() < deadline:
        time.sleep(0.005)
    return parties


@rt.task(cache=True, cache_version="1")
def slow_square(log: str, x: int, pause: float, parties: int) -> int:
    with Path(log).open("a") as out:
        out.write(f"{os.getpid()}\n")
    time.sleep(pause)
    return x * x


@rt.workflow
def serialized_flow(log: str, barrier: str, parties: int = 10, x: int = 7, pause: float = 1.0) -> int:
    """All ``parties`` runs reach the cached node together: ``arrive`` is their barrier."""
    ready = arrive(barrier=barrier, parties=parties)
    return slow_square(log=log, x=x, pause=pause, parties=ready).with_runtime_override("slow")


@rt.task
def crash(how: str) -> int:
    if how == "exit":
        os._exit(1)
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    return 0


@rt.workflow
def crash_flow(how: str) -> int:
    return crash(how=how).with_runtime_override("crasher")


@rt.task
def leave_sleeper(pid_file: str) -> int:
    partial = f"{pid_file}.partial"
    os.system(f"sleep 300 & echo $! > {partial}")
    os.rename(partial, pid_file)
    return os.getpid()


@rt.workflow
def sleeper_flow(pid_file: str) -> int:
    return leave_sleeper(pid_file=pid_file)

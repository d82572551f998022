"""Tasks the local executor's tests run. Stdlib and retune only: a bare venv imports this too."""

from __future__ import annotations

import importlib.util
import mmap
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import retune as rt
from retune.model.values import Directory, File
from retune.task_runtime.context import current_context


@rt.task
def add(x: int, y: int = 1) -> int:
    return x + y


@rt.task
def getenv(name: str) -> tuple[str | None, int]:
    return os.environ.get(name), os.getpid()


@rt.task
def meddle() -> None:
    os.environ["MEDDLED"] = "yes"
    os.environ.pop("HOME", None)
    os.chdir("/")


@rt.task
def where() -> str:
    return os.getcwd()


@rt.task
def allocate(mb: int) -> int:
    block = bytearray(mb * 2**20)
    return len(block)


@rt.task
def touch_shared(mb: int, hold: float) -> int:
    """Memory the heap limit does not see (a shared mapping), but the RSS does."""
    mapping = mmap.mmap(-1, mb * 2**20)
    for offset in range(0, len(mapping), mmap.PAGESIZE):
        mapping[offset] = 1
    time.sleep(hold)
    return len(mapping)


@rt.task
def sleep(seconds: float) -> None:
    time.sleep(seconds)


@rt.task
def span(directory: str, name: str, seconds: float) -> None:
    start = time.time()
    time.sleep(seconds)
    Path(directory, name).write_text(f"{start} {time.time()}")


@rt.task
def pid_then_sleep(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


@rt.task
def interpreter() -> str:
    return sys.executable


@rt.task
def importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@rt.task
def shout(text: str) -> None:
    print(text)
    print(f"err {text}", file=sys.stderr)
    os.write(1, b"raw fd\n")
    subprocess.run(["echo", "from a child process"], check=True)


@rt.task
def shout_then_sleep(text: str) -> None:
    print(text)
    time.sleep(30)


@rt.task
def context(x: int = 0) -> dict[str, Any]:
    ctx = current_context()
    return {
        "execution_id": ctx.execution_id,
        "node": ctx.node,
        "attempt": ctx.attempt,
        "task": ctx.task,
        "task_config": dict(ctx.task_config),
        "retries": ctx.config["retries"],
        "index": ctx.index,
    }


@rt.task
def cpus() -> tuple[int, str]:
    return len(os.sched_getaffinity(0)), os.environ["RETUNE_CPU"]


@rt.task
def reverse(data: bytes) -> bytes:
    return data[::-1]


@rt.task
def count_lines(file: File) -> int:
    return len(file.read_text().splitlines())


@rt.task
def make_tree(names: list[str]) -> Directory:
    root = Path(tempfile.mkdtemp()) / "tree"
    root.mkdir()
    for name in names:
        (root / name).write_text(name.upper())
    return Directory(root)


@rt.task
def fails(x: int) -> int:
    raise ValueError(f"no good: {x}")


@rt.task
def exit_with(status: int) -> None:
    print("about to exit", file=sys.stderr, flush=True)
    os._exit(status)


@rt.task
def segfault() -> None:
    import ctypes

    ctypes.string_at(0)


@rt.task
def abort() -> None:
    os.abort()


@rt.task
def start_sleeper(pid_file: str, how: str, then: str) -> int:
    """Start ``sleep 300`` in the background, ``how``: ``popen`` (a child), ``shell`` (``sleep
    300 &``: a grandchild whose parent exits at once), ``setsid`` (the same, in a session of its
    own); write its pid to ``pid_file``; then ``return`` (this process's pid), ``raise``,
    ``hang`` or ``exit`` (``os._exit(3)``)."""
    partial = Path(pid_file + ".partial")
    if how == "popen":
        partial.write_text(str(subprocess.Popen(["sleep", "300"]).pid))
    else:
        prefix = "setsid " if how == "setsid" else ""
        if os.system(f"{prefix}sleep 300 & echo $! > {partial}") != 0:
            raise RuntimeError("the shell failed")
    partial.rename(pid_file)  # the test never reads half a pid
    if then == "raise":
        raise RuntimeError("failed after starting a sleeper")
    if then == "hang":
        time.sleep(60)
    if then == "exit":
        os._exit(3)
    return os.getpid()


@rt.task
def children_now() -> tuple[int, list[int]]:
    """This process's pid and its children (on Linux)."""
    me = os.getpid()
    found: list[int] = []
    for tid in os.listdir(f"/proc/{me}/task"):
        found.extend(int(c) for c in Path(f"/proc/{me}/task/{tid}/children").read_text().split())
    return me, found


@rt.task
def pool_square(x: int) -> int:
    """multiprocessing with a forkserver, whose helper processes the sweep ends after each attempt."""
    import multiprocessing

    with multiprocessing.get_context("forkserver").Pool(1) as pool:
        return int(pool.apply(abs, (-x,)) ** 2)

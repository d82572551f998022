"""The in-task entrypoint of a Ray attempt: what ``retune.executors.ray`` runs on a Ray worker.

The executor names this module rather than importing it (the executors layer sits below the
task runtime, as the local executor starts ``retune.task_runtime.main`` by name). One call of
``run`` is one attempt; its first argument, what every attempt of a task and config sends
alike (the task, its type, the config, the blob store), comes pickled and is unpickled once per
worker process:

1. the blob store is rebuilt from the URL and options the executor sends (once per worker
   process): the worker reads inputs, writes outputs and logs there, never the object store;
2. the code bundle (``TaskRef.bundle``) is installed from the blob store into a directory of
   this machine, once per machine (extraction is atomic: ``executors.bundles``). The executor
   gives each bundle its own Ray workers (``RETUNE_BUNDLE`` in the ``runtime_env``), so a
   worker's module cache never mixes two versions of a module;
3. the attempt's stdout and stderr are captured at the file-descriptor level and copied to
   ``<log_prefix>/stdout`` and ``/stderr`` afterwards; the worker's own streams come back;
4. its calls run as in a local task process (``task_runtime.main.attempt_calls``): the same
   loading, context, task-type runner and codec; environment and working directory are
   restored afterwards, as Ray reuses the worker for the next attempt with the same ``runtime_env``;
5. past ``timeout`` a timer writes ``<log_prefix>/timed_out`` to the blob store and kills this
   worker: the executor sees the worker die, finds the mark and reports ``TIMEOUT`` (a user
   error) rather than a lost worker;
6. its memory limit (``mem_limit``) as in a local task process: ``RLIMIT_DATA`` lowered for the
   attempt, so an allocation past it raises ``MemoryError``, reported ``oom`` (a user error, the
   local executor's message). The limit counts what the attempt allocates beyond what this Ray
   worker held when it began (a Ray worker holds some 100-400 MiB of thread stacks and arenas
   before any task code runs; a local task process's own ~20 MiB count against the limit), and
   it is lifted when the attempt ends, so it never reaches the next task this worker runs.

The reply: ``("done", outputs, logs, began)`` or ``("failed", kind, error, logs, began)`` (began:
when the attempt began on the worker, ``time.time()``) with kind ``user``
(the task raised: the error is ``calls.describe``'s text, traceback included), ``oom`` (past
its memory limit) or ``lost`` (the blob store or the bundle could not be reached: the system's
failure).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from retune.executors.bundles import InstalledBundles
from retune.task_runtime import context
from retune.task_runtime.calls import CallFailed, describe
from retune.task_runtime.main import attempt_calls, isolated

TIMED_OUT: Final = "timed_out"
"""The blob (under the attempt's log prefix) that says the attempt ran past its timeout."""

KEPT: Final = 64
"""Unpickled tasks kept per worker process (``_task``)."""

STREAMS: Final = (1, "stdout"), (2, "stderr")

_STORES: dict[tuple[str, str], Any] = {}
_SCRATCH: list[Path] = []
_CAPTURE: dict[int, int] = {}  # fd 1 or 2 -> this worker's capture file for it
_BUNDLES: dict[str, InstalledBundles] = {}
_TASKS: dict[bytes, dict[str, Any]] = {}


def run(task: bytes, attempt: Mapping[str, Any]) -> tuple[Any, ...]:
    """Run one attempt (the two parts ``executors.ray`` sends) and say how it went, when it
    began (``time.time()`` on the worker) appended to the reply."""
    began = time.time()
    return (*_run(task, attempt), began)


def _run(task: bytes, attempt: Mapping[str, Any]) -> tuple[Any, ...]:
    try:
        described = _task(task)
        blobs = _blobs(described["blobs"])
        prepared = _with_code(_prepared(described, attempt), blobs, described["blobs"][0])
    except CallFailed as exc:
        return ("failed", "user", str(exc), {})
    except Exception as exc:  # the blob store or the bundle: the place failed, not the task
        return (
            "failed",
            "lost",
            f"the Ray worker could not prepare the attempt: {describe(exc, full=False)}",
            {},
        )
    prefix = attempt["log_prefix"]
    scratch = _scratch()
    work = scratch / "work"
    logs: dict[str, str] = {}
    try:
        with (
            _deadline(attempt.get("timeout"), blobs, f"{prefix}/{TIMED_OUT}"),
            _captured(),
            isolated({}),
        ):
            limit = attempt.get("mem_limit") or 0
            try:
                with _memory_limit(limit):
                    return ("done", attempt_calls(prepared, work, blobs), logs)
            except CallFailed as exc:
                oom = limit and isinstance(exc.cause, MemoryError)
                return ("failed", "oom" if oom else "user", str(exc), logs)
            except MemoryError as exc:
                return ("failed", "oom" if limit else "user", f"MemoryError: {exc}", logs)
            finally:
                context.set_context(None)
    finally:
        logs.update(_publish(prefix, blobs))
        if os.path.lexists(work):
            shutil.rmtree(work, ignore_errors=True)


def _task(pickled: bytes) -> dict[str, Any]:
    """The part of the attempt its task and config share, unpickled once per worker process."""
    described = _TASKS.get(pickled)
    if described is None:
        if len(_TASKS) >= KEPT:
            _TASKS.clear()
        described = _TASKS[pickled] = pickle.loads(pickled)
    return described


def _prepared(described: Mapping[str, Any], attempt: Mapping[str, Any]) -> dict[str, Any]:
    """The attempt as ``main.attempt_calls`` reads it (a local task process's attempt)."""
    return {
        "name": described["name"],
        "task": described["task"],
        "task_type": described["task_type"],
        "template": described["template"],
        "calls": attempt["calls"],
        "context": {
            "execution_id": attempt["execution_id"],
            "node": attempt["node"],
            "attempt": attempt["attempt"],
            "config": described["config"],
        },
    }


def _scratch() -> Path:
    """This worker process's directory for an attempt's captured streams (``_captured``) and its
    working files (``work``, removed after each): made once per process, as a directory made and
    removed per attempt was half of what ``run`` itself cost. Removed when the worker exits; one
    killed (timeout, cancel) leaves its few bytes in the temp directory."""
    if _SCRATCH and _SCRATCH[0].is_dir():
        return _SCRATCH[0]
    made = Path(tempfile.mkdtemp(prefix="retune-ray-"))
    atexit.register(shutil.rmtree, made, True)
    _SCRATCH[:] = [made]
    for fd, stream in STREAMS:
        with contextlib.suppress(KeyError, OSError):
            os.close(_CAPTURE.pop(fd))
        _CAPTURE[fd] = os.open(made / stream, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    return made


def _blobs(described: tuple[str, Mapping[str, Any]]) -> Any:
    """The blob store at ``url`` with fsspec ``options``, opened once per worker process."""
    url, options = described
    key = (url, repr(sorted(options.items())))
    store = _STORES.get(key)
    if store is None:
        from retune.store import open_blobs  # the worker side may: only the executor may not

        store = _STORES[key] = open_blobs(url, options=options)
    return store


def _with_code(attempt: Mapping[str, Any], blobs: Any, url: str) -> dict[str, Any]:
    """The attempt with its bundle's directory on the task's path, installed here if need be."""
    module, qualname, pickled, bundle = attempt["task"]
    sys_path: tuple[str, ...] = ()
    if bundle is not None:
        installed = _BUNDLES.get(url)
        if installed is None:
            cache = Path(tempfile.gettempdir()) / f"retune-ray-bundles-{os.getuid()}"
            installed = _BUNDLES[url] = InstalledBundles(blobs, cache)
        sys_path = (str(installed.path(bundle)),)
    return {**attempt, "task": (module, qualname, pickled, sys_path)}


@contextlib.contextmanager
def _captured() -> Iterator[None]:
    """fds 1 and 2 into this worker's capture files (``_scratch``: opened once, appending,
    emptied for each attempt), then back to the worker's own (Ray's worker log files)."""
    saved = []
    for fd, stream in STREAMS:
        with contextlib.suppress(Exception):
            getattr(sys, stream).flush()
        os.ftruncate(_CAPTURE[fd], 0)
        saved.append((fd, os.dup(fd), stream))
        os.dup2(_CAPTURE[fd], fd)
    try:
        yield
    finally:
        for fd, original, stream in saved:
            with contextlib.suppress(Exception):
                getattr(sys, stream).flush()
            os.dup2(original, fd)
            os.close(original)


def _publish(prefix: str, blobs: Any) -> dict[str, str]:
    """Copy the non-empty captured streams to ``<prefix>/<stream>``; stream -> blob key."""
    logs = {}
    for fd, stream in STREAMS:
        with contextlib.suppress(OSError, KeyError):
            size = os.fstat(_CAPTURE[fd]).st_size
            if size:
                key = logs[stream] = f"{prefix}/{stream}"
                blobs.put(key, os.pread(_CAPTURE[fd], size, 0))
    return logs


@contextlib.contextmanager
def _memory_limit(limit: int) -> Iterator[None]:
    """``RLIMIT_DATA`` at what this process holds now plus ``limit`` bytes, restored afterwards.
    A Ray worker is not a fresh process: its threads and arenas are counted already, so the
    limit is on what the attempt adds (``main._memory_limit`` caps a task process outright)."""
    if not limit:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = _data_size() + limit
    capped = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (capped, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _data_size() -> int:
    """Bytes this process holds of what ``RLIMIT_DATA`` counts (``VmData``; ``/proc/self/statm``
    adds the main stack, ~100 KiB); 0 where there is no ``/proc``."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[5]) * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return 0


@contextlib.contextmanager
def _deadline(timeout: float | None, blobs: Any, mark: str) -> Iterator[None]:
    """Past ``timeout`` seconds: write ``mark`` to the blob store, then kill this worker (a
    thread cannot stop a call stuck in C code; the worker dying is how Ray ends a task)."""
    if timeout is None:
        yield
        return

    def expire() -> None:
        with contextlib.suppress(Exception):
            blobs.put(mark, b"")
        os.kill(os.getpid(), signal.SIGKILL)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()

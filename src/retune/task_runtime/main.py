"""The task process: ``python -u -m retune.task_runtime.main READ_FD WRITE_FD``.

A long-lived process owned by ``retune.executors.local``. It reads one attempt at a time from
the pipe (``retune.executors.wire``), runs its calls and replies. Each attempt gets, and then
gives back:

1. its environment variables (``config.environment`` and ``RETUNE_CPU``) over the environment
   the process started with: whatever the task changed is undone afterwards, and the next
   attempt sees only its own (``TaskServer.environment``);
2. its working directory, restored afterwards, and a scratch directory of its own, removed
   (a batch's together, at the batch's end);
3. its stdout and stderr, redirected at the file-descriptor level into the capture files the
   executor names (truncated first), so C extensions and subprocesses are captured too;
4. its memory limit: ``RLIMIT_DATA`` (heap and anonymous mappings) lowered to the limit, so
   an allocation past it raises ``MemoryError``, reported as ``oom``; the executor also
   watches the process's RSS and kills it past the limit;
5. ``rt.current_context()``;
6. the processes it started: the task process is a child subreaper, and after each attempt every
   process below it is killed and reaped (``retune.executors.process_tree``), so none outlives
   the attempt, and the pooled process itself lives on for the next one.

A crash of the task process (a segfault in a C extension, ``os._exit``) is reported by the executor,
which sees the process die; ``faulthandler`` first writes the Python stack of the crash to the
attempt's stderr, where the executor finds it.

Imports: the stdlib, ``retune.task_runtime`` and ``retune.model.values``. pydantic and
cloudpickle load only when a task's types or a pickled task need them; a task type's plugin
(``retune.plugins``) only for a task of that type, whose runner then runs each call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from retune.executors import process_tree, wire
from retune.model.values import BlobLike
from retune.task_runtime import context
from retune.task_runtime.calls import CallFailed, load_task, run_calls, template_task, with_runner

FEATURES: Final = ("each",)
"""What this task process understands beyond ``run`` (told in its ``ready`` message): ``each``,
several attempts in one message (``TaskServer.run_each``)."""


class ParentBlobs:
    """The executor's blob store, reached through the pipe (the codec's ``BlobLike``)."""

    def __init__(self, reader: wire.Reader, write_fd: int) -> None:
        self.reader = reader
        self.write_fd = write_fd

    def get(self, key: str) -> bytes:
        wire.send(self.write_fd, ("blob_get", key))
        reply = self.reader.recv()
        if reply[0] != "blob" or reply[1] is None:
            raise KeyError(f"no blob {key!r} in the blob store")
        data: bytes = reply[1]
        return data

    def put(self, key: str, data: bytes) -> None:
        wire.send(self.write_fd, ("blob_put", key, data))


class TaskServer:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.reader = wire.Reader(read_fd)
        self.write_fd = write_fd
        self.blobs = ParentBlobs(self.reader, write_fd)
        self.scratch = Path(tempfile.mkdtemp(prefix="retune-task-"))
        self.scratch_fd = -1
        self.scratch_seen: tuple[int, int] | None = None  # see swept
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.attempts = 0
        self.captures: dict[str, int] = {}  # capture file -> an fd of it, kept open: see _logs
        self.started_with = dict(os.environ)  # see environment
        self.applied: dict[str, str] = {}

    def serve(self) -> None:
        wire.send(self.write_fd, ("ready", os.getpid(), sys.executable, FEATURES))
        os.dup2(self.devnull, 1)  # between attempts, stray output goes nowhere
        os.dup2(self.devnull, 2)
        try:
            while True:
                try:
                    message = self.reader.recv()
                except EOFError:
                    return
                if message[0] == "run":
                    wire.send(self.write_fd, self.run(message[1]))
                elif message[0] == "each":
                    self.run_each(message[1])
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def run(self, attempt: Mapping[str, Any]) -> tuple[Any, ...]:
        limit = attempt["mem_limit"]
        with (
            _logs(attempt["stdout"], attempt["stderr"], self.devnull, self.captures),
            _memory_limit(limit),
        ):
            return self.one(attempt, limit)

    def run_each(self, batch: Mapping[str, Any]) -> None:
        """Several attempts of one task with one config (the items of a map node), sent as one
        message: each runs as ``run`` runs an attempt (its own environment, working directory,
        context and processes, all restored or ended after it), and is answered as soon as it
        ends, ``("items", [(index, reply, spans, started, ended)], ran)``: ``spans`` is where its
        output lies in the capture files; ``ran``, with the last answer, how many ran (else None).
        Answered at once, not held, so that a crash in the next one loses no answer. The first
        that fails ends the batch (its process may be in any state); the executor queues the
        others again."""
        limit = batch["mem_limit"]
        numbers, calls = batch["numbers"], batch["calls"]
        # One item's output ends where the next one's begins: one look at the offsets each.
        with (
            _logs(batch["stdout"], batch["stderr"], self.devnull, self.captures),
            _memory_limit(limit),
        ):
            item = dict(batch)
            ended = _offsets()
            try:
                for index, call in enumerate(calls):
                    began, started = ended, time.time()
                    item["calls"], item["context"] = [call], {**batch["context"], "attempt": numbers[index]}
                    reply = self.one(item, limit, sweep=False)
                    last = reply[0] != "done" or index == len(calls) - 1
                    ended = _offsets()
                    answer = (index, reply, (began, ended), started, time.time())
                    wire.send(self.write_fd, ("items", [answer], index + 1 if last else None))
                    if last:
                        return
            finally:
                self.swept()

    def one(self, attempt: Mapping[str, Any], limit: int, *, sweep: bool = True) -> tuple[Any, ...]:
        """One attempt's calls, in its own environment and working directory (streams and
        memory limit set by the caller); its reply. ``sweep=False``: its working directory is
        left for the caller to remove (``swept``: a batch's items, one look for them all)."""
        self.attempts += 1
        workdir = self.scratch / str(self.attempts)
        try:
            with self.environment(attempt["env"]), _working_directory():
                return ("done", self.calls(attempt, workdir))
        except CallFailed as exc:
            if limit and isinstance(exc.cause, MemoryError):
                return ("failed", "oom", str(exc))
            return ("failed", "user", str(exc))
        except MemoryError as exc:
            return ("failed", "oom" if limit else "user", f"MemoryError: {exc}")
        finally:
            context.set_context(None)
            _forget_helpers(process_tree.end_children())
            if sweep:
                self.swept()

    def swept(self) -> None:
        """Remove what attempts left in the scratch directory (their working directories): most
        leave nothing, which one ``fstat`` of the directory says (its modification time and
        link count stay as they were); a path lookup per attempt cost more. A task that removed
        the scratch directory itself loses nothing by it: it is looked up again."""
        try:
            if self.scratch_fd >= 0 and self.scratch_seen == _dir_state(self.scratch_fd):
                return
        except OSError:
            pass
        with contextlib.suppress(OSError), os.scandir(self.scratch) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        try:
            if self.scratch_fd < 0 or os.fstat(self.scratch_fd).st_nlink == 0:  # first, or removed
                if self.scratch_fd >= 0:
                    os.close(self.scratch_fd)
                    self.scratch_fd = -1
                self.scratch.mkdir(parents=True, exist_ok=True)
                self.scratch_fd = os.open(self.scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self.scratch_seen = _dir_state(self.scratch_fd)
        except OSError:
            self.scratch_seen = None  # looked at again after the next attempt

    @contextlib.contextmanager
    def environment(self, changes: Mapping[str, str]) -> Iterator[None]:
        """``os.environ`` as this process started, plus ``changes``, for one attempt; whatever
        the attempt changed is undone after it. The last attempt's variables stay set between
        attempts (no code runs then), so an attempt given the same ones (every attempt of a
        node, a map's items, most of a run) sets nothing: one copy of the environment and one
        comparison."""
        raw = getattr(os.environ, "_data", None)  # CPython's bytes dict: see _environment
        if not isinstance(raw, dict):
            with _environment(changes):
                yield
            return
        if changes != self.applied:
            for key in self.applied.keys() - changes.keys():
                if key in self.started_with:
                    os.environ[key] = self.started_with[key]
                else:
                    os.environ.pop(key, None)
            for key, value in changes.items():
                if self.applied.get(key) != value:
                    os.environ[key] = value
            self.applied = dict(changes)
        before = dict(raw)
        try:
            yield
        finally:
            if raw != before:  # the task changed it
                _restore_environment(before, raw_keys=True)

    def calls(self, attempt: Mapping[str, Any], workdir: Path) -> list[dict[str, Any]]:
        return attempt_calls(attempt, workdir, self.blobs)


def attempt_calls(attempt: Mapping[str, Any], workdir: Path, blobs: BlobLike) -> list[dict[str, Any]]:
    """Run an attempt's calls: ``rt.current_context()`` set, the task loaded (or its template
    typed), its type's runner wrapped around it, inputs decoded and outputs encoded through
    ``blobs``. The one path of a local task process and of a Ray task (``task_runtime.on_ray``)."""
    name = attempt["name"]
    ctx = attempt["context"]
    base = context.TaskContext(
        ctx["execution_id"],
        ctx["node"],
        ctx["attempt"],
        name,
        ctx["config"]["task_config"],
        ctx["config"],
    )
    context.set_context(base)
    template = attempt.get("template")
    if template is None:
        module, qualname, pickled, sys_path = attempt["task"]
        task = load_task(name, module, qualname, pickled, sys_path)
    else:
        task = template_task(name, template[1], template[2])
    task = with_runner(
        task,
        attempt.get("task_type", "python"),
        definition=None if template is None else template[0],
        config=base.task_config,
        environment=ctx["config"].get("environment", {}),
        workdir=workdir,
        run_with_context=_with_extras,
    )
    calls = attempt["calls"]
    on_call = None
    if len(calls) > 1:

        def on_call(index: int) -> None:
            context.set_context(dataclasses.replace(base, index=index))

    return run_calls(task, calls, blobs=blobs, workdir=workdir, on_call=on_call)


def _with_extras(
    extras: Mapping[str, Any], lazy: Mapping[str, Callable[[], Any]], thunk: Callable[[], Any]
) -> Any:
    """``thunk()`` with ``extras`` on ``rt.current_context()``, and ``lazy`` ones made on first
    access (a task type's runner asks)."""
    before = context.current_context()
    made = {name: context.Lazy(factory) for name, factory in lazy.items()}
    context.set_context(dataclasses.replace(before, extras={**before.extras, **extras, **made}))
    try:
        return thunk()
    finally:
        context.set_context(before)


@contextlib.contextmanager
def isolated(env: Mapping[str, str]) -> Iterator[None]:
    """An attempt's environment variables and working directory, both restored afterwards
    (whatever the task changed): for a process that outlives its attempts."""
    with _environment(env), _working_directory():
        yield


@contextlib.contextmanager
def _environment(changes: Mapping[str, str]) -> Iterator[None]:
    # os.environ decodes every key and value on each access; its raw dict (CPython's
    # os._Environ._data) snapshots and compares in a microsecond instead of ~100.
    raw = getattr(os.environ, "_data", None)
    before: dict[Any, Any] = dict(raw) if isinstance(raw, dict) else dict(os.environ)
    previous = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if (raw if isinstance(raw, dict) else dict(os.environ)) != before:  # the task changed more
            _restore_environment(before, raw_keys=isinstance(raw, dict))


def _restore_environment(before: dict[Any, Any], *, raw_keys: bool) -> None:
    if raw_keys:
        before = {os.fsdecode(k): os.fsdecode(v) for k, v in before.items()}
    for key in [k for k in os.environ if k not in before]:
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


@contextlib.contextmanager
def _working_directory() -> Iterator[None]:
    cwd = os.getcwd()
    try:
        yield
    finally:
        if os.getcwd() != cwd:
            os.chdir(cwd)


@contextlib.contextmanager
def _logs(stdout: str | None, stderr: str | None, devnull: int, captures: dict[str, int]) -> Iterator[None]:
    """fds 1 and 2 into the attempt's capture files, emptied first. The executor names the same
    files attempt after attempt, so each is opened once and kept (``captures``): truncating an
    open file costs a third of opening it each time."""
    targets = [(1, stdout, sys.stdout), (2, stderr, sys.stderr)]
    for fd, path, _ in targets:
        if path is not None:
            os.dup2(_emptied(path, captures), fd)
    try:
        yield
    finally:
        for fd, path, stream in targets:
            if path is not None:
                with contextlib.suppress(Exception):
                    stream.flush()
                os.dup2(devnull, fd)


def _dir_state(fd: int) -> tuple[int, int]:
    """What changes when an entry is made in or removed from the directory ``fd``."""
    found = os.fstat(fd)
    return found.st_mtime_ns, found.st_nlink


def _offsets() -> tuple[int, int]:
    """How far stdout and stderr got in their capture files (streams flushed first)."""
    found = []
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        with contextlib.suppress(Exception):
            stream.flush()
        try:
            found.append(os.lseek(fd, 0, os.SEEK_CUR))
        except OSError:
            found.append(0)
    return found[0], found[1]


def _emptied(path: str, captures: dict[str, int]) -> int:
    """An fd of the capture file ``path``, truncated, at offset 0; opened again if the one kept
    is no longer that file (a task closed it, or the file was replaced)."""
    log = captures.get(path, -1)
    if log >= 0:
        try:
            found = os.fstat(log)
            if found.st_nlink:  # still the file the executor reads
                if found.st_size:  # most attempts write nothing
                    os.ftruncate(log, 0)
                os.lseek(log, 0, os.SEEK_SET)
                return log
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.close(log)
    log = captures[path] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    return log


@contextlib.contextmanager
def _memory_limit(limit: int) -> Iterator[None]:
    if not limit:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    capped = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (capped, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _forget_helpers(ended: list[int]) -> None:
    """multiprocessing keeps its forkserver and resource tracker for the life of the process
    and, finding them gone, fails (``ChildProcessError`` on a reaped pid) or warns; so when the
    sweep ended them, say so, and the next attempt that needs them starts new ones."""
    if not ended:
        return
    forkserver = getattr(sys.modules.get("multiprocessing.forkserver"), "_forkserver", None)
    if forkserver is not None and getattr(forkserver, "_forkserver_pid", None) in ended:
        with contextlib.suppress(Exception):
            os.close(forkserver._forkserver_alive_fd)
        forkserver._forkserver_pid = forkserver._forkserver_alive_fd = forkserver._forkserver_address = None
    tracker = getattr(sys.modules.get("multiprocessing.resource_tracker"), "_resource_tracker", None)
    if tracker is not None and getattr(tracker, "_pid", None) in ended:
        with contextlib.suppress(Exception):
            os.close(tracker._fd)
        tracker._pid = tracker._fd = None


def main(argv: list[str]) -> None:
    read_fd, write_fd = int(argv[1]), int(argv[2])
    for fd in (read_fd, write_fd):
        os.set_inheritable(fd, False)  # a task's own subprocesses must not hold the pipe open
    process_tree.become_subreaper()
    faulthandler.enable(all_threads=False)  # the crashing thread, to fd 2: the capture file during an attempt
    _die_with_parent()
    TaskServer(read_fd, write_fd).serve()


def _die_with_parent() -> None:
    """Linux: end this process and every process below it when the executor's process dies,
    rather than finish an attempt nobody waits for (an idle task process would exit anyway: its pipe
    closes).

    A thread waits on a pidfd of the parent. ``PR_SET_PDEATHSIG`` alone would kill this process
    at once, and leave the processes the attempt started running, re-parented to init. The
    price: the thread needs the GIL, so a task stuck in C code that holds it is ended only when
    that call returns. Without pidfds (Linux < 5.3), ``PR_SET_PDEATHSIG`` it is."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        handle = os.pidfd_open(parent)
    except OSError:
        handle = -1
    if handle < 0:
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
        except (OSError, AttributeError):
            return
    if os.getppid() != parent:  # the parent died before the watch began
        os._exit(1)
    if handle >= 0:
        threading.Thread(target=_end_with, args=(handle,), name="retune-parent", daemon=True).start()


def _end_with(parent: int) -> None:
    """Block until the ``parent`` pidfd is readable (the parent exited), then end everything."""
    select.select([parent], [], [])
    me = os.getpid()
    process_tree.kill_below(me)
    if os.getpgid(0) == me:  # the group the executor gave it: a backstop for what /proc missed
        with contextlib.suppress(OSError):
            os.killpg(me, signal.SIGKILL)
    os.kill(me, signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv)

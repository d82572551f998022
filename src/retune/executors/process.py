"""One task process of the local executor, seen from the executor's side.

``TaskProcess.start`` spawns ``retune.task_runtime.main`` (``Interpreters.command``) and waits for
its ``ready``; ``run`` sends one attempt and waits for the reply, answering the task process's blob
requests meanwhile, and ends the process itself when the attempt runs past its timeout or its
memory limit. A process that was killed or died is not reused: the caller starts another.

The process leads its own session and process group, and is a child subreaper (see
``process_tree``): killing it kills the processes its attempt started too. How a process that
died during an attempt died says whose failure it is (DESIGN §8, ``_death``): an exit, or a
signal the task provokes itself (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL), is the task's
(``crashed``); any other signal came from outside (``lost``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from retune.executors import process_tree, wire

if TYPE_CHECKING:
    from retune.executors.base import Blobs

START_TIMEOUT: Final = 60.0
WATCH_INTERVAL: Final = 0.05
"""How often a running attempt's RSS and deadline are checked while no reply has come."""
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")

PROVOKED: Final[dict[int, str]] = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "abort",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "arithmetic error",
    signal.SIGILL: "illegal instruction",
}
"""Signals a process gets for what its own code did: dying of one is the task's failure. Any
other signal (SIGKILL, SIGTERM, ...) was sent from outside: the place it ran went away."""


class StartFailed(Exception):
    """The task process did not come up (a missing interpreter, retune not importable)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """How an attempt ended, from the process's point of view."""

    kind: str  # "done" | "user" | "oom" | "oom_killed" | "timeout" | "crashed" | "lost" | "items"
    outputs: Sequence[Mapping[str, Any]] | None = None
    error: str = ""
    detail: Any = None
    """``items`` (attempts of a batch ended): ``(answers, ran)`` as the task process sent them
    (``task_runtime.main.TaskServer.run_each``)."""

    @classmethod
    def of(cls, message: tuple[Any, ...]) -> Reply:
        """A task process's ``("done", outputs)`` or ``("failed", kind, error)``."""
        if message[0] == "done":
            return cls("done", outputs=message[1])
        return cls(message[1], error=message[2])


class TaskProcess:
    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.command = list(command)
        self.interpreter = command[0]
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_fd = -1
        self.reader = wire.Reader(-1)
        self.poller = select.poll()
        self.cores: tuple[int, ...] = ()
        self.ready = False
        self.unsent = False  # the last attempt never reached the process: it was dead already
        self._statm = (-1, -1)  # (pid, fd of its /proc/PID/statm): see rss
        self.features: frozenset[str] = frozenset()  # what it understands beyond "run" (its ready message)

    @property
    def alive(self) -> bool:
        """Started, ready for attempts, and not dead."""
        return self.ready and self.proc is not None and not _exited(self.proc)

    @property
    def pid(self) -> int:
        return -1 if self.proc is None else self.proc.pid

    @property
    def starting(self) -> bool:
        """Spawned, not ready yet, and not dead (``spawn`` without ``wait_ready``)."""
        return not self.ready and self.proc is not None and self.write_fd >= 0 and not _exited(self.proc)

    def start(self) -> None:
        """Spawn the task process and wait until it is ready to run attempts."""
        self.spawn()
        self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the spawned process says it is ready (``StartFailed`` if it does not)."""
        assert self.proc is not None
        self._await_ready(self.proc)

    def spawn(self) -> None:
        """Start the task process; ``wait_ready`` waits for it to be ready."""
        self.kill()
        to_task_r, to_task_w = os.pipe()
        from_task_r, from_task_w = os.pipe()
        argv = [*self.command, str(to_task_r), str(from_task_w)]
        try:
            proc = subprocess.Popen(
                argv,
                pass_fds=(to_task_r, from_task_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self.env,
                start_new_session=True,  # its own process group, and no signals from a terminal
            )
        except OSError as exc:
            for fd in (to_task_w, from_task_r):
                os.close(fd)
            raise StartFailed(f"cannot start {self.interpreter!r}: {exc.strerror}") from None
        finally:
            os.close(to_task_r)
            os.close(from_task_w)
        self.proc = proc
        self.write_fd = to_task_w
        self.reader = wire.Reader(from_task_r)
        self.poller = select.poll()
        self.poller.register(from_task_r, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.cores = ()

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        try:
            if not self.poller.poll(START_TIMEOUT * 1000):
                raise EOFError(f"no answer within {START_TIMEOUT:.0f}s")
            message = self.reader.recv()
            if message[0] != "ready":
                raise EOFError(f"unexpected first message {message[0]!r}")
            self.features = frozenset(message[3]) if len(message) > 3 else frozenset()
        except EOFError as exc:
            self.kill()
            detail = proc.stderr.read().decode(errors="replace").strip()
            proc.stderr.close()
            raise StartFailed(
                f"the task process under {self.interpreter!r} did not start ({exc}): {detail[-2000:]}"
            ) from None
        proc.stderr.close()  # once ready, the task process sends its own stderr to /dev/null
        self.ready = True

    def pin(self, cores: tuple[int, ...]) -> None:
        """Restrict the process to ``cores`` (CPU affinity)."""
        if cores and cores != self.cores and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(self.pid, cores)
                self.cores = cores
            except OSError:  # it died meanwhile; run() reports that
                pass

    def rss(self) -> int:
        """Resident memory in bytes (0 if unknown). Asked before every attempt with a memory
        limit: ``/proc/PID/statm`` is opened once per process and read with ``pread`` (~2 us,
        where opening it each time cost ~20)."""
        pid = self.pid
        try:
            if self._statm[0] != pid:
                self._close_statm()
                self._statm = (pid, os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC))
            return int(os.pread(self._statm[1], 128, 0).split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            return 0

    def _close_statm(self) -> None:
        if self._statm[1] >= 0:
            with contextlib.suppress(OSError):
                os.close(self._statm[1])
        self._statm = (-1, -1)

    def run(
        self, attempt: Mapping[str, Any], *, blobs: Blobs, timeout: float | None, mem_limit: int
    ) -> Reply:
        """Send one attempt and wait for its end."""
        deadline = self.send(attempt, timeout)
        return self.wait(blobs=blobs, deadline=deadline, mem_limit=mem_limit)

    def send(self, attempt: Mapping[str, Any], timeout: float | None, *, kind: str = "run") -> float | None:
        """Send one attempt (any thread may; one ``wait`` must follow), or with ``kind="each"`` a
        batch of them (``task_runtime.main.TaskServer.run_each``: ``wait`` until its last answer
        came). Returns the deadline of the (first) attempt."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self.unsent = False
            wire.send(self.write_fd, (kind, attempt))
        except OSError:  # the task process is gone: wait() reads EOF and says so
            self.unsent = True
        return deadline

    def wait(self, *, blobs: Blobs, deadline: float | None, mem_limit: int) -> Reply:
        """The end of the attempt sent last, answering the task process's blob requests meanwhile;
        past ``deadline`` or ``mem_limit`` (RSS) the process is killed."""
        if self.reader.fd < 0:
            return self._lost()
        while True:
            if not self.reader.pending() and not self._wait(deadline):
                if not self.alive and not self._wait(None, at_most=0.0):
                    return self._lost()  # killed from another thread (see interrupt), or died silently
                if deadline is not None and time.monotonic() >= deadline:
                    self.kill()
                    return Reply("timeout")
                used = self.rss() if mem_limit else 0
                if used > mem_limit:
                    self.kill()
                    return Reply("oom_killed", error=str(used))
                continue
            try:
                message = self.reader.recv()
                reply = self._handle(message, blobs)
            except EOFError:
                return self._lost()
            except Exception as exc:  # the blob store failed us: not the task's fault
                self.kill()
                return Reply("lost", error=f"the blob store failed while the task ran: {exc!r}")
            if reply is not None:
                return reply

    def readable(self) -> bool:
        """Whether a message is there to read now (buffered, or in the pipe)."""
        return self.reader.pending() or (self.reader.fd >= 0 and bool(self.poller.poll(0)))

    def _wait(self, deadline: float | None, at_most: float = WATCH_INTERVAL) -> bool:
        wait = at_most if deadline is None else min(at_most, deadline - time.monotonic())
        return bool(self.poller.poll(max(0.0, wait) * 1000))

    def _handle(self, message: tuple[Any, ...], blobs: Blobs) -> Reply | None:
        kind = message[0]
        if kind == "blob_get":
            try:
                data: bytes | None = blobs.get(message[1])
            except KeyError:
                data = None
            wire.send(self.write_fd, ("blob", data))
        elif kind == "blob_put":
            if not blobs.exists(message[1]):
                blobs.put(message[1], message[2])
        elif kind in ("done", "failed"):
            return Reply.of(message)
        elif kind == "items":
            return Reply("items", detail=message[1:])
        return None

    def _lost(self) -> Reply:
        """The process died during the attempt: whose failure it is depends on how (``_death``)."""
        proc = self.proc
        self._close_pipes()
        if proc is None:
            return Reply("lost", error="the task process was never started")
        deadline = time.monotonic() + 5  # the pipe closes a moment before the process is gone
        while not _exited(proc) and time.monotonic() < deadline:
            time.sleep(0.005)
        if not _exited(proc):  # alive, but it closed its end of the pipe: the task's doing
            self._reap(proc)
            return Reply(
                "crashed", error=f"the task process (pid {proc.pid}) closed its pipe to the executor"
            )
        self._reap(proc)
        return _death(proc.pid, proc.returncode, unsent=self.unsent)

    def interrupt(self) -> None:
        """Kill the process and its tree, from any thread: the thread in ``wait`` sees it die and
        reports the attempt lost. (``kill`` also closes the pipes, so only that thread may call it.)"""
        if self.proc is not None and not _exited(self.proc):
            process_tree.end_tree(self.proc.pid)

    def kill(self) -> None:
        """End the process and every process below it now (SIGKILL), and reap it."""
        if self.proc is not None:
            self._reap(self.proc)
        self._close_pipes()

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        """Kill what is left of ``proc``'s tree and group, then reap it. The group is killed
        while ``proc`` is a zombie (not yet reaped), so its number cannot name another group."""
        if proc.returncode is not None:
            return
        if not _exited(proc):
            process_tree.end_tree(proc.pid)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # what the attempt started, if ``proc`` died first
        proc.wait()

    def stop(self) -> None:
        """Ask an idle task process to exit (closing its pipe is the signal), then make sure it has."""
        self._close_pipes()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()

    def _close_pipes(self) -> None:
        self.ready = False
        self._close_statm()
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1
        if self.reader.fd >= 0:
            self.poller.unregister(self.reader.fd)
            os.close(self.reader.fd)
            self.reader = wire.Reader(-1)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc`` has exited, without reaping it (``Popen.poll`` would)."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # macOS: no WNOWAIT; reaping is the price
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped meanwhile by another thread's Popen.wait
        return True


def _death(pid: int, code: int | None, *, unsent: bool) -> Reply:
    """How a task process that died during an attempt died, and whose failure that is."""
    if code is not None and code < 0:
        provoked = None if unsent else PROVOKED.get(-code)
        name = _signal_name(-code)
        if provoked is not None:
            return Reply("crashed", error=f"the task process (pid {pid}) was killed by {name} ({provoked})")
        kind, how = "lost", f"was killed by {name}"
    else:
        kind, how = ("lost" if unsent else "crashed"), f"exited with status {code}"
    if unsent:
        how += " before the attempt reached it"
    elif code == 0:
        how += " without finishing the attempt"
    return Reply(kind, error=f"the task process (pid {pid}) {how}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal: no name of its own
        return f"signal {number}"


# -- a task process started ahead of its executor ---------------------------------------------

_WARM: list[tuple[TaskProcess, str, int]] = []  # (process, its working directory, its umask)


def start_warm(command: Sequence[str], env: Mapping[str, str]) -> None:
    """Spawn a task process before any executor wants one (the run agent's spare process does,
    before it waits for a run): ``take_warm`` hands it to the first slot that would start the
    same command with the same environment, working directory and umask. A failure to start is
    no error here: the slot then starts its own process and reports why that fails."""
    process = TaskProcess(command, env)
    try:
        process.spawn()  # not waited for: the run may come before it is ready (the slot waits)
    except StartFailed:
        return
    _WARM.append((process, os.getcwd(), _umask()))


def take_warm(command: Sequence[str], env: Mapping[str, str]) -> TaskProcess | None:
    """The warm process started as ``command`` would be now, if any (the others are ended)."""
    while _WARM:
        process, cwd, umask = _WARM.pop()
        same = process.command == list(command) and process.env == dict(env)
        if same and cwd == os.getcwd() and umask == _umask() and (process.alive or process.starting):
            return process
        process.kill()
    return None


def drop_warm() -> None:
    """End the warm processes nobody took."""
    while _WARM:
        _WARM.pop()[0].kill()


def _umask() -> int:
    umask = os.umask(0o22)
    os.umask(umask)
    return umask

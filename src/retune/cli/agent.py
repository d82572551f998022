"""The run agent: ``retune run`` without paying for start-up every time (decision 0027).

A one-task ``retune run`` spent ~85% of its wall time importing (SQLAlchemy, pydantic, click,
rich) and starting its task process. The agent is a process of the user's that has imported
all of it once. It forks a *spare* process ahead of time, which starts a task process in the
working directory and environment of the last run, and waits for the next ``retune run``;
that run's command line, working directory, environment, umask and standard streams (as file
descriptors) come over a Unix socket from the ``retune`` command (``_retune_cli``), and the
spare runs the same ``retune run`` that command would have run, in a process of its own, and
adopts the task process if it matches. The agent sends the run's exit status back; signals
the command gets (Ctrl-C) are forwarded to the run, and a command that goes away (killed)
interrupts its run.

The agent is single-threaded and runs nothing of the user's: every run is a fork of it, so a
run sees the agent's imports as they were at its start, never another run's. It refuses a run
it could not run as a fresh process would (other resource limits, another interpreter's
settings) and, once retune or an installed package changed (a file's or a ``sys.path``
directory's modification time), it refuses every run and ends: that command runs in its own
process, and a new agent starts after it. It ends after ``RETUNE_AGENT_IDLE`` seconds without
runs (default 600), on ``retune agent stop``, or on SIGTERM; ``RETUNE_AGENT=0`` turns it off.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _retune_cli

IDLE = 600.0
PRELOADED = (  # what `retune run` of a workflow on the local executor imports (see _warm)
    "rich.console",
    "rich.table",
    "retune.api.runs",
    "retune.cli.main",
    "retune.compiler.compile",
    "retune.executors.factory",
    "retune.executors.local",
    "retune.model.values.text",
    "retune.sdk.specs",
    "retune.store.blobs",
    "retune.store.sql.store",
)
LOOK = 5.0  # seconds between looks at whether its socket is still there
SPARE_FAILURES = 3  # spares that died before taking a run, in a row: the agent gives up
_PEERCRED = struct.Struct("3i")


@dataclass
class _Process:
    pid: int
    pidfd: int
    conn: socket.socket | None = None  # the command's connection, once it ran a run
    hung_up: bool = False
    answered: bool = False  # a spare that refused its command: its exit is no failure


@dataclass
class _State:
    path: str
    started: float = field(default_factory=time.time)
    served: int = 0
    context: dict[str, Any] | None = None  # the last run's cwd, environment and umask
    inode: int = 0  # of its socket: another file there (its directory removed) ends the agent


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m retune.cli.agent SOCKET_PATH (started by `retune run`)\n")
        sys.exit(2)
    serve(args[0])


def serve(path: str) -> None:
    """Be the agent listening at ``path`` until idle, stopped, or out of date."""
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    if not _lock(lock, wait=5.0):
        return  # another agent is up for this interpreter
    stamp = _warm()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    agent = _Agent(_State(path, inode=os.stat(path).st_ino), listener, stamp)
    try:
        agent.loop()
    finally:
        agent._close_listener()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ".status")
        os.close(lock)


def _lock(fd: int, *, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                return False
            time.sleep(0.05)  # an agent on its way out (out of date) releases it soon


def _warm() -> dict[str, int]:
    """Import what a run imports and prepare what it computes the same way every time; answer
    the modification times a later change of code is seen by."""
    import importlib

    from retune import settings
    from retune.sdk.code import local_code
    from retune.store.sql.statements import compile_ahead

    for name in PRELOADED:
        importlib.import_module(name)
    compile_ahead()
    settings.load.cache_clear()  # each run reads its own command's settings
    local_code(())  # which of the loaded modules are installed code, cached
    if threading.active_count() != 1:  # a fork copies one thread: another's locks stay held
        raise RuntimeError("the run agent started a thread while warming up; it cannot fork safely")
    gc.collect()
    gc.freeze()  # never walked again by the collector, and never copied by the forks' writes
    return _stamp()


def _stamp() -> dict[str, int]:
    """Modification times of retune's loaded source files and of every directory on sys.path
    (installing or removing a package changes its site-packages directory's)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files: list[str] = [
        file
        for name, module in list(sys.modules.items())
        if (name == "retune" or name.startswith("retune.") or name == "_retune_cli")
        and isinstance(file := getattr(module, "__file__", None), str)
    ]
    stamps: dict[str, int] = {}
    for path in [*files, package, *(p for p in sys.path if p)]:
        with contextlib.suppress(OSError):
            stamps[path] = os.stat(path).st_mtime_ns
    return stamps


class _Agent:
    def __init__(self, state: _State, listener: socket.socket, stamp: dict[str, int]) -> None:
        self.state = state
        self.listener = listener
        self.stamp = stamp
        self.limits = _retune_cli.limits()
        self.key = _retune_cli.key()
        self.idle = float(os.environ.get("RETUNE_AGENT_IDLE", IDLE))
        self.notices, self.notify = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notices.setblocking(False)  # recv_fds ignores MSG_DONTWAIT before Python 3.12
        self.spare: _Process | None = None
        self.runs: dict[int, _Process] = {}  # pidfd -> run
        self.failures = 0
        self.closing = False
        self.last = time.monotonic()
        self.woken, waker = os.pipe()  # a signal wakes the loop's poll (it would go on waiting)
        os.set_blocking(waker, False)
        self.waker = waker
        signal.set_wakeup_fd(waker)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self._write_status()

    def _stop(self, signum: int, frame: Any) -> None:
        self.closing = True

    def loop(self) -> None:
        while True:
            if self.closing:
                self._close_listener()  # the spare's accept fails, or it has a run: it ends either way
                if not self.runs and self.spare is None:
                    return
            elif self.spare is None and not self.runs:
                self.spare = self._fork_spare()
            poller = select.poll()
            poller.register(self.notices, select.POLLIN)
            poller.register(self.woken, select.POLLIN)
            if self.spare is not None:
                poller.register(self.spare.pidfd, select.POLLIN)
            elif not self.closing:  # a command waiting while runs go on: it needs a spare now
                poller.register(self.listener, select.POLLIN)
            for pidfd, run in self.runs.items():
                poller.register(pidfd, select.POLLIN)
                if run.conn is not None and not run.hung_up:
                    poller.register(run.conn, select.POLLIN | select.POLLHUP)
            wait = LOOK if self.runs else min(LOOK, max(0.0, self.last + self.idle - time.monotonic()))
            events = dict(poller.poll(wait * 1000 + 1))
            if not events and not self.runs and time.monotonic() >= self.last + self.idle:
                self.closing = True
                continue
            if not events and not self.closing and not self._listening():
                self.closing = True  # its socket is gone: no command can reach it any more
                continue
            self._handle(events)

    def _listening(self) -> bool:
        try:
            return os.stat(self.state.path).st_ino == self.state.inode
        except OSError:
            return False

    def _handle(self, events: dict[int, int]) -> None:
        if self.woken in events:
            os.read(self.woken, 512)  # the handler has run (closing, for SIGTERM)
        if self.notices.fileno() in events:
            self._notice()
        if self.listener.fileno() in events and self.spare is None and not self.closing:
            self.spare = self._fork_spare()
        if self.spare is not None and self.spare.pidfd in events:
            _reap(self.spare)
            answered, self.spare = self.spare.answered, None
            self.failures = 0 if answered else self.failures + 1
            if self.failures >= SPARE_FAILURES:
                sys.stderr.write("retune agent: spare processes keep dying before a run; stopping\n")
                self.closing = True
        for pidfd, run in list(self.runs.items()):
            if pidfd in events:
                status = _reap(run)
                del self.runs[pidfd]
                self.last = time.monotonic()
                if run.conn is not None:
                    with contextlib.suppress(OSError):
                        run.conn.sendall(_retune_cli.pack({"exit": status}))
                    run.conn.close()
            elif run.conn is not None and run.conn.fileno() in events and not run.hung_up:
                run.hung_up = True  # the command went away (it sends nothing after its request)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.pid, signal.SIGTERM)  # a run stopped as by Ctrl-C: resumable

    def _notice(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.notices, 1 << 20, 1)  # non-blocking
            except BlockingIOError:
                return
            notice = json.loads(data)
            if self.spare is None or notice["pid"] != self.spare.pid:
                for fd in fds:
                    os.close(fd)
                continue
            if notice["kind"] == "taken":
                run, self.spare = self.spare, None
                run.conn = socket.socket(fileno=fds[0])
                self.runs[run.pidfd] = run
                self.failures = 0
                self.state.served += 1
                self.state.context = notice["context"]
                self._write_status()
            else:  # "refused", "stale": the spare answered the command and ends
                self.spare.answered = True
                self.closing = self.closing or notice["kind"] == "stale"  # no more runs here
            self.last = time.monotonic()

    def _fork_spare(self) -> _Process:
        held = [self.notices.fileno(), self.woken, self.waker, *(r.pidfd for r in self.runs.values())]
        held += [r.conn.fileno() for r in self.runs.values() if r.conn is not None]
        pid = os.fork()
        if pid == 0:  # the spare
            code = 70
            try:
                signal.set_wakeup_fd(-1)  # before its pipe is closed here
                for fd in held:
                    os.close(fd)
                code = _Spare(self, self.state.context).run()
            except BaseException as exc:
                if not isinstance(exc, SystemExit):
                    with contextlib.suppress(Exception):
                        sys.stderr.write(f"retune agent: the spare failed: {exc!r}\n")
            finally:
                os._exit(code)
        return _Process(pid, os.pidfd_open(pid))

    def _close_listener(self) -> None:
        if self.listener.fileno() >= 0:
            with contextlib.suppress(OSError):  # wakes the spare's accept (EINVAL), in its process too
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            if self._listening():  # the next command starts a new agent
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.state.path)

    def _write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "started": self.state.started,
            "served": self.state.served,
            "idle_exit_s": self.idle,
            "python": sys.executable,
        }
        temporary = f"{self.state.path}.status.{os.getpid()}"
        Path(temporary).write_text(json.dumps(status))
        os.replace(temporary, self.state.path + ".status")


class _Spare:
    """The forked process that waits for the next run, then becomes it."""

    def __init__(self, agent: _Agent, context: dict[str, Any] | None) -> None:
        self.agent = agent
        self.context = context

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if self.context is not None:
            self._warm_task_process(self.context)
        try:
            conn, _ = self.agent.listener.accept()
        except OSError:  # the agent is ending (it shut the socket down)
            from retune.executors import process

            process.drop_warm()
            return 0
        self.agent.listener.close()
        request, fds = self._receive(conn)
        refusal = None if request is None else self._refusal(request)
        if request is None or refusal is not None:
            with contextlib.suppress(OSError):
                conn.sendall(_retune_cli.pack({"refused": refusal or "unreadable"}))
            self._tell("stale" if refusal == "stale" else "refused")
            return 0
        context = {"cwd": request["cwd"], "env": request["env"], "umask": request["umask"]}
        self._tell("taken", conn, context)
        conn.sendall(_retune_cli.pack({"pid": os.getpid()}))
        conn.close()
        self.agent.notify.close()
        return _become(request, fds)

    def _warm_task_process(self, context: dict[str, Any]) -> None:
        """Start the task process the next run will want if it runs where the last one did."""
        from retune.executors import process
        from retune.executors.images import Interpreters

        try:
            os.chdir(context["cwd"])
        except OSError:
            return
        os.environ.clear()
        os.environ.update(context["env"])
        os.umask(context["umask"])
        interpreters = Interpreters()
        python = interpreters.default
        process.start_warm(interpreters.command(python), interpreters.environment(python))

    def _receive(self, conn: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
        uid = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))[1]
        if uid != os.getuid():
            return None, []
        conn.settimeout(10)
        try:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
            if len(data) < 4 or len(fds) != 3:
                return None, fds
            request = _retune_cli.unpack(data, conn)
            conn.settimeout(None)
            return request, fds
        except (OSError, ValueError, EOFError, TypeError):
            return None, []

    def _refusal(self, request: dict[str, Any]) -> str | None:
        if _stamp() != self.agent.stamp:
            return "stale"
        if request.get("key") != self.agent.key:
            return "other interpreter settings"
        if request.get("limits") != self.agent.limits:
            return "other resource limits"
        return None

    def _tell(self, kind: str, conn: socket.socket | None = None, context: Any = None) -> None:
        notice = json.dumps({"kind": kind, "pid": os.getpid(), "context": context}).encode()
        socket.send_fds(self.agent.notify, [notice], [] if conn is None else [conn.fileno()])


def _become(request: dict[str, Any], fds: list[int]) -> int:
    """Be the process ``retune ARGV`` would have been, run it, and answer its exit status (the
    warm task process is adopted by the run's first slot if it matches: ``take_warm``)."""
    import io

    from retune.executors import process

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.umask(request["umask"])
    sys.argv = ["retune", *request["argv"]]
    sys.path[:] = request["path"]
    encoding, errors = sys.stdout.encoding, sys.stdout.errors
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding, errors=errors)
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding=encoding, errors=errors, line_buffering=os.isatty(1)
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding=encoding, errors="backslashreplace", line_buffering=True
    )
    from retune.cli.main import main

    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    finally:
        process.drop_warm()
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    return code


def _reap(proc: _Process) -> int:
    _, status = os.waitpid(proc.pid, 0)
    os.close(proc.pidfd)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    main()

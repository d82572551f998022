"""The ``retune`` command's entry point: ``retune run`` through the run agent when one is up.

This module is imported before anything of retune (importing ``retune`` alone costs more than
the whole of this path), so it uses the standard library only, and little of it. The agent
(``retune.cli.agent``, decision 0027) is a process that has imported everything a run needs;
it forks a process per run that runs exactly the command this process would have run, with
this process's arguments, working directory, environment and standard streams (passed as file
descriptors), and answers its exit status. Without an agent, or when it cannot serve this
process as this process would have run (another interpreter, other interpreter settings, code
changed since it started), the command runs here, and an agent is started for the next runs
once this one is over. ``RETUNE_AGENT=0`` turns it off.
"""

from __future__ import annotations

import _signal  # signal, socket, json and typing cost ~30 ms of imports (enum, re) on this path
import _socket
import marshal
import os
import struct
import sys

OFF = ("0", "off", "false", "no")
SERVED = ("run",)  # the commands the agent runs; every other one starts here
_SETTINGS_ENV = ("LANG", "LC_ALL", "LC_CTYPE")  # with PYTHON*: what this interpreter started with
_FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)


def main() -> None:
    argv = sys.argv[1:]
    if wanted(argv):
        code = through_agent(argv)
        if code is not None:
            sys.exit(code)
    from retune.cli.main import main as here

    here()


def wanted(argv: list[str]) -> bool:
    """Whether this command line goes to the agent: ``run`` (after ``--debug``, if given)."""
    if os.environ.get("RETUNE_AGENT", "1").strip().lower() in OFF or not hasattr(os, "fork"):
        return False
    if not sys.platform.startswith("linux"):  # the agent watches its runs through pidfds
        return False
    command = argv[1:2] if argv[:1] == ["--debug"] else argv[:1]
    return bool(command) and command[0] in SERVED


def key() -> str:
    """What an agent must share with this process to run its commands as it would: the
    interpreter, the retune it imports, the settings the interpreter read at start-up."""
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("retune", sys.path)
    settings = sorted((k, v) for k, v in os.environ.items() if k.startswith("PYTHON") or k in _SETTINGS_ENV)
    return repr((sys.executable, spec.origin if spec else None, settings, os.getuid()))


def directory() -> str | None:
    """Where agents listen: ``RETUNE_AGENT_DIR``, else ``$XDG_RUNTIME_DIR/retune``, else
    ``/tmp/retune-agent-UID``; created private to this user. None if it is not private."""
    path = os.environ.get("RETUNE_AGENT_DIR")
    if not path:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        path = os.path.join(runtime, "retune") if runtime else f"/tmp/retune-agent-{os.getuid()}"
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        stat = os.stat(path)
    except OSError:
        return None
    if stat.st_uid != os.getuid() or stat.st_mode & 0o077:
        return None  # another user could put a socket of theirs there
    return path


def socket_path(where: str, agent_key: str) -> str:
    """The agent's socket for ``agent_key`` (``key()``; the agent checks the whole of it)."""
    from zlib import crc32

    return os.path.join(where, f"agent-{crc32(agent_key.encode()):08x}.sock")


def limits() -> dict[str, list[int]]:
    """The resource limits a process started here would have (the agent's runs must match)."""
    import resource

    names = ("RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_NOFILE", "RLIMIT_CPU", "RLIMIT_CORE", "RLIMIT_STACK")
    return {name: list(resource.getrlimit(getattr(resource, name))) for name in names}


def through_agent(argv: list[str]) -> int | None:
    """Run ``argv`` in an agent and return its exit status; None if no agent ran it."""
    where = directory()
    if where is None:
        return None
    agent_key = key()
    path = socket_path(where, agent_key)
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return None  # a closed standard stream cannot be handed over
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        _start_agent_at_exit(path)
        return None
    try:
        umask = os.umask(0o22)
        os.umask(umask)
        request = {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "path": sys.path,
            "umask": umask,
            "limits": limits(),
            "key": agent_key,
        }
        try:
            conn.settimeout(15)  # a wedged agent must not hang the command: it runs here then
            fds = struct.pack("3i", 0, 1, 2)
            message = pack(request)
            sent = conn.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
            conn.sendall(message[sent:])
            first = receive(conn)
            conn.settimeout(None)
        except (OSError, ValueError, EOFError):
            first = None
        if first is None or "pid" not in first:
            if first is not None and first.get("refused") == "stale":
                _start_agent_at_exit(path)  # that agent is on its way out: the next run gets a new one
            return None
        pid = first["pid"]
        if not isinstance(pid, int):
            return None
        previous = {
            sig: _signal.signal(sig, lambda signum, frame: _forward(pid, signum)) for sig in _FORWARDED
        }
        previous[_signal.SIGTSTP] = _signal.signal(_signal.SIGTSTP, lambda signum, frame: _suspend(pid))
        try:
            answer = receive(conn)  # a forwarded signal's handler returns; the read goes on
        except (OSError, ValueError, EOFError):
            answer = None
        finally:
            for sig, handler in previous.items():
                _signal.signal(sig, handler)
    finally:
        conn.close()
    if answer is None or "exit" not in answer:
        # The agent died (killed): nobody can tell this command how the run ends, so the run
        # ends with it, as it would with Ctrl-C: interrupted, resumable (it says how).
        _forward(pid, _signal.SIGTERM)
        _wait_gone(pid, 30.0)
        sys.stderr.write("retune: the run agent stopped before the run ended; the run was interrupted\n")
        return 1
    status = answer["exit"]
    if not isinstance(status, int):
        return 1
    return 128 - status if status < 0 else status  # killed by signal N: 128 + N, as a shell says


def pack(message: dict[str, object]) -> bytes:
    """One message of the agent's protocol: its length, then it, marshalled (both ends are
    this interpreter, and the agent takes connections of this user only)."""
    data = marshal.dumps(message)
    return struct.pack("!I", len(data)) + data


def receive(conn: _socket.socket) -> dict[str, object] | None:
    """The next message on ``conn``; None once it is closed."""
    head = exactly(conn, 4)
    if head is None:
        return None
    return unpack(head, conn)


def unpack(head: bytes, conn: _socket.socket) -> dict[str, object] | None:
    """The message whose first bytes (its length, and maybe some of it) are ``head``; the rest
    is read from ``conn``. None if ``conn`` closes first."""
    size = struct.unpack("!I", head[:4])[0]
    rest = exactly(conn, size - len(head) + 4)
    if rest is None:
        return None
    message = marshal.loads(head[4:] + rest)
    if not isinstance(message, dict):
        raise ValueError("not a message")
    return message


def exactly(conn: _socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            return None
        data += more
    return data


def _wait_gone(pid: int, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


def _suspend(pid: int) -> None:
    """Ctrl-Z: the run stops with this command, and goes on when the shell continues it (``fg``,
    ``bg``), as a run started here would. SIGSTOP, not SIGTSTP: the run is in the agent's process
    group, which no terminal controls, and the kernel drops SIGTSTP sent to such a group."""
    _forward(pid, _signal.SIGSTOP)
    handler = _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
    try:
        os.kill(os.getpid(), _signal.SIGTSTP)  # this process stops here until it is continued
    finally:
        _signal.signal(_signal.SIGTSTP, handler)
        _forward(pid, _signal.SIGCONT)


def _forward(pid: int, signum: int) -> None:
    try:  # noqa: SIM105  (contextlib is one more import on this path)
        os.kill(pid, signum)
    except OSError:
        pass  # it ended meanwhile


def _start_agent_at_exit(path: str) -> None:
    """Start an agent once this process's own run is over, so that it does not take the CPU
    this run needs."""
    import atexit

    def start() -> None:
        import subprocess

        with open(path + ".log", "ab") as log:
            subprocess.Popen(
                [sys.executable, "-P", "-m", "retune.cli.agent", path],  # -P: no "/" on its sys.path
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                start_new_session=True,
            )

    atexit.register(start)


if __name__ == "__main__":
    main()

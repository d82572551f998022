"""``retune serve --workers N``: N server processes, each listening on the one port with a
socket of its own (``SO_REUSEPORT``), so that the kernel spreads connections over them evenly.

uvicorn's own workers share one listening socket, and whichever process wakes first takes a
new connection. Keep-alive clients that connect together then land unevenly and stay there:
20 clients of ``bench/server.py`` split about 3:1, and the busier process did three quarters of
the launches on one core while the other core idled (measured: 2.9 s and 1.0 s of CPU). With a
socket per process the kernel hashes each connection to one of them (Linux's reuseport groups).

The parent holds the port (bound, never listening, so it takes no connection) and supervises:
a process that dies after it was ready (its app built, its socket listening) is started again;
one that dies before that means that none can start (settings, a database that does not
answer), and every process is stopped rather than restarted in a loop, as is a process that
keeps dying (``RESTARTS`` within ``RESTART_WINDOW`` seconds). SIGINT and SIGTERM stop them all,
each finishing its requests (uvicorn's shutdown), within ``STOP_WAIT`` seconds, then they are
killed.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any, Final

from retune.settings import SettingsError

RESTARTS: Final = 5
RESTART_WINDOW: Final = 60.0
"""More than ``RESTARTS`` restarts within ``RESTART_WINDOW`` seconds stop the server."""

STOP_WAIT: Final = 30.0
"""Seconds the processes have to finish their requests once asked to stop."""

LOOK_EVERY: Final = 0.5


def serve_processes(host: str, port: int, workers: int) -> int:
    """Serve ``retune.server.app:create_app`` in ``workers`` processes on ``host:port`` until
    SIGINT/SIGTERM; the exit status (0, or 1 when the processes could not start or kept dying)."""
    holder = reuse_port_socket(host, free_port_of(host, port), listen=False)
    port = holder.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start(index: int) -> tuple[BaseProcess, Any]:
        ready = context.Event()
        process = context.Process(target=serve_one, args=(host, port, ready), name=f"retune-serve-{index}")
        process.start()
        return process, ready

    say(f"{workers} processes on http://{_shown(host)}:{port}")
    running = [start(index) for index in range(workers)]
    restarts: list[float] = []
    status = 0
    try:
        while not stop.wait(LOOK_EVERY):
            for index, (process, ready) in enumerate(running):
                if process.is_alive():
                    continue
                now = time.monotonic()
                restarts = [at for at in restarts if now - at < RESTART_WINDOW] + [now]
                if not ready.is_set() or len(restarts) > RESTARTS:
                    why = (
                        "before it was ready"
                        if not ready.is_set()
                        else f"the {len(restarts)}th time in a minute"
                    )
                    say(
                        f"{process.name} exited with status {process.exitcode} {why}; stopping (its log is above)"
                    )
                    status = 1
                    stop.set()
                    break
                say(
                    f"{process.name} (pid {process.pid}) exited with status {process.exitcode}; starting another"
                )
                running[index] = start(index)
    finally:
        _stop_all([process for process, _ in running])
        holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def serve_one(host: str, port: int, ready: Any) -> None:
    """One server process (the target of ``serve_processes``'s children); sets ``ready`` (a
    multiprocessing ``Event``) once its app is built and its socket listens."""
    import uvicorn

    from retune.heap import settle
    from retune.server.app import create_app
    from retune.settings import load

    sock = reuse_port_socket(host, port, listen=True)
    app = create_app(load())
    settle()
    ready.set()
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info")).run(sockets=[sock])


def say(line: str) -> None:
    print(f"retune serve: {line}", file=sys.stderr, flush=True)


def free_port_of(host: str, port: int) -> int:
    """``port`` (or, for 0, a free one) once a plain bind to it succeeds: the processes' sockets
    join any socket on the port that has ``SO_REUSEPORT``, so another server of this user on the
    same port would silently take half the connections; a plain bind refuses to share."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            raise SettingsError(
                f"Cannot serve on {_shown(host)}:{port}: {exc.strerror or exc} (another server is on it?). "
                "Stop it, or give another --port."
            ) from None
        bound: int = probe.getsockname()[1]
        return bound


def reuse_port_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (and listening, if ``listen``)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if listen:
            sock.listen(2048)
            sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def _stop_all(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests it has, then exits
    deadline = time.monotonic() + STOP_WAIT
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(5)


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host

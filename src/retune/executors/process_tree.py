"""The processes below a process, and ending them (Linux ``/proc``). Stdlib only: the task
process imports it too.

A task may start processes (``subprocess.Popen``, ``os.system("cmd &")``, a double fork); they
end with its attempt (DESIGN §8). Two places end them:

- the task process itself, after every attempt (``end_children``): it is a *child subreaper*
  (``become_subreaper``), so a grandchild whose parent exited, even one that called ``setsid``,
  is re-parented to it instead of to init, and stays in its tree;
- the executor, when it kills a task process (timeout, memory limit, cancel, close):
  ``end_tree`` stops the process, kills everything below it, then the process itself.

Killing is repeated until nothing is left, because a process may fork between the moment it
is listed and the moment it is killed; its children then belong to the subreaper and are
found by the next round. Without ``/proc`` (macOS) only the process group is ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Final

__all__ = ["become_subreaper", "children", "descendants", "end_children", "end_tree", "kill_below"]

ROUNDS: Final = 50
"""Kill rounds before giving up on a process tree that keeps forking (a fork bomb)."""

_PR_SET_CHILD_SUBREAPER: Final = 36
_LINUX: Final = sys.platform.startswith("linux")


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False where it cannot."""
    if not _LINUX:
        return False
    try:
        import ctypes

        return int(ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (zombies included), in no particular order."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as listing:
                found.extend(int(child) for child in listing.read().split())
        except FileNotFoundError:  # the thread ended; or a kernel without CONFIG_PROC_CHILDREN
            continue
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every process below ``pid`` as ``(pid, parent)``, parents before their children."""
    found: list[tuple[int, int]] = []
    frontier = [pid]
    while frontier:
        below = [(child, parent) for parent in frontier for child in children(parent)]
        found.extend(below)
        frontier = [child for child, _ in below]
    return found


def _stat(pid: int) -> tuple[bytes, int] | None:
    """(state, parent pid) of ``pid``; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def _running(pid: int) -> bool:
    """Not (yet) a zombie: a zombie cannot fork, and only its parent can make it go away."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in (b"Z", b"X")


def _kill(tree: list[tuple[int, int]]) -> None:
    """SIGKILL each ``(pid, parent)`` that is still that parent's child. Through a pidfd where
    there is one (Linux 5.3), so that a pid reaped and reused since it was listed is never
    signalled: the pidfd pins the process whose parent is then checked."""
    for pid, parent in tree:
        with contextlib.suppress(OSError):  # gone meanwhile
            _kill_child(pid, parent)


def _kill_child(pid: int, parent: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError) as exc:
        if isinstance(exc, ProcessLookupError):
            return
        if _parent_is(pid, parent):  # no pidfd here: the check-then-kill race is the best there is
            os.kill(pid, signal.SIGKILL)
        return
    try:
        if _parent_is(pid, parent):
            signal.pidfd_send_signal(handle, signal.SIGKILL)
    finally:
        os.close(handle)


def _parent_is(pid: int, parent: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] == parent


def end_children() -> list[int]:
    """From a subreaper: SIGKILL and reap every process below this one; the pids it ended.

    Costs one ``waitpid`` when the attempt started nothing (the common case)."""
    me = os.getpid()
    ended: list[int] = []
    for _ in range(ROUNDS):
        try:
            reaped, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended  # no child at all, living or zombie
        if reaped:
            ended.append(reaped)
        tree = descendants(me)
        if not tree and not reaped:
            return ended  # children exist but /proc does not show them: nothing more to do here
        _kill(tree)
        for child in children(me):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)  # their orphans come to us: the next round finds them
                ended.append(child)
    return ended


def kill_below(pid: int) -> None:
    """SIGKILL every running process below ``pid``, round after round until none is left (the
    orphans of a killed process are re-parented to ``pid``, a subreaper, and found next round)."""
    if not _LINUX:
        return
    for _ in range(ROUNDS):
        running = [(p, parent) for p, parent in descendants(pid) if _running(p)]
        if not running:
            return
        _kill(running)


def end_tree(pid: int) -> None:
    """From the parent of ``pid`` (a subreaper leading its own process group): end everything
    below it, then the process itself; the caller reaps ``pid``.

    ``pid`` is stopped first, so it starts nothing new while its tree is walked; it stays alive
    (stopped), so the orphans of the processes killed below it still come to it.
    """
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGSTOP)
    kill_below(pid)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)  # also whatever the walk could not see (no /proc)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)

"""``reported``: expected failures as one clear line on stderr and an exit code; no traceback.

exit 2  the request is wrong: bad input or override, unknown name, a registered version
        with other content, a verb that does not apply (fix the command and try again)
        a mistake in the user's own code (an import error, an exception in a workflow
        body): its file:line and the exception, the traceback only with --debug
exit 1  it could not be carried out: an execution failed or was aborted, the server, the
        database or the blob store is unreachable, the server refused the token, or the
        store holds a value it cannot read back
exit 130 interrupted (Ctrl-C, SIGTERM): the execution id and how to resume it
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from retune.cli import render
from retune.cli.errors import UsageError
from retune.cli.render import escape
from retune.errors import ExecutionFailed, Interrupted, PermissionDenied, RetuneError, ServerUnavailable

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_ENV = "RETUNE_DEBUG"
debug = {"on": bool(os.environ.get(DEBUG_ENV))}
"""``retune --debug``: let unexpected exceptions through with their traceback."""


def reported(command: F) -> F:
    """Turn expected failures into one clear line on stderr and a non-zero exit; no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BaseException as exc:
            report(exc)
            raise

    return wrapper  # type: ignore[return-value]


def report(exc: BaseException) -> None:
    """Exit as ``reported`` promises; ``exc`` itself goes on when it is none of these
    (``SystemExit``, or an unexpected error under --debug).

    The store, settings and bundle modules are imported only here, once something failed:
    a command that succeeds need not load them (``retune --help`` has a start-up budget)."""
    from retune.control.bundles import BundleError
    from retune.settings import SettingsError
    from retune.store.base import NotFound, StoreError, StoreUnavailable, ValueNotStorable

    try:
        raise exc
    except ExecutionFailed as exc:
        record = exc.execution
        first = (record.error or "").splitlines()[0] if record.error else "failed"
        render.err.print(f"[red]error:[/] execution {record.id} failed: {escape(first)}", soft_wrap=True)
        render.err.print(f"details: retune executions show {record.id}", soft_wrap=True)
        sys.exit(1)
    except (ServerUnavailable, PermissionDenied) as exc:
        fail(str(exc), 1)
    except NotFound as exc:
        message = str(exc.args[0]).rstrip(".")
        hint = ". List them with: retune executions list" if message.startswith("No execution") else "."
        fail(f"{message}{hint}", 2)
    except StoreUnavailable as exc:
        fail(
            f"{exc}. Check RETUNE_DATABASE_URL / RETUNE_BLOB_URL (or retune.toml), and that it is running.",
            1,
        )
    except ValueNotStorable as exc:  # the data in the store, almost always, not the command
        fail(str(exc), 1)
    except (RetuneError, UsageError, SettingsError, StoreError, BundleError) as exc:
        fail(str(exc), 2)
    except Interrupted as exc:
        render.err.print(f"\ninterrupted: execution {exc.execution_id}; its running tasks were stopped")
        render.err.print(f"resume it with: retune executions resume {exc.execution_id}", soft_wrap=True)
        sys.exit(130)
    except KeyboardInterrupt:
        render.err.print("\ninterrupted")
        sys.exit(130)
    except Exception as exc:
        if debug["on"]:
            raise
        fail_unexpected(exc)


def fail(message: str, code: int) -> None:
    render.err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)


def fail_unexpected(exc: BaseException) -> None:
    """An exception nobody raised on purpose: the user's code (its file:line, exit 2), or
    retune's own bug (exit 1). The traceback only with --debug."""
    frame = user_frame(exc)
    what = f"{type(exc).__name__}: {exc}"
    if frame is not None:
        where = os.path.relpath(frame.filename)
        where = frame.filename if where.startswith("..") else where
        fail(
            f"{where}:{frame.lineno}: {what}. Fix your code there (retune --debug ... shows the traceback)", 2
        )
    fail(f"internal error: {what}. Run it again with retune --debug to see the traceback, and report it", 1)


_RETUNE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARIES = tuple(
    {os.path.abspath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def user_frame(exc: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame of the traceback in the user's own files (not retune, not a library)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.abspath(frame.filename)
        if frame.filename.startswith("<") or path.startswith(_RETUNE) or path.startswith(_LIBRARIES):
            continue
        return frame
    return None

"""``reported``: expected failures as one clear line on stderr and an exit code; no traceback.

exit 2  the request is wrong: bad input or override, unknown name, a registered version
        with other content, a verb that does not apply (fix the command and try again)
exit 1  it could not be carried out: an execution failed or was aborted, the server is
        unreachable or refused the token
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.markup import escape

from retune.cli import render
from retune.cli.errors import UsageError
from retune.errors import ExecutionFailed, PermissionDenied, RetuneError, ServerUnavailable

F = TypeVar("F", bound=Callable[..., Any])


def reported(command: F) -> F:
    """Turn expected failures into one clear line on stderr and a non-zero exit; no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from retune.control.bundles import BundleError
        from retune.settings import SettingsError
        from retune.store.base import NotFound, StoreError

        try:
            return command(*args, **kwargs)
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
        except (RetuneError, UsageError, SettingsError, StoreError, BundleError) as exc:
            fail(str(exc), 2)

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: int) -> None:
    render.err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)

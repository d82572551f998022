"""Errors retune raises on purpose. Each says what is wrong, where, and how to fix it.

    RetuneError
    ├── CompileError           a graph or hook problem, found before anything is stored or run
    ├── OverrideError          an override that is unknown, malformed or cannot be honoured
    │   (also a ValueError)    .hook, .field and .origin say where it was given
    ├── InputError             a workflow input that is missing, unknown or of the wrong type
    │   (also a ValueError)    .input names it
    ├── ExecutionFailed        a run ended FAILED; .execution is the record
    ├── RequestRefused         a control-plane verb that does not apply (recover a success...)
    ├── PermissionDenied       an API token missing, unknown, or without the right (401/403)
    ├── ServerUnavailable      ``--server URL`` cannot be reached, or answered garbage
    ├── RegistrationError      ``retune register PATH`` cannot collect what PATH defines
    └── StoreError             the store refused a request or cannot be reached
        ├── NotFound           (also a KeyError) no such execution, workflow, version, blob
        ├── Conflict           immutable content registered again with other content; a
        │                      reused idempotency key
        ├── IllegalTransition  a change out of a terminal phase
        ├── InvalidKey         (also a ValueError) a blob key that is empty, absolute or escapes
        ├── ValueNotStorable   (also a ValueError) a value JSON cannot hold or read back
        └── StoreUnavailable   the database or blob store is away (after retrying with backoff)

    KeyboardInterrupt
    └── Interrupted            ``rt.run`` was stopped by Ctrl-C / SIGTERM; .execution_id resumes it

CompileError, OverrideError and InputError are raised before anything is stored or run. The
store's errors are defined here and re-exported by ``retune.store.base``, so one
``except RetuneError`` catches every error retune raises on purpose.
"""

from __future__ import annotations

from typing import Any


class RetuneError(Exception):
    """Base of every error retune raises on purpose."""


class CompileError(RetuneError):
    """A workflow cannot be compiled: a binding, a hook name, a duplicate, an alias."""


class OverrideError(RetuneError, ValueError):
    """An override cannot be accepted.

    ``hook`` and ``field`` say what (``None`` when the problem is not about one of them),
    ``origin`` where it was given (``"launch plan 'nightly'"``, ``"-o"``, ``"overrides.yaml"``).
    """

    def __init__(
        self,
        problem: str,
        *,
        hook: str | None = None,
        field: str | None = None,
        origin: str | None = None,
        fix: str = "",
    ) -> None:
        self.problem = problem
        self.hook = hook
        self.field = field
        self.origin = origin
        self.fix = fix
        where = []
        if hook is not None:
            where.append(f"hook {hook!r}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = f"Override for {', '.join(where)}: " if where else "Override: "
        given = f" (given in {origin})" if origin else ""
        super().__init__(f"{prefix}{problem}{given}. {fix}".rstrip())


class InputError(RetuneError, ValueError):
    """A workflow input is missing, unknown, fixed by the launch plan, or of the wrong type."""

    def __init__(self, problem: str, *, input: str | None = None, fix: str = "") -> None:
        self.input = input
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. {fix}".rstrip())


class RequestRefused(RetuneError):
    """A control-plane verb that cannot apply to this execution as it is."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        self.fix = fix
        super().__init__(f"{message}. {fix}".strip() if fix else message)


class PermissionDenied(RetuneError):
    """The server refused the request's API token (missing, unknown, or without the right)."""


class ServerUnavailable(RetuneError):
    """The retune server cannot be reached, or its answer cannot be understood."""


class RegistrationError(RetuneError):
    """``retune register PATH`` cannot collect what PATH defines: a file fails to import, its
    module name is taken by another module, or PATH defines nothing to register."""


class StoreError(RetuneError):
    """Base of the store's errors."""


class NotFound(StoreError, KeyError):
    """No such execution, workflow, version or blob; the message lists what there is."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class IllegalTransition(StoreError):
    """A change out of a terminal phase (or of an unknown row)."""


class Conflict(StoreError):
    """Immutable content registered again under the same version with different content."""


class InvalidKey(StoreError, ValueError):
    """A blob key that is empty, absolute, or climbs out of the store (``..``)."""


class ValueNotStorable(StoreError, ValueError):
    """A value the store cannot write as JSON, or a stored one it cannot read back (an integer
    of thousands of digits, a NaN, an object that is not JSON, nesting too deep). The message
    names the value's place (``the outputs of node 'n0' of execution 'ex-1'``); nothing of the
    change that carried it is written."""


class StoreUnavailable(StoreError):
    """The database or the blob store cannot be reached (after retrying with backoff).

    ``what`` is ``"database"`` or ``"blob store"``, ``url`` the place tried (credentials
    removed), so a CLI can say in one line what it could not reach and how to fix it, and the
    server can answer 503 with ``Retry-After``.
    """

    def __init__(self, what: str, url: str, reason: str) -> None:
        self.what = what
        self.url = url
        self.reason = reason
        super().__init__(f"The {what} at {url} cannot be reached: {reason}")


class ExecutionFailed(RetuneError):
    """``rt.run`` ended in ``FAILED``; ``.execution`` holds the record (nodes, attempts, errors)."""

    def __init__(self, execution: Any) -> None:
        self.execution = execution
        super().__init__(f"Execution {execution.id} failed: {execution.error}")


class Interrupted(KeyboardInterrupt):
    """A run was stopped by Ctrl-C or SIGTERM: its running attempts were stopped, its lease
    released, and ``retune executions resume EXECUTION_ID`` carries it on.

    A ``KeyboardInterrupt``, so that ``except Exception`` in user code does not swallow it.
    """

    def __init__(self, execution_id: str, how: str = "interrupted") -> None:
        self.execution_id = execution_id
        self.how = how
        super().__init__(
            f"Execution {execution_id} was {how}. Resume it with: retune executions resume {execution_id}"
        )

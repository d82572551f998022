"""Errors as HTTP answers: the contract ``retune.client`` rebuilds its exceptions from.

    OverrideError, InputError        422  .hook .field .origin / .input, and .fix
    pydantic validation              422  FastAPI's list of problems ({"detail": [{"loc", "msg"}]})
    NotFound                         404
    Conflict, RequestRefused         409
    PermissionDenied                 401 (no token, a malformed or unknown one; ``Unauthenticated``)
                                     403 (the token lacks the right or the project)
    a body over the limit            413  (``BodyTooLarge``, answered as RequestRefused)
    StoreUnavailable, or the driver's connection error
                                     503  with ``Retry-After``, naming what is away
    ValueNotStorable                 500  naming the stored value that cannot be read back (or
                                     written) and why; one log line, no traceback
    anything else                    500  a short message; the traceback goes to the log only

Our bodies are ``{"detail": {"error": CLASS, "message": str(exc), ...}}`` with ``problem``,
``hook``, ``field``, ``origin``, ``input`` and ``fix`` present when the error has them.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from retune.errors import InputError, OverrideError, PermissionDenied, RequestRefused, ValueNotStorable
from retune.store import Conflict, NotFound
from retune.store.base import StoreUnavailable

log = logging.getLogger("retune.server")

STATUS: Final[tuple[tuple[type[Exception], int], ...]] = (
    (OverrideError, 422),
    (InputError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (RequestRefused, 409),
    (PermissionDenied, 403),
    (ValueNotStorable, 500),
)
"""Each error class the client knows, and its status; checked in this order."""

FIELDS: Final = ("problem", "hook", "field", "origin", "input", "fix")
RETRY_AFTER: Final = 5
"""Seconds a client is told to wait while the database or the blob store is away."""
CONNECTION_ERRORS: Final = frozenset(
    {
        "sqlalchemy.exc.OperationalError",
        "sqlalchemy.exc.InterfaceError",
        "sqlalchemy.exc.DisconnectionError",
        "psycopg.OperationalError",
        "psycopg.InterfaceError",
    }
)
"""The driver's "connection lost/refused" errors, named rather than imported: the store is the
only home of SQLAlchemy. A smell kept on purpose: the store should raise ``StoreUnavailable``
for all of them, and this catches what still leaks through (an error while opening a
connection, a statement on a connection the server killed)."""


class Unauthenticated(PermissionDenied):
    """No token, a malformed ``Authorization`` header, or a token the server does not know: 401."""


class BodyTooLarge(HTTPException):
    """A request body over its limit (``retune.server.limits``): 413."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(413, detail=f"{message}. {fix}")
        self.body = {"detail": {"error": "RequestRefused", "message": self.detail, "fix": fix}}


def forbidden_body(message: str, fix: str) -> dict[str, Any]:
    """The 403 body of a refusal made before the routes (the Host/Origin rule)."""
    return {"detail": {"error": "PermissionDenied", "message": message, "fix": fix}}


def is_unavailable(exc: BaseException) -> bool:
    """``StoreUnavailable``, or a driver error saying the database cannot be reached."""
    if isinstance(exc, StoreUnavailable):
        return True
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
    return not names.isdisjoint(CONNECTION_ERRORS)


def as_unavailable(exc: BaseException) -> StoreUnavailable:
    """A driver's connection error as the ``StoreUnavailable`` the store should have raised."""
    if isinstance(exc, StoreUnavailable):
        return exc
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    # The first line only: the rest is the SQL statement, and libpq names no password.
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
    return StoreUnavailable("database", "the server's RETUNE_DATABASE_URL", reason)


def unavailable_detail(exc: StoreUnavailable) -> dict[str, Any]:
    """The 503 body: what is away (``database`` or ``blob store``) and that retrying will do."""
    return {
        "error": "StoreUnavailable",
        "message": str(exc),
        "what": exc.what,
        "fix": f"Retry in {RETRY_AFTER} s (Retry-After): the server reconnects by itself. If it "
        f"lasts, check the {exc.what} the server is configured with.",
    }


def error_detail(exc: Exception) -> dict[str, Any]:
    """``{"error", "message", ...}`` for one of the classes of ``STATUS``."""
    name = next((cls.__name__ for cls, _ in STATUS if isinstance(exc, cls)), type(exc).__name__)
    detail: dict[str, Any] = {"error": name, "message": message_of(exc)}
    for key in FIELDS:
        value = getattr(exc, key, None)
        if value is not None and value != "":
            detail[key] = value
    return detail


def message_of(exc: Exception) -> str:
    # NotFound is also a KeyError, whose str() quotes the message.
    if len(exc.args) == 1 and isinstance(exc.args[0], str) and isinstance(exc, KeyError):
        return exc.args[0]
    return str(exc)


def install(app: FastAPI) -> None:
    """Register the handlers of this module's table on ``app``."""
    for cls, _ in STATUS:
        app.add_exception_handler(cls, _known)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(ValidationError, _invalid)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(Exception, _unexpected)


async def _known(request: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    headers = None
    if isinstance(exc, Unauthenticated):
        status, headers = 401, {"WWW-Authenticate": "Bearer"}
    if status >= 500:  # data in the store, not the request: the operator's to know
        log.warning("%s %s: %s", request.method, request.url.path, message_of(exc))
    return JSONResponse({"detail": error_detail(exc)}, status_code=status, headers=headers)


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return JSONResponse(exc.body, status_code=413, headers={"Connection": "close"})


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """A pydantic model built inside a route from the request's values (FastAPI's own 422 shape)."""
    assert isinstance(exc, ValidationError)
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    return JSONResponse({"detail": jsonable_encoder(problems)}, status_code=422)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreUnavailable)
    planes = getattr(request.app.state, "planes", None)
    if planes is not None:
        planes.reopen()  # their connections may be dead: every thread opens a fresh one next time
    log.warning("%s %s: %s", request.method, request.url.path, unavailable_detail(exc)["message"])
    return JSONResponse(
        {"detail": unavailable_detail(exc)},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's router names the methods of the first route of the path only (POST for
    # /executions, which also has GET): list those of every route of the path.
    from fastapi.routing import iter_route_contexts
    from starlette.routing import compile_path

    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if compile_path(str(context.path))[0].match(request.url.path):
            methods |= set(context.methods or ())
    allowed = ", ".join(sorted(methods))
    message = f"{request.url.path} does not answer {request.method}; it answers {allowed}"
    body = {"detail": {"error": "MethodNotAllowed", "message": message}}
    return JSONResponse(body, status_code=405, headers={"Allow": allowed})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette raises the exception again after this answer, so the ASGI server logs its traceback.
    log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    message = (
        f"The server failed on {request.method} {request.url.path} ({type(exc).__name__}); "
        "its log has the details"
    )
    return JSONResponse({"detail": {"error": "InternalError", "message": message}}, status_code=500)

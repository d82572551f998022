"""Errors as HTTP answers: the contract ``retune.client`` rebuilds its exceptions from.

    OverrideError, InputError        422  .hook .field .origin / .input, and .fix
    pydantic validation              422  FastAPI's list of problems ({"detail": [{"loc", "msg"}]})
    NotFound                         404
    Conflict, RequestRefused         409
    PermissionDenied                 401 (no token, a malformed or unknown one; ``Unauthenticated``)
                                     403 (the token lacks the right or the project)
    a body over the limit            413  (``BodyTooLarge``, answered as RequestRefused)
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

from retune.errors import InputError, OverrideError, PermissionDenied, RequestRefused
from retune.store import Conflict, NotFound

log = logging.getLogger("retune.server")

STATUS: Final[tuple[tuple[type[Exception], int], ...]] = (
    (OverrideError, 422),
    (InputError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (RequestRefused, 409),
    (PermissionDenied, 403),
)
"""Each error class the client knows, and its status; checked in this order."""

FIELDS: Final = ("problem", "hook", "field", "origin", "input", "fix")


class Unauthenticated(PermissionDenied):
    """No token, a malformed ``Authorization`` header, or a token the server does not know: 401."""


class BodyTooLarge(HTTPException):
    """A request body over its limit (``retune.server.limits``): 413."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(413, detail=f"{message}. {fix}")
        self.body = {"detail": {"error": "RequestRefused", "message": self.detail, "fix": fix}}


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
    app.add_exception_handler(Exception, _unexpected)


async def _known(request: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    headers = None
    if isinstance(exc, Unauthenticated):
        status, headers = 401, {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": error_detail(exc)}, status_code=status, headers=headers)


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return JSONResponse(exc.body, status_code=413, headers={"Connection": "close"})


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """A pydantic model built inside a route from the request's values (FastAPI's own 422 shape)."""
    assert isinstance(exc, ValidationError)
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    return JSONResponse({"detail": jsonable_encoder(problems)}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette raises the exception again after this answer, so the ASGI server logs its traceback.
    log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    message = (
        f"The server failed on {request.method} {request.url.path} ({type(exc).__name__}); "
        "its log has the details"
    )
    return JSONResponse({"detail": {"error": "InternalError", "message": message}}, status_code=500)

"""``UiRoute``: the route class of the UI's pages, so that an error is a page, not JSON.

The API answers errors as ``{"detail": ...}`` (``server/errors.py``); a person in a browser gets
the same message and fix as an HTML page with the same status: 404 for a workflow or execution
that does not exist, 403 for a token without the right or the project (or a form without its
CSRF token), 409 for a verb that cannot apply, 422 for a page's address whose parameters are
not understood (``?attempt=two``), naming each, 500 naming stored data that cannot be read
back, 503 (with ``Retry-After``) while the database is away. ``LoginRequired`` is a 303 to the
login page. Anything else keeps the API's 500.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from retune.errors import PermissionDenied, RequestRefused, ValueNotStorable
from retune.server.errors import RETRY_AFTER, as_unavailable, is_unavailable, message_of
from retune.server.routing import StoreRoute
from retune.server.ui.session import LoginRequired, login_url
from retune.server.ui.templates import render
from retune.store import Conflict, NotFound

_KINDS = {"query": "query parameter", "path": "part of the address", "header": "header"}
_PAGES: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFound, 404, "Not found"),
    (PermissionDenied, 403, "Not allowed"),
    (Conflict, 409, "Cannot do that now"),
    (RequestRefused, 409, "Cannot do that now"),
    (ValueNotStorable, 500, "Cannot read this from the store"),
)


class UiRoute(StoreRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def as_page(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return RedirectResponse(login_url(exc.next_path), status_code=303)
            except Exception as exc:
                answer = error_page(request, exc)
                if answer is None:
                    raise
                return answer

        return as_page


def error_page(request: Request, exc: Exception) -> Response | None:
    """The page for an error the UI knows, else None (the API's handlers answer it)."""
    for cls, status, title in _PAGES:
        if isinstance(exc, cls):
            fix = getattr(exc, "fix", "") or ""
            message = message_of(exc)
            if fix and message.endswith(fix):
                message = message[: -len(fix)].rstrip(". ") + "."
            return render(request, "error.html", status, title=title, message=message, fix=fix)
    if isinstance(exc, RequestValidationError):
        return render(
            request,
            "error.html",
            422,
            title="Not understood",
            message=invalid_parameters(exc),
            fix="Correct the address, or go back to the page you came from.",
        )
    if is_unavailable(exc):
        away = as_unavailable(exc)
        planes = getattr(request.app.state, "planes", None)
        if planes is not None:
            planes.reopen()
        answer = render(
            request,
            "error.html",
            503,
            title=f"The {away.what} is not answering",
            message=str(away),
            fix=f"The server reconnects by itself: reload in {RETRY_AFTER} s.",
        )
        answer.headers["Retry-After"] = str(RETRY_AFTER)
        return answer
    return None


def invalid_parameters(exc: RequestValidationError) -> str:
    """One sentence per parameter, naming it and where it was: ``The query parameter 'attempt'
    is not valid: Input should be a valid integer.``, ``The query parameter 'node' is missing.``"""
    sentences = []
    for error in exc.errors():
        where, *names = [str(part) for part in error.get("loc", ())] or ["parameter"]
        kind = _KINDS.get(where, where)
        name = ".".join(names)
        if error.get("type") == "missing":
            sentences.append(f"The {kind} {name!r} is missing.")
        else:
            sentences.append(f"The {kind} {name!r} is not valid: {str(error.get('msg', '')).rstrip('.')}.")
    return " ".join(sentences)

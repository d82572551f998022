"""``/ui/login`` and ``/ui/logout``: a token in, a session cookie out (``session.py``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from retune.server.auth import Token, find_token
from retune.server.ui.routing import UiRoute
from retune.server.ui.session import COOKIE, SESSION_SECONDS, check_csrf, safe_next
from retune.server.ui.templates import render

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@router.get("/ui/login")
def login_page(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    if not request.app.state.tokens:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), error="")


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
    target = safe_next(form.get("next"))
    tokens: tuple[Token, ...] = request.app.state.tokens
    if not tokens:
        return RedirectResponse(target, status_code=303)
    secret = form.get("token", "").strip()
    if find_token(tokens, secret) is None:
        error = (
            "Enter your API token."
            if not secret
            else "Unknown token: check it against the server's [[server.tokens]]."
        )
        return render(request, "login.html", 401, next=target, error=error)
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        COOKIE,
        secret,
        max_age=SESSION_SECONDS,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode(errors="replace")))
    check_csrf(request, form.get("csrf"))
    answer = RedirectResponse("/ui/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/ui")
    return answer

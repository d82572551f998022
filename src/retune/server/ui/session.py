"""Who is looking at a page: the login cookie, the grant it carries, and the CSRF token.

Without ``[[server.tokens]]`` the server answers loopback only (``server/hosts.py``) and every
page is open: no login, and the Host/Origin rule keeps other sites' pages from posting.

With tokens, ``/ui/login`` takes a token and sets it as the ``retune_session`` cookie
(HttpOnly, SameSite=Strict, Path=/ui): each page authenticates it exactly as the API
authenticates a bearer token, so a token removed from retune.toml logs its sessions out at once
and every server process (``retune serve --workers N``) accepts the same cookie. The API under
``/api/v1`` never reads the cookie: only the UI's own routes do.

Every form that changes state carries ``csrf``: the HMAC of a fixed label keyed by the session's
token, so that only a page that could read the cookie's secret (ours) can post; a form without
it, or with another session's, is refused (docs/decisions/0023-web-ui.md).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from starlette.requests import Request

from retune.errors import PermissionDenied
from retune.server.auth import OPEN, Grant, Right, Token, find_token

COOKIE: Final = "retune_session"
SESSION_SECONDS: Final = 12 * 3600
_CSRF_LABEL: Final = b"retune web UI form"


class LoginRequired(Exception):
    """A page asked for without a valid session while tokens are configured: go to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(PermissionDenied):
    """A state-changing form without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Page:
    """What every template may ask: who is looking, and the token its forms must carry."""

    grant: Grant
    csrf: str
    login: bool  # whether the server has tokens (so a logout button makes sense)
    path: str

    @property
    def can_launch(self) -> bool:
        return "launch" in self.grant.rights


def page_state(request: Request) -> Page:
    """The ``Page`` of a request that ``page_grant`` let through (or of the login page)."""
    grant: Grant = getattr(request.state, "grant", OPEN)
    secret = request.cookies.get(COOKIE, "")
    tokens: tuple[Token, ...] = request.app.state.tokens
    return Page(grant, csrf_token(secret) if tokens else "", bool(tokens), request.url.path)


def page_grant(request: Request, right: Right) -> Grant:
    """The grant of the request's session cookie; ``LoginRequired`` without a valid one, and
    ``PermissionDenied`` for a token without ``right``."""
    tokens: tuple[Token, ...] = request.app.state.tokens
    if not tokens:
        request.state.grant = OPEN
        return OPEN
    token = find_token(tokens, request.cookies.get(COOKIE))
    if token is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    grant = Grant(token=token.name, projects=token.projects, rights=token.rights)
    request.state.grant = grant
    if right not in token.rights:
        raise PermissionDenied(
            f"Your token {token.name!r} has no {right!r} right (it has: {', '.join(sorted(token.rights))})"
        )
    return grant


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    key = hashlib.sha256(secret.encode()).digest()
    return hmac.new(key, _CSRF_LABEL, hashlib.sha256).hexdigest()


def check_csrf(request: Request, sent: str | None) -> None:
    """Refuse a state-changing form whose ``csrf`` field is not the session's (with tokens only)."""
    tokens: tuple[Token, ...] = request.app.state.tokens
    if not tokens:
        return
    expected = csrf_token(request.cookies.get(COOKIE, ""))
    if not sent or not hmac.compare_digest(sent, expected):
        raise CsrfRefused(
            "This form was sent without this session's CSRF token (or with a stale one), so it was not "
            "accepted. Reload the page and send the form again"
        )


def login_url(next_path: str) -> str:
    return f"/ui/login?next={quote(next_path, safe='/')}"


def safe_next(next_path: str | None) -> str:
    """Where to go after the login: a path of the UI only, never another site."""
    if next_path and next_path.startswith("/ui/") and not next_path.startswith("//"):
        return next_path
    return "/ui/workflows"

"""The Host/Origin rule: no web page reaches a server that authenticates nobody (DNS rebinding).

A page on ``evil.example`` can rebind its name to 127.0.0.1 and send requests that the browser
considers same-origin: they arrive here with ``Host: evil.example:8265``. A page can also post
cross-origin (a form, or ``fetch`` with ``mode: "no-cors"``): those carry its ``Origin``.

1. Without API tokens, a request whose ``Host`` is not a loopback name or address (localhost,
   127.0.0.0/8, [::1], any port) is refused, whatever its method or path.
2. A state-changing request (POST, PUT, PATCH, DELETE) that carries an ``Origin`` is refused
   unless that origin is a loopback one (without tokens) or the server's own, the origin its
   ``Host`` names (with tokens: a browser never attaches a bearer token by itself, but the web
   UI's session cookie will be). Clients that are not browsers send no ``Origin`` and pass.

Either refusal is a 403 with the usual ``{"detail": {"error", "message", "fix"}}``, answered
before the body is read (docs/decisions/0010-server-auth.md).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from retune.server import is_loopback
from retune.server.errors import forbidden_body

STATE_CHANGING: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FIX_TOKENS: Final = (
    "or configure [[server.tokens]] in retune.toml (then every request needs a token instead)"
)


def host_name(authority: str) -> str:
    """``127.0.0.1:8265`` -> ``127.0.0.1``; ``[::1]:8265`` -> ``[::1]``; ``localhost`` -> itself."""
    if authority.startswith("["):
        return authority.partition("]")[0] + "]"
    return authority.rpartition(":")[0] if authority.count(":") == 1 else authority


def refusal(method: str, path: str, headers: Headers, *, open_server: bool) -> tuple[str, str] | None:
    """(message, fix) when the rule refuses the request, else None."""
    host = headers.get("host", "")
    if open_server and not is_loopback(host_name(host)):
        return (
            f"This server has no API tokens, so it answers only requests addressed to a loopback name "
            f"(localhost, 127.0.0.1, [::1]); this one was addressed to Host {host!r}",
            f"Reach it as http://127.0.0.1:<port> from this machine, {_FIX_TOKENS}.",
        )
    origin = headers.get("origin")
    if method not in STATE_CHANGING or origin is None:
        return None
    parts = urlsplit(origin)
    allowed = is_loopback(parts.hostname or "") if open_server else parts.netloc.lower() == host.lower()
    if parts.scheme in ("http", "https") and allowed:
        return None
    whose = "only pages served from this machine" if open_server else "only the server's own pages"
    return (
        f"Refusing {method} {path} sent by the web page at {origin!r}: {whose} may change state here",
        "Send it from the CLI, a script or the server's own UI (they send no foreign Origin), "
        + ("from a page on localhost, " + _FIX_TOKENS if open_server else "not from another site")
        + ".",
    )


class HostRule:
    """ASGI middleware applying the rule; ``open_server`` is True when no token is configured."""

    def __init__(self, app: ASGIApp, *, open_server: bool) -> None:
        self.app = app
        self.open_server = open_server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = refusal(scope["method"], scope["path"], Headers(scope=scope), open_server=self.open_server)
        if refused is None:
            await self.app(scope, receive, send)
            return
        message, fix = refused
        response = JSONResponse(forbidden_body(message, fix), status_code=403)
        await response(scope, receive, send)

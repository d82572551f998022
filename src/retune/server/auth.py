"""API tokens: who may read and who may launch, per project (docs/decisions/0010-server-auth.md).

    # retune.toml
    [[server.tokens]]
    name = "ci"
    token_sha256 = "..."          # or token = "..." (at least 16 characters)
    projects = ["flytesnacks"]    # "*" = every project
    rights = ["read", "launch"]   # "launch" does not imply "read"

With no token configured the server authenticates nobody, which ``retune.server.serve`` allows
on a loopback address only. With tokens, every route but those of ``paths.PUBLIC`` takes
``Depends(require(RIGHT))``: no token, a malformed header or an unknown token is 401
(``Unauthenticated``); a token without the right is 403. The route then checks the project it
touches with ``Grant.check_project`` (403), once it knows it: from the path, the query, the
body, or the execution the request names.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, get_args

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from retune.errors import PermissionDenied
from retune.server.errors import Unauthenticated
from retune.settings import Settings, SettingsError

Right = Literal["read", "launch"]
RIGHTS: Final[tuple[Right, ...]] = get_args(Right)
EVERY_PROJECT: Final = "*"
MIN_TOKEN_LENGTH: Final = 16
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_KEYS: Final = frozenset({"name", "token", "token_sha256", "projects", "rights"})
_HOW: Final = (
    'Each [[server.tokens]] table of retune.toml needs name = "...", token = "..." (or '
    'token_sha256 = "<sha256 hex of the token>"), projects = ["my-project"] (or ["*"]) and '
    'rights = ["read", "launch"]'
)


@dataclass(frozen=True, slots=True)
class Token:
    """One ``[[server.tokens]]`` table; only the sha256 of its secret is kept."""

    name: str
    sha256: str
    projects: frozenset[str]
    rights: frozenset[Right]


@dataclass(frozen=True, slots=True)
class Grant:
    """What the request's token allows; ``token`` is None when the server has no tokens."""

    token: str | None
    projects: frozenset[str]
    rights: frozenset[Right] = frozenset(RIGHTS)

    @property
    def reads(self) -> bool:
        """Whether answers may carry records: a launch-only token gets receipts instead."""
        return "read" in self.rights

    def allows(self, project: str | None) -> bool:
        return EVERY_PROJECT in self.projects or (project is not None and project in self.projects)

    def check_project(self, project: str | None) -> None:
        """Refuse (403) a project the token was not granted; None (an execution run locally,
        a listing of every project) needs ``"*"``."""
        if self.allows(project):
            return
        granted = ", ".join(sorted(self.projects))
        if project is None:
            raise PermissionDenied(
                f"API token {self.token!r} is limited to the projects {granted}: name one "
                "(for a listing, pass ?project=...)"
            )
        raise PermissionDenied(
            f"API token {self.token!r} is not granted project {project!r} (it has: {granted}). "
            "Use a token of that project, or add it to the token's projects in [[server.tokens]]"
        )


OPEN: Final = Grant(token=None, projects=frozenset({EVERY_PROJECT}))
"""The grant of every request when no token is configured."""

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token of the server's [[server.tokens]] (retune.toml), sent as "
    "`Authorization: Bearer <token>`. Not needed when the server configures no tokens.",
)


def require(right: Right) -> Callable[..., Awaitable[Grant]]:
    """A dependency that authenticates the request and refuses a token without ``right``."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Grant:
        tokens: tuple[Token, ...] = request.app.state.tokens
        if not tokens:
            return OPEN
        token = authenticate(tokens, credentials, request.headers.get("authorization"))
        if right not in token.rights:
            raise PermissionDenied(
                f"API token {token.name!r} lacks the right {right!r} "
                f"(it has: {', '.join(sorted(token.rights))}). Use a token with it, or add it to "
                "the token's rights in [[server.tokens]]"
            )
        return Grant(token=token.name, projects=token.projects, rights=token.rights)

    dependency.__name__ = f"require_{right}"
    return dependency


def authenticate(
    tokens: tuple[Token, ...], credentials: HTTPAuthorizationCredentials | None, header: str | None
) -> Token:
    """The token whose secret the request sends, or ``Unauthenticated``."""
    if credentials is None:
        if header is None:
            raise Unauthenticated(
                "This server needs an API token: send 'Authorization: Bearer <token>' "
                "(retune reads it from RETUNE_API_TOKEN)"
            )
        raise Unauthenticated("Malformed Authorization header: send 'Authorization: Bearer <token>'")
    found = find_token(tokens, credentials.credentials)
    if found is None:
        raise Unauthenticated(
            "Unknown API token. Check RETUNE_API_TOKEN against the server's [[server.tokens]]"
        )
    return found


def find_token(tokens: tuple[Token, ...], secret: str | None) -> Token | None:
    """The configured token whose secret is ``secret`` (a bearer token, or the web UI's session
    cookie), compared with every token in constant time each; None if none is."""
    if not secret:
        return None
    digest = hashlib.sha256(secret.encode()).hexdigest()
    found = None
    for token in tokens:
        if hmac.compare_digest(digest, token.sha256) and found is None:
            found = token
    return found


def load_tokens(settings: Settings) -> tuple[Token, ...]:
    """The ``[[server.tokens]]`` of ``settings``, checked; ``SettingsError`` names what is wrong."""
    tokens = tuple(_token(i, raw) for i, raw in enumerate(settings.server.tokens))
    names = [t.name for t in tokens]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SettingsError(
            f"[[server.tokens]]: the name {twice[0]!r} is used twice. Give each token its own."
        )
    secrets = [t.sha256 for t in tokens]
    shared = [t.name for t in tokens if secrets.count(t.sha256) > 1]
    if shared:
        raise SettingsError(
            f"[[server.tokens]]: {' and '.join(sorted(shared))} have the same secret. Give each token its own."
        )
    return tokens


def _token(index: int, raw: Any) -> Token:
    where = f"[[server.tokens]] #{index + 1}"
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{where} is {raw!r}, not a table. {_HOW}.")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SettingsError(f"{where} has no name. {_HOW}.")
    where = f"[[server.tokens]] {name!r}"
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise SettingsError(f"{where}: unknown key {unknown[0]!r}. {_HOW}.")
    return Token(
        name=name,
        sha256=_secret(where, raw),
        projects=frozenset(_names(where, raw, "projects", None)),
        rights=frozenset(_names(where, raw, "rights", RIGHTS)),  # type: ignore[arg-type]
    )


def _secret(where: str, raw: Mapping[str, Any]) -> str:
    token, digest = raw.get("token"), raw.get("token_sha256")
    if (token is None) == (digest is None):
        raise SettingsError(f"{where}: give exactly one of token and token_sha256. {_HOW}.")
    if digest is not None:
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise SettingsError(
                f'{where}: token_sha256 must be 64 hex digits (printf %s "$TOKEN" | sha256sum), got {digest!r}.'
            )
        return digest.lower()
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(
            f"{where}: the token must be a string of at least {MIN_TOKEN_LENGTH} characters; make one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    return hashlib.sha256(token.encode()).hexdigest()


def _names(where: str, raw: Mapping[str, Any], key: str, allowed: tuple[str, ...] | None) -> list[str]:
    values = raw.get(key)
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise SettingsError(f"{where}: {key} must be a non-empty list of names. {_HOW}.")
    wrong = sorted(set(values) - set(allowed)) if allowed is not None else []
    if wrong:
        raise SettingsError(f"{where}: unknown right {wrong[0]!r}; rights are {', '.join(allowed or ())}.")
    return list(values)

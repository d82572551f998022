"""Where the API lives: its prefix, and the paths anyone may read without a token."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "/api/v1"

PUBLIC: Final = frozenset(
    {f"{PREFIX}/health", f"{PREFIX}/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
"""Every other route takes ``Depends(require(...))`` (``retune.server.auth``)."""

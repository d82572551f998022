"""Request body limits: 1 MiB for JSON bodies, 64 MiB for code bundles (``PUT /bundles/...``).

Checked twice, as an ASGI middleware in front of everything: the ``Content-Length`` a client
announces (refused before a byte is read), and the bytes actually received, so a chunked body
cannot slip past by announcing nothing. Either way the answer is 413 (``BodyTooLarge``).
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retune.server.errors import BodyTooLarge
from retune.server.paths import PREFIX

MiB: Final = 2**20
JSON_LIMIT: Final = 1 * MiB
BUNDLE_LIMIT: Final = 64 * MiB
BUNDLES: Final = f"{PREFIX}/bundles/"
REGISTRATIONS: Final = f"{PREFIX}/registrations"


def limit_for(method: str, path: str) -> tuple[int, BodyTooLarge]:
    """The limit of a request, and the error that refuses a body over it."""
    if method == "PUT" and path.startswith(BUNDLES):
        return BUNDLE_LIMIT, BodyTooLarge(
            f"The code bundle is larger than {BUNDLE_LIMIT // MiB} MiB, the server's limit for bundles",
            "Register only the directory of your workflows' code, and pass data as inputs rather "
            "than shipping it with the code.",
        )
    if path == REGISTRATIONS:
        fix = "Register fewer workflows at once: one directory or module per `retune register`."
    else:
        fix = "Pass large data by reference (a path or URL as an input) rather than inline."
    return JSON_LIMIT, BodyTooLarge(
        f"The request body is larger than {JSON_LIMIT // MiB} MiB, the server's limit for JSON bodies", fix
    )


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit_for(...)``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, refusal = limit_for(scope["method"], scope["path"])
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            await _refuse(refusal, scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise refusal  # FastAPI lets HTTPExceptions through; errors.py answers 413
            return message

        await self.app(scope, receive_within_limit, send)


async def _refuse(refusal: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    from fastapi.responses import JSONResponse

    response = JSONResponse(refusal.body, status_code=413, headers={"Connection": "close"})
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

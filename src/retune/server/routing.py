"""``StoreRoute``: the route class of every router, so that an outage is a 503, never a 500.

The store raises ``StoreUnavailable`` when the database or the blob store stays away after its
retries; a driver error that still leaks through (opening a connection, a statement on one the
database dropped) is turned into one here, inside FastAPI's exception middleware, so that
``errors.py`` answers 503 with ``Retry-After`` and no traceback reaches the log.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from retune.server.errors import as_unavailable, is_unavailable
from retune.store.base import StoreUnavailable


class StoreRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except StoreUnavailable:
                raise
            except Exception as exc:
                if is_unavailable(exc):
                    raise as_unavailable(exc) from exc
                raise

        return guarded

"""``create_app``: the REST API of DESIGN §6 over the control plane.

What a request goes through, outermost first:

1. ``HostRule`` (``hosts.py``): 403 for a foreign ``Host`` without tokens, or a foreign
   ``Origin`` on a state-changing request.
2. ``BodyLimit`` (``limits.py``): 413 for a body over 1 MiB (64 MiB for a bundle).
3. ``JsonDepth`` (``depth.py``): 422 for a JSON body nested deeper than 128 levels.
4. The route's ``Depends(require(RIGHT))`` (``auth.py``): 401/403 for the token.
5. FastAPI's validation of the body and parameters against ``retune.model.control``: 422.
6. The route (``routes/``), a plain ``def`` on a worker thread, calls that thread's
   ``LocalControlPlane`` (``planes.py``), which checks everything before it writes.
7. ``errors.py`` turns what the plane raised into the status and body clients rebuild; an
   outage of the database or the blob store is a 503 (``routing.py``).

The store, the blob store and the local executor (whose ``check`` refuses a launch the workers
could never honour) open when the app starts and close when it stops (its lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from retune.server import errors, ui
from retune.server.auth import load_tokens
from retune.server.depth import JsonDepth
from retune.server.hosts import HostRule
from retune.server.limits import BodyLimit
from retune.server.paths import PREFIX
from retune.server.planes import Planes
from retune.server.responses import errors_as_json
from retune.server.routes import ROUTERS
from retune.server.routes.health import VERSION
from retune.settings import Settings, SettingsError, load

DESCRIPTION = """\
The control plane of retune: register workflows and launch plans, launch executions with
per-hook runtime overrides, and follow them. Errors are `{"detail": {"error", "message", ...}}`
naming the hook and field of a bad override, or the input of a bad value.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the store of ``settings`` (default ``retune.settings.load()``).

    Raises ``SettingsError`` for ``[[server.tokens]]`` or ``[capacity]`` that cannot work.
    """
    settings = settings if settings is not None else load()
    tokens = load_tokens(settings)
    _check_capacity(settings)
    app = FastAPI(
        title="retune",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=_lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.settings = settings
    app.state.tokens = tokens
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX)
    errors.install(app)
    ui.install(app)
    _document_errors_as_json(app)
    # Each add_middleware wraps the ones before it: the last added runs first.
    app.add_middleware(JsonDepth)
    app.add_middleware(BodyLimit)
    app.add_middleware(HostRule, open_server=not tokens)
    return app


def _document_errors_as_json(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = errors_as_json(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to amend it


def database_url(settings: Settings) -> str:
    """``settings.database_url``, else the SQLite file ``retune.db`` in ``settings.home``."""
    return settings.database_url or f"sqlite:///{settings.home / 'retune.db'}"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from retune.executors.factory import config_check
    from retune.store import open_default_blobs, open_store

    settings: Settings = app.state.settings
    url = database_url(settings)
    open_store(url).close()  # a database that cannot be reached or migrated stops the start
    blobs = open_default_blobs(settings)
    # The workers' executor refuses these configs too; checking here refuses them before a launch
    # is stored (config_check starts no process).
    check = config_check(settings)
    app.state.planes = planes = Planes(url, blobs, check=check)
    try:
        yield
    finally:
        planes.close()


def _check_capacity(settings: Settings) -> None:
    from retune.executors.admission import machine_capacity

    try:
        machine_capacity(settings.capacity or None)
    except ValueError as exc:
        raise SettingsError(f"[capacity] in retune.toml (or RETUNE_CAPACITY_*): {exc}") from None

"""``GET /health`` and ``GET /ready``: public, for load balancers and orchestrators.

``/health`` says the process is alive (it touches nothing). ``/ready`` says whether this server
can do its work: the database answers a read and the blob store a write and a read back; 503
naming which is away otherwise (why goes to the log: the route is public, so it shows no URL).
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Final

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from retune.server.dependencies import PlanesDep
from retune.server.errors import RETRY_AFTER, as_unavailable, is_unavailable
from retune.server.planes import Planes
from retune.server.responses import errors
from retune.server.routing import StoreRoute
from retune.server.schemas import Health, Readiness

router = APIRouter(tags=["server"], route_class=StoreRoute)
log = logging.getLogger("retune.server")

PROBE: Final = "probes/ready"

try:
    VERSION = version("retune")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "unknown"


@router.get(
    "/health",
    response_model=Health,
    responses=errors(403),
    summary="Whether the server is up, and its retune version",
)
def health() -> Health:
    return Health(status="ok", version=VERSION)


@router.get(
    "/ready",
    response_model=Readiness,
    responses=errors(403) | {503: errors(503)[503] | {"model": Readiness}},
    summary="Whether the database and the blob store answer",
)
def ready(planes: PlanesDep) -> JSONResponse:
    checks = {"database": _database(planes), "blob_store": _blob_store(planes)}
    away = [what.replace("_", " ") for what, state in checks.items() if state != "ok"]
    if not away:
        return JSONResponse({"status": "ready", "checks": checks, "message": "ready"})
    body = {
        "status": "unavailable",
        "checks": checks,
        "message": f"Not ready: the {' and the '.join(away)} cannot be reached; the server's log says why",
    }
    planes.reopen()
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER)})


def _database(planes: Planes) -> str:
    try:
        planes.current().store.list_launched(limit=1)
    except Exception as exc:
        return _away(exc)
    return "ok"


def _blob_store(planes: Planes) -> str:
    try:
        planes.blobs.put(PROBE, b"ready")
        planes.blobs.get(PROBE)
    except Exception as exc:  # an unmounted or read-only disk is an OSError, not StoreUnavailable
        if isinstance(exc, OSError) or is_unavailable(exc):
            log.warning("GET /ready: the blob store does not answer: %s", exc)
            return "unavailable"
        raise
    return "ok"


def _away(exc: Exception) -> str:
    if not is_unavailable(exc):
        raise exc
    log.warning("GET /ready: %s", as_unavailable(exc))
    return "unavailable"

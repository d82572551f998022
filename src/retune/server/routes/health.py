"""``GET /health``: public, so a client can tell a retune server from anything else."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from retune.server.schemas import Health

router = APIRouter(tags=["server"])

try:
    VERSION = version("retune")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "unknown"


@router.get("/health", response_model=Health, summary="Whether the server is up, and its retune version")
def health() -> Health:
    return Health(status="ok", version=VERSION)

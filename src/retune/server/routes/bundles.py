"""``PUT /bundles/{digest}``: the zip of a registration's code, content-addressed."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Body, Path

from retune.errors import InputError
from retune.model.control import DIGEST_PATTERN
from retune.server.dependencies import CanLaunch, PlanesDep
from retune.server.responses import errors
from retune.server.routing import StoreRoute
from retune.server.schemas import BundleStored

router = APIRouter(tags=["registry"], route_class=StoreRoute)

Digest = Annotated[str, Path(pattern=DIGEST_PATTERN, description="The sha256 (hex) of the body.")]
Zip = Annotated[bytes, Body(media_type="application/zip", description="The bundle `retune register` builds.")]


@router.put(
    "/bundles/{digest}",
    status_code=201,
    response_model=BundleStored,
    responses=errors(401, 403, 413, 422, 503),
    summary="Upload a code bundle (up to 64 MiB)",
)
def put_bundle(digest: Digest, body: Zip, grant: CanLaunch, planes: PlanesDep) -> BundleStored:
    # Bundles belong to no project: any token that may launch may upload one, and only a
    # registration (which names its project) makes it reachable.
    actual = hashlib.sha256(body).hexdigest()
    if actual != digest.lower():
        raise InputError(
            f"The bundle's sha256 is {actual}, not {digest} as its URL says",
            input="digest",
            fix="Send it to PUT /api/v1/bundles/<sha256 of the body>; it may have been cut short.",
        )
    check_zip(body)
    return BundleStored(digest=planes.current().put_bundle(body))


def check_zip(body: bytes) -> None:
    """Refuse a bundle that is not a zip a worker can extract: workers import code from it, and
    a blob under ``bundles/`` must never be anything else (values must not point at it)."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InputError(
            f"The bundle is not a zip archive ({exc})",
            input="body",
            fix="Upload the zip `retune register` builds of your code (Content-Type: application/zip).",
        ) from None
    unsafe = sorted(n for n in names if PurePosixPath(n).is_absolute() or ".." in PurePosixPath(n).parts)
    if unsafe:
        raise InputError(
            f"The bundle holds a path that leaves its directory: {unsafe[0]!r}",
            input="body",
            fix="Zip the code relative to its root, with no absolute paths or '..'.",
        )

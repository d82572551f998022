"""``PUT /bundles/{digest}``: the zip of a registration's code, content-addressed."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Body, Path

from retune.errors import InputError
from retune.model.control import DIGEST_PATTERN
from retune.server.dependencies import CanLaunch, PlanesDep
from retune.server.schemas import BundleStored, errors

router = APIRouter(tags=["registry"])

Digest = Annotated[str, Path(pattern=DIGEST_PATTERN, description="The sha256 (hex) of the body.")]
Zip = Annotated[bytes, Body(media_type="application/zip", description="The bundle `retune register` builds.")]


@router.put(
    "/bundles/{digest}",
    status_code=201,
    response_model=BundleStored,
    responses=errors(401, 403, 413),
    summary="Upload a code bundle (up to 64 MiB)",
)
def put_bundle(digest: Digest, body: Zip, grant: CanLaunch, planes: PlanesDep) -> BundleStored:
    # Bundles belong to no project: any token that may launch may upload one, and only a
    # registration (which names its project) makes it reachable.
    actual = hashlib.sha256(body).hexdigest()
    if actual != digest:
        raise InputError(
            f"The bundle's sha256 is {actual[:12]}..., not {digest[:12]}... as its URL says",
            input="digest",
            fix="Send it to PUT /api/v1/bundles/<sha256 of the body>; it may have been cut short.",
        )
    return BundleStored(digest=planes.current().put_bundle(body))

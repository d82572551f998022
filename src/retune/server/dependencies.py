"""What routes declare: the grant of their token, the planes, and the shape of path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from retune.model.control import ENTITY_PATTERN, NAME_PATTERN, VERSION_PATTERN
from retune.server.auth import Grant, require
from retune.server.planes import Planes


async def planes(request: Request) -> Planes:
    """The server's planes; a route takes its own with ``planes.current()`` (see ``Planes``)."""
    found: Planes = request.app.state.planes
    return found


PlanesDep = Annotated[Planes, Depends(planes)]
CanRead = Annotated[Grant, Depends(require("read"))]
CanLaunch = Annotated[Grant, Depends(require("launch"))]

ProjectPath = Annotated[str, Path(pattern=NAME_PATTERN, examples=["flytesnacks"])]
DomainPath = Annotated[str, Path(pattern=NAME_PATTERN, examples=["development"])]
NamePath = Annotated[str, Path(pattern=ENTITY_PATTERN, examples=["flows.training.wf"])]
ExecutionId = Annotated[str, Path(min_length=1, max_length=128, examples=["ex-1a2b3c4d5e6f"])]
VersionQuery = Annotated[
    str | None, Query(pattern=VERSION_PATTERN, description="A registered version; default: the newest.")
]

"""``GET /workflows/...``: a registered workflow, its interface and its hooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from retune.server.dependencies import CanRead, DomainPath, NamePath, PlanesDep, ProjectPath, VersionQuery
from retune.server.responses import errors
from retune.server.routing import StoreRoute
from retune.server.schemas import HookDocument, WorkflowDocument

router = APIRouter(tags=["registry"], route_class=StoreRoute)


@router.get(
    "/workflows/{project}/{domain}/{name}",
    response_model=WorkflowDocument,
    responses=errors(401, 403, 404, 422, 503),
    summary="A registered workflow: spec, interface and hooks",
)
def get_workflow(
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    grant: CanRead,
    planes: PlanesDep,
    version: VersionQuery = None,
) -> WorkflowDocument:
    grant.check_project(project)
    plane = planes.current()
    record = plane.get_workflow(project, domain, name, version)
    hooks = plane.hooks(project, domain, name, record.version)
    return WorkflowDocument(
        **dict(record),
        interface=record.spec.interface,
        hooks={k: HookDocument(**v) for k, v in hooks.items()},
    )


@router.get(
    "/workflows/{project}/{domain}/{name}/hooks",
    response_model=dict[str, HookDocument],
    responses=errors(401, 403, 404, 422, 503),
    summary="The workflow's hooks: the map `retune hooks --json` prints",
)
def get_hooks(
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    grant: CanRead,
    planes: PlanesDep,
    version: VersionQuery = None,
) -> dict[str, Any]:
    grant.check_project(project)
    return planes.current().hooks(project, domain, name, version)

"""``/launch_plans``: named inputs and overrides for a registered workflow."""

from __future__ import annotations

from fastapi import APIRouter, Response

from retune.model.control import LaunchPlanRecord, LaunchPlanRequest
from retune.server.dependencies import (
    CanLaunch,
    CanRead,
    DomainPath,
    NamePath,
    PlanesDep,
    ProjectPath,
    VersionQuery,
)
from retune.server.responses import errors, no_op
from retune.server.routing import StoreRoute

router = APIRouter(tags=["launch plans"], route_class=StoreRoute)


@router.post(
    "/launch_plans",
    status_code=201,
    response_model=LaunchPlanRecord,
    responses=no_op("The launch plan") | errors(401, 403, 404, 409, 413, 422, 503),
    summary="Create a launch plan for a registered workflow",
)
def create_launch_plan(
    body: LaunchPlanRequest, response: Response, grant: CanLaunch, planes: PlanesDep
) -> LaunchPlanRecord:
    grant.check_project(body.project)
    record = planes.current().create_launch_plan(body)
    if not record.created:
        response.status_code = 200
    return record


@router.get(
    "/launch_plans/{project}/{domain}/{name}",
    response_model=LaunchPlanRecord,
    responses=errors(401, 403, 404, 422, 503),
    summary="A registered launch plan",
)
def get_launch_plan(
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    grant: CanRead,
    planes: PlanesDep,
    version: VersionQuery = None,
) -> LaunchPlanRecord:
    grant.check_project(project)
    return planes.current().get_launch_plan(project, domain, name, version)

"""``POST /registrations``: tasks, workflows and launch plans under one version."""

from __future__ import annotations

from fastapi import APIRouter, Response

from retune.model.control import Registration, RegistrationResult
from retune.server.dependencies import CanLaunch, PlanesDep
from retune.server.responses import errors, no_op
from retune.server.routing import StoreRoute

router = APIRouter(tags=["registry"], route_class=StoreRoute)


@router.post(
    "/registrations",
    status_code=201,
    response_model=RegistrationResult,
    responses=no_op("Every entity") | errors(401, 403, 404, 409, 413, 422, 503),
    summary="Register tasks, workflows and launch plans (immutable per version)",
)
def register(
    body: Registration, response: Response, grant: CanLaunch, planes: PlanesDep
) -> RegistrationResult:
    grant.check_project(body.project)
    result = planes.current().register(body)
    if not any(entity.created for entity in result.entities):
        response.status_code = 200
    return result

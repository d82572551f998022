"""The API's routes, one module per concept (Prefect's server layout: schema -> plane -> route).

Each route authorises its request with ``Depends(require(RIGHT))`` and, once it knows the
project it touches, ``grant.check_project``; the routes of ``paths.PUBLIC`` take neither.
"""

from __future__ import annotations

from fastapi import APIRouter

from retune.server.routes import (
    bundles,
    executions,
    health,
    launch_plans,
    registrations,
    task_types,
    workflows,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    bundles.router,
    registrations.router,
    workflows.router,
    launch_plans.router,
    executions.router,
    task_types.router,
)

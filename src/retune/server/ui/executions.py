"""``/ui/executions``: the list of executions and an execution's page (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from retune.server.ui.routing import UiRoute

router = APIRouter(route_class=UiRoute, include_in_schema=False)

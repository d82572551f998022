"""``/ui/workflows/{project}/{domain}/{name}/launch``: the launch form, its preview and its launch.

GET shows the form (``?launch_plan=NAME`` for a launch plan's defaults, ``?from_execution=ID``
pre-filled with an execution's overrides and inputs: relaunch). POST
(``application/x-www-form-urlencoded``, to the same URL) with ``action=preview`` answers the form
again with what every hooked node would run with (a dry run: nothing stored); otherwise it
launches through ``LocalControlPlane.launch``, the API's path, and answers 303 to the execution's
page. Anything refused is a 422 with the form again, each message beside its field, the values
kept, nothing created.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from retune.control import LocalControlPlane
from retune.errors import RetuneError
from retune.model.control import ENTITY_PATTERN, ExecutionRequest
from retune.model.execution import Execution
from retune.model.spec import LaunchPlanSpec, WorkflowSpec
from retune.server.auth import Grant
from retune.server.dependencies import DomainPath, NamePath, PlanesDep, ProjectPath, VersionQuery
from retune.server.ui.config_view import ConfigRow, config_rows
from retune.server.ui.form import (
    LaunchForm,
    build_form,
    fill,
    overrides_wire,
    place_error,
    posted_from,
    read_posted,
)
from retune.server.ui.routing import UiRoute
from retune.server.ui.session import check_csrf, page_grant
from retune.server.ui.templates import render
from retune.server.ui.workflows import launch_plans_of

router = APIRouter(route_class=UiRoute, include_in_schema=False)
PlanQuery = Annotated[str | None, Query(pattern=ENTITY_PATTERN)]
PATH = "/ui/workflows/{project}/{domain}/{name}/launch"


class Target:
    """What the form launches: the workflow's spec and version, and the launch plan if chosen."""

    def __init__(
        self,
        plane: LocalControlPlane,
        project: str,
        domain: str,
        name: str,
        version: str | None,
        plan: str | None,
    ) -> None:
        self.project, self.domain, self.name = project, domain, name
        self.plan: LaunchPlanSpec | None = None
        self.plan_name = plan
        if plan:
            record = plane.get_launch_plan(project, domain, plan, version)
            if record.spec.workflow != name:
                from retune.store import NotFound

                raise NotFound(
                    f"Launch plan {plan!r} launches workflow {record.spec.workflow!r}, not {name!r}. "
                    f"Open the launch form of {record.spec.workflow!r} to use it"
                )
            self.plan = record.spec
            version = record.spec.workflow_version or record.version
        workflow = plane.get_workflow(project, domain, name, version)
        self.spec: WorkflowSpec = workflow.spec
        self.version: str = workflow.version
        self.plans = [plan.name for plan in launch_plans_of(plane, project, domain, name)]

    def request(self, inputs: dict[str, Any], overrides: dict[str, Any]) -> ExecutionRequest:
        return ExecutionRequest(
            project=self.project,
            domain=self.domain,
            workflow=None if self.plan_name else self.name,
            launch_plan=self.plan_name or None,
            version=None if self.plan_name else self.version,
            inputs=inputs,
            overrides=overrides,
        )


@router.get(PATH)
def launch_form(
    request: Request,
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    planes: PlanesDep,
    version: VersionQuery = None,
    launch_plan: PlanQuery = None,
    from_execution: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    grant = page_grant(request, "read")
    grant.check_project(project)
    plane = planes.current()
    target = Target(plane, project, domain, name, version, launch_plan)
    form = build_form(target.spec, target.plan)
    parent = None
    if from_execution:
        parent = plane.get_execution(from_execution)
        grant.check_project(parent.project)
        fill(form, posted_from(parent.overrides, parent.inputs))
    return _page(request, target, form, grant, parent=parent)


@router.post(PATH)
async def submit(
    request: Request, project: ProjectPath, domain: DomainPath, name: NamePath, planes: PlanesDep
) -> Response:
    posted = dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
    preview = posted.get("action") == "preview"
    grant = page_grant(request, "read" if preview else "launch")  # a preview launches nothing
    grant.check_project(project)
    check_csrf(request, posted.get("csrf"))

    def launched() -> Response:
        plane = planes.current()
        target = Target(
            plane, project, domain, name, posted.get("version") or None, posted.get("launch_plan") or None
        )
        form = build_form(target.spec, target.plan)
        fill(form, posted)
        try:
            inputs, overrides = read_posted(form, target.spec)
            if form.invalid:
                return _page(request, target, form, grant, status=422)
            execution, _ = plane.launch(target.request(inputs, overrides_wire(overrides)), dry_run=preview)
        except (RetuneError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                form.errors.append(_validation_message(exc))
            else:
                place_error(form, exc)
            return _page(request, target, form, grant, status=422)
        if preview:
            return _page(request, target, form, grant, preview=execution)
        return RedirectResponse(f"/ui/executions/{execution.id}", status_code=303)

    return await anyio.to_thread.run_sync(launched, limiter=planes.launches)


def _page(
    request: Request,
    target: Target,
    form: LaunchForm,
    grant: Grant,
    *,
    status: int = 200,
    preview: Execution | None = None,
    parent: Execution | None = None,
) -> Response:
    rows = None
    if preview is not None:
        rows = [
            (node, [_this_launch(row) for row in config_rows(node.config, node.provenance)])
            for node in preview.nodes
            if node.hook is not None
        ]
    return render(
        request,
        "launch.html",
        status,
        target=target,
        form=form,
        preview=rows,
        parent=parent,
        can_launch="launch" in grant.rights,
    )


def _this_launch(row: ConfigRow) -> ConfigRow:
    """A preview's execution has no id a person could look up: its own values are "this launch"."""
    return replace(row, source="this launch") if row.layer == "execution" else row


def _validation_message(exc: ValidationError) -> str:
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems)

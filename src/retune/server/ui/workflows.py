"""``/ui/workflows``: registered workflows by project and domain, and a workflow's page (graph,
interface, hooks with their defaults and where they come from, launch plans, versions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from retune.control import LocalControlPlane
from retune.model.control import NAME_PATTERN
from retune.model.spec import WorkflowSpec
from retune.server.dependencies import DomainPath, NamePath, PlanesDep, ProjectPath, VersionQuery
from retune.server.ui.form import cli_paths, shown_value
from retune.server.ui.routing import UiRoute
from retune.server.ui.session import page_grant
from retune.server.ui.templates import render
from retune.store.base import Registered

router = APIRouter(route_class=UiRoute, include_in_schema=False)
Filter = Annotated[str | None, Query(pattern=NAME_PATTERN)]


@router.get("/ui/workflows")
def list_workflows(
    request: Request, planes: PlanesDep, project: Filter = None, domain: Filter = None
) -> Response:
    grant = page_grant(request, "read")
    if project is not None:
        grant.check_project(project)
    found = planes.current().store.list_registered("workflow", project, domain, specs=False)
    newest: dict[tuple[str, str, str], Any] = {}
    versions: dict[tuple[str, str, str], int] = {}
    for entry in found:  # newest first within a name
        key = (entry.project, entry.domain, entry.name)
        if not grant.allows(entry.project):
            continue
        newest.setdefault(key, entry)
        versions[key] = versions.get(key, 0) + 1
    groups: dict[tuple[str, str], list[Any]] = {}
    for key, entry in newest.items():
        groups.setdefault(key[:2], []).append((entry, versions[key]))
    return render(request, "workflows.html", groups=groups, project=project, domain=domain)


@router.get("/ui/workflows/{project}/{domain}/{name}")
def workflow_page(
    request: Request,
    project: ProjectPath,
    domain: DomainPath,
    name: NamePath,
    planes: PlanesDep,
    version: VersionQuery = None,
) -> Response:
    grant = page_grant(request, "read")
    grant.check_project(project)
    plane = planes.current()
    record = plane.get_workflow(project, domain, name, version)
    found = plane.store.registered("workflow", project, domain, name, record.version)
    versions = plane.store.list_registered("workflow", project, domain, name, specs=False)
    plans = launch_plans_of(plane, project, domain, name)
    return render(
        request,
        "workflow.html",
        record=record,
        spec=record.spec,
        graph=graph_of(record.spec, found.content_hash, request),
        hooks=hook_rows(record.spec),
        versions=versions,
        plans=plans,
    )


def graph_of(spec: WorkflowSpec, key: str, request: Request) -> str:
    """The workflow's graph as SVG (cached by the spec's content hash and the grouping): the
    page's ``?expand=GROUP`` opens a sub-workflow drawn as one box (every top-level one is, past
    300 nodes), ``?collapse=GROUP`` draws an open one as a box; both may repeat."""
    from retune.server.ui.graph import graph_svg

    expand = frozenset(request.query_params.getlist("expand"))
    collapse = frozenset(request.query_params.getlist("collapse")) - expand
    return graph_svg(spec, key, collapsed=collapse, expanded=expand)


def hook_rows(spec: WorkflowSpec) -> list[dict[str, Any]]:
    """Hook, nodes, task, and each default set in workflow code (as ``-o`` paths and values, with
    the workflow that sets it)."""
    rows = []
    for name, hook in sorted(spec.hooks.items()):
        defaults = [
            (path, shown_value(path, value), f"workflow {default.workflow}")
            for default in hook.defaults
            for path, value in cli_paths(default.overrides.to_dict())
        ]
        rows.append(
            {
                "hook": name,
                "nodes": hook.nodes,
                "task": hook.task,
                "defaults": defaults,
                "declared_at": hook.declared_at,
            }
        )
    return rows


def launch_plans_of(plane: LocalControlPlane, project: str, domain: str, workflow: str) -> list[Registered]:
    """The newest version of each launch plan of ``workflow`` in the project and domain, by name."""
    newest: dict[str, Registered] = {}
    for plan in plane.store.list_registered("launch_plan", project, domain):  # newest first per name
        if plan.spec.get("workflow") == workflow:
            newest.setdefault(plan.name, plan)
    return list(newest.values())

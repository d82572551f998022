"""``/ui/executions``: the list of launched executions, and an execution's page.

- ``GET /ui/executions[?project=&domain=&workflow=&phase=&before=ID]``: newest first, a page of
  ``PAGE`` at a time, one query of the executions table (no node is read); a token limited to
  some projects sees only those. ``before`` is the last execution of the page before (keyset
  paging, ``ControlStore.list_launched``): executions launched meanwhile shift no page, and the
  Older link keeps the filters.
- ``GET /ui/executions/{id}``: the header (workflow, version, launch plan, parent, worker, phase,
  times, inputs, outputs, error), the workflow's graph (``graph.py``, cached by the spec's
  content hash) and a table of the nodes that works without JavaScript. The nodes' state is
  embedded as JSON for ``static/execution.js``, which colours the graph by phase.
- ``GET /ui/executions/{id}/state``: that JSON, polled by the script while the execution is live.
  Every answer is the whole state, so a poll after a lost connection misses no transition.
- ``POST /ui/executions/{id}/abort``: the API's abort, from a form with the session's CSRF token.

The node panel (``/ui/executions/{id}/nodes/{path}``) is ``node_panel.py``: fetched on demand,
never rendered for every node, so the page of a 2,000-node execution stays small.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from retune.control import LocalControlPlane
from retune.model.control import ENTITY_PATTERN, NAME_PATTERN
from retune.model.execution import Execution, NodeProgress, Phase
from retune.server.auth import Grant
from retune.server.dependencies import ExecutionId, PlanesDep
from retune.server.ui.routing import UiRoute
from retune.server.ui.session import check_csrf, page_grant
from retune.server.ui.templates import format_duration, format_time, render
from retune.store import NotFound

router = APIRouter(route_class=UiRoute, include_in_schema=False)

LIVE: Final = frozenset({Phase.QUEUED, Phase.RUNNING})
PAGE: Final = 100  # executions a page lists
_TEXT_LIMIT: Final = 4000  # characters of an input or output value shown in the header
TextFilter = Annotated[str | None, Query(max_length=255)]


@router.get("/ui/executions")
def list_executions(
    request: Request,
    planes: PlanesDep,
    project: TextFilter = None,
    domain: TextFilter = None,
    workflow: TextFilter = None,
    phase: TextFilter = None,
    before: TextFilter = None,
) -> Response:
    grant = page_grant(request, "read")
    filters = {"project": project or None, "domain": domain or None, "workflow": workflow or None}
    chosen = _phase(phase)
    problems = _invalid(filters)
    if chosen is None and phase:
        problems.append(f"phase {phase!r} is not a phase (one of {', '.join(p.value for p in Phase)})")
    if filters["project"] is not None:
        grant.check_project(filters["project"])
    found: list[Execution] = []
    if not problems:
        try:
            found = _listed(planes.current(), grant, filters, chosen, before or None)
        except NotFound:
            problems.append(
                f"before {before!r} is not an execution, so there is no page of the executions "
                "launched before it. Start again from the newest"
            )
    kept = [(name, value) for name, value in filters.items() if value is not None]
    if chosen is not None:
        kept.append(("phase", chosen.value))
    return render(
        request,
        "executions.html",
        422 if problems else 200,
        executions=found[:PAGE],
        filters=filters,
        phase=chosen.value if chosen else "",
        phases=[p.value for p in Phase if p is not Phase.SKIPPED],  # SKIPPED is for nodes only
        phase_links=_phase_links(filters, chosen),
        problems=problems,
        now=time.time(),
        before=before or None,
        newest_url=_list_url(kept) if before else None,
        older_url=_list_url([*kept, ("before", found[PAGE - 1].id)]) if len(found) > PAGE else None,
    )


@router.get("/ui/executions/{execution_id}")
def execution_page(request: Request, execution_id: ExecutionId, planes: PlanesDep) -> Response:
    grant = page_grant(request, "read")
    plane = planes.current()
    execution, nodes = readable(plane, grant, execution_id)
    return render(
        request,
        "execution.html",
        execution=execution,
        nodes=nodes,
        graph=_graph(plane, execution, request),
        phases_json=embedded_json(phases_of(execution, nodes)),
        live=execution.phase in LIVE,
        now=time.time(),
        inputs=_shown(execution.inputs),
        outputs=None if execution.outputs is None else _text(execution.outputs),
        workflow_url=workflow_url(execution),
        relaunch_url=relaunch_url(execution),
        items_text=items_text,
    )


@router.get("/ui/executions/{execution_id}/state")
def execution_state(request: Request, execution_id: ExecutionId, planes: PlanesDep) -> Response:
    grant = page_grant(request, "read")
    execution, nodes = readable(planes.current(), grant, execution_id)
    return JSONResponse(state_of(execution, nodes), headers={"Cache-Control": "no-store"})


@router.post("/ui/executions/{execution_id}/abort")
async def abort(request: Request, execution_id: ExecutionId, planes: PlanesDep) -> Response:
    posted = dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
    grant = page_grant(request, "launch")
    check_csrf(request, posted.get("csrf"))
    plane = planes.current()
    readable(plane, grant, execution_id)
    plane.abort(execution_id)  # a local run: RequestRefused, a 409 page
    return RedirectResponse(f"/ui/executions/{execution_id}", status_code=303)


def readable(
    plane: LocalControlPlane, grant: Grant, execution_id: str
) -> tuple[Execution, tuple[NodeProgress, ...]]:
    """The execution (without nodes) and its nodes' progress, if the grant may see its project
    (a local run needs every project). Not ``get_execution``: what each node ran with is most of
    a big execution's bytes, and only the node panel needs it, for one node."""
    execution, nodes = plane.execution_progress(execution_id)
    grant.check_project(execution.project)
    return execution, nodes


def state_of(execution: Execution, nodes: Sequence[NodeProgress]) -> dict[str, Any]:
    """What the page's script needs to show the execution's progress: the whole of it, always."""
    duration = duration_of(execution, time.time())
    so_far = "" if execution.finished_at is not None or duration is None else " so far"
    return {
        "phase": execution.phase.value,
        "finished_at": execution.finished_at,
        "finished_text": format_time(execution.finished_at),
        "duration": duration,
        "duration_text": format_duration(duration) + so_far,
        "nodes": {node.path: node_state(node) for node in nodes},
    }


def phases_of(execution: Execution, nodes: Sequence[NodeProgress]) -> dict[str, Any]:
    """What the page embeds for its script: the execution's phase and each node's, by path (the
    table has the rest; the first poll brings the whole state)."""
    return {"phase": execution.phase.value, "nodes": {node.path: node.phase.value for node in nodes}}


def node_state(node: NodeProgress) -> dict[str, Any]:
    items = None if node.items is None else dict(node.items)
    return {"phase": node.phase.value, "cache": node.cache.value, "attempts": node.attempts, "items": items}


def items_text(counts: Mapping[str, int] | None) -> str:
    """``7 done, 1 failed of 10`` for a map node (the script writes the same); '' otherwise."""
    if counts is None:
        return ""
    return f"{counts['succeeded']} done, {counts['failed']} failed of {counts['total']}"


def duration_of(execution: Execution, now: float) -> float | None:
    """From creation to the end, or to ``now`` while it has not ended."""
    if execution.created_at is None:
        return None
    return (execution.finished_at or now) - execution.created_at


def embedded_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</``, ``<!--`` or ``]]>``."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def workflow_url(execution: Execution) -> str | None:
    if execution.project is None or execution.domain is None:
        return None  # a local run: its workflow is registered under _local, which has no page
    return (
        f"/ui/workflows/{execution.project}/{execution.domain}/{execution.workflow}"
        f"?version={_query(execution.workflow_version)}"
    )


def relaunch_url(execution: Execution) -> str | None:
    """The launch form filled with this execution's inputs and overrides; None for a local run."""
    if execution.project is None or execution.domain is None:
        return None
    url = (
        f"/ui/workflows/{execution.project}/{execution.domain}/{execution.workflow}/launch"
        f"?version={_query(execution.workflow_version)}&from_execution={_query(execution.id)}"
    )
    if execution.launch_plan:
        url += f"&launch_plan={_query(execution.launch_plan)}"
    return url


def _listed(
    plane: LocalControlPlane,
    grant: Grant,
    filters: dict[str, str | None],
    phase: Phase | None,
    before: str | None,
) -> list[Execution]:
    """The page's executions and one more if there are older ones (so that the page knows to
    link to them), in the store's order: ``created_at``, then ``id``, newest first."""
    projects: Sequence[str | None] = [filters["project"]]
    if filters["project"] is None and not grant.allows(None):
        projects = sorted(grant.projects)  # a token limited to some projects: each of them
    found = [
        execution
        for project in projects
        for execution in plane.list_executions(
            project=project,
            domain=filters["domain"],
            workflow=filters["workflow"],
            phase=phase,
            limit=PAGE + 1,
            before=before,
        )
        if grant.allows(execution.project)
    ]
    found.sort(key=lambda e: (e.created_at or 0.0, e.id), reverse=True)
    return found[: PAGE + 1]


def _list_url(query: Sequence[tuple[str, str]]) -> str:
    return "/ui/executions" + (f"?{urlencode(query)}" if query else "")


def _phase_links(filters: dict[str, str | None], chosen: Phase | None) -> list[tuple[str, str, bool]]:
    """ "All" and one link per phase, each keeping the other filters."""
    kept = [(name, value) for name, value in filters.items() if value is not None]
    links = [("All", _list_url(kept), chosen is None)]
    for phase in Phase:
        if phase is Phase.SKIPPED:
            continue
        links.append(
            (phase.value, f"/ui/executions?{urlencode([*kept, ('phase', phase.value)])}", phase is chosen)
        )
    return links


def _invalid(filters: dict[str, str | None]) -> list[str]:
    patterns = {"project": NAME_PATTERN, "domain": NAME_PATTERN, "workflow": ENTITY_PATTERN}
    return [
        f"{name} {value!r} is not a valid {name} name"
        for name, value in filters.items()
        if value is not None and not re.match(patterns[name], value)
    ]


def _phase(text: str | None) -> Phase | None:
    try:
        return Phase(text.upper()) if text else None
    except ValueError:
        return None


def _graph(plane: LocalControlPlane, execution: Execution, request: Request) -> str | None:
    from retune.server.ui.workflows import graph_of

    try:
        spec, key = plane.spec_of(execution)
    except NotFound:
        return None  # a run older than the one registry (docs/decisions/0015): no spec to draw
    return graph_of(spec, key, request)


def _shown(values: Any) -> list[tuple[str, str]]:
    return [(str(name), _text(value)) for name, value in dict(values).items()]


def _text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + f"… ({len(text):,} characters)"


def _query(value: str) -> str:
    return quote(value, safe="")

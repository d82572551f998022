"""``/executions``: launch, read, relaunch, recover and abort.

Executions are answered as ``Execution.to_dict()``, the shape of ``--json``, to a token that may
read; a launch-only token gets an ``ExecutionReceipt`` instead (the id, the phase, and what its
request sent), because ``launch`` does not imply ``read``: a relaunch or an idempotent replay
would otherwise hand it another launch's inputs and outputs. A route naming an execution by id
reads it first, so that the token is checked against the execution's project before anything
is done to it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Header, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from retune.control import LocalControlPlane
from retune.control.logs import log_key, read_log
from retune.model.control import ENTITY_PATTERN, NAME_PATTERN, ExecutionRequest, RelaunchRequest
from retune.model.execution import Execution, Phase
from retune.server.auth import Grant
from retune.server.dependencies import CanLaunch, CanRead, ExecutionId, PlanesDep
from retune.server.paths import PREFIX
from retune.server.responses import Responses, errors
from retune.server.routing import StoreRoute
from retune.server.schemas import ExecutionAnswer, ExecutionDocument, ExecutionList, ExecutionReceipt
from retune.store import NotFound

router = APIRouter(tags=["executions"], route_class=StoreRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Launching again with the same key answers the first execution (200) instead of "
        "creating another; the same as the body's idempotency_key.",
    ),
]
Filter = Annotated[str | None, Query(pattern=NAME_PATTERN)]
WorkflowFilter = Annotated[str | None, Query(pattern=ENTITY_PATTERN, description="A workflow's name")]
DryRun = Annotated[
    bool,
    Query(
        description="Store nothing: answer (200) the execution the launch would create, every node's "
        "effective config and provenance, refusing what the launch would refuse."
    ),
]
Limit = Annotated[int, Query(ge=1, le=500)]
Before = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        description="An execution's id: list only what comes after it, newest first (the `next` of "
        "the previous page). Executions launched meanwhile shift nothing.",
    ),
]

RECEIPT = " (a receipt for a token without the right to read)"
CREATED: Responses = {
    201: {"model": ExecutionAnswer, "description": "The new execution" + RECEIPT},
}
LAUNCHED: Responses = CREATED | {
    200: {
        "model": ExecutionAnswer,
        "description": "An idempotent replay: the first execution; or, with dry_run, the execution "
        "the launch would create, stored nowhere" + RECEIPT,
    }
}
ONE: Responses = {200: {"model": ExecutionDocument, "description": "The execution."}}
CHANGED: Responses = {200: {"model": ExecutionAnswer, "description": "The execution" + RECEIPT}}


@router.post(
    "/executions",
    status_code=201,
    response_model=None,
    responses=LAUNCHED | errors(401, 403, 404, 409, 413, 422, 503),
    summary="Launch a workflow or a launch plan, with inputs and per-hook overrides",
)
async def launch(
    body: ExecutionRequest,
    grant: CanLaunch,
    planes: PlanesDep,
    idempotency_key: IdempotencyKey = None,
    dry_run: DryRun = False,
) -> Response:
    grant.check_project(body.project)
    request = body.model_copy(update={"idempotency_key": _key(body.idempotency_key, idempotency_key)})

    def launched() -> Response:  # on a worker thread, as a plain ``def`` route would be
        execution, created = planes.current().launch(request, dry_run=dry_run)
        sent = None if grant.reads else body.model_dump(mode="json", include=_SENT)
        return _answer(execution, 201 if created else 200, grant, sent)

    # At most ``planes.launches`` at once: see ``Planes``.
    return await anyio.to_thread.run_sync(launched, limiter=planes.launches)


@router.get(
    "/executions",
    response_model=ExecutionList,
    responses=errors(401, 403, 404, 422, 503),
    summary="Launched executions, newest first, without their nodes; in pages (before=, next)",
)
def list_executions(
    grant: CanRead,
    planes: PlanesDep,
    project: Filter = None,
    domain: Filter = None,
    workflow: WorkflowFilter = None,
    phase: Annotated[Phase | None, Query()] = None,
    limit: Limit = 50,
    before: Before = None,
) -> JSONResponse:
    grant.check_project(project)
    found = planes.current().list_executions(
        project=project, domain=domain, workflow=workflow, phase=phase, limit=limit + 1, before=before
    )
    page = found[:limit]
    following = page[-1].id if len(found) > limit else None
    return JSONResponse({"executions": [execution.to_dict() for execution in page], "next": following})


@router.get(
    "/executions/{execution_id}",
    response_model=None,
    responses=ONE | errors(401, 403, 404, 422, 503),
    summary="An execution: nodes, effective config, provenance, attempts",
)
def get_execution(execution_id: ExecutionId, grant: CanRead, planes: PlanesDep) -> Response:
    return _answer(_granted(planes.current(), grant, execution_id), 200, grant)


@router.post(
    "/executions/{execution_id}/relaunch",
    status_code=201,
    response_model=None,
    responses=CREATED | errors(401, 403, 404, 409, 413, 422, 503),
    summary="Run the same target and inputs again; overrides carried over unless replaced",
)
def relaunch(
    execution_id: ExecutionId,
    body: RelaunchRequest,
    grant: CanLaunch,
    planes: PlanesDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    plane = planes.current()
    _granted(plane, grant, execution_id)
    request = body.model_copy(update={"idempotency_key": _key(body.idempotency_key, idempotency_key)})
    sent = {"parent_id": execution_id, "overrides": body.overrides}
    return _answer(plane.relaunch(execution_id, request), 201, grant, sent)


@router.post(
    "/executions/{execution_id}/recover",
    status_code=201,
    response_model=None,
    responses=CREATED | errors(401, 403, 404, 409, 413, 422, 503),
    summary="Re-run only the nodes of a failed or aborted execution that did not succeed",
)
def recover(execution_id: ExecutionId, grant: CanLaunch, planes: PlanesDep) -> Response:
    plane = planes.current()
    _granted(plane, grant, execution_id)
    return _answer(plane.recover(execution_id), 201, grant, {"parent_id": execution_id})


@router.post(
    "/executions/{execution_id}/abort",
    response_model=None,
    responses=CHANGED | errors(401, 403, 404, 409, 413, 422, 503),
    summary="Abort: a queued execution at once, a running one at its worker's next heartbeat",
)
def abort(execution_id: ExecutionId, grant: CanLaunch, planes: PlanesDep) -> Response:
    plane = planes.current()
    _granted(plane, grant, execution_id)
    return _answer(plane.abort(execution_id), 200, grant)


@router.get(
    "/executions/{execution_id}/logs",
    response_class=PlainTextResponse,
    responses={
        **errors(401, 403, 404, 422, 503),
        200: {"content": {"text/plain": {}}, "description": "The stream's text."},
    },
    summary="What one attempt of a node wrote to stdout or stderr",
)
def logs(
    execution_id: ExecutionId,
    grant: CanRead,
    planes: PlanesDep,
    node: Annotated[str, Query(min_length=1, max_length=512, description="node path or hook name")],
    attempt: Annotated[int | None, Query(ge=1, description="default: the last attempt")] = None,
    stream: Annotated[Literal["stdout", "stderr"], Query()] = "stdout",
) -> StreamingResponse:
    plane = planes.current()
    execution = _granted(plane, grant, execution_id)
    try:
        found = execution.node(node)
    except KeyError as exc:
        raise NotFound(str(exc.args[0])) from None
    _, key = log_key(execution_id, found, attempt, stream)
    return StreamingResponse(read_log(plane.blobs, key), media_type="text/plain; charset=utf-8")


def _granted(plane: LocalControlPlane, grant: Grant, execution_id: str) -> Execution:
    execution = plane.get_execution(execution_id)
    grant.check_project(execution.project)
    return execution


def _key(in_body: str | None, in_header: str | None) -> str | None:
    if in_body is not None and in_header is not None and in_body != in_header:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("header", "Idempotency-Key"),
                    "msg": f"differs from the body's idempotency_key {in_body!r}: give one of them, or both equal",
                    "input": in_header,
                }
            ]
        )
    return in_header if in_header is not None else in_body


_SENT = {"project", "domain", "workflow", "launch_plan", "version", "inputs", "overrides"}


def _answer(execution: Execution, status: int, grant: Grant, sent: dict[str, Any] | None = None) -> Response:
    headers = {"Location": f"{PREFIX}/executions/{execution.id}"} if status == 201 else None
    if grant.reads:
        # The bytes JSONResponse(execution.to_dict()) would send, each shared config encoded once.
        return Response(execution.to_json(), status, headers, media_type="application/json")
    receipt = ExecutionReceipt(id=execution.id, phase=execution.phase, **(sent or {}))
    return JSONResponse(receipt.model_dump(mode="json"), status_code=status, headers=headers)

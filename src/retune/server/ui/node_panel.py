"""``/ui/executions/{id}/nodes/{path}``: one node of an execution, by path or hook name.

What it ran with (the effective config, every field with the layer that set it, as the launch
form's preview shows it), its cache status and why it missed, its map items, and its attempts:
user or system, where, when, the error with its traceback, and the end of each attempt's
stdout and stderr. The page's script asks for it as a fragment (``X-Requested-With: fetch`` or
``?fragment=1``) and shows it beside the graph; without the script it is a page of its own, at
a URL that can be shared.

Beside each log, a link to the whole of it: ``GET /ui/executions/{id}/logs?node=&attempt=&stream=``
answers the text itself (``text/plain``, shown inline, streamed from the blob store by
``control/logs.py``, as the API's ``GET .../logs`` is), with the session and project checks of
the panel. The REST route takes a bearer token, which a browser does not send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from retune.control import LocalControlPlane
from retune.control.logs import log_key, log_tail, read_log
from retune.model.execution import Attempt, Execution, NodeExecution
from retune.server.auth import Grant
from retune.server.dependencies import ExecutionId, PlanesDep
from retune.server.ui.config_view import config_rows
from retune.server.ui.executions import items_text, readable
from retune.server.ui.routing import UiRoute
from retune.server.ui.session import page_grant
from retune.server.ui.templates import render
from retune.store import NotFound

router = APIRouter(route_class=UiRoute, include_in_schema=False)

LOG_TAIL: Final = 64 * 1024  # bytes of each stream shown: the end, where the error is
ATTEMPTS_SHOWN: Final = 200  # of a map node's attempts, the latest
LOGS_SHOWN: Final = 20  # attempts whose logs are read, the latest
STREAMS: Final = ("stdout", "stderr")


@dataclass(frozen=True, slots=True)
class Log:
    stream: str
    text: str
    size: int  # of the whole stream; the text is its last LOG_TAIL bytes


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempt: Attempt
    logs: tuple[Log, ...]

    @property
    def duration(self) -> float | None:
        a = self.attempt
        return None if a.started_at is None or a.finished_at is None else a.finished_at - a.started_at


@router.get("/ui/executions/{execution_id}/nodes/{key:path}")
def node_panel(request: Request, execution_id: ExecutionId, key: str, planes: PlanesDep) -> Response:
    grant = page_grant(request, "read")
    plane = planes.current()
    execution, node = _node_of(plane, grant, execution_id, key)
    fragment = (
        request.headers.get("x-requested-with") == "fetch" or request.query_params.get("fragment") == "1"
    )
    shown = node.attempts[-ATTEMPTS_SHOWN:]
    views = [
        AttemptView(a, logs_of(plane, a) if i >= len(shown) - LOGS_SHOWN else ()) for i, a in enumerate(shown)
    ]
    answer = render(
        request,
        "node_panel.html",
        fragment=fragment,
        execution=execution,
        node=node,
        rows=config_rows(node.config, node.provenance),
        attempts=views,
        hidden_attempts=len(node.attempts) - len(shown),
        logs_shown=LOGS_SHOWN,
        items=items_text(node.item_counts()),
        tail_kib=LOG_TAIL // 1024,
        log_url=log_url,
    )
    answer.headers["Vary"] = "X-Requested-With"
    return answer


def logs_of(plane: LocalControlPlane, attempt: Attempt) -> tuple[Log, ...]:
    return tuple(
        Log(stream, *log_tail(plane.blobs, attempt.logs[stream], LOG_TAIL))
        for stream in STREAMS
        if stream in attempt.logs
    )


def log_url(execution_id: str, path: str, attempt: int, stream: str) -> str:
    """Where the whole log of one attempt's stream is (``whole_log``)."""
    query = urlencode({"node": path, "attempt": attempt, "stream": stream})
    return f"/ui/executions/{quote(execution_id, safe='')}/logs?{query}"


@router.get("/ui/executions/{execution_id}/logs")
def whole_log(
    request: Request,
    execution_id: ExecutionId,
    planes: PlanesDep,
    node: Annotated[str, Query(min_length=1, max_length=512)],
    attempt: Annotated[int | None, Query(ge=1)] = None,
    stream: Annotated[str, Query(max_length=64)] = "stdout",
) -> Response:
    """The whole of what attempt ``attempt`` (default: the latest) of ``node`` wrote to ``stream``,
    as text the browser shows; the same text as the API's ``GET .../logs``, read the same way."""
    grant = page_grant(request, "read")
    plane = planes.current()
    _, found = _node_of(plane, grant, execution_id, node)
    chosen, key = log_key(execution_id, found, attempt, stream)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{execution_id}.{found.path}.attempt-{chosen.number}.{stream}")
    headers = {
        "Content-Disposition": f'inline; filename="{name}.txt"',
        "Cache-Control": "no-store",  # a running attempt's log grows
        "X-Content-Type-Options": "nosniff",  # text the task printed, never read as HTML
    }
    return StreamingResponse(
        read_log(plane.blobs, key), media_type="text/plain; charset=utf-8", headers=headers
    )


def _node_of(
    plane: LocalControlPlane, grant: Grant, execution_id: str, key: str
) -> tuple[Execution, NodeExecution]:
    """The node by path or hook, whole; a token without the execution's project gets 403 whether
    or not the node exists, as it does for the execution page."""
    try:
        execution, node = plane.get_node(execution_id, key)
    except NotFound:
        readable(plane, grant, execution_id)
        raise
    grant.check_project(execution.project)
    return execution, node

"""``GET /task_types``: the task types this server knows, each with its ``task_config`` JSON
Schema, for clients and the launch form (DESIGN §9).

A type declared by an entry point whose package cannot be loaded is listed with its error, so
one broken plugin neither hides the others nor fails the request.
"""

from __future__ import annotations

from fastapi import APIRouter

from retune.errors import NotFound
from retune.plugins.registry import TaskType, declared, get_task_type, loaded
from retune.server.dependencies import CanRead
from retune.server.responses import errors
from retune.server.routing import StoreRoute
from retune.server.schemas import TaskTypeDocument

router = APIRouter(tags=["registry"], route_class=StoreRoute)


@router.get(
    "/task_types",
    response_model=list[TaskTypeDocument],
    responses=errors(401, 403, 503),
    summary="Every task type, with the JSON Schema of its task_config",
)
def list_task_types(grant: CanRead) -> list[TaskTypeDocument]:
    documents = {}
    for name in declared():
        try:
            documents[name] = _document(get_task_type(name))
        except KeyError as exc:
            documents[name] = TaskTypeDocument(name=name, error=str(exc.args[0]))
    for task_type in loaded():
        documents.setdefault(task_type.name, _document(task_type))
    return [documents[name] for name in sorted(documents)]


@router.get(
    "/task_types/{name}",
    response_model=TaskTypeDocument,
    responses=errors(401, 403, 404, 503),
    summary="One task type, with the JSON Schema of its task_config",
)
def get_task_type_document(name: str, grant: CanRead) -> TaskTypeDocument:
    try:
        return _document(get_task_type(name))
    except KeyError as exc:
        raise NotFound(str(exc.args[0])) from None


def _document(task_type: TaskType) -> TaskTypeDocument:
    return TaskTypeDocument(
        name=task_type.name,
        description=task_type.description,
        config_schema=task_type.schema(),
        result_fields=sorted(task_type.result_fields),
    )

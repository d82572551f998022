"""The error answers each route declares in the OpenAPI document, so that it tells the truth.

Every status a route can answer is listed with its body's schema: ours (``ErrorBody``) for the
errors of ``errors.py``; under 422 either ours (an ``OverrideError``, an ``InputError``, a body
nested too deep) or FastAPI's list of problems (a body or parameter that fails its model).
``tests/integration/server/test_fuzz.py`` holds the document to this with schemathesis.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, RootModel

from retune.server.errors import RETRY_AFTER


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="The class of the error: OverrideError, InputError, NotFound, ...")
    message: str
    problem: str | None = None
    hook: str | None = None
    field: str | None = None
    origin: str | None = None
    input: str | None = None
    what: str | None = Field(default=None, description="503: `database` or `blob store`.")
    fix: str | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detail: ErrorDetail


class Problem(BaseModel):
    """One problem of FastAPI's validation answer."""

    loc: list[str | int]
    msg: str
    type: str


class Problems(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detail: list[Problem]


class Unprocessable(RootModel[ErrorBody | Problems]):
    """422: our error body, or FastAPI's list of problems."""


Responses = dict[int | str, dict[str, Any]]

_WHY: Final = {
    401: "No API token, a malformed one, or one the server does not know.",
    403: "The token lacks the right or the project; or, without tokens, the request was addressed "
    "to a Host that is not a loopback name, or sent by a web page of another Origin.",
    404: "No such workflow, launch plan, version or execution.",
    409: "A conflict: other content under a registered version, an idempotency key reused for "
    "another request, or a verb that does not apply to the execution.",
    413: "The request body is over the limit (1 MiB for JSON, 64 MiB for a bundle).",
    422: "An invalid override or input (our body, naming the hook and field or the input), a "
    "body nested deeper than 128 levels, or a body or parameter that fails its schema "
    "(FastAPI's list of problems).",
    503: "The database or the blob store is away; retry after Retry-After seconds.",
}
_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": f"Seconds to wait before retrying ({RETRY_AFTER}).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def errors(*statuses: int) -> Responses:
    """``responses=`` of a route: the body of each error status it may answer."""
    found: Responses = {}
    for status in statuses:
        model: type[BaseModel] = Unprocessable if status == 422 else ErrorBody
        found[status] = {"model": model, "description": _WHY[status]}
        if status == 503:
            found[status]["headers"] = _RETRY_AFTER
    return found


def no_op(what: str) -> Responses:
    """``responses=`` for the 200 of a write that changed nothing."""
    return {200: {"description": f"{what} was registered already with this content: a no-op."}}


def errors_as_json(document: dict[str, Any]) -> dict[str, Any]:
    """Move error bodies that FastAPI filed under a route's own media type (``text/plain`` for
    ``GET .../logs``) to ``application/json``, which is what ``errors.py`` answers."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" not in content and content:
                    response["content"] = {"application/json": next(iter(content.values()))}
    return document

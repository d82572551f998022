"""``HttpControlPlane``: the control plane's verbs sent to a ``retune serve``.

It answers the same calls as ``LocalControlPlane`` with the same types, and raises the same
errors: the server sends its errors as ``{"detail": {"error": CLASS, "message": ..., "hook":
..., "field": ..., "input": ..., "fix": ...}}`` and they are rebuilt here, so a CLI user sees
the same one line whether the plane is local or remote.

    HTTP 422  OverrideError (.hook .field .fix), InputError (.input .fix); pydantic's own list
              of problems -> InputError naming each field
    HTTP 404  NotFound          HTTP 409  Conflict, RequestRefused
    HTTP 401, 403  PermissionDenied      HTTP 413  RequestRefused (the body is too large)
    HTTP 503  ServerUnavailable: one line naming what the server cannot reach, and to retry
    no answer, 5xx, or an answer that is not the API  ServerUnavailable

A token without the right to read gets receipts from launch, relaunch, recover and abort (the
id, the phase and what it sent); they come back as an ``Execution`` without nodes.

httpx is imported when a plane is made, not by ``import retune``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn

from retune.errors import (
    InputError,
    OverrideError,
    PermissionDenied,
    RequestRefused,
    RetuneError,
    ServerUnavailable,
    ValueNotStorable,
)
from retune.model.control import (
    ExecutionRequest,
    LaunchPlanRecord,
    LaunchPlanRequest,
    Registration,
    RegistrationResult,
    RelaunchRequest,
    WorkflowRecord,
)
from retune.model.execution import Execution, Phase
from retune.store.base import Conflict, NotFound

if TYPE_CHECKING:
    import httpx

PREFIX: Final = "/api/v1"
TOKEN_ENV: Final = "RETUNE_API_TOKEN"
_HOW_TO_REACH: Final = "Start it with `retune serve`, or check --server / RETUNE_SERVER."


class HttpControlPlane:
    """``ControlPlane`` over the REST API of the server at ``url`` (``http://127.0.0.1:8265``).

    ``token`` (default: ``RETUNE_API_TOKEN``) is sent as ``Authorization: Bearer``. ``client``
    replaces the HTTP client, e.g. ``fastapi.testclient.TestClient(app)`` in tests; it is not
    closed by ``close()``.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._owned = client is None
        self._http = client if client is not None else httpx.Client(timeout=timeout)

    # -- registry ---------------------------------------------------------------------------

    def put_bundle(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        body = self._call(
            "PUT", f"/bundles/{digest}", content=data, headers={"Content-Type": "application/zip"}
        )
        return str(body["digest"])

    def register(self, registration: Registration) -> RegistrationResult:
        body = self._call("POST", "/registrations", json=registration.model_dump(mode="json"))
        return RegistrationResult.model_validate(body)

    def get_workflow(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> WorkflowRecord:
        body = self._call("GET", f"/workflows/{project}/{domain}/{name}", params=_version(version))
        fields = set(WorkflowRecord.model_fields)
        return WorkflowRecord.model_validate({k: v for k, v in body.items() if k in fields})

    def hooks(self, project: str, domain: str, name: str, version: str | None = None) -> dict[str, Any]:
        body = self._call("GET", f"/workflows/{project}/{domain}/{name}/hooks", params=_version(version))
        return dict(body)

    def create_launch_plan(self, request: LaunchPlanRequest) -> LaunchPlanRecord:
        body = self._call("POST", "/launch_plans", json=request.model_dump(mode="json"))
        return LaunchPlanRecord.model_validate(body)

    def get_launch_plan(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> LaunchPlanRecord:
        body = self._call("GET", f"/launch_plans/{project}/{domain}/{name}", params=_version(version))
        return LaunchPlanRecord.model_validate(body)

    # -- executions -------------------------------------------------------------------------

    def launch(self, request: ExecutionRequest, *, dry_run: bool = False) -> tuple[Execution, bool]:
        params = {"dry_run": "true"} if dry_run else None
        response = self._send("POST", "/executions", json=request.model_dump(mode="json"), params=params)
        return execution_of(self._body(response)), response.status_code == 201

    def get_execution(self, execution_id: str) -> Execution:
        return Execution.from_dict(self._call("GET", f"/executions/{execution_id}"))

    def list_executions(
        self,
        *,
        project: str | None = None,
        domain: str | None = None,
        workflow: str | None = None,
        phase: Phase | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[Execution]:
        given = {"project": project, "domain": domain, "workflow": workflow, "before": before}
        params: dict[str, Any] = {"limit": limit, **{k: v for k, v in given.items() if v is not None}}
        if phase is not None:
            params["phase"] = phase.value
        body = self._call("GET", "/executions", params=params)
        return [Execution.from_dict(item) for item in body["executions"]]

    def relaunch(self, execution_id: str, request: RelaunchRequest) -> Execution:
        body = self._call(
            "POST", f"/executions/{execution_id}/relaunch", json=request.model_dump(mode="json")
        )
        return execution_of(body)

    def recover(self, execution_id: str) -> Execution:
        return execution_of(self._call("POST", f"/executions/{execution_id}/recover"))

    def abort(self, execution_id: str) -> Execution:
        return execution_of(self._call("POST", f"/executions/{execution_id}/abort"))

    def logs(self, execution_id: str, node: str, attempt: int, stream: str) -> str:
        """What attempt ``attempt`` of node ``node`` wrote to ``stream`` (``stdout``/``stderr``):
        ``GET /executions/{id}/logs?node=&attempt=&stream=`` (text). Not part of ``ControlPlane``:
        a local plane reads the blob store itself."""
        params = {"node": node, "attempt": attempt, "stream": stream}
        try:
            response = self._send("GET", f"/executions/{execution_id}/logs", params=params)
        except NoSuchRoute:
            raise RequestRefused(
                f"The server at {self.url} does not serve logs",
                fix=f"Read them where it runs: retune executions logs {execution_id} --node {node} "
                "(without --server, over the same store and RETUNE_HOME).",
            ) from None
        return response.text

    def health(self) -> dict[str, Any]:
        """``GET /health``: raises ``ServerUnavailable`` unless a retune server answers."""
        return self._call("GET", "/health")

    def close(self) -> None:
        if self._owned:
            self._http.close()

    # -- HTTP -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._body(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        headers = {**self._headers, **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, f"{self.url}{PREFIX}{path}", headers=headers, **kwargs)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ServerUnavailable(
                f"Cannot reach the retune server at {self.url} ({reason}). {_HOW_TO_REACH}"
            ) from None
        if response.status_code >= 400:
            raise_for(response, self.url, f"{method} {PREFIX}{path}")
        return response

    def _body(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ServerUnavailable(
                f"The server at {self.url} answered {response.request.method} {response.request.url.path} "
                f"with something that is not retune's JSON (HTTP {response.status_code}). {_HOW_TO_REACH}"
            )
        return body


class NoSuchRoute(ServerUnavailable):
    """The server has no such route (a 404 or 405 without retune's error body): an older
    server, or not a retune server at all."""


def execution_of(body: Mapping[str, Any]) -> Execution:
    """An execution record, or a receipt (no ``nodes``: a launch-only token's answer) as an
    ``Execution`` holding only what the receipt says."""
    if "nodes" in body:
        return Execution.from_dict(body)
    return Execution(
        id=str(body["id"]),
        workflow=str(body.get("workflow") or ""),
        phase=Phase(body["phase"]),
        nodes=(),
        inputs=dict(body.get("inputs") or {}),
        overrides=dict(body.get("overrides") or {}),
        launch_plan=body.get("launch_plan"),
        project=body.get("project"),
        domain=body.get("domain"),
        parent_id=body.get("parent_id"),
    )


def raise_for(response: httpx.Response, url: str, what: str) -> NoReturn:
    """The error the server meant by ``response`` (status >= 400), rebuilt."""
    status = response.status_code
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if status == 503:
        raise unavailable(response, url, what, detail)
    if isinstance(detail, Mapping) and isinstance(detail.get("error"), str):
        raise rebuild(detail, status)
    if status == 422 and isinstance(detail, list):
        raise validation_error(detail)
    if status in (401, 403):
        raise PermissionDenied(_text(detail) or _denied(status))
    if status == 413:
        raise RequestRefused(
            f"The server at {url} refused {what} as too large (HTTP 413)",
            fix="Register only the directory of your workflows, and pass data as inputs rather than code.",
        )
    if status >= 500:
        raise ServerUnavailable(
            f"The retune server at {url} failed on {what} (HTTP {status}): "
            f"{_text(detail) or response.text[:200]}. See the server's log."
        )
    raise (NoSuchRoute if status in (404, 405) else ServerUnavailable)(
        f"The server at {url} answered {what} with HTTP {status} ({_text(detail) or response.reason_phrase}); "
        f"is it a retune server of this version? {_HOW_TO_REACH}"
    )


def unavailable(response: httpx.Response, url: str, what: str, detail: Any) -> ServerUnavailable:
    """A 503 in one line: what the server cannot reach (its database, its blob store), and when
    to retry (``Retry-After``)."""
    away = detail.get("what") if isinstance(detail, Mapping) else None
    retry = response.headers.get("Retry-After", "")
    after = f"in {retry} s" if retry.isdigit() else "in a few seconds"
    if isinstance(away, str):
        return ServerUnavailable(
            f"The retune server at {url} cannot reach its {away}, so it could not answer {what}; "
            f"retry {after}. If it lasts, check the {away} the server is configured with."
        )
    return ServerUnavailable(
        f"The retune server at {url} is unavailable (HTTP 503) for {what}: "
        f"{_text(detail) or response.reason_phrase}; retry {after}."
    )


def rebuild(detail: Mapping[str, Any], status: int) -> Exception:
    """The exception named by ``detail["error"]``, with its message and fields as the server had them."""
    kind, message = detail["error"], str(detail.get("message") or detail["error"])
    fix = str(detail.get("fix") or "")
    exc: Exception
    if kind == "OverrideError":
        exc = OverrideError(
            str(detail.get("problem") or message),
            hook=detail.get("hook"),
            field=detail.get("field"),
            origin=detail.get("origin"),
            fix=fix,
        )
    elif kind == "InputError":
        exc = InputError(str(detail.get("problem") or message), input=detail.get("input"), fix=fix)
    elif kind == "NotFound":
        exc = NotFound(message)
    elif kind == "Conflict":
        exc = Conflict(message)
    elif kind == "RequestRefused":
        exc = RequestRefused(message)
        exc.fix = fix
    elif kind == "ValueNotStorable":
        exc = ValueNotStorable(message)
    elif kind == "PermissionDenied" or status in (401, 403):
        exc = PermissionDenied(message)
    elif status == 404:
        exc = NotFound(message)
    elif status == 409:
        exc = Conflict(message)
    elif status == 422:
        exc = InputError(message, fix=fix)
    elif status >= 500:
        exc = ServerUnavailable(f"{message}. See the server's log")
        message = str(exc)
    else:
        exc = RetuneError(message)
    exc.args = (message,)  # the server's words exactly, whatever the class would compose
    return exc


def validation_error(problems: list[Any]) -> InputError:
    """FastAPI's 422 list (``[{"loc": ["body", "project"], "msg": ...}]``) as one ``InputError``."""
    lines = []
    for problem in problems:
        if not isinstance(problem, Mapping):
            lines.append(str(problem))
            continue
        loc = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path")]
        where = ".".join(loc)
        lines.append(f"{where}: {problem.get('msg', 'invalid')}" if where else str(problem.get("msg")))
    first = next((str(p.get("loc", ["", ""])[-1]) for p in problems if isinstance(p, Mapping)), None)
    return InputError(f"The server refused the request: {'; '.join(lines)}", input=first)


def _version(version: str | None) -> dict[str, str]:
    return {} if version is None else {"version": version}


def _text(detail: Any) -> str:
    if isinstance(detail, Mapping):
        return str(detail.get("message") or "")
    return "" if detail is None else str(detail)


def _denied(status: int) -> str:
    if status == 401:
        return f"The server wants an API token. Set {TOKEN_ENV} to a token the server knows."
    return "The server refused this API token for that request. Ask for a token with that right."

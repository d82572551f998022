"""API tokens: every route but the public ones needs a token with the right and the project.

The table ROUTES lists a valid request for each route; a route added to the app without an
entry fails ``test_every_protected_route_is_in_the_table``, so none can be left open unnoticed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from retune.server import serve
from retune.server.app import create_app
from retune.server.auth import load_tokens
from retune.server.paths import PUBLIC
from retune.settings import ServerSettings, Settings, SettingsError, load

from .support import (
    API,
    PIPELINE,
    SECRETS,
    Server,
    TestClient,
    bearer,
    launch_body,
    registration,
    server_settings,
)


@dataclass(frozen=True)
class Call:
    right: str
    request: Callable[[Server], dict[str, Any]]  # method, url, json... for project "a"
    scoped: bool = True  # False: the route touches no project (bundles)


ZIP = b"PK\x05\x06" + bytes(18)
WORKFLOW = f"{API}/workflows/a/development/{PIPELINE.name}"
PLAN = {"project": "a", "domain": "development", "name": "nightly", "workflow": PIPELINE.name}

ROUTES: dict[tuple[str, str], Call] = {
    ("PUT", "/api/v1/bundles/{digest}"): Call(
        "launch",
        lambda s: {"url": f"{API}/bundles/{hashlib.sha256(ZIP).hexdigest()}", "content": ZIP},
        scoped=False,
    ),
    ("POST", "/api/v1/registrations"): Call(
        "launch", lambda s: {"url": f"{API}/registrations", "json": registration("a")}
    ),
    ("GET", "/api/v1/workflows/{project}/{domain}/{name}"): Call("read", lambda s: {"url": WORKFLOW}),
    ("GET", "/api/v1/workflows/{project}/{domain}/{name}/hooks"): Call(
        "read", lambda s: {"url": f"{WORKFLOW}/hooks"}
    ),
    ("GET", "/api/v1/task_types"): Call("read", lambda s: {"url": f"{API}/task_types"}, scoped=False),
    ("GET", "/api/v1/task_types/{name}"): Call(
        "read", lambda s: {"url": f"{API}/task_types/sql"}, scoped=False
    ),
    ("POST", "/api/v1/launch_plans"): Call("launch", lambda s: {"url": f"{API}/launch_plans", "json": PLAN}),
    ("GET", "/api/v1/launch_plans/{project}/{domain}/{name}"): Call(
        "read",
        lambda s: {"url": f"{API}/launch_plans/a/development/nope"},  # 404 once allowed
    ),
    ("POST", "/api/v1/executions"): Call(
        "launch", lambda s: {"url": f"{API}/executions", "json": launch_body("a")}
    ),
    ("GET", "/api/v1/executions"): Call("read", lambda s: {"url": f"{API}/executions?project=a"}),
    ("GET", "/api/v1/executions/{execution_id}"): Call(
        "read", lambda s: {"url": f"{API}/executions/{s.execution}"}
    ),
    ("POST", "/api/v1/executions/{execution_id}/relaunch"): Call(
        "launch", lambda s: {"url": f"{API}/executions/{s.execution}/relaunch", "json": {}}
    ),
    ("POST", "/api/v1/executions/{execution_id}/recover"): Call(
        "launch",
        lambda s: {"url": f"{API}/executions/{s.execution}/recover"},  # 409 once allowed
    ),
    ("GET", "/api/v1/executions/{execution_id}/logs"): Call(
        "read",
        lambda s: {"url": f"{API}/executions/{s.execution}/logs?node=n0"},  # 404 (no attempt) once allowed
    ),
    ("POST", "/api/v1/executions/{execution_id}/abort"): Call(
        "launch", lambda s: {"url": f"{API}/executions/{s.execution}/abort"}
    ),
}
ALLOWED_ANSWERS = {200, 201, 404, 409}  # the request got past authorisation


def api_routes() -> set[tuple[str, str]]:
    """(method, path) of every APIRoute of the app, prefixes included."""
    app = create_app(server_settings(Path("/nonexistent")))
    found = set()
    # FastAPI keeps included routers as such in app.routes; this walks into them, as its OpenAPI does.
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            found |= {(method, str(context.path)) for method in context.methods or ()}
    return found


def test_every_protected_route_is_in_the_table() -> None:
    routes = api_routes()

    assert ("GET", f"{API}/health") in routes  # the walk does see included routers
    api = {route for route in routes if route[1].startswith(f"{API}/")}
    assert {route for route in api if route[1] not in PUBLIC} == set(ROUTES)
    # Every other route is the web UI's, which reads the session cookie, never a bearer token
    # (tests/unit/server/ui); the API never reads the cookie (test_session.py).
    assert all(path in ("/", "/ui", "/ui/") or path.startswith("/ui/") for _, path in routes - api)


def send(server: Server, key: tuple[str, str], headers: dict[str, str]) -> int:
    request = ROUTES[key].request(server)
    answer = server.client.request(key[0], headers=headers, **request)
    return answer.status_code


@pytest.mark.parametrize("key", list(ROUTES), ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_needs_a_known_token(server: Server, key: tuple[str, str]) -> None:
    assert send(server, key, {}) == 401
    assert send(server, key, {"Authorization": f"Basic {SECRETS['admin']}"}) == 401
    assert send(server, key, {"Authorization": "Bearer"}) == 401
    assert send(server, key, {"Authorization": "Bearer not-a-token-the-server-knows"}) == 401
    assert send(server, key, {"Authorization": SECRETS["admin"]}) == 401


@pytest.mark.parametrize("key", list(ROUTES), ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_needs_the_right_and_the_project(server: Server, key: tuple[str, str]) -> None:
    call = ROUTES[key]
    without_right = "launcher-a" if call.right == "read" else "reader-a"

    assert send(server, key, bearer(without_right)) == 403
    if call.scoped:
        assert send(server, key, bearer("both-b")) == 403
    with_right = "reader-a" if call.right == "read" else "launcher-a"
    assert send(server, key, bearer(with_right)) in ALLOWED_ANSWERS


def test_401_tells_the_client_to_send_a_bearer_token(server: Server) -> None:
    answer = server.client.get(f"{API}/executions/{server.execution}")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["detail"]["error"] == "PermissionDenied"
    assert "Authorization: Bearer" in answer.json()["detail"]["message"]


def test_403_names_the_token_and_what_it_lacks(server: Server) -> None:
    wrong_project = server.client.get(WORKFLOW, headers=bearer("both-b")).json()["detail"]
    no_right = server.client.post(
        f"{API}/executions", json=launch_body("a"), headers=bearer("reader-a")
    ).json()

    assert wrong_project["error"] == "PermissionDenied"
    assert "'both-b' is not granted project 'a'" in wrong_project["message"]
    assert "'reader-a' lacks the right 'launch'" in no_right["detail"]["message"]


def test_a_read_token_can_get_but_not_post(server: Server) -> None:
    read = bearer("reader-a")

    assert server.client.get(f"{API}/executions/{server.execution}", headers=read).status_code == 200
    assert server.client.get(WORKFLOW, headers=read).status_code == 200
    assert server.client.post(f"{API}/executions", json=launch_body("a"), headers=read).status_code == 403
    assert server.client.post(f"{API}/executions/{server.execution}/abort", headers=read).status_code == 403
    listed = server.client.get(f"{API}/executions?project=a", headers=bearer("admin")).json()["executions"]
    assert [e["phase"] for e in listed] == ["QUEUED"]


def test_a_launch_token_does_not_imply_read(server: Server) -> None:
    launch = bearer("launcher-a")

    assert server.client.post(f"{API}/executions", json=launch_body("a"), headers=launch).status_code == 201
    assert server.client.get(f"{API}/executions/{server.execution}", headers=launch).status_code == 403


def test_a_token_limited_to_some_projects_must_name_one_to_list(server: Server) -> None:
    every = server.client.get(f"{API}/executions", headers=bearer("reader-a"))
    its_own = server.client.get(f"{API}/executions", params={"project": "a"}, headers=bearer("reader-a"))

    assert every.status_code == 403
    assert "?project=" in every.json()["detail"]["message"]
    assert its_own.status_code == 200
    assert server.client.get(f"{API}/executions", headers=bearer("admin")).status_code == 200


@pytest.mark.parametrize("path", sorted(PUBLIC))
def test_public_paths_answer_without_a_token(server: Server, path: str) -> None:
    assert server.client.get(path).status_code == 200


def test_without_tokens_configured_nobody_is_asked_for_one(client: TestClient) -> None:
    assert client.post(f"{API}/executions", json=launch_body()).status_code == 201
    assert client.get(f"{API}/executions").status_code == 200


# -- the [server] settings and serve() -------------------------------------------------------


def with_tokens(*tokens: Any) -> Settings:
    return Settings(home=Path("/nonexistent"), server=ServerSettings(tokens=tokens))


GOOD = {"name": "ci", "token": "x" * 16, "projects": ["a"], "rights": ["read"]}


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("ci", "not a table"),
        ({**GOOD, "name": ""}, "has no name"),
        ({**GOOD, "right": ["read"]}, "unknown key 'right'"),
        ({**GOOD, "token_sha256": "ab" * 32}, "exactly one of token and token_sha256"),
        ({k: v for k, v in GOOD.items() if k != "token"}, "exactly one of token and token_sha256"),
        ({**GOOD, "token": "short"}, "at least 16 characters"),
        ({"name": "ci", "token_sha256": "abc", "projects": ["a"], "rights": ["read"]}, "64 hex digits"),
        ({**GOOD, "projects": []}, "projects must be a non-empty list"),
        ({k: v for k, v in GOOD.items() if k != "rights"}, "rights must be a non-empty list"),
        ({**GOOD, "rights": ["read", "write"]}, "unknown right 'write'"),
    ],
)
def test_malformed_tokens_are_refused_with_what_to_fix(token: Any, says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        load_tokens(with_tokens(token))


def test_two_tokens_may_not_share_a_name_or_a_secret() -> None:
    with pytest.raises(SettingsError, match="'ci' is used twice"):
        load_tokens(with_tokens(GOOD, GOOD))
    with pytest.raises(SettingsError, match="ci and ci2 have the same secret"):
        load_tokens(with_tokens(GOOD, {**GOOD, "name": "ci2"}))


def test_create_app_refuses_malformed_tokens(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[\[server.tokens\]\]"):
        create_app(server_settings(tmp_path, ({**GOOD, "rights": []},)))


def test_create_app_refuses_a_capacity_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[capacity\].*'disk'"):
        create_app(Settings(home=tmp_path, capacity={"disk": "1Ti"}))


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory whose retune.toml ``load()`` reads; RETUNE_HOME empty."""
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path / "home"))
    for name in ("RETUNE_SERVER_HOST", "RETUNE_SERVER_PORT", "RETUNE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    load.cache_clear()
    yield tmp_path
    load.cache_clear()


def test_server_table_and_tokens_come_from_retune_toml_and_env(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "retune.toml").write_text(
        '[server]\nhost = "0.0.0.0"\nport = 9000\n'
        '[[server.tokens]]\nname = "ci"\ntoken_sha256 = "'
        + "AB" * 32
        + '"\nprojects = ["*"]\nrights = ["read"]\n'
    )
    monkeypatch.setenv("RETUNE_SERVER_PORT", "9001")

    settings = load()

    assert (settings.server.host, settings.server.port) == ("0.0.0.0", "9001")
    (token,) = load_tokens(settings)
    assert (token.name, token.sha256, token.projects) == ("ci", "ab" * 32, frozenset({"*"}))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_serve_refuses_a_non_loopback_address_without_tokens(project_dir: Path, host: str) -> None:
    with pytest.raises(SettingsError, match=r"Configure \[\[server.tokens\]\] in retune.toml"):
        serve(host=host)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    import uvicorn

    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **_: calls.append((host, port)))
    return calls


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_serve_binds_loopback_without_tokens(
    project_dir: Path, served: list[tuple[str, int]], host: str
) -> None:
    serve(host=host)

    assert served == [(host, 8265)]


def test_serve_binds_any_address_once_tokens_are_configured(
    project_dir: Path, served: list[tuple[str, int]]
) -> None:
    (project_dir / "retune.toml").write_text(
        '[[server.tokens]]\nname = "ci"\ntoken = "' + "s" * 20 + '"\nprojects = ["*"]\nrights = ["read"]\n'
    )

    serve(host="0.0.0.0", port=9000)

    assert served == [("0.0.0.0", 9000)]


def test_serve_refuses_a_port_that_is_not_a_number(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETUNE_SERVER_PORT", "http")

    with pytest.raises(SettingsError, match="RETUNE_SERVER_PORT"):
        serve()

"""`HttpControlPlane` against the real app (in process, through `TestClient`): the same records
as the local plane, and the server's errors rebuilt as the same exceptions with the same words."""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from retune import api
from retune.client import HttpControlPlane
from retune.control import LocalControlPlane
from retune.errors import (
    InputError,
    OverrideError,
    PermissionDenied,
    RequestRefused,
    ServerUnavailable,
    ValueNotStorable,
)
from retune.executors.factory import config_check
from retune.model.control import ExecutionRequest, Registration, RelaunchRequest
from retune.model.execution import Phase
from retune.server.app import create_app
from retune.settings import ServerSettings, Settings
from retune.store import Conflict, NotFound, open_blobs, open_store
from retune.store.sql import tables as t

with warnings.catch_warnings():
    # Starlette asks for httpx2 rather than httpx (a UserWarning); it concerns its test client only.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

FLOWS = Path(__file__).parents[1] / "e2e" / "flows_registry"
LOUD = "registry_text.loud"
URL = "http://127.0.0.1:8265"
TOKEN = "e2e-token-0123456789abcdef"


def settings(home: Path, *tokens: dict[str, Any]) -> Settings:
    return Settings(home=home, capacity={"cpu": "2", "mem": "4Gi"}, server=ServerSettings(tokens=tokens))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("RETUNE_API_TOKEN", raising=False)
    return tmp_path / "home"


@pytest.fixture
def plane(home: Path) -> Iterator[HttpControlPlane]:
    """A client of a server without tokens, with tests/e2e/flows_registry registered as demo/dev v1."""
    with TestClient(create_app(settings(home)), base_url=URL) as http:
        client = HttpControlPlane(URL, client=http)
        api.register(FLOWS, project="demo", domain="dev", version="v1", plane=client)
        yield client


@pytest.fixture
def local(home: Path, plane: HttpControlPlane) -> Iterator[LocalControlPlane]:
    """The same store, without the server in between."""
    opened = LocalControlPlane(
        open_store(f"sqlite:///{home}/retune.db"),
        open_blobs(home / "blobs"),
        check=config_check(settings(home)),
    )
    yield opened
    opened.close()


def same_words(error: Exception) -> str:
    """The message without the execution id it was given for (a new one per launch)."""
    return re.sub(r"ex-[0-9a-f]+", "ex-…", str(error))


def launch(**fields: Any) -> ExecutionRequest:
    return ExecutionRequest.model_validate({"project": "demo", "domain": "dev", "workflow": LOUD, **fields})


def test_register_and_read_back_the_same_records_as_the_local_plane(
    plane: HttpControlPlane, local: LocalControlPlane
) -> None:
    again = api.register(FLOWS, project="demo", domain="dev", version="v1", plane=plane)

    assert {e.created for e in again.entities} == {False}
    assert plane.get_workflow("demo", "dev", LOUD) == local.get_workflow("demo", "dev", LOUD)
    assert plane.hooks("demo", "dev", LOUD, "v1") == local.hooks("demo", "dev", LOUD, "v1")
    assert list(plane.hooks("demo", "dev", LOUD)) == ["clean", "shout"]
    assert plane.get_launch_plan("demo", "dev", "loud_nightly") == local.get_launch_plan(
        "demo", "dev", "loud_nightly"
    )


def test_launch_answers_the_queued_execution_and_an_idempotent_replay_says_so(
    plane: HttpControlPlane, local: LocalControlPlane
) -> None:
    request = launch(inputs={"word": "hi"}, overrides={"shout": {"retries": 0}}, idempotency_key="k-1")

    first, created = plane.launch(request)
    replay, created_again = plane.launch(request)

    assert (first.phase, created, created_again, replay.id) == (Phase.QUEUED, True, False, first.id)
    assert plane.get_execution(first.id) == local.get_execution(first.id)
    assert plane.get_execution(first.id).node("shout").config.retries == 0
    assert [e.id for e in plane.list_executions(project="demo", limit=5)] == [first.id]
    assert plane.list_executions(project="other") == []


def test_the_listing_pages_and_filters_as_the_local_plane(
    plane: HttpControlPlane, local: LocalControlPlane
) -> None:
    ids = [plane.launch(launch(inputs={"word": word}))[0].id for word in "abcde"]
    plane.abort(ids[2])

    def walk(lister: HttpControlPlane | LocalControlPlane, **filters: Any) -> list[list[str]]:
        pages, before = [], None
        while page := lister.list_executions(project="demo", limit=2, before=before, **filters):
            pages.append([e.id for e in page])
            before = page[-1].id
        return pages

    newest = list(reversed(ids))
    assert walk(plane) == walk(local) == [newest[0:2], newest[2:4], newest[4:]]
    assert (
        walk(plane, phase=Phase.QUEUED)
        == walk(local, phase=Phase.QUEUED)
        == [[ids[4], ids[3]], [ids[1], ids[0]]]
    )
    assert walk(plane, workflow="nope") == []
    with pytest.raises(NotFound, match="No execution 'ex-nope' to list the executions before"):
        plane.list_executions(before="ex-nope")


def test_relaunch_recover_and_abort_go_through(plane: HttpControlPlane) -> None:
    first, _ = plane.launch(launch(inputs={"word": "hi"}, overrides={"shout": {"retries": 0}}))

    relaunched = plane.relaunch(first.id, RelaunchRequest(overrides={"shout": {"environment": {"A": "1"}}}))
    aborted = plane.abort(first.id)
    recovered = plane.recover(first.id)

    assert relaunched.parent_id == first.id
    assert relaunched.overrides == {"shout": {"retries": 0, "environment": {"A": "1"}}}
    assert aborted.phase is Phase.ABORTED
    assert (recovered.parent_id, recovered.phase) == (first.id, Phase.QUEUED)


def test_an_execution_whose_data_cannot_be_read_is_listed_as_locally_and_refused_with_the_same_words(
    plane: HttpControlPlane, local: LocalControlPlane, home: Path
) -> None:
    bad, good = (plane.launch(launch(inputs={"word": word}))[0].id for word in ("a", "b"))
    engine = sa.create_engine(f"sqlite:///{home}/retune.db")
    with engine.begin() as conn:  # as an older retune or a hand could have stored them
        x = t.executions
        conn.execute(sa.update(x).where(x.c.id == bad).values(inputs=sa.text("'{\"word\": 1e999999}'")))
    engine.dispose()

    listed = plane.list_executions(project="demo")
    with pytest.raises(ValueNotStorable) as remote:
        plane.get_execution(bad)
    with pytest.raises(ValueNotStorable) as here:
        local.get_execution(bad)

    assert listed == local.list_executions(project="demo")
    assert [(e.id, e.phase, e.inputs) for e in listed] == [
        (good, Phase.QUEUED, {"word": "b", "times": 2}),
        (bad, Phase.QUEUED, {}),
    ]
    assert listed[1].unreadable == (
        "Cannot read the inputs back from the store: it holds a non-finite float (inf), "
        "which JSON cannot represent (at ['word'])."
    )
    assert str(remote.value) == str(here.value)


@pytest.mark.parametrize(
    ("overrides", "hook", "field"),
    [
        ({"shuot": {"retries": 1}}, "shuot", None),
        ({"shout": {"resources": {"requests": {"mem": "lots"}}}}, "shout", "resources.requests.mem"),
        ({"shout": {"resources": {"requests": {"gpu": 8}}}}, "shout", "resources.requests.gpu"),
    ],
    ids=["unknown hook", "bad value", "more than the workers' capacity"],
)
def test_a_refused_override_is_an_override_error_with_the_servers_hook_field_and_words(
    plane: HttpControlPlane, local: LocalControlPlane, overrides: dict[str, Any], hook: str, field: str | None
) -> None:
    request = launch(inputs={"word": "hi"}, overrides=overrides)

    with pytest.raises(OverrideError) as remote:
        plane.launch(request)
    with pytest.raises(OverrideError) as here:
        local.launch(request)

    assert (remote.value.hook, remote.value.field) == (hook, field)
    assert same_words(remote.value) == same_words(here.value)
    assert remote.value.fix and remote.value.fix == here.value.fix
    assert plane.list_executions() == []


def test_a_bad_input_is_an_input_error_naming_the_input(
    plane: HttpControlPlane, local: LocalControlPlane
) -> None:
    request = launch(inputs={"word": "hi", "times": "many"})

    with pytest.raises(InputError, match="Input 'times' expects int, got 'many'") as remote:
        plane.launch(request)
    with pytest.raises(InputError) as here:
        local.launch(request)

    assert remote.value.input == "times"
    assert (str(remote.value), remote.value.fix) == (str(here.value), here.value.fix)


def test_unknown_names_are_not_found_with_the_stores_words(plane: HttpControlPlane) -> None:
    with pytest.raises(NotFound, match=r"No workflow 'registry_text\.quiet' in demo/dev"):
        plane.launch(launch(workflow="registry_text.quiet"))
    with pytest.raises(NotFound, match="No version 'v9' of workflow"):
        plane.hooks("demo", "dev", LOUD, "v9")
    with pytest.raises(NotFound, match="No execution 'ex-nope'"):
        plane.get_execution("ex-nope")


def test_other_content_under_a_registered_version_is_a_conflict(plane: HttpControlPlane) -> None:
    spec = plane.get_workflow("demo", "dev", LOUD).spec
    changed = spec.model_copy(update={"location": "elsewhere.py:1"})

    with pytest.raises(Conflict, match="already registered in demo/dev with other content"):
        plane.register(Registration(project="demo", domain="dev", version="v1", workflows=(changed,)))


def test_a_verb_that_does_not_apply_is_refused_with_its_fix(plane: HttpControlPlane) -> None:
    queued, _ = plane.launch(launch(inputs={"word": "hi"}))

    with pytest.raises(RequestRefused, match="only a FAILED or ABORTED one can be recovered") as refused:
        plane.recover(queued.id)

    assert refused.value.fix == "Relaunch it instead to run it again."


def test_fastapis_own_validation_is_an_input_error_naming_the_parameter(plane: HttpControlPlane) -> None:
    with pytest.raises(InputError, match=r"limit: Input should be greater than or equal to 1") as refused:
        plane.list_executions(limit=0)

    assert refused.value.input == "limit"


def test_a_body_over_the_servers_limit_is_refused_clearly(plane: HttpControlPlane) -> None:
    with pytest.raises(RequestRefused, match="larger than 1 MiB") as refused:
        plane.launch(launch(inputs={"word": "x" * 2**21}))

    assert "Pass large data by reference" in refused.value.fix


def test_tokens_missing_or_without_the_project_are_permission_denied(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = {"name": "ci", "token": TOKEN, "projects": ["demo"], "rights": ["read", "launch"]}
    with TestClient(create_app(settings(home, token)), base_url=URL) as http:
        anonymous = HttpControlPlane(URL, client=http)
        monkeypatch.setenv("RETUNE_API_TOKEN", TOKEN)
        from_env = HttpControlPlane(URL, client=http)

        with pytest.raises(PermissionDenied):
            anonymous.list_executions(project="demo")
        with pytest.raises(PermissionDenied, match="not granted project 'other'"):
            from_env.list_executions(project="other")
        assert from_env.list_executions(project="demo") == []


def test_no_server_at_the_url_is_server_unavailable_saying_how_to_start_one() -> None:
    plane = HttpControlPlane("http://127.0.0.1:9", timeout=5)

    with pytest.raises(ServerUnavailable) as refused:
        plane.get_execution("ex-1")
    plane.close()

    assert str(refused.value).startswith("Cannot reach the retune server at http://127.0.0.1:9 (")
    assert str(refused.value).endswith("Start it with `retune serve`, or check --server / RETUNE_SERVER.")


def test_something_that_is_not_a_retune_server_is_server_unavailable() -> None:
    def web_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>")

    http = httpx.Client(transport=httpx.MockTransport(web_page))
    plane = HttpControlPlane("http://example.test", client=http)

    with pytest.raises(ServerUnavailable, match="with something that is not retune's JSON"):
        plane.get_execution("ex-1")

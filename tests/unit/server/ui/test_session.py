"""The UI with ``[[server.tokens]]``: a login, a session cookie the API ignores, CSRF on every
form, and a read-only token that sees no launch button and cannot launch (DESIGN §10)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.server.app import create_app

from ..support import API, PIPELINE, SECRETS, TOKENS, TestClient, bearer, registration, server_settings

FORM = f"/ui/workflows/a/development/{PIPELINE.name}/launch"


@pytest.fixture
def guarded(home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(server_settings(home, TOKENS))) as client:
        assert (
            client.post(f"{API}/registrations", json=registration("a"), headers=bearer("admin")).status_code
            == 201
        )
        yield client


def log_in(client: TestClient, name: str) -> None:
    answer = client.post("/ui/login", data={"token": SECRETS[name], "next": FORM}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == FORM


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def launched(client: TestClient) -> list[str]:
    answer = client.get(f"{API}/executions", params={"project": "a"}, headers=bearer("admin"))
    return [e["id"] for e in answer.json()["executions"]]


def test_pages_need_a_login_that_sets_an_http_only_strict_cookie(guarded: TestClient) -> None:
    first = guarded.get(FORM, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/ui/login?next=")
    wrong = guarded.post(
        "/ui/login", data={"token": "not-a-token-at-all", "next": FORM}, follow_redirects=False
    )
    assert wrong.status_code == 401 and "Unknown token" in wrong.text
    answer = guarded.post("/ui/login", data={"token": SECRETS["admin"], "next": FORM}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert guarded.get(FORM).status_code == 200


def test_the_login_never_redirects_to_another_site(guarded: TestClient) -> None:
    answer = guarded.post(
        "/ui/login", data={"token": SECRETS["admin"], "next": "https://evil.example/"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/ui/workflows"


def test_the_api_does_not_accept_the_session_cookie(guarded: TestClient) -> None:
    log_in(guarded, "admin")
    assert guarded.get(f"{API}/executions", params={"project": "a"}).status_code == 401


def test_a_form_posted_without_the_csrf_token_is_refused_and_launches_nothing(guarded: TestClient) -> None:
    log_in(guarded, "admin")
    csrf = csrf_of(guarded.get(FORM).text)
    refused = guarded.post(FORM, data={"inputs.x": "3"}, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = guarded.post(FORM, data={"inputs.x": "3", "csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    assert launched(guarded) == []
    accepted = guarded.post(FORM, data={"inputs.x": "3", "csrf": csrf}, follow_redirects=False)
    assert accepted.status_code == 303
    assert len(launched(guarded)) == 1


def test_the_csrf_token_of_one_session_does_not_work_in_another(guarded: TestClient) -> None:
    log_in(guarded, "admin")
    admin_csrf = csrf_of(guarded.get(FORM).text)
    guarded.cookies.clear()
    log_in(guarded, "both-b")
    form_b = f"/ui/workflows/b/development/{PIPELINE.name}/launch"
    assert (
        guarded.post(form_b, data={"inputs.x": "3", "csrf": admin_csrf}, follow_redirects=False).status_code
        == 403
    )


def test_a_read_only_token_sees_no_launch_button_and_cannot_launch(guarded: TestClient) -> None:
    log_in(guarded, "reader-a")
    page = guarded.get(FORM).text
    assert 'value="launch"' not in page and "may read but not launch" in page
    assert ">Launch</a>" not in guarded.get("/ui/workflows").text
    refused = guarded.post(FORM, data={"inputs.x": "3", "csrf": csrf_of(page)}, follow_redirects=False)
    assert refused.status_code == 403 and "launch" in refused.text
    assert launched(guarded) == []


def test_a_token_limited_to_a_project_cannot_open_another_project(guarded: TestClient) -> None:
    log_in(guarded, "reader-a")
    assert (
        guarded.post(f"{API}/registrations", json=registration("b"), headers=bearer("admin")).status_code
        == 201
    )
    other = guarded.get(f"/ui/workflows/b/development/{PIPELINE.name}/launch")
    assert other.status_code == 403
    listing = guarded.get("/ui/workflows").text
    assert "a / development" in listing and "b / development" not in listing


def test_logout_ends_the_session(guarded: TestClient) -> None:
    log_in(guarded, "admin")
    csrf = csrf_of(guarded.get(FORM).text)
    assert guarded.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert guarded.get(FORM, follow_redirects=False).status_code == 303


def test_a_read_only_token_may_preview(guarded: TestClient) -> None:
    log_in(guarded, "reader-a")
    csrf = csrf_of(guarded.get(FORM).text)
    answer = guarded.post(
        FORM, data={"inputs.x": "3", "overrides.train.retries": "5", "action": "preview", "csrf": csrf}
    )
    assert answer.status_code == 200 and "this launch" in answer.text
    assert launched(guarded) == []

"""The Host/Origin rule (DNS rebinding): without tokens only loopback Hosts are answered, and no
web page of another origin changes state; with tokens, only the server's own pages may."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from retune.server.app import create_app

from .support import API, TestClient, launch_body, registration, server_settings, zip_bytes

ZIP = zip_bytes(**{"flows.py": b"x = 1\n"})
DIGEST = hashlib.sha256(ZIP).hexdigest()
TOKEN = "hosts-secret-0123456789"
TOKENS = ({"name": "dev", "token": TOKEN, "projects": ["*"], "rights": ["read", "launch"]},)


def launched(client: TestClient) -> list[object]:
    return list(client.get(f"{API}/executions").json()["executions"])


def detail(answer: object) -> dict[str, str]:
    found: dict[str, str] = answer.json()["detail"]  # type: ignore[attr-defined]
    return found


def test_a_foreign_host_cannot_launch_on_a_server_without_tokens(client: TestClient) -> None:
    answer = client.post(f"{API}/executions", json=launch_body(), headers={"Host": "evil.example:8265"})

    assert answer.status_code == 403
    assert detail(answer)["error"] == "PermissionDenied"
    assert "'evil.example:8265'" in detail(answer)["message"]
    assert "loopback" in detail(answer)["message"]
    assert "[[server.tokens]]" in detail(answer)["fix"]
    assert launched(client) == []


def test_a_foreign_host_cannot_upload_a_bundle(client: TestClient, home: Path) -> None:
    answer = client.put(
        f"{API}/bundles/{DIGEST}",
        content=ZIP,
        headers={"Host": "rebound.example", "Content-Type": "application/zip"},
    )

    assert answer.status_code == 403
    assert not (home / "blobs" / "bundles" / f"{DIGEST}.zip").exists()


@pytest.mark.parametrize("path", ["/api/v1/executions", "/api/v1/health", "/openapi.json"])
def test_a_foreign_host_cannot_read_either(client: TestClient, path: str) -> None:
    assert client.get(path, headers={"Host": "evil.example"}).status_code == 403


@pytest.mark.parametrize(
    "host", ["localhost:8265", "LOCALHOST", "127.0.0.1", "127.1.2.3:9000", "[::1]:8265", "[::1]"]
)
def test_every_loopback_host_is_answered(client: TestClient, host: str) -> None:
    answer = client.post(f"{API}/executions", json=launch_body(), headers={"Host": host})

    assert answer.status_code == 201


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1.evil.example", "null"])
def test_a_web_page_of_another_origin_cannot_change_state(client: TestClient, origin: str) -> None:
    answer = client.post(f"{API}/executions", json=launch_body(), headers={"Origin": origin})

    assert answer.status_code == 403
    assert f"{origin!r}" in detail(answer)["message"]
    assert "POST /api/v1/executions" in detail(answer)["message"]
    assert launched(client) == []


def test_a_page_on_localhost_may_launch_and_any_page_may_read(client: TestClient) -> None:
    assert (
        client.post(
            f"{API}/executions", json=launch_body(), headers={"Origin": "http://localhost:3000"}
        ).status_code
        == 201
    )
    # Reading is left to the browser's same-origin policy: without CORS headers the page
    # cannot see the answer.
    assert client.get(f"{API}/executions", headers={"Origin": "http://evil.example"}).status_code == 200


@pytest.fixture
def with_tokens(home: Path) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(server_settings(home, TOKENS)), headers=headers) as client:
        assert client.post(f"{API}/registrations", json=registration()).status_code == 201
        yield client


def test_with_tokens_any_host_is_answered(with_tokens: TestClient) -> None:
    answer = with_tokens.post(f"{API}/executions", json=launch_body(), headers={"Host": "retune.corp:443"})

    assert answer.status_code == 201


def test_with_tokens_only_the_server_s_own_pages_may_change_state(with_tokens: TestClient) -> None:
    own = {"Host": "retune.corp", "Origin": "https://retune.corp"}
    other = {"Host": "retune.corp", "Origin": "https://evil.example"}

    assert with_tokens.post(f"{API}/executions", json=launch_body(), headers=own).status_code == 201
    refused = with_tokens.post(f"{API}/executions", json=launch_body(), headers=other)
    assert refused.status_code == 403
    assert "only the server's own pages" in detail(refused)["message"]
    assert len(launched(with_tokens)) == 1

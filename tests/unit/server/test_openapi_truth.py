"""What the schemathesis run found the document and the answers disagreeing on, pinned: each
answer is one the OpenAPI document describes."""

from __future__ import annotations

from .support import API, TestClient


def test_a_method_a_path_does_not_answer_is_405_listing_every_method_of_the_path(client: TestClient) -> None:
    answer = client.request("OPTIONS", f"{API}/executions")

    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, POST"
    assert "answers GET, POST" in answer.json()["detail"]["message"]


def test_a_json_body_that_is_not_text_is_a_documented_422_and_creates_nothing(client: TestClient) -> None:
    answer = client.post(
        f"{API}/executions",
        content=b'{"project": "\xff\xfe\x00"}',
        headers={"Content-Type": "application/json"},
    )

    assert answer.status_code == 422
    assert answer.json()["detail"]["error"] == "InputError"
    assert "not JSON text" in answer.json()["detail"]["message"]
    assert client.get(f"{API}/executions").json()["executions"] == []


def test_errors_of_the_text_logs_route_are_documented_as_json(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    responses = document["paths"][f"{API}/executions/{{execution_id}}/logs"]["get"]["responses"]

    assert set(responses["200"]["content"]) == {"text/plain"}
    assert set(responses["404"]["content"]) == {"application/json"}
    assert client.get(f"{API}/executions/ex-nope/logs?node=n0").headers["content-type"] == "application/json"


def test_every_route_documents_the_503_of_an_outage_with_retry_after(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.endswith("/health"):
                continue
            assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)

"""JSON bodies nested deeper than 128 levels are refused with a 422 naming where, before any
parser or model recurses over them; nothing is created."""

from __future__ import annotations

import json

import pytest

from retune.server.depth import MAX_DEPTH, too_deep

from .support import API, TestClient, launch_body, registration

DEPTHS = [129, 254, 1000, 100_000]


def nested_list(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def post(client: TestClient, path: str, text: str) -> object:
    return client.post(path, content=text, headers={"Content-Type": "application/json"})


def with_field(body: dict[str, object], key: str, raw: str) -> str:
    """``body`` as JSON with ``key`` set to the raw JSON text ``raw`` (too deep for json.dumps)."""
    return json.dumps(body)[:-1] + f', "{key}": {raw}}}'


def launched(client: TestClient) -> list[object]:
    return list(client.get(f"{API}/executions").json()["executions"])


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_inputs_are_refused_naming_the_input(client: TestClient, depth: int) -> None:
    text = with_field(launch_body(), "inputs", '{"x": ' + nested_list(depth) + "}")

    answer = post(client, f"{API}/executions", text)

    assert answer.status_code == 422  # type: ignore[attr-defined]
    detail = answer.json()["detail"]  # type: ignore[attr-defined]
    assert detail["error"] == "InputError"
    assert f"deeper than {MAX_DEPTH} levels, at inputs.x[0][0]" in detail["message"]
    assert "by reference" in detail["fix"]
    assert launched(client) == []


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_task_config_override_is_refused_naming_the_hook(client: TestClient, depth: int) -> None:
    overrides = '{"train": {"task_config": ' + nested_object(depth) + "}}"
    text = with_field(launch_body(), "overrides", overrides)

    answer = post(client, f"{API}/executions", text)

    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "at overrides.train.task_config.a.a" in answer.json()["detail"]["message"]  # type: ignore[attr-defined]
    assert launched(client) == []


def test_deep_launch_plan_defaults_are_refused_and_no_plan_is_created(client: TestClient) -> None:
    plan = {
        "project": "flytesnacks",
        "domain": "development",
        "name": "deep",
        "workflow": registration()["workflows"][0]["name"],
    }
    text = with_field(plan, "default_inputs", '{"x": ' + nested_list(300) + "}")

    answer = post(client, f"{API}/launch_plans", text)

    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "at default_inputs.x" in answer.json()["detail"]["message"]  # type: ignore[attr-defined]
    assert client.get(f"{API}/launch_plans/flytesnacks/development/deep").status_code == 404


def test_a_body_within_the_limit_is_judged_on_its_content_not_its_depth(client: TestClient) -> None:
    text = with_field(
        launch_body(), "overrides", '{"train": {"task_config": ' + nested_object(MAX_DEPTH - 4) + "}}"
    )

    answer = post(client, f"{API}/executions", text)

    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert "deeper than" not in answer.text  # type: ignore[attr-defined]


def test_a_deep_body_over_the_size_limit_is_refused_for_its_size(client: TestClient) -> None:
    text = with_field(launch_body(), "inputs", '{"x": ' + nested_list(600_000) + "}")

    assert post(client, f"{API}/executions", text).status_code == 413  # type: ignore[attr-defined]


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"inputs": {"text": "[{" * 1000, "quote": '\\"[[[['}}).encode()

    assert too_deep(body) is None


def test_the_depth_is_counted_without_recursion_on_a_megabyte_of_brackets() -> None:
    assert too_deep(b"[" * 2**20) == "[0][0][0][0][0][0][0][0]..."
    assert too_deep(b'{"a": [' + b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 1) + b"}") is None


def test_many_shallow_objects_pass_and_a_stray_closing_bracket_hides_no_depth() -> None:
    shallow = json.dumps(
        {"overrides": {f"h{i}": {"resources": {"requests": {"cpu": "1"}}} for i in range(200)}}
    )

    assert too_deep(shallow.encode()) is None
    assert too_deep(b"]]]]" + b"[" * (MAX_DEPTH + 1)) == "[0][0][0][0][0][0][0][0]..."

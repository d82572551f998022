"""A launch-only token never reads data back: launch, relaunch, recover and abort answer it a
receipt (the id, the phase and what its own request sent), not the execution's record."""

from __future__ import annotations

from typing import Any

from retune.client import HttpControlPlane
from retune.model.control import ExecutionRequest
from retune.model.execution import Phase
from retune.server.schemas import ExecutionReceipt

from .support import API, PIPELINE, SECRETS, Server, bearer, launch_body

LAUNCHER = bearer("launcher-a")
RECORD_ONLY = {"outputs", "error", "nodes", "workflow_version", "created_at", "finished_at"}


def post(server: Server, path: str, **kwargs: Any) -> dict[str, Any]:
    answer = server.client.post(f"{API}{path}", headers=LAUNCHER, **kwargs)
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    ExecutionReceipt.model_validate(body)  # the documented shape, nothing more
    return body


def test_relaunch_does_not_give_a_launch_only_token_the_parent_s_inputs(server: Server) -> None:
    body = post(
        server, f"/executions/{server.execution}/relaunch", json={"overrides": {"train": {"retries": 1}}}
    )

    assert body["parent_id"] == server.execution
    assert body["overrides"] == {"train": {"retries": 1}}
    assert body["inputs"] == {}  # the parent's x=3 stays unread
    assert body["phase"] == "QUEUED"
    assert not RECORD_ONLY & set(body)


def test_launch_answers_a_launch_only_token_what_it_sent_and_not_a_plan_s_defaults(server: Server) -> None:
    plan = {"project": "a", "domain": "development", "name": "nightly", "workflow": PIPELINE.name}
    plan["default_inputs"] = {"x": 7, "rate": 0.25}
    assert server.client.post(f"{API}/launch_plans", json=plan, headers=bearer("admin")).status_code == 201
    sent = {"project": "a", "domain": "development", "launch_plan": "nightly", "inputs": {"rate": 0.5}}

    body = post(server, "/executions", json=sent)

    assert body["inputs"] == {"rate": 0.5}  # not the plan's x=7, which the record holds
    assert body["launch_plan"] == "nightly"
    record = server.client.get(f"{API}/executions/{body['id']}", headers=bearer("admin")).json()
    assert record["inputs"] == {"x": 7, "rate": 0.5}


def test_an_idempotent_replay_answers_a_receipt_too(server: Server) -> None:
    sent = launch_body("a", idempotency_key="nightly-2026-12-01")
    first = post(server, "/executions", json=sent)

    again = server.client.post(f"{API}/executions", json=sent, headers=LAUNCHER)

    assert again.status_code == 200
    assert again.json() == first


def test_abort_and_recover_answer_a_launch_only_token_only_the_id_and_phase(server: Server) -> None:
    aborted = post(server, f"/executions/{server.execution}/abort")
    recovered = post(server, f"/executions/{server.execution}/recover")

    assert aborted["id"] == server.execution
    assert aborted["phase"] == "ABORTED"
    assert aborted["inputs"] == {} and aborted["overrides"] == {}
    assert recovered["parent_id"] == server.execution
    assert recovered["inputs"] == {}


def test_a_token_that_may_read_gets_the_whole_record(server: Server) -> None:
    answer = server.client.post(
        f"{API}/executions/{server.execution}/relaunch", json={}, headers=bearer("admin")
    )

    assert answer.json()["inputs"]["x"] == 3
    assert "nodes" in answer.json()


def test_the_client_turns_a_receipt_into_an_execution_without_nodes(server: Server) -> None:
    plane = HttpControlPlane(str(server.client.base_url), token=SECRETS["launcher-a"], client=server.client)
    request = ExecutionRequest(project="a", domain="development", workflow=PIPELINE.name, inputs={"x": 4})

    execution, created = plane.launch(request)

    assert created
    assert execution.phase is Phase.QUEUED
    assert execution.inputs == {"x": 4}
    assert execution.nodes == ()
    assert execution.project == "a"

"""The REST API of DESIGN §6: each route's answer, and each refusal's status and detail."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from retune.control import LocalControlPlane
from retune.server.app import create_app
from retune.server.schemas import ExecutionDocument

from .support import (
    API,
    PIPELINE,
    PIPELINE_V2,
    UNREADABLE,
    TestClient,
    launch_body,
    plant_unreadable_inputs,
    registration,
    server_settings,
    zip_bytes,
)

WORKFLOW = f"{API}/workflows/flytesnacks/development/{PIPELINE.name}"


def executions(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get(f"{API}/executions")
    assert answer.status_code == 200
    found: list[dict[str, Any]] = answer.json()["executions"]
    return found


def detail(answer: Any) -> dict[str, Any]:
    found: dict[str, Any] = answer.json()["detail"]
    return found


def launch(client: TestClient, **fields: Any) -> dict[str, Any]:
    answer = client.post(f"{API}/executions", json=launch_body(**fields))
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


# -- health and the OpenAPI document ---------------------------------------------------------


def test_health_answers_ok_and_the_version(client: TestClient) -> None:
    answer = client.get(f"{API}/health")

    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["version"]


def test_openapi_document_describes_every_route_and_the_request_bodies(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    assert set(document["paths"]) == {
        f"{API}/health",
        f"{API}/ready",
        f"{API}/bundles/{{digest}}",
        f"{API}/registrations",
        f"{API}/workflows/{{project}}/{{domain}}/{{name}}",
        f"{API}/workflows/{{project}}/{{domain}}/{{name}}/hooks",
        f"{API}/launch_plans",
        f"{API}/launch_plans/{{project}}/{{domain}}/{{name}}",
        f"{API}/task_types",
        f"{API}/task_types/{{name}}",
        f"{API}/executions",
        f"{API}/executions/{{execution_id}}",
        f"{API}/executions/{{execution_id}}/relaunch",
        f"{API}/executions/{{execution_id}}/recover",
        f"{API}/executions/{{execution_id}}/abort",
        f"{API}/executions/{{execution_id}}/logs",
    }
    schemas = document["components"]["schemas"]
    assert {"Registration", "ExecutionRequest", "LaunchPlanRequest", "RelaunchRequest"} <= set(schemas)
    launched = document["paths"][f"{API}/executions"]["post"]["responses"]["201"]
    assert launched["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ExecutionAnswer"
    }


def test_execution_document_describes_exactly_what_executions_answer(client: TestClient) -> None:
    execution = launch(client)

    ExecutionDocument.model_validate(execution)  # extra="forbid": a field added to to_dict fails here
    assert set(ExecutionDocument.model_fields) == set(execution)


# -- bundles ---------------------------------------------------------------------------------


def test_put_bundle_stores_it_under_its_sha256(client: TestClient) -> None:
    data = b"PK\x05\x06" + bytes(18)  # an empty zip
    digest = hashlib.sha256(data).hexdigest()

    answer = client.put(f"{API}/bundles/{digest}", content=data, headers={"Content-Type": "application/zip"})

    assert answer.status_code == 201
    assert answer.json() == {"digest": digest}
    again = registration(bundle=digest, version="v2")
    assert client.post(f"{API}/registrations", json=again).json()["entities"][0]["bundle"] == digest


def test_put_bundle_refuses_a_body_whose_sha256_is_not_the_url_s(client: TestClient) -> None:
    answer = client.put(
        f"{API}/bundles/{'0' * 64}", content=b"zip", headers={"Content-Type": "application/zip"}
    )

    assert answer.status_code == 422
    assert detail(answer)["error"] == "InputError"
    assert detail(answer)["input"] == "digest"


def test_bundles_may_be_larger_than_json_bodies_but_not_over_64_mib(client: TestClient) -> None:
    data = zip_bytes(**{"data.bin": bytes(2 * 2**20)})
    digest = hashlib.sha256(data).hexdigest()
    headers = {"Content-Type": "application/zip"}

    assert client.put(f"{API}/bundles/{digest}", content=data, headers=headers).status_code == 201
    too_big = client.put(
        f"{API}/bundles/{digest}", headers={**headers, "Content-Length": str(64 * 2**20 + 1)}
    )
    assert too_big.status_code == 413
    assert "64 MiB" in detail(too_big)["message"]


# -- registrations ---------------------------------------------------------------------------


def test_registering_the_same_content_again_is_a_no_op_answered_200(client: TestClient) -> None:
    answer = client.post(f"{API}/registrations", json=registration())

    assert answer.status_code == 200
    assert [entity["created"] for entity in answer.json()["entities"]] == [False]


def test_registering_other_content_under_a_taken_version_is_a_conflict(client: TestClient) -> None:
    body = registration()
    body["workflows"][0]["nodes"][0]["location"] = "elsewhere.py:1"

    answer = client.post(f"{API}/registrations", json=body)

    assert answer.status_code == 409
    assert detail(answer)["error"] == "Conflict"


def test_registration_with_an_unknown_bundle_is_not_found(client: TestClient) -> None:
    answer = client.post(f"{API}/registrations", json=registration(version="v2", bundle="a" * 64))

    assert answer.status_code == 404
    assert "PUT /api/v1/bundles/" in detail(answer)["message"]


def test_registration_body_is_validated_by_its_model(client: TestClient) -> None:
    answer = client.post(f"{API}/registrations", json=registration(project="no spaces allowed"))

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "project"]


# -- workflows and hooks ---------------------------------------------------------------------


def test_get_workflow_answers_spec_interface_and_hooks(client: TestClient) -> None:
    answer = client.get(WORKFLOW)

    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == "v1"
    assert body["spec"]["name"] == PIPELINE.name
    assert [p["name"] for p in body["interface"]["inputs"]] == ["x", "rate"]
    assert sorted(body["hooks"]) == ["prepare", "train"]
    assert body["hooks"]["train"]["default"] == {"retries": 2}


def test_get_hooks_answers_the_map_of_retune_hooks_json(client: TestClient) -> None:
    answer = client.get(f"{WORKFLOW}/hooks", params={"version": "v1"})

    assert answer.status_code == 200
    assert answer.json() == client.get(WORKFLOW).json()["hooks"]
    assert answer.json()["train"]["nodes"] == ["n1"]


def test_get_workflow_takes_the_newest_version_unless_told(client: TestClient) -> None:
    body = registration(version="v2")
    body["workflows"] = [{**PIPELINE_V2.model_dump(mode="json"), "name": PIPELINE.name}]
    assert client.post(f"{API}/registrations", json=body).status_code == 201

    assert client.get(WORKFLOW).json()["version"] == "v2"
    assert client.get(WORKFLOW, params={"version": "v1"}).json()["version"] == "v1"
    assert sorted(client.get(f"{WORKFLOW}/hooks").json()) == ["prepare"]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (f"{WORKFLOW}?version=v9", "'v1'"),
        (f"{API}/workflows/flytesnacks/development/flows.nope", PIPELINE.name),
        (f"{API}/workflows/other/development/{PIPELINE.name}", "none is registered"),
        (f"{WORKFLOW}/hooks?version=v9", "'v1'"),
    ],
)
def test_unknown_workflow_or_version_is_404_naming_what_exists(
    client: TestClient, path: str, named: str
) -> None:
    answer = client.get(path)

    assert answer.status_code == 404
    assert detail(answer)["error"] == "NotFound"
    assert named in detail(answer)["message"]


# -- launch plans ----------------------------------------------------------------------------


def plan_body(**fields: Any) -> dict[str, Any]:
    return {
        "project": "flytesnacks",
        "domain": "development",
        "name": "nightly",
        "workflow": PIPELINE.name,
        "default_inputs": {"x": 5},
        "runtime_override": {"prepare": {"retries": 4}},
        **fields,
    }


def test_create_launch_plan_201_then_200_when_unchanged_and_get_it(client: TestClient) -> None:
    first = client.post(f"{API}/launch_plans", json=plan_body())
    again = client.post(f"{API}/launch_plans", json=plan_body())
    read = client.get(f"{API}/launch_plans/flytesnacks/development/nightly")

    assert (first.status_code, again.status_code, read.status_code) == (201, 200, 200)
    assert read.json()["spec"]["default_inputs"] == {"x": 5}
    assert read.json()["spec"]["runtime_override"] == {"prepare": {"retries": 4}}


def test_launch_plan_with_an_unknown_hook_is_422_and_not_stored(client: TestClient) -> None:
    answer = client.post(f"{API}/launch_plans", json=plan_body(runtime_override={"prepar": {"retries": 1}}))

    assert answer.status_code == 422
    assert detail(answer)["hook"] == "prepar"
    assert client.get(f"{API}/launch_plans/flytesnacks/development/nightly").status_code == 404


def test_launch_plan_of_an_unknown_workflow_is_404(client: TestClient) -> None:
    answer = client.post(f"{API}/launch_plans", json=plan_body(workflow="flows.nope"))

    assert answer.status_code == 404


# -- launching -------------------------------------------------------------------------------


def test_launch_answers_201_with_the_queued_execution_record(client: TestClient) -> None:
    answer = client.post(f"{API}/executions", json=launch_body(overrides={"train": {"retries": 5}}))

    assert answer.status_code == 201
    body = answer.json()
    assert answer.headers["Location"] == f"{API}/executions/{body['id']}"
    assert body["phase"] == "QUEUED"
    assert (body["project"], body["domain"], body["workflow_version"]) == ("flytesnacks", "development", "v1")
    assert body["inputs"] == {"x": 3, "rate": 0.5}
    train = next(node for node in body["nodes"] if node["hook"] == "train")
    assert train["config"]["retries"] == 5
    assert train["provenance"]["retries"]["layer"] == "execution"


def test_launch_by_launch_plan_uses_its_inputs_and_overrides(client: TestClient) -> None:
    assert client.post(f"{API}/launch_plans", json=plan_body()).status_code == 201
    body = {"project": "flytesnacks", "domain": "development", "launch_plan": "nightly"}

    answer = client.post(f"{API}/executions", json=body)

    assert answer.status_code == 201
    assert answer.json()["launch_plan"] == "nightly"
    assert answer.json()["inputs"]["x"] == 5
    prepare = next(node for node in answer.json()["nodes"] if node["hook"] == "prepare")
    assert prepare["config"]["retries"] == 4


REFUSALS = {
    "unknown hook": (launch_body(overrides={"trian": {"retries": 1}}), 422),
    "malformed value": (launch_body(overrides={"train": {"retries": "many"}}), 422),
    "not a map": (launch_body(overrides={"train": 3}), 422),
    "wrong input type": (launch_body(inputs={"x": "three"}), 422),
    "missing input": (launch_body(inputs={}), 422),
    "unknown input": (launch_body(inputs={"x": 1, "y": 2}), 422),
    "over the capacity": (launch_body(overrides={"train": {"resources": {"requests": {"cpu": 64}}}}), 422),
    "unknown image": (launch_body(overrides={"train": {"container_image": "py27"}}), 422),
    "unknown workflow": (launch_body(workflow="flows.nope"), 404),
    "unknown version": (launch_body(version="v9"), 404),
    "unknown launch plan": ({**launch_body(), "workflow": None, "launch_plan": "nope"}, 404),
    "both targets": (launch_body(launch_plan="nightly"), 422),
    "unknown body field": (launch_body(override={}), 422),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_launch_creates_no_execution(client: TestClient, case: str) -> None:
    body, status = REFUSALS[case]

    answer = client.post(f"{API}/executions", json=body)

    assert answer.status_code == status, answer.text
    assert executions(client) == []


def test_unknown_hook_names_the_hook_and_suggests_the_nearest(client: TestClient) -> None:
    answer = client.post(f"{API}/executions", json=REFUSALS["unknown hook"][0])

    found = detail(answer)
    assert found["error"] == "OverrideError"
    assert found["hook"] == "trian"
    assert "Did you mean 'train'?" in found["fix"]
    assert found["message"].startswith("Override for hook 'trian'")


def test_malformed_override_value_names_hook_and_field(client: TestClient) -> None:
    found = detail(client.post(f"{API}/executions", json=REFUSALS["malformed value"][0]))

    assert (found["error"], found["hook"], found["field"]) == ("OverrideError", "train", "retries")
    assert "'many'" in found["message"]
    assert found["fix"]


def test_a_config_the_workers_cannot_honour_names_hook_field_and_capacity(client: TestClient) -> None:
    found = detail(client.post(f"{API}/executions", json=REFUSALS["over the capacity"][0]))

    assert (found["error"], found["hook"], found["field"]) == (
        "OverrideError",
        "train",
        "resources.requests.cpu",
    )
    assert "capacity" in found["message"]


@pytest.mark.parametrize(
    ("case", "name"), [("wrong input type", "x"), ("missing input", "x"), ("unknown input", "y")]
)
def test_input_errors_name_the_input(client: TestClient, case: str, name: str) -> None:
    found = detail(client.post(f"{API}/executions", json=REFUSALS[case][0]))

    assert (found["error"], found["input"]) == ("InputError", name)


def test_idempotency_key_replay_answers_200_with_the_first_execution(client: TestClient) -> None:
    first = client.post(f"{API}/executions", json=launch_body(), headers={"Idempotency-Key": "nightly-42"})
    again = client.post(f"{API}/executions", json=launch_body(), headers={"Idempotency-Key": "nightly-42"})
    in_body = client.post(f"{API}/executions", json=launch_body(idempotency_key="nightly-42"))

    assert (first.status_code, again.status_code, in_body.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == in_body.json()["id"]
    assert len(executions(client)) == 1


def test_idempotency_key_reused_for_another_request_is_a_conflict(client: TestClient) -> None:
    launch(client, idempotency_key="k-1")

    answer = client.post(
        f"{API}/executions", json=launch_body(inputs={"x": 4}), headers={"Idempotency-Key": "k-1"}
    )

    assert answer.status_code == 409
    assert "'k-1'" in detail(answer)["message"]
    assert len(executions(client)) == 1


def test_idempotency_key_in_header_and_body_must_agree(client: TestClient) -> None:
    answer = client.post(
        f"{API}/executions", json=launch_body(idempotency_key="a"), headers={"Idempotency-Key": "b"}
    )

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert executions(client) == []


# -- reading executions ----------------------------------------------------------------------


def test_get_execution_answers_its_record(client: TestClient) -> None:
    launched = launch(client)

    answer = client.get(f"{API}/executions/{launched['id']}")

    assert answer.status_code == 200
    assert answer.json() == launched


def test_unknown_execution_is_404(client: TestClient) -> None:
    answer = client.get(f"{API}/executions/ex-000000000000")

    assert answer.status_code == 404
    assert detail(answer)["error"] == "NotFound"
    assert detail(answer)["message"].startswith("No execution 'ex-000000000000'")  # not KeyError's quotes


def test_list_executions_newest_first_filtered_and_limited(client: TestClient) -> None:
    client.post(f"{API}/registrations", json=registration(project="other"))
    ids = [launch(client)["id"] for _ in range(3)]
    other = launch(client, project="other")["id"]

    everything = [e["id"] for e in executions(client)]
    ours = client.get(f"{API}/executions", params={"project": "flytesnacks", "limit": 2}).json()["executions"]

    assert everything == [other, *reversed(ids)]
    assert [e["id"] for e in ours] == list(reversed(ids))[:2]
    assert all(e["nodes"] == [] for e in ours)


def test_list_executions_pages_with_next_until_nothing_older_keeping_the_filters(client: TestClient) -> None:
    client.post(f"{API}/registrations", json=registration(project="other"))
    ours = [launch(client)["id"] for _ in range(5)]
    launch(client, project="other")
    client.post(f"{API}/executions/{ours[1]}/abort")

    pages, before = [], None
    while True:
        params = {"project": "flytesnacks", "limit": 2, **({"before": before} if before else {})}
        answer = client.get(f"{API}/executions", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([e["id"] for e in body["executions"]])
        before = body["next"]
        if before is None:
            break
        assert before == pages[-1][-1]
    queued = client.get(f"{API}/executions", params={"phase": "QUEUED", "before": ours[3]}).json()

    newest_first = list(reversed(ours))
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert [e["id"] for e in queued["executions"]] == [ours[2], ours[0]] and queued["next"] is None


def test_list_executions_before_an_unknown_execution_is_404_naming_it(client: TestClient) -> None:
    answer = client.get(f"{API}/executions", params={"before": "ex-nope"})

    assert answer.status_code == 404
    assert detail(answer)["message"] == "No execution 'ex-nope' to list the executions before."


def test_an_execution_whose_data_cannot_be_read_is_listed_with_the_cause_and_alone_is_500_naming_it(
    client: TestClient, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    older, bad, newer = (launch(client)["id"] for _ in range(3))
    plant_unreadable_inputs(home, bad)

    listed = executions(client)
    alone = client.get(f"{API}/executions/{bad}")

    assert [(e["id"], e["phase"], e["unreadable"]) for e in listed] == [
        (newer, "QUEUED", None),
        (bad, "QUEUED", UNREADABLE),
        (older, "QUEUED", None),
    ]
    assert listed[1]["inputs"] == {} and listed[0]["inputs"] == {"x": 3, "rate": 0.5}
    ExecutionDocument.model_validate(listed[1])
    assert alone.status_code == 500
    assert detail(alone) == {
        "error": "ValueNotStorable",
        "message": f"Cannot read the inputs of execution {bad!r} back from the store: "
        "it holds an integer of more than 4300 digits.",
    }
    assert [r.levelname for r in caplog.records if bad in r.getMessage()] == ["WARNING"]
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.parametrize("limit", [0, 501, "many"])
def test_list_limit_is_between_1_and_500(client: TestClient, limit: object) -> None:
    assert client.get(f"{API}/executions", params={"limit": limit}).status_code == 422


# -- relaunch, recover, abort ----------------------------------------------------------------


def test_relaunch_carries_the_overrides_over_unless_replaced(client: TestClient) -> None:
    parent = launch(client, overrides={"train": {"retries": 5}, "prepare": {"retries": 1}})

    answer = client.post(
        f"{API}/executions/{parent['id']}/relaunch", json={"overrides": {"train": {"retries": 0}}}
    )

    assert answer.status_code == 201
    child = answer.json()
    assert child["parent_id"] == parent["id"]
    assert child["overrides"] == {"train": {"retries": 0}, "prepare": {"retries": 1}}


def test_relaunch_with_a_malformed_override_is_422_and_creates_nothing(client: TestClient) -> None:
    parent = launch(client)

    answer = client.post(
        f"{API}/executions/{parent['id']}/relaunch", json={"overrides": {"train": {"retries": -1}}}
    )

    assert answer.status_code == 422
    assert (detail(answer)["hook"], detail(answer)["field"]) == ("train", "retries")
    assert [e["id"] for e in executions(client)] == [parent["id"]]


def test_abort_of_a_queued_execution_aborts_it_at_once(client: TestClient) -> None:
    execution = launch(client)

    answer = client.post(f"{API}/executions/{execution['id']}/abort")

    assert answer.status_code == 200
    assert answer.json()["phase"] == "ABORTED"


def test_recover_refuses_an_execution_that_has_not_failed(client: TestClient) -> None:
    execution = launch(client)

    answer = client.post(f"{API}/executions/{execution['id']}/recover")

    assert answer.status_code == 409
    assert detail(answer)["error"] == "RequestRefused"
    assert "Relaunch" in detail(answer)["fix"]


def test_recover_of_an_aborted_execution_creates_a_child(client: TestClient) -> None:
    execution = launch(client)
    client.post(f"{API}/executions/{execution['id']}/abort")

    answer = client.post(f"{API}/executions/{execution['id']}/recover")

    assert answer.status_code == 201
    assert answer.json()["parent_id"] == execution["id"]
    assert answer.json()["phase"] == "QUEUED"


@pytest.mark.parametrize("verb", ["relaunch", "recover", "abort"])
def test_verbs_on_an_unknown_execution_are_404(client: TestClient, verb: str) -> None:
    answer = client.post(f"{API}/executions/ex-000000000000/{verb}", json={})

    assert answer.status_code == 404


# -- body limits and unexpected failures -----------------------------------------------------


def test_a_json_body_over_1_mib_is_413_whatever_its_content_length_says(client: TestClient) -> None:
    big = b'{"project": "' + b"x" * 2**20 + b'"}'

    announced = client.post(f"{API}/executions", content=big, headers={"Content-Type": "application/json"})
    chunked = client.post(
        f"{API}/executions",
        content=iter([big[:1000], big[1000:]]),
        headers={"Content-Type": "application/json"},
    )

    assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
    for answer in (announced, chunked):
        assert answer.status_code == 413
        assert detail(answer)["error"] == "RequestRefused"
        assert "1 MiB" in detail(answer)["message"]
    assert executions(client) == []


def test_an_oversized_registration_is_told_to_register_less_at_once(client: TestClient) -> None:
    body = registration(version="v2")
    body["workflows"] = body["workflows"] * 500  # ~1.4 MB

    answer = client.post(f"{API}/registrations", json=body)

    assert answer.status_code == 413
    assert "Register fewer workflows at once" in detail(answer)["fix"]


def test_an_unexpected_failure_is_a_short_500_without_traceback(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: LocalControlPlane, execution_id: str) -> None:
        raise RuntimeError("password=hunter2 in a stack frame")

    monkeypatch.setattr(LocalControlPlane, "get_execution", broken)
    client = TestClient(client.app, raise_server_exceptions=False)

    answer = client.get(f"{API}/executions/ex-1")

    assert answer.status_code == 500
    assert detail(answer)["error"] == "InternalError"
    assert "RuntimeError" in detail(answer)["message"]
    assert "hunter2" not in answer.text
    assert "Traceback" not in answer.text


# -- the planes behind the routes ------------------------------------------------------------


def test_each_worker_thread_gets_its_own_plane_and_all_close_at_shutdown(home: Any) -> None:
    app = create_app(server_settings(home))
    with TestClient(app) as client:
        client.post(f"{API}/registrations", json=registration())
        planes = app.state.planes
        opened = [planes.current()]  # this thread's own, besides the worker threads'
        assert all(client.get(WORKFLOW).status_code == 200 for _ in range(5))
        assert len(planes) >= 2

    assert len(planes) == 0
    assert opened[0].store._conn.closed


def test_the_plane_of_an_ended_thread_goes_to_the_next_thread_with_its_connection(home: Any) -> None:
    import threading

    app = create_app(server_settings(home))
    with TestClient(app):
        planes = app.state.planes
        opened: list[LocalControlPlane] = []

        def ask() -> None:
            opened.append(planes.current())

        for _ in range(2):  # the second thread starts after the first ended
            thread = threading.Thread(target=ask)
            thread.start()
            thread.join()
        mine = planes.current()

        assert opened[0] is opened[1] is mine  # one store, one connection, for all three
        assert not mine.store._conn.closed
        assert len(planes) == 1  # the ended threads own nothing

    assert mine.store._conn.closed  # closed at shutdown


def test_planes_opened_before_an_outage_are_not_handed_on_after_it(home: Any) -> None:
    import threading

    app = create_app(server_settings(home))
    with TestClient(app):
        planes = app.state.planes
        opened: list[LocalControlPlane] = []
        thread = threading.Thread(target=lambda: opened.append(planes.current()))
        thread.start()
        thread.join()

        planes.reopen()
        fresh = planes.current()

        assert fresh is not opened[0]
        assert opened[0].store._conn.closed

"""The execution pages (DESIGN §10) over a real app and SQLite store: the list and its filters,
an execution's page (header, graph, nodes), its live state, the node panel (effective config
with provenance, attempts, logs), abort, relaunch, and what a token may see and do."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

import retune as rt
from retune.executors.local import LocalExecutor
from retune.server.app import create_app
from retune.server.ui.executions import embedded_json
from retune.store import open_blobs, open_store

from ..support import (
    API,
    PIPELINE,
    SECRETS,
    TOKENS,
    UNREADABLE,
    TestClient,
    bearer,
    launch_body,
    plant_unreadable_inputs,
    registration,
    server_settings,
)
from . import flows_pages

WORKFLOW = PIPELINE.name
TASKS = WORKFLOW.rpartition(".")[0]


def shown(html: str) -> str:
    """What a person reads: the text without tags, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def launch(client: TestClient, project: str = "flytesnacks", headers: Any = None, **fields: Any) -> str:
    answer = client.post(f"{API}/executions", json=launch_body(project, **fields), headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/ui/executions/(ex-[0-9a-f]+)"><code>', html)


def config_row(html: str, field: str) -> tuple[str, str, str]:
    """(value, source, layer) of the panel's config row for ``field``."""
    match = re.search(
        rf'<tr class="layer-(\w+)"><td><code>{re.escape(field)}</code></td><td>(.*?)</td><td>(.*?)</td></tr>',
        html,
    )
    assert match, f"no config row for {field!r}"
    return shown(match.group(2)), shown(match.group(3)), match.group(1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


# -- the list ---------------------------------------------------------------------------------


def test_the_list_shows_launched_executions_newest_first_and_filters_them(client: TestClient) -> None:
    older = launch(client)
    newer = launch(client, overrides={"train": {"retries": 3}})
    client.post(f"{API}/executions/{older}/abort")

    page = client.get("/ui/executions")
    assert page.status_code == 200
    assert listed(page.text) == [newer, older]
    text = shown(page.text)
    assert f"{WORKFLOW} v1 flytesnacks / development" in text and "ABORTED" in text and "QUEUED" in text
    assert f'href="/ui/workflows/flytesnacks/development/{WORKFLOW}?version=v1"' in page.text

    assert listed(client.get("/ui/executions", params={"workflow": WORKFLOW}).text) == [newer, older]
    assert listed(client.get("/ui/executions", params={"phase": "ABORTED"}).text) == [older]
    assert listed(
        client.get("/ui/executions", params={"phase": "QUEUED", "project": "flytesnacks"}).text
    ) == [newer]
    nothing = client.get("/ui/executions", params={"workflow": "other.workflow"})
    assert listed(nothing.text) == [] and "No execution matches these filters" in shown(nothing.text)
    assert listed(client.get("/ui/executions", params={"phase": "SUCCEEDED"}).text) == []


def test_the_filter_form_keeps_its_values_and_empty_fields_filter_nothing(client: TestClient) -> None:
    launched = launch(client)
    page = client.get("/ui/executions", params={"project": "", "domain": "", "workflow": "", "phase": ""})
    assert page.status_code == 200 and listed(page.text) == [launched]
    filtered = client.get("/ui/executions", params={"workflow": WORKFLOW, "phase": "QUEUED"}).text
    assert f'name="workflow" value="{WORKFLOW}"' in filtered
    assert '<option value="QUEUED" selected>' in filtered
    assert (
        f'href="/ui/executions?workflow={WORKFLOW}&amp;phase=FAILED"' in filtered
    )  # phase links keep filters


def test_an_unknown_phase_is_a_422_page_naming_the_phases(client: TestClient) -> None:
    launch(client)
    page = client.get("/ui/executions", params={"phase": "DONE"})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "phase 'DONE' is not a phase (one of QUEUED, RUNNING, SUCCEEDED" in shown(page.text)
    assert listed(page.text) == []


def test_an_execution_whose_data_cannot_be_read_is_listed_saying_so_and_its_page_names_the_cause(
    client: TestClient, home: Path
) -> None:
    older, bad, newer = (launch(client) for _ in range(3))
    plant_unreadable_inputs(home, bad)

    page = client.get("/ui/executions")
    alone = client.get(f"/ui/executions/{bad}")

    assert page.status_code == 200
    assert listed(page.text) == [newer, bad, older]
    assert shown(page.text).count("Its data cannot be read") == 1
    assert f"QUEUED Its data cannot be read: {UNREADABLE}" in shown(page.text)
    assert alone.status_code == 500 and "text/html" in alone.headers["content-type"]
    assert f"Cannot read the inputs of execution '{bad}' back from the store" in shown(alone.text)


# -- the execution page -------------------------------------------------------------------------


def test_the_page_names_the_workflow_shows_the_phase_and_every_node(client: TestClient) -> None:
    execution = launch(client, overrides={"train": {"retries": 3}})
    page = client.get(f"/ui/executions/{execution}")
    assert page.status_code == 200
    text = shown(page.text)
    assert f"{WORKFLOW} execution {execution} QUEUED" in text
    assert "Project / domain flytesnacks / development" in text and "Launch plan none" in text
    assert f'<a href="/ui/workflows/flytesnacks/development/{WORKFLOW}?version=v1">' in page.text
    assert re.search(r"<code>x</code></td><td><code>3</code>", page.text)  # the inputs
    rows = re.findall(r'<tr data-path="([^"]+)"><td><a href="[^"]+" data-node>', page.text)
    assert rows == [node.path for node in PIPELINE.nodes]
    assert f"n1 train {TASKS}.train QUEUED disabled 0" in text
    state = json.loads(
        re.search(r'<script type="application/json" id="phases">(.*?)</script>', page.text).group(1)
    )
    assert state == {"phase": "QUEUED", "nodes": {"n0": "QUEUED", "n1": "QUEUED"}}


def test_the_graph_has_a_node_per_task_node_for_the_script_to_colour(client: TestClient) -> None:
    execution = launch(client)
    page = client.get(f"/ui/executions/{execution}").text
    graph = page.split('<div class="graph" data-graph>', 1)[1].split("</div>", 1)[0]
    found = re.findall(r'<g class="node" data-path="([^"]+)"[^>]* data-phase=""', graph)
    assert sorted(found) == sorted(node.path for node in PIPELINE.nodes)


def test_the_state_says_every_nodes_phase_cache_and_attempts(client: TestClient) -> None:
    execution = launch(client)
    answer = client.get(f"/ui/executions/{execution}/state")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    state = answer.json()
    assert state["phase"] == "QUEUED" and state["finished_at"] is None
    assert state["nodes"] == {
        "n0": {"phase": "QUEUED", "cache": "disabled", "attempts": 0, "items": None},
        "n1": {"phase": "QUEUED", "cache": "disabled", "attempts": 0, "items": None},
    }
    client.post(f"{API}/executions/{execution}/abort")
    after = client.get(f"/ui/executions/{execution}/state").json()
    assert after["phase"] == "ABORTED" and after["finished_at"] is not None
    assert {node["phase"] for node in after["nodes"].values()} == {"ABORTED"}


def test_the_embedded_state_cannot_end_its_script_element() -> None:
    value = {"path": "</script><script>alert(1)</script>", "more": "<!-- & ]]>"}
    text = embedded_json(value)
    assert "</" not in text and "<!--" not in text and "]]>" not in text
    assert json.loads(text) == value


def test_an_unknown_execution_or_node_is_a_404_page(client: TestClient) -> None:
    page = client.get("/ui/executions/ex-000000000000")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "No execution 'ex-000000000000'" in shown(page.text)
    execution = launch(client)
    node = client.get(f"/ui/executions/{execution}/nodes/nope")
    assert node.status_code == 404 and f"Execution {execution} has no node or hook 'nope'" in shown(node.text)


# -- the node panel -----------------------------------------------------------------------------


def test_the_panel_of_train_attributes_every_field_to_the_layer_that_set_it(client: TestClient) -> None:
    execution = launch(client, overrides={"train": {"retries": 3}})
    panel = client.get(f"/ui/executions/{execution}/nodes/train").text
    assert config_row(panel, "retries") == (
        "3",
        f"execution {execution} (set by this execution)",
        "execution",
    )
    assert config_row(panel, "cache") == ("false", f"task {TASKS}.train", "task")
    assert config_row(panel, "gpu") == ("0", "retune default", "default")
    prepare = client.get(f"/ui/executions/{execution}/nodes/n0").text  # by path
    assert config_row(prepare, "cpu") == ("1", f"task {TASKS}.prepare", "task")

    plain = launch(client)  # no overrides: the workflow's own default for train
    panel = client.get(f"/ui/executions/{plain}/nodes/train").text
    assert config_row(panel, "retries") == ("2", f"workflow {WORKFLOW}", "workflow")
    assert "None yet: the node has not started" in shown(panel)


def test_the_panel_is_a_fragment_for_the_script_and_a_whole_page_without_it(client: TestClient) -> None:
    execution = launch(client)
    page = client.get(f"/ui/executions/{execution}/nodes/train")
    assert page.text.lstrip().startswith("<!doctype html>") and "Breadcrumb" in page.text
    for fragment in (
        client.get(f"/ui/executions/{execution}/nodes/train", headers={"X-Requested-With": "fetch"}),
        client.get(f"/ui/executions/{execution}/nodes/train", params={"fragment": "1"}),
    ):
        assert fragment.status_code == 200 and "<html" not in fragment.text
        assert "Node n1 QUEUED" in shown(fragment.text) and "data-close-panel" in fragment.text
    assert page.headers["vary"] == "X-Requested-With"


def test_a_real_run_shows_its_attempts_errors_and_logs(
    client: TestClient, home: Path, tmp_path: Path
) -> None:
    store, blobs = open_store(f"sqlite:///{home / 'retune.db'}"), open_blobs(home / "blobs")
    try:
        with LocalExecutor(blobs) as executor:
            loud = rt.run(
                flows_pages.loud,
                inputs={"word": "hello", "marker": str(tmp_path / "marker")},
                executor=executor,
                store=store,
                blobs=blobs,
            )
            squares = rt.run(
                flows_pages.squares,
                inputs={"ns": [1, 2, 4]},
                executor=executor,
                store=store,
                blobs=blobs,
                raise_on_failure=False,
            )
    finally:
        store.close()

    html = client.get(f"/ui/executions/{loud.id}").text
    page = shown(html)
    assert "local run" in page and "SUCCEEDED" in page and "Outputs: 1" in page
    assert "Relaunch" not in page and "/abort" not in html  # a local run is rerun with rt.run
    refused = client.post(f"/ui/executions/{loud.id}/abort", data={})
    assert refused.status_code == 409 and "was run locally" in shown(refused.text)
    shout = client.get(f"/ui/executions/{loud.id}/nodes/shout").text
    logs = shown(shout)
    assert "shouting hello on stdout" in logs and "whispering hello on stderr" in logs
    assert "Attempt 1 · stdout" in logs and "Attempt 1 · stderr" in logs

    flaky = shown(client.get(f"/ui/executions/{loud.id}/nodes/flaky").text)
    assert re.search(r"Attempts 2 # .* 1 – FAILED user on_demand local .* 2 – SUCCEEDED user", flaky)
    assert "Traceback" in flaky and "ValueError: first attempt fails on purpose (marker)" in flaky

    mapped = client.get(f"/ui/executions/{squares.id}")
    assert "3 done, 0 failed of 3" in shown(mapped.text)
    assert client.get(f"/ui/executions/{squares.id}/state").json()["nodes"]["n0"]["items"] == {
        "total": 3,
        "succeeded": 3,
        "failed": 0,
        "running": 0,
        "aborted": 0,
    }
    square = shown(client.get(f"/ui/executions/{squares.id}/nodes/square").text)
    assert "Map items 3 done, 0 failed of 3" in square
    items = re.findall(r"\b\d+ (\d+) SUCCEEDED user on_demand local", square)  # number, item, phase, ...
    assert sorted(items) == ["0", "1", "2"]


# -- relaunch and abort -------------------------------------------------------------------------


def test_relaunch_opens_the_launch_form_filled_with_the_executions_overrides(client: TestClient) -> None:
    execution = launch(client, overrides={"train": {"retries": 3}})
    page = client.get(f"/ui/executions/{execution}").text
    link = re.search(r'<a class="button" href="([^"]+)">Relaunch', page)
    assert link, "no relaunch link"
    url = unescape(link.group(1))
    assert (
        url
        == f"/ui/workflows/flytesnacks/development/{WORKFLOW}/launch?version=v1&from_execution={execution}"
    )
    form = client.get(url).text
    assert re.search(r'name="overrides.train.retries" value="3"', form)
    assert f"Relaunch of {execution}" in shown(form)


def test_abort_of_a_queued_execution_answers_303_and_the_page_says_aborted(client: TestClient) -> None:
    execution = launch(client)
    assert 'action="/ui/executions/' + execution + '/abort"' in client.get(f"/ui/executions/{execution}").text
    answer = client.post(f"/ui/executions/{execution}/abort", data={"csrf": ""}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/executions/{execution}"
    page = client.get(f"/ui/executions/{execution}").text
    assert f"execution {execution} ABORTED" in shown(page)
    assert "/abort" not in page  # no abort button on a finished execution
    assert client.get(f"{API}/executions/{execution}").json()["phase"] == "ABORTED"


# -- tokens -------------------------------------------------------------------------------------


@pytest.fixture
def guarded(home: Path) -> Iterator[tuple[TestClient, str, str]]:
    """Tokens configured; the pipeline launched once in project "a" and once in "b"."""
    with TestClient(create_app(server_settings(home, TOKENS))) as client:
        admin = bearer("admin")
        for project in ("a", "b"):
            assert (
                client.post(f"{API}/registrations", json=registration(project), headers=admin).status_code
                == 201
            )
        yield client, launch(client, "a", headers=admin), launch(client, "b", headers=admin)


def log_in(client: TestClient, name: str) -> None:
    answer = client.post(
        "/ui/login", data={"token": SECRETS[name], "next": "/ui/executions"}, follow_redirects=False
    )
    assert answer.status_code == 303


def test_without_a_session_every_page_leads_to_the_login(guarded: tuple[TestClient, str, str]) -> None:
    client, in_a, _ = guarded
    for path in ("/ui/executions", f"/ui/executions/{in_a}", f"/ui/executions/{in_a}/nodes/train"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/ui/login?next=/ui/executions"
        )
    answer = client.post(f"/ui/executions/{in_a}/abort", data={}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")
    assert client.get(f"{API}/executions/{in_a}", headers=bearer("admin")).json()["phase"] == "QUEUED"


def test_an_abort_form_without_the_csrf_token_is_refused(guarded: tuple[TestClient, str, str]) -> None:
    client, in_a, _ = guarded
    log_in(client, "admin")
    page = client.get(f"/ui/executions/{in_a}").text
    refused = client.post(f"/ui/executions/{in_a}/abort", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in shown(refused.text)
    wrong = client.post(f"/ui/executions/{in_a}/abort", data={"csrf": "0" * 64}, follow_redirects=False)
    assert wrong.status_code == 403
    assert client.get(f"{API}/executions/{in_a}", headers=bearer("admin")).json()["phase"] == "QUEUED"
    accepted = client.post(
        f"/ui/executions/{in_a}/abort", data={"csrf": csrf_of(page)}, follow_redirects=False
    )
    assert accepted.status_code == 303
    assert client.get(f"{API}/executions/{in_a}", headers=bearer("admin")).json()["phase"] == "ABORTED"


def test_a_read_only_token_sees_no_abort_or_relaunch_and_cannot_abort(
    guarded: tuple[TestClient, str, str],
) -> None:
    client, in_a, _ = guarded
    log_in(client, "reader-a")
    page = client.get(f"/ui/executions/{in_a}")
    assert page.status_code == 200 and "QUEUED" in shown(page.text)
    assert "/abort" not in page.text and "Relaunch" not in page.text
    refused = client.post(f"/ui/executions/{in_a}/abort", data={"csrf": "x"}, follow_redirects=False)
    assert refused.status_code == 403 and "no 'launch' right" in shown(refused.text)
    assert client.get(f"{API}/executions/{in_a}", headers=bearer("admin")).json()["phase"] == "QUEUED"


def test_a_token_limited_to_a_project_lists_and_opens_only_its_executions(
    guarded: tuple[TestClient, str, str],
) -> None:
    client, in_a, in_b = guarded
    log_in(client, "reader-a")
    assert listed(client.get("/ui/executions").text) == [in_a]
    assert client.get("/ui/executions", params={"project": "b"}).status_code == 403
    assert client.get(f"/ui/executions/{in_b}").status_code == 403
    assert client.get(f"/ui/executions/{in_b}/state").status_code == 403
    assert client.get(f"/ui/executions/{in_b}/nodes/train").status_code == 403
    log_in(client, "admin")
    assert listed(client.get("/ui/executions").text) == [in_b, in_a]

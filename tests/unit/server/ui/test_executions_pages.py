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
from retune.model.execution import Attempt, AttemptKind, Phase
from retune.server.app import create_app
from retune.server.ui.executions import embedded_json
from retune.store import AttemptChange, open_blobs, open_store

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


# -- paging the list ----------------------------------------------------------------------------


def pager(html: str) -> dict[str, str]:
    """The list's page links by their words ("Older", "Newest")."""
    nav = re.search(r'<nav class="pager"[^>]*>(.*?)</nav>', html, re.S)
    found = re.findall(r'<a href="([^"]+)"[^>]*>(\w+)</a>', nav.group(1)) if nav else []
    return {word: unescape(url) for url, word in found}


def test_the_list_shows_100_at_a_time_and_links_to_the_older_ones(client: TestClient) -> None:
    launched = [launch(client) for _ in range(120)]
    newest_first = launched[::-1]

    first = client.get("/ui/executions")
    assert listed(first.text) == newest_first[:100]
    assert pager(first.text) == {"Older": f"/ui/executions?before={newest_first[99]}"}

    second = client.get(pager(first.text)["Older"])
    assert second.status_code == 200
    assert listed(second.text) == newest_first[100:]  # the remaining 20, none twice
    assert pager(second.text) == {"Newest": "/ui/executions"}  # no Older link: nothing is older
    assert f"Executions launched before {newest_first[99]}" in shown(second.text)


def test_a_page_is_not_shifted_by_executions_launched_meanwhile(client: TestClient) -> None:
    launched = [launch(client) for _ in range(101)]
    older = pager(client.get("/ui/executions").text)["Older"]
    launch(client)
    assert listed(client.get(older).text) == [launched[0]]


def test_paging_keeps_the_filters(client: TestClient) -> None:
    assert client.post(f"{API}/registrations", json=registration("other")).status_code == 201
    ours = []
    for n in range(103):
        ours.append(launch(client))
        if n % 20 == 0:
            launch(client, "other")  # another project's, in between
    for aborted in (ours[10], ours[50]):
        client.post(f"{API}/executions/{aborted}/abort")
    queued = [e for e in ours[::-1] if e not in (ours[10], ours[50])]  # 101, newest first
    filters = {"project": "flytesnacks", "workflow": WORKFLOW, "phase": "QUEUED"}

    first = client.get("/ui/executions", params=filters)
    assert listed(first.text) == queued[:100]
    older = pager(first.text)["Older"]
    assert older == f"/ui/executions?project=flytesnacks&workflow={WORKFLOW}&phase=QUEUED&before={queued[99]}"
    second = client.get(older)
    assert listed(second.text) == queued[100:]
    assert pager(second.text) == {
        "Newest": f"/ui/executions?project=flytesnacks&workflow={WORKFLOW}&phase=QUEUED"
    }
    assert 'name="project" value="flytesnacks"' in second.text  # the filter form keeps them too
    assert f'href="/ui/executions?project=flytesnacks&amp;workflow={WORKFLOW}&amp;phase=FAILED"' in (
        second.text
    )  # another phase starts again from the newest


def test_a_page_parameter_that_names_no_execution_is_a_422_page(client: TestClient) -> None:
    launch(client)
    page = client.get("/ui/executions", params={"before": "ex-nope", "phase": "QUEUED"})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "before 'ex-nope' is not an execution, so there is no page of the executions launched" in (
        shown(page.text)
    )
    assert listed(page.text) == [] and pager(page.text) == {"Newest": "/ui/executions?phase=QUEUED"}
    too_long = client.get("/ui/executions", params={"before": "x" * 300})
    assert too_long.status_code == 422 and "text/html" in too_long.headers["content-type"]
    assert "The query parameter 'before' is not valid: String should have at most 255 characters" in (
        shown(too_long.text)
    )


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
    assert "Attempt 1 · stdout · as plain text" in logs and "Attempt 1 · stderr · as plain text" in logs
    (stdout_url, _) = whole_log_links(shout)
    assert client.get(stdout_url).text == "shouting hello on stdout\n"

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
    assert "Cache cache miss: first run of this task (no earlier cache entry)" in square  # once
    items = re.findall(r"\b\d+ (\d+) SUCCEEDED user on_demand local", square)  # number, item, phase, ...
    assert sorted(items) == ["0", "1", "2"]


# -- the whole log ------------------------------------------------------------------------------

BIG = "".join(f"line {i:06d} of the whole log, é included\n" for i in range(3000)).encode()  # 123 KiB


def with_logs(home: Path, execution: str, path: str, number: int, **streams: bytes) -> None:
    """Attempt ``number`` of node ``path`` failed, having written ``streams`` (name -> bytes) to
    the server's blob store, as an executor would have."""
    store, blobs = open_store(f"sqlite:///{home / 'retune.db'}"), open_blobs(home / "blobs")
    try:
        keys = {}
        for stream, data in streams.items():
            keys[stream] = f"logs/{execution}/{path}/{number}/{stream}"
            blobs.put(keys[stream], data)
        attempt = Attempt(number=number, phase=Phase.FAILED, kind=AttemptKind.USER, logs=keys)
        store.apply([AttemptChange(execution, path, attempt)])
    finally:
        store.close()


def whole_log_links(html: str) -> list[str]:
    return [unescape(url) for url in re.findall(r'<a href="([^"]+)" data-whole-log>', html)]


def test_a_cut_log_links_to_the_whole_log_which_opens_as_text(client: TestClient, home: Path) -> None:
    execution = launch(client)
    with_logs(home, execution, "n1", 1, stdout=BIG, stderr=b"short\n")
    panel = client.get(f"/ui/executions/{execution}/nodes/train").text
    assert "line 000000" not in panel  # the panel shows the end only
    assert "Attempt 1 · stdout · the last 64 KiB · whole log (123.0 KiB)" in shown(panel)
    assert "Attempt 1 · stderr · as plain text" in shown(panel)
    stdout_url, stderr_url = whole_log_links(panel)
    assert stdout_url == f"/ui/executions/{execution}/logs?node=n1&attempt=1&stream=stdout"

    whole = client.get(stdout_url)
    assert whole.status_code == 200 and whole.text == BIG.decode()
    assert whole.headers["content-type"] == "text/plain; charset=utf-8"
    assert whole.headers["content-disposition"] == f'inline; filename="{execution}.n1.attempt-1.stdout.txt"'
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert client.get(stderr_url).text == "short\n"
    api = client.get(f"{API}/executions/{execution}/logs", params={"node": "n1", "attempt": 1})
    assert api.text == whole.text  # the API's route reads it the same way


def test_the_whole_log_of_the_latest_attempt_by_hook_name(client: TestClient, home: Path) -> None:
    execution = launch(client)
    with_logs(home, execution, "n1", 1, stdout=b"first try\n")
    with_logs(home, execution, "n1", 2, stdout=b"second try\n")
    assert client.get(f"/ui/executions/{execution}/logs", params={"node": "train"}).text == "second try\n"


def test_an_unknown_execution_node_attempt_or_stream_is_a_404_page(client: TestClient, home: Path) -> None:
    execution = launch(client)
    with_logs(home, execution, "n1", 1, stdout=b"hello\n")
    url = f"/ui/executions/{execution}/logs"
    for params, message in (
        ({"node": "n1", "attempt": 9}, f"The node 'n1' of {execution} has no attempt 9 (its attempts: 1)."),
        ({"node": "n1", "stream": "stdlog"}, "Attempt 1 of the node 'n1' of ex-"),
        ({"node": "n0"}, "has not run yet"),
        ({"node": "nope"}, f"Execution {execution} has no node or hook 'nope'"),
    ):
        page = client.get(url, params=params)
        assert page.status_code == 404 and "text/html" in page.headers["content-type"], params
        assert message in shown(page.text), params
    missing = client.get("/ui/executions/ex-000000000000/logs", params={"node": "n1"})
    assert missing.status_code == 404 and "No execution 'ex-000000000000'" in shown(missing.text)


def test_a_log_address_that_is_not_understood_is_a_422_page(client: TestClient) -> None:
    execution = launch(client)
    bad = client.get(f"/ui/executions/{execution}/logs", params={"node": "n1", "attempt": "two"})
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]
    assert "The query parameter 'attempt' is not valid: Input should be a valid integer" in shown(bad.text)
    without = client.get(f"/ui/executions/{execution}/logs")
    assert without.status_code == 422 and "The query parameter 'node' is missing." in shown(without.text)


def test_the_whole_log_asks_for_a_login_and_the_right_to_read_the_project(
    guarded: tuple[TestClient, str, str], home: Path
) -> None:
    client, in_a, _ = guarded
    with_logs(home, in_a, "n1", 1, stdout=BIG)
    url = f"/ui/executions/{in_a}/logs?node=n1&attempt=1&stream=stdout"
    away = client.get(url, follow_redirects=False)
    assert away.status_code == 303
    assert (
        away.headers["location"]
        == f"/ui/login?next={url.replace('?', '%3F').replace('&', '%26').replace('=', '%3D')}"
    )

    log_in(client, "reader-a")  # read only, project a
    assert client.get(url).text == BIG.decode()
    log_in(client, "both-b")  # reads project b only: refused, whether or not the node exists
    for address in (url, f"/ui/executions/{in_a}/logs?node=nope"):
        refused = client.get(address)
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
        assert "line 000000" not in refused.text
    log_in(client, "launcher-a")  # project a, but no right to read
    assert client.get(url).status_code == 403


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

"""The launch form (DESIGN §10) over a real app and SQLite store: fields named by CLI paths, each
showing its effective default and where it comes from; refusals beside their field with nothing
created; preview = the dry run; launch = the API's launch; relaunch pre-filled."""

from __future__ import annotations

import re
from html import unescape

from ..support import API, PIPELINE, TestClient

WORKFLOW = PIPELINE.name
TASKS = WORKFLOW.rpartition(".")[0]
FORM = f"/ui/workflows/flytesnacks/development/{WORKFLOW}/launch"


def field_block(html: str, name: str) -> str:
    """The markup of the form field (its ``data-field`` block) holding the input named ``name``."""
    blocks = re.split(r'(?=<div class="field[^"]*" data-field>)', html)
    found = [b for b in blocks if f'name="{name}"' in b]
    assert found, f"no field named {name!r} in the form"
    return found[0].split("</div>")[0]


def shown(block: str) -> str:
    """What a person reads in ``block``: its text without tags, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", block)).replace(" ,", ",").split())


def error_of(block: str) -> str:
    match = re.search(r'class="field-error"[^>]*>([^<]*)<', block)
    return unescape(match.group(1)) if match else ""


def executions(client: TestClient) -> list[str]:
    return [e["id"] for e in client.get(f"{API}/executions").json()["executions"]]


def test_every_hook_gets_a_section_whose_fields_are_named_by_cli_paths(client: TestClient) -> None:
    page = client.get(FORM)
    assert page.status_code == 200
    for hook in ("prepare", "train"):
        for path in ("cpu", "mem", "gpu", "retries", "cache", "cache_version", "interruptible", "image"):
            assert f'name="overrides.{hook}.{path}"' in page.text
    assert 'name="inputs.x"' in page.text and 'name="inputs.rate"' in page.text


def test_each_field_shows_its_effective_default_and_the_layer_that_set_it(client: TestClient) -> None:
    page = client.get(FORM).text
    retries = field_block(page, "overrides.train.retries")
    assert f"2, workflow {WORKFLOW}" in shown(retries)  # with_runtime_override("train", retries=2)
    cpu = field_block(page, "overrides.prepare.cpu")
    assert f"1, task {TASKS}.prepare" in shown(cpu)  # @rt.task(requests=cpu 1)
    gpu = field_block(page, "overrides.train.gpu")
    assert "0, retune default" in shown(gpu)
    rate = field_block(page, "inputs.rate")
    assert "0.5" in rate and "workflow" in rate


def test_an_invalid_value_is_shown_at_its_field_with_the_values_kept_and_nothing_launched(
    client: TestClient,
) -> None:
    answer = client.post(
        FORM,
        data={
            "inputs.x": "3",
            "overrides.train.cpu": "lots",
            "overrides.train.retries": "4",
            "action": "launch",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 422
    cpu = field_block(answer.text, "overrides.train.cpu")
    assert "'lots' is not a quantity" in error_of(cpu)
    assert 'value="lots"' in cpu and 'aria-invalid="true"' in cpu
    assert 'value="4"' in field_block(answer.text, "overrides.train.retries")
    assert error_of(field_block(answer.text, "overrides.train.retries")) == ""
    assert executions(client) == []

    fixed = client.post(
        FORM,
        data={
            "inputs.x": "3",
            "overrides.train.cpu": "1.5",
            "overrides.train.retries": "4",
            "action": "launch",
        },
        follow_redirects=False,
    )
    assert fixed.status_code == 303
    assert executions(client) == [fixed.headers["location"].rsplit("/", 1)[1]]


def test_what_the_resolver_refuses_is_placed_beside_the_field_it_names(client: TestClient) -> None:
    # cache_serialize needs cache: only known once the layers are merged, by the launch itself
    answer = client.post(
        FORM, data={"inputs.x": "3", "overrides.train.cache_serialize": "true"}, follow_redirects=False
    )
    assert answer.status_code == 422
    assert "cache" in error_of(field_block(answer.text, "overrides.train.cache_serialize"))
    assert executions(client) == []


def test_a_missing_input_and_an_unknown_hook_are_refused_and_nothing_is_launched(client: TestClient) -> None:
    answer = client.post(FORM, data={"overrides.trian.cpu": "1"}, follow_redirects=False)
    assert answer.status_code == 422
    text = unescape(answer.text)
    assert "the workflow has no hook 'trian'" in text and "Did you mean 'train'?" in text
    assert executions(client) == []
    missing = client.post(FORM, data={}, follow_redirects=False)
    assert missing.status_code == 422
    assert "x" in error_of(field_block(missing.text, "inputs.x"))


def test_a_launch_runs_with_the_posted_overrides_attributed_to_the_execution(client: TestClient) -> None:
    answer = client.post(
        FORM,
        data={"inputs.x": "3", "overrides.train.cpu": "1.5", "overrides.train.env.LOG": "debug"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    execution_id = answer.headers["location"].rsplit("/", 1)[1]
    record = client.get(f"{API}/executions/{execution_id}").json()
    train = next(n for n in record["nodes"] if n["hook"] == "train")
    assert train["config"]["requests"]["cpu"] == 1.5 and train["config"]["limits"]["cpu"] == 1.5
    assert train["config"]["environment"]["LOG"] == "debug"
    assert train["provenance"]["requests.cpu"] == {
        "layer": "execution",
        "name": execution_id,
        "hook": "train",
    }
    assert train["config"]["retries"] == 2
    assert record["inputs"] == {"x": 3, "rate": 0.5}


def test_preview_shows_every_hooked_node_with_its_sources_and_stores_nothing(client: TestClient) -> None:
    answer = client.post(
        FORM,
        data={"inputs.x": "3", "overrides.train.retries": "7", "action": "preview"},
        follow_redirects=False,
    )
    assert answer.status_code == 200
    rows = re.findall(
        r'<tr class="layer-(\w+)"><td><code>([^<]*)</code></td><td>([^<]*)</td><td>([^<]*)</td></tr>',
        answer.text,
    )
    assert ("execution", "retries", "7", "this launch") in rows
    assert ("task", "cpu", "1", f"task {TASKS}.prepare") in rows
    assert 'value="7"' in field_block(answer.text, "overrides.train.retries")
    assert executions(client) == []


def test_a_launch_plan_shows_its_defaults_with_its_name_and_launches_through_it(client: TestClient) -> None:
    plan = {
        "project": "flytesnacks",
        "domain": "development",
        "name": "nightly",
        "workflow": WORKFLOW,
        "default_inputs": {"x": 5},
        "runtime_override": {"train": {"retries": 6}},
    }
    assert client.post(f"{API}/launch_plans", json=plan).status_code == 201
    page = client.get(FORM, params={"launch_plan": "nightly"}).text
    assert "6, launch plan nightly" in shown(field_block(page, "overrides.train.retries"))
    assert "5" in field_block(page, "inputs.x") and "launch plan nightly" in field_block(page, "inputs.x")
    answer = client.post(FORM, data={"launch_plan": "nightly"}, follow_redirects=False)
    assert answer.status_code == 303
    record = client.get(f"{API}/executions/{answer.headers['location'].rsplit('/', 1)[1]}").json()
    assert record["launch_plan"] == "nightly" and record["inputs"]["x"] == 5


def test_relaunch_opens_the_form_filled_with_the_execution_overrides_and_inputs(client: TestClient) -> None:
    body = {
        "project": "flytesnacks",
        "domain": "development",
        "workflow": WORKFLOW,
        "inputs": {"x": 9},
        "overrides": {
            "train": {
                "retries": 5,
                "environment": {"LOG": "debug"},
                "resources": {"requests": {"cpu": "1.5"}, "limits": {"cpu": "1.5"}},
            }
        },
    }
    launched = client.post(f"{API}/executions", json=body).json()["id"]
    page = client.get(FORM, params={"from_execution": launched}).text
    assert 'value="5"' in field_block(page, "overrides.train.retries")
    assert 'value="1500m"' in field_block(page, "overrides.train.cpu")  # Kubernetes' spelling
    assert 'value="debug"' in field_block(page, "overrides.train.env.LOG")
    assert 'value="9"' in field_block(page, "inputs.x")
    assert "Relaunch of" in page and launched in page


def test_an_unknown_workflow_is_a_404_page(client: TestClient) -> None:
    answer = client.get("/ui/workflows/flytesnacks/development/nope/launch")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "nope" in answer.text

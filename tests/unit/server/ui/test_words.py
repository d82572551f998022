"""Counts in words: ``plural`` and ``byte_size``, and the pages that say how many task nodes,
hooks, nodes, problems and errors there are ("1 task node", never "1 task nodes")."""

from __future__ import annotations

import re
from html import unescape

import pytest

import retune as rt
from retune.server.ui.words import byte_size, plural

from ..support import API, PIPELINE, TestClient
from . import flows_pages

SQUARES = rt.compile(flows_pages.squares).spec  # one node: a map of the hook "square"


def shown(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 task nodes"), (1, "1 task node"), (2, "2 task nodes"), (2000, "2,000 task nodes")],
)
def test_plural_says_the_count_with_the_noun_in_the_right_number(count: int, expected: str) -> None:
    assert plural(count, "task node") == expected


def test_plural_takes_an_irregular_plural() -> None:
    assert plural(1, "match", "matches") == "1 match"
    assert plural(3, "match", "matches") == "3 matches"


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1, "1 byte"), (812, "812 bytes"), (1024, "1.0 KiB"), (70_000, "68.4 KiB"), (5 * 2**20, "5.0 MiB")],
)
def test_byte_size_says_a_size_in_the_unit_a_person_reads(size: int, expected: str) -> None:
    assert byte_size(size) == expected


@pytest.fixture
def one_node(client: TestClient) -> TestClient:
    """The server of ``client`` with a one-node workflow registered too."""
    body = {
        "project": "flytesnacks",
        "domain": "development",
        "version": "v1",
        "workflows": [SQUARES.model_dump(mode="json")],
    }
    assert client.post(f"{API}/registrations", json=body).status_code == 201
    return client


def test_the_workflow_page_counts_one_task_node_in_the_singular(one_node: TestClient) -> None:
    one = shown(one_node.get(f"/ui/workflows/flytesnacks/development/{SQUARES.name}").text)
    assert "Graph 1 task node" in one and "1 task nodes" not in one
    two = shown(one_node.get(f"/ui/workflows/flytesnacks/development/{PIPELINE.name}").text)
    assert "Graph 2 task nodes" in two


def test_the_execution_page_counts_one_task_node_in_the_singular(one_node: TestClient) -> None:
    body = {
        "project": "flytesnacks",
        "domain": "development",
        "workflow": SQUARES.name,
        "inputs": {"ns": [1]},
    }
    launched = one_node.post(f"{API}/executions", json=body)
    assert launched.status_code == 201, launched.text
    html = one_node.get(f"/ui/executions/{launched.json()['id']}").text
    assert "Graph 1 task node, coloured by phase" in shown(html)
    assert f'aria-label="Workflow {SQUARES.name}: 1 task node"' in html  # the graph, to a screen reader


def test_the_launch_form_counts_one_hook_one_node_and_one_problem_in_the_singular(
    one_node: TestClient,
) -> None:
    form = f"/ui/workflows/flytesnacks/development/{SQUARES.name}/launch"
    page = shown(one_node.get(form).text)
    assert "Overrides 1 hook;" in page and ", 1 node" in page and "1 nodes" not in page
    refused = one_node.post(form, data={"inputs.ns": "[1]", "overrides.square.cpu": "lots"})
    assert refused.status_code == 422
    text = shown(refused.text)
    assert "1 problem: nothing was launched" in text and "1 error" in text
    assert "1 problems" not in text and "1 errors" not in text

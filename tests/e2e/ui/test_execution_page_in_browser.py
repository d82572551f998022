"""An execution's page as a person uses it, in Debian's Chromium against a real `retune serve` and
`retune worker`: the phases move on without a reload, in the header, the table and the graph;
the node panel opens from the table or the graph with the keyboard, at a URL that can be shared;
abort stops a running execution."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from retune.testing.stack import LocalStack

from .conftest import DOMAIN, PIPELINE, PROJECT, SLOW


def launch(stack: LocalStack, workflow: str, inputs: dict[str, Any]) -> str:
    body = {"project": PROJECT, "domain": DOMAIN, "workflow": workflow, "inputs": inputs}
    answer = httpx.post(f"{stack.url}/api/v1/executions", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_the_phases_move_on_live_and_the_panel_opens_from_the_keyboard(page: Any, stack: LocalStack) -> None:
    execution = launch(stack, PIPELINE, {"x": 2})
    page.goto(f"{stack.url}/ui/executions/{execution}")

    expect(page.locator("#execution-phase")).to_have_text("SUCCEEDED", timeout=60_000)  # no reload
    train = page.locator('#nodes tr[data-path="n1"]')
    expect(train.locator(".phase")).to_have_text("SUCCEEDED")
    expect(train.locator("td").nth(5)).to_have_text("1")  # one attempt
    expect(page.locator('.graph g.node[data-path="n1"]')).to_have_attribute("data-phase", "SUCCEEDED")

    train.get_by_role("link", name="n1").focus()
    page.keyboard.press("Enter")
    panel = page.locator("#node-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("train ran with cpu=1.0 retries=1")  # the attempt's stdout
    expect(panel.locator("tr.layer-workflow")).to_contain_text("384Mi")  # mem, set by the workflow
    expect(page.locator("#node-h")).to_be_focused()
    assert page.url.endswith("#node=n1")

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(train.get_by_role("link", name="n1")).to_be_focused()

    prepare = page.locator('.graph g.node[data-path="n0"]')
    expect(prepare).to_have_attribute("role", "button")
    prepare.focus()
    page.keyboard.press(" ")
    expect(panel).to_contain_text("Node n0")


def test_a_shared_panel_url_opens_the_panel_and_the_panel_is_also_a_page(
    page: Any, stack: LocalStack
) -> None:
    execution = launch(stack, PIPELINE, {"x": 1})
    page.goto(f"{stack.url}/ui/executions/{execution}#node=n0")
    expect(page.locator("#node-panel")).to_contain_text("Node n0")

    page.goto(f"{stack.url}/ui/executions/{execution}/nodes/n0")  # what "Open as a page" leads to
    expect(page.locator("h2#node-h")).to_contain_text("n0")
    expect(page.get_by_role("link", name=re.compile(execution))).to_be_visible()


def test_abort_stops_a_running_execution_and_its_button_goes(page: Any, stack: LocalStack) -> None:
    execution = launch(stack, SLOW, {"seconds": 120.0})
    page.goto(f"{stack.url}/ui/executions/{execution}")
    expect(page.locator('#nodes tr[data-path="n0"] .phase')).to_have_text("RUNNING", timeout=60_000)

    page.get_by_role("button", name="Abort", exact=True).click()
    page.wait_for_url(f"**/ui/executions/{execution}")
    expect(page.locator("#execution-phase")).to_have_text("ABORTED", timeout=60_000)
    expect(page.get_by_role("button", name="Abort", exact=True)).to_be_hidden()

"""The workflow page in Chromium: its graph's sub-workflows close into one box and open again."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from retune.testing.stack import LocalStack

from .conftest import DOMAIN, PROJECT


def test_a_sub_workflow_closes_into_one_box_and_opens_again(page: Any, stack: LocalStack) -> None:
    page.goto(f"{stack.url}/ui/workflows/{PROJECT}/{DOMAIN}/pipeline.outer")
    graph = page.locator("[data-graph]")
    expect(graph.locator('g.node[data-path="slow/n0"]')).to_be_visible()  # the sub-workflow's task
    graph.locator('g.group-toggle[data-group="slow"]').click()
    page.wait_for_url("**collapse=slow**")
    box = graph.locator('g.group-node[data-group="slow"]')
    expect(box).to_be_visible()
    expect(graph.locator('g.node[data-path="slow/n0"]')).to_have_count(0)
    box.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**expand=slow**")
    expect(graph.locator('g.node[data-path="slow/n0"]')).to_be_visible()

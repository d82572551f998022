"""The launch form as a person uses it, in Debian's Chromium against a real `retune serve` and
`retune worker` (issue 9, "Done when"): fields typed, errors read at the field, a launch plan
chosen from the list, a preview, a launch that runs."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from retune.testing.stack import LocalStack

from .conftest import DOMAIN, PIPELINE, PROJECT

FORM = f"/ui/workflows/{PROJECT}/{DOMAIN}/{PIPELINE}/launch"


def executions(stack: LocalStack) -> list[str]:
    answer = httpx.get(f"{stack.url}/api/v1/executions", params={"project": PROJECT}, timeout=30)
    return [e["id"] for e in answer.json()["executions"]]


def field(page: Any, name: str) -> Any:
    """The field block (label, input, default, error) of the input named ``name``."""
    return page.locator("[data-field]").filter(has=page.locator(f'[name="{name}"]'))


def test_a_user_overrides_one_hook_reads_an_error_at_its_field_launches_and_relaunches(
    page: Any, stack: LocalStack
) -> None:
    before = executions(stack)
    page.goto(stack.url + "/ui/workflows")
    page.get_by_role("link", name=PIPELINE, exact=True).click()
    page.get_by_role("link", name="Launch", exact=True).click()
    expect(page).to_have_title(f"Launch {PIPELINE} · retune")

    page.fill('[name="inputs.x"]', "3")
    page.fill('[name="overrides.train.cpu"]', "two cores")
    page.fill('[name="overrides.train.retries"]', "3")
    expect(field(page, "overrides.train.cpu")).to_have_class("field changed")  # highlighted as typed
    expect(page.locator('details[data-hook="train"] [data-changed]')).to_have_text("2 changed")
    page.get_by_role("button", name="Launch").click()

    cpu = field(page, "overrides.train.cpu")
    expect(cpu.locator(".field-error")).to_contain_text("'two cores' is not a quantity")
    expect(page.locator("#form-errors")).to_contain_text("nothing was launched")
    expect(page.locator('[name="overrides.train.retries"]')).to_have_value("3")  # kept
    expect(page.locator('[name="inputs.x"]')).to_have_value("3")
    assert executions(stack) == before

    page.fill('[name="overrides.train.cpu"]', "1.5")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**/ui/executions/ex-*")
    launched = page.url.rsplit("/", 1)[1]
    assert executions(stack) == [launched, *before]

    # It runs: the page follows it live to SUCCEEDED, and train's panel says where each value came from.
    expect(page.locator("#execution-phase")).to_have_text("SUCCEEDED", timeout=90_000)
    page.locator('#nodes tr[data-path="n1"]').get_by_role("link", name="n1").click()
    panel = page.locator("#node-panel")
    expect(panel).to_contain_text("train ran with cpu=1.5 retries=3")  # what the task process saw
    for name, value, source in (
        ("cpu", "1500m", f"execution {launched}"),
        ("retries", "3", f"execution {launched}"),
        ("mem", "384Mi", f"workflow {PIPELINE}"),
        ("env.LOG_LEVEL", "info", "task pipeline.train"),
        ("gpu", "0", "retune default"),
    ):
        row = panel.locator("table.config tr").filter(
            has=page.locator("code", has_text=re.compile(f"^{re.escape(name)}$"))
        )
        expect(row.locator("td").nth(1)).to_have_text(value)
        expect(row.locator("td").nth(2)).to_contain_text(source)
    expect(panel.locator("tr.layer-execution")).to_have_count(2)  # only what this launch set

    # Relaunch opens the form with this execution's overrides and inputs filled in.
    page.get_by_role("link", name="Relaunch…").click()
    expect(page.locator('[name="overrides.train.cpu"]')).to_have_value("1500m")
    expect(page.locator('[name="overrides.train.retries"]')).to_have_value("3")
    expect(page.locator('[name="inputs.x"]')).to_have_value("3")
    expect(page.locator(".note")).to_contain_text(f"Relaunch of {launched}")


def test_choosing_a_launch_plan_shows_its_defaults_with_its_name_as_their_source(
    page: Any, stack: LocalStack
) -> None:
    page.goto(stack.url + FORM)
    page.select_option("#launch_plan", "nightly")  # the page reloads with the plan's defaults
    page.wait_for_url("**launch_plan=nightly**")
    expect(field(page, "overrides.train.retries").locator(".default")).to_have_text(
        "4, launch plan nightly (a whole number, 0-100)"
    )
    expect(field(page, "inputs.x").locator(".default")).to_have_text("5, launch plan nightly")
    expect(field(page, "overrides.train.mem").locator(".default")).to_contain_text(
        f"384Mi, workflow {PIPELINE}"
    )

    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Nothing was launched")
    train_rows = preview.locator("details").filter(has_text="hook train")
    expect(train_rows.locator("tr").filter(has_text="retries")).to_contain_text("launch plan nightly")


def test_reset_clears_a_changed_field_back_to_its_default(page: Any, stack: LocalStack) -> None:
    page.goto(stack.url + FORM)
    page.fill('[name="overrides.prepare.mem"]', "1Gi")
    reset = field(page, "overrides.prepare.mem").get_by_role("button", name="Reset mem to its default")
    expect(reset).to_be_visible()
    reset.click()
    expect(page.locator('[name="overrides.prepare.mem"]')).to_have_value("")
    expect(field(page, "overrides.prepare.mem")).to_have_class("field")
    expect(reset).to_be_hidden()

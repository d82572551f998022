"""The UI of a server with API tokens, in Debian's Chromium (issue 9, "Done when"): a login first,
a form without its CSRF token refused, a read-only token without a launch button."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from retune.testing.stack import LocalStack

from .conftest import ADMIN_TOKEN, DOMAIN, PIPELINE, PROJECT, READER_TOKEN

FORM = f"/ui/workflows/{PROJECT}/{DOMAIN}/{PIPELINE}/launch"


def executions(stack: LocalStack) -> list[str]:
    answer = httpx.get(
        f"{stack.url}/api/v1/executions",
        params={"project": PROJECT},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    )
    return [e["id"] for e in answer.json()["executions"]]


def log_in(page: Any, stack: LocalStack, token: str) -> None:
    page.goto(stack.url + FORM)
    expect(page).to_have_title("Log in · retune")  # sent to the login, with the form to come back to
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{FORM}")


def test_the_ui_needs_a_login_and_a_form_without_its_csrf_token_launches_nothing(
    page: Any, guarded: LocalStack
) -> None:
    page.goto(guarded.url + "/ui/login")
    page.get_by_label("API token").fill("not-the-token-at-all")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#token-error")).to_contain_text("Unknown token")

    log_in(page, guarded, ADMIN_TOKEN)
    before = executions(guarded)
    page.fill('[name="inputs.x"]', "3")
    page.evaluate("document.querySelector('form.launch [name=csrf]').remove()")  # a forged post
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("main")).to_contain_text("CSRF")
    assert executions(guarded) == before

    page.goto(guarded.url + FORM)  # the real form carries it, and launches
    page.fill('[name="inputs.x"]', "3")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**/ui/executions/ex-*")
    assert len(executions(guarded)) == len(before) + 1


def test_a_read_only_token_sees_no_launch_button_and_cannot_launch(page: Any, guarded: LocalStack) -> None:
    log_in(page, guarded, READER_TOKEN)
    expect(page.locator(".who")).to_contain_text("reader (read only)")
    expect(page.get_by_role("button", name="Launch")).to_have_count(0)
    expect(page.get_by_role("button", name="Preview")).to_be_visible()
    page.goto(guarded.url + f"/ui/workflows/{PROJECT}/{DOMAIN}/{PIPELINE}")
    expect(page.get_by_role("link", name="Launch", exact=True)).to_have_count(0)
    before = executions(guarded)
    answer = page.request.post(guarded.url + FORM, form={"inputs.x": "3"})  # past the missing button
    assert answer.status == 403
    assert executions(guarded) == before
